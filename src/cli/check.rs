//! `glasskey check`: the quarterly liveness check.

use clap::Args;

use super::session;
use crate::ceremony::operator::Operator;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Check this key only (default: every key that is due).
    #[arg(long, value_name = "LABEL")]
    pub key: Option<String>,
    /// Check every active key, due or not.
    #[arg(long)]
    pub all: bool,
    /// Also confirm in Entra that the method is registered and the model still allowed.
    #[arg(long)]
    pub online: bool,
    /// After a passed check, wait for the account's sign-in with the key in
    /// Entra's sign-in log and record it as evidence (needs AuditLog.Read.All,
    /// Directory.Read.All and Entra ID P1/P2).
    #[arg(long)]
    pub signin: bool,
    /// How long to wait for the sign-in to appear in the log.
    #[arg(long, value_name = "MIN", default_value_t = 20)]
    pub signin_timeout: u64,
    /// Prove the credential with a touch only, without the PIN.
    #[arg(long)]
    pub presence_only: bool,
    /// Try the PIN even when fewer than 3 retries remain (risks blocking the key).
    #[arg(long)]
    pub force: bool,
    /// The new seal number (asked for when absent; only with --key).
    #[arg(long, value_name = "N")]
    pub new_seal: Option<String>,
    /// Run the preflight only and print the plan; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// Who is present (repeat for each custodian); default: $USER.
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,
}

pub fn run(args: CheckArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    use crate::ceremony::check::{self, CheckPlan};
    let kit = session::open_kit(g)?;
    let state = kit.state()?;
    let interval = kit.config().policy.check_interval_days;
    let now = crate::ledger::Timestamp::now();
    if let Some(label) = &args.key {
        super::suggest::known_label(&state, label)?;
    }
    let due: Vec<_> = state
        .active_keys()
        .filter(|k| match &args.key {
            Some(label) => &k.label == label,
            None => args.all || k.is_overdue(interval, now),
        })
        .collect();
    if due.is_empty() {
        return match &args.key {
            Some(label) => Err(crate::Error::input(
                format!("no active key labelled '{label}'"),
                "list keys with `glasskey ledger show`",
            )),
            None if g.json => super::print_json(&Vec::<check::CheckOutcome>::new()),
            None => {
                crate::outln!(
                    "no key is due for a check (use --all or --key LABEL to check anyway)"
                );
                Ok(())
            }
        };
    }
    let mut pf = crate::ceremony::preflight::Preflight::new();
    pf.record(
        "kit_writable",
        crate::ceremony::preflight::kit_writable(&kit),
    );
    if let Some(seal) = &args.new_seal {
        pf.record(
            "new_seal",
            crate::ceremony::preflight::seal_unused(&state, seal),
        );
    }
    if args.dry_run {
        let mut steps = Vec::new();
        for ks in &due {
            steps.push(format!(
                "key {}: open its envelope, prove the key holds its credential without the PIN, then the PIN from the slip{}, reseal",
                ks.label,
                if args.online { ", confirm in Entra" } else { "" }
            ));
        }
        steps.push("refresh the sheets".into());
        super::enroll::print_dry_run(g, &pf, &steps)?;
        return pf.into_result().map(|_| ());
    }
    pf.into_result()?;
    let graph = if args.online || args.signin {
        let graph = session::graph(g, &kit)?;
        if args.online {
            graph.require_permissions(crate::graph::permissions::plans::CHECK_ONLINE)?;
        }
        Some(graph)
    } else {
        None
    };
    let mut op = session::TerminalOperator { assume_yes: false };
    let operators = session::operators(&args.operators)?;
    let mut outcomes = Vec::new();
    let mut signin_errors: Vec<crate::Error> = Vec::new();
    for ks in due {
        // Read and evaluate the tenant before the envelope is opened.
        let online = match &graph {
            Some(graph) if args.online => {
                Some(crate::ceremony::online::read_before_opening(graph, ks)?)
            }
            _ => None,
        };
        let check_started = time::OffsetDateTime::now_utc();
        check::open_envelope(&kit, ks, &mut op, &operators)?;
        if !op.confirm(&format!(
            "is key {} plugged in (and no other key)?",
            ks.label
        ))? {
            return Err(crate::Error::input(
                "check stopped by the operator",
                "run it again when the key is plugged in",
            ));
        }
        let mut key = session::open_key(g)?;
        let plan = CheckPlan {
            presence_only: args.presence_only,
            force: args.force,
            new_seal: if args.key.is_some() {
                args.new_seal.clone()
            } else {
                None
            },
            operators: operators.clone(),
            defer_reseal: args.signin,
        };
        let outcome = check::check_key(&kit, ks, &mut key, &mut op, &plan, online.as_ref())?;
        if let (true, Some(graph)) = (args.signin, &graph) {
            if outcome.passed {
                let account = ks
                    .credentials
                    .first()
                    .map(|c| c.account.clone())
                    .unwrap_or_default();
                let wait = crate::ceremony::signin::SignInWait {
                    account,
                    key: Some(ks.label.clone()),
                    since: check_started,
                    timeout: std::time::Duration::from_secs(args.signin_timeout * 60),
                    poll: std::time::Duration::from_secs(30),
                };
                match crate::ceremony::signin::prove_sign_in(
                    &kit,
                    graph,
                    &wait,
                    &mut op,
                    &operators,
                    &std::thread::sleep,
                ) {
                    Ok(ev) if !g.json => crate::outln!(
                        "{}: sign-in proven: {} at {} ({}, IP {}, correlation id {})",
                        ks.label,
                        ev.sign_in_id.as_deref().unwrap_or("-"),
                        ev.time.as_deref().unwrap_or("-"),
                        ev.method.as_deref().unwrap_or("-"),
                        ev.ip_address.as_deref().unwrap_or("-"),
                        ev.correlation_id.as_deref().unwrap_or("-")
                    ),
                    Ok(_) => {}
                    Err(e) => signin_errors.push(e),
                }
            }
            check::reseal(&kit, ks, &mut op, &plan)?;
        }
        if !g.json {
            crate::outln!(
                "{}: {}",
                outcome.key,
                if outcome.passed { "PASSED" } else { "FAILED" }
            );
            for c in &outcome.checks {
                crate::outln!("  [{}] {}", if c.passed { "OK" } else { "FAIL" }, c.name);
            }
            for a in &outcome.advice {
                crate::outln!("  next: {a}");
            }
        }
        outcomes.push(outcome);
    }
    let mut locations: Vec<String> = kit.config().location_ids();
    locations.dedup();
    let sheets = crate::ceremony::sheets::refresh_kit_sheets(&kit, &locations, &operators)?;
    if g.json {
        super::print_json(&outcomes)?;
    } else {
        for path in sheets {
            crate::outln!("updated {} — print it for the binder", path.display());
        }
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.key.as_str())
        .collect();
    if failed.is_empty() {
        // A passed check without sign-in evidence is still not proof of the sign-in.
        match signin_errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    } else {
        Err(crate::Error::check(
            format!("liveness check failed for {}", failed.join(", ")),
            "follow the advice above for each failed key",
        ))
    }
}
