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
    /// Print KQL queries for alerts on these accounts and exit.
    #[arg(long)]
    pub kql: bool,
}

pub fn run(args: AuditArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    use crate::ceremony::audit;
    let kit = session::open_kit(g)?;
    if args.kql {
        let graph = session::graph(g, &kit)?;
        let mut ids = Vec::new();
        for a in &kit.config().accounts {
            ids.push((a.upn.clone(), graph.user(&a.upn)?.id));
        }
        print!("{}", audit::kql(&ids));
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
            &session::operators(&[]),
        )?;
    }
    if g.json {
        super::print_json(&report)?;
    } else {
        for f in &report.findings {
            println!("[{:?}] {}: {}", f.severity, f.subject, f.message);
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
