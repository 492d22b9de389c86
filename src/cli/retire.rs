//! `glasskey retire`: take a key out of the program.

use clap::Args;

#[derive(Args, Debug)]
pub struct RetireArgs {
    /// The key's label.
    #[arg(long, value_name = "LABEL")]
    pub key: String,
    /// Why (recorded in the ledger).
    #[arg(long, default_value = "retired by operator")]
    pub reason: String,
    /// Do not delete the method in Entra (offline retirement; do it later).
    #[arg(long)]
    pub offline: bool,
    /// Also factory-reset the key (it must be plugged in).
    #[arg(long)]
    pub reset: bool,
    /// Skip confirmation prompts.
    #[arg(long)]
    pub yes: bool,
    /// Who is present; default: $USER.
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,
}

pub fn run(_args: RetireArgs, _g: &super::GlobalArgs) -> crate::Result<()> {
    Err(crate::Error::input("not wired yet", ""))
}
