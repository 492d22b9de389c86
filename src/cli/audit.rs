//! `glasskey audit`: is the break-glass program healthy?

use clap::Args;

use super::session;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Also read Entra: accounts' posture, roles, Conditional Access, registered
    /// methods, and every sign-in since the last review (ALERT for any that is
    /// not a recorded `check --signin` test).
    #[arg(long)]
    pub online: bool,
    /// Print the KQL alert query for the break-glass accounts and write it, an Azure
    /// Monitor alert rule and a Sentinel analytics rule (ARM JSON) to the kit's
    /// monitoring/ folder (or --out). Offline: no sign-in.
    #[arg(long)]
    pub kql: bool,
    /// Where --kql writes its files (default: KIT/monitoring).
    #[arg(long, value_name = "DIR", requires = "kql")]
    pub out: Option<std::path::PathBuf>,
}

pub fn run(args: AuditArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    use crate::ceremony::audit;
    let kit = session::open_kit(g)?;
    if args.kql {
        // Offline: the kit names the accounts (and their object ids, when known).
        let accounts = audit::watched_accounts(&kit);
        let dir = args.out.clone().unwrap_or_else(|| g.kit.join("monitoring"));
        let files = audit::write_monitoring(&dir, &accounts)?;
        let text = audit::kql(&accounts);
        if g.json {
            return super::print_json(&serde_json::json!({ "kql": text, "files": files }));
        }
        super::output::write_text(&text);
        for f in &files {
            eprintln!("wrote {}", f.display());
        }
        return Ok(());
    }
    let mut report = audit::audit_offline(&kit, crate::ledger::Timestamp::now())?;
    if args.online {
        let graph = session::graph(g, &kit)?;
        graph.require_permissions(crate::graph::permissions::plans::AUDIT_ONLINE)?;
        audit::audit_online(&kit, &graph, &mut report)?;
        crate::ceremony::signin::review_sign_ins(
            &kit,
            &graph,
            &mut report,
            time::OffsetDateTime::now_utc(),
            &session::operators(&[])?,
        )?;
    }
    if g.json {
        super::print_json(&report)?;
    } else {
        for f in &report.findings {
            crate::outln!("[{}] {}: {}", f.severity.tag(), f.subject, f.message);
        }
    }
    if report.healthy() {
        Ok(())
    } else {
        Err(crate::Error::check(
            "the audit found problems (FAIL / ALERT above)",
            "fix each finding; an ALERT on a break-glass account is a security incident",
        ))
    }
}
