//! `glasskey audit`: is the break-glass program healthy?

use clap::Args;

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Also read Entra: accounts' posture, roles, Conditional Access, registered methods.
    #[arg(long)]
    pub online: bool,
    /// Print KQL queries for alerts on these accounts and exit.
    #[arg(long)]
    pub kql: bool,
}

pub fn run(_args: AuditArgs, _g: &super::GlobalArgs) -> crate::Result<()> {
    Err(crate::Error::input("not wired yet", ""))
}
