//! `glasskey enroll`: onboard one key for one break-glass account (online), or the
//! offline half of a split ceremony (`--request REQ.json --out RESP.json`).

use std::path::PathBuf;

use clap::Args;

use super::session;
use crate::ceremony::operator::Operator;

#[derive(Args, Debug)]
pub struct EnrollArgs {
    /// The break-glass account (userPrincipalName).
    #[arg(long, value_name = "UPN", required_unless_present = "request")]
    pub account: Option<String>,
    /// Where the sealed key will be kept (a location id from glasskey.toml).
    #[arg(long, value_name = "LOC", required_unless_present = "request")]
    pub location: Option<String>,
    /// The key's label, also its name in Entra: 1-30 characters (default: e.g. BG1-VAULT-A).
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// The tamper-evident envelope's seal number (asked for when absent).
    #[arg(long, value_name = "N")]
    pub seal: Option<String>,
    /// Factory-reset the key first (erases every credential on it).
    #[arg(long)]
    pub reset: bool,
    /// Skip confirmation prompts (scripts).
    #[arg(long)]
    pub yes: bool,
    /// Who is present (repeat for each custodian); default: $USER.
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,
    /// Command that prints the PIN slip; the PDF goes to its stdin, never to a file glasskey writes.
    #[arg(long, value_name = "CMD", default_value = "lp")]
    pub pin_slip_cmd: String,
    /// Type the PIN instead of generating one (it must meet the policy's length).
    #[arg(long)]
    pub pin_prompt: bool,
    /// Offline split ceremony: the request bundle from `graph fetch-options`.
    #[arg(long, value_name = "REQ.json", requires = "out")]
    pub request: Option<PathBuf>,
    /// Offline split ceremony: where to write the response bundle.
    #[arg(long, value_name = "RESP.json")]
    pub out: Option<PathBuf>,
    /// Run the preflight only and print the plan; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: EnrollArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    use crate::ceremony::enroll::{EnrollPlan, PinChoice};
    let kit = session::open_kit(g)?;
    // Typos are caught here, before a sign-in or a key is touched.
    if let Some(account) = &args.account {
        super::suggest::known_account(&kit, account)?;
    }
    if let Some(location) = &args.location {
        super::suggest::known_location(&kit, location)?;
    }
    let trust = session::trust(g)?;
    let operators = session::operators(&args.operators)?;
    let plan = |account: String| EnrollPlan {
        account,
        location: args.location.clone().unwrap_or_default(),
        label: args.label.clone(),
        seal: args.seal.clone(),
        reset: args.reset,
        assume_yes: args.yes,
        operators: operators.clone(),
        pin: if args.pin_prompt {
            PinChoice::Prompt
        } else {
            PinChoice::Generate
        },
    };
    if let (Some(request), Some(out)) = (&args.request, &args.out) {
        return run_offline(&args, g, &kit, &trust, request, out, &plan);
    }
    let account = args.account.clone().ok_or_else(|| {
        crate::Error::input(
            "--account is required",
            "name the break-glass account (UPN)",
        )
    })?;
    let plan = plan(account);
    let mut op = session::TerminalOperator {
        assume_yes: args.yes,
    };
    let mut printer = session::CommandPrinter {
        command: args.pin_slip_cmd.clone(),
    };
    let mut key = session::open_key(g)?;
    // Everything that needs no network, before signing in.
    let offline = crate::ceremony::enroll::preflight_offline(
        &kit,
        &key,
        &trust,
        &printer,
        &plan,
        Some(session::endpoint_is_loopback(g)?),
    );
    if !offline.passed() {
        if args.dry_run {
            print_dry_run(g, &offline, &[])?;
        }
        return offline.into_result().map(|_| ());
    }
    let graph = session::graph(g, &kit)?;
    graph.require_permissions(crate::graph::permissions::plans::ENROLL_ONLINE)?;
    if let Some(why) = graph.endpoints().provisioning_unavailable(false) {
        return Err(crate::Error::input(
            why,
            "enroll offline (`enroll --request`) and register from the global cloud, or use the split ceremony with --challenge-timeout (beta; availability undocumented)",
        ));
    }
    if args.dry_run {
        let dry =
            crate::ceremony::enroll::dry_run(&kit, &key, Some(&graph), &trust, &printer, &plan);
        print_dry_run(g, &dry.preflight, &dry.steps)?;
        return dry.preflight.into_result().map(|_| ());
    }
    let (enrolled, _pin) = crate::ceremony::enroll::enroll(
        &kit,
        &mut key,
        &graph,
        &trust,
        &mut op,
        &mut printer,
        &plan,
    )?;
    let sheets = crate::ceremony::sheets::refresh_kit_sheets(
        &kit,
        std::slice::from_ref(&enrolled.location),
        &operators,
    )?;
    if g.json {
        return super::print_json(&enrolled);
    }
    crate::outln!(
        "enrolled key {} ({}) for {} at {}, seal {}; Entra method {}",
        enrolled.label,
        enrolled.model,
        enrolled.account,
        enrolled.location,
        enrolled.seal,
        enrolled.method_id.as_deref().unwrap_or("-")
    );
    for path in sheets {
        crate::outln!("updated {} — print it for the binder", path.display());
    }
    let audit = crate::ceremony::audit::audit_offline(&kit, crate::ledger::Timestamp::now())?;
    for f in audit
        .findings
        .iter()
        .filter(|f| f.subject == "policy" || f.message.contains("policy wants"))
    {
        crate::outln!(
            "program: [{}] {}: {}",
            f.severity.tag(),
            f.subject,
            f.message
        );
    }
    Ok(())
}

/// The offline half of a split ceremony: one key per request item; each finished
/// item goes into the response bundle at once.
fn run_offline(
    args: &EnrollArgs,
    g: &super::GlobalArgs,
    kit: &crate::ledger::Kit,
    trust: &crate::attestation::TrustStore,
    request: &std::path::Path,
    out: &std::path::Path,
    plan: &dyn Fn(String) -> crate::ceremony::enroll::EnrollPlan,
) -> crate::Result<()> {
    use crate::ceremony::enroll;
    use crate::graph::bundle::RequestBundle;
    let bundle = RequestBundle::read(
        request,
        Some(&kit.config().tenant),
        time::OffsetDateTime::now_utc(),
    )?;
    // Before any key is touched: every item is for Entra and for a kit account.
    let rp_id = crate::graph::bundle::entra_rp_id(g.graph.cloud.as_deref())?;
    let accounts: Vec<&str> = kit
        .config()
        .accounts
        .iter()
        .map(|a| a.upn.as_str())
        .collect();
    for item in &bundle.items {
        item.check_before_key(rp_id, &accounts, time::OffsetDateTime::now_utc())?;
    }
    if args.location.is_none() {
        return Err(crate::Error::input(
            "--location is required",
            "say where the sealed keys will be kept",
        ));
    }
    if bundle.items.len() > 1 && (args.label.is_some() || args.seal.is_some()) {
        return Err(crate::Error::input(
            format!("the request holds {} items, but --label and --seal name one key", bundle.items.len()),
            "omit --label and --seal: each key gets a label from its account and location, and glasskey asks for each seal number",
        ));
    }
    let mut op = session::TerminalOperator {
        assume_yes: args.yes,
    };
    let mut printer = session::CommandPrinter {
        command: args.pin_slip_cmd.clone(),
    };
    crate::ceremony::preflight::printer_exists(&printer.command)?;
    let done = crate::ceremony::enroll::finished_accounts(out, &bundle.tenant)?;
    let mut written = 0;
    for item in &bundle.items {
        let upn = &item.account.user_principal_name;
        if done.iter().any(|d| d.eq_ignore_ascii_case(upn)) {
            op.say(&format!("{upn}: already in {}, skipped", out.display()));
            continue;
        }
        op.say(&format!("plug in the key for {upn} (only that key)"));
        if !args.dry_run && !op.confirm("ready?")? {
            break;
        }
        let mut key = session::open_key(g)?;
        let plan = plan(upn.clone());
        if args.dry_run {
            let dry = enroll::dry_run_offline(kit, &key, trust, &printer, &plan, item);
            print_dry_run(g, &dry.preflight, &dry.steps)?;
            dry.preflight.into_result()?;
            continue;
        }
        enroll::enroll_offline(
            kit,
            &mut key,
            trust,
            &mut op,
            &mut printer,
            &plan,
            item,
            out,
            &bundle.tenant,
        )?;
        written += 1;
        op.say(&format!("{upn}: written to {}", out.display()));
    }
    if args.dry_run {
        return Ok(());
    }
    if g.json {
        return super::print_json(&serde_json::json!({
            "out": out,
            "item_count": written,
        }));
    }
    crate::outln!("wrote {written} item(s) to {}; register them online with `glasskey graph register --response {}`", out.display(), out.display());
    Ok(())
}

/// `--dry-run`: the preflight's findings and the steps the command would take.
pub fn print_dry_run(
    g: &super::GlobalArgs,
    preflight: &crate::ceremony::preflight::Preflight,
    steps: &[String],
) -> crate::Result<()> {
    if g.json {
        return super::print_json(&serde_json::json!({
            "preflight": preflight,
            "steps": steps,
        }));
    }
    crate::outln!("preflight (nothing was changed):");
    for line in preflight.lines() {
        crate::outln!("{line}");
    }
    if preflight.passed() && !steps.is_empty() {
        crate::outln!("plan:");
        for (i, s) in steps.iter().enumerate() {
            crate::outln!("  {}. {s}", i + 1);
        }
    }
    Ok(())
}
