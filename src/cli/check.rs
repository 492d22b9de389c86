//! `glasskey check`: the quarterly liveness check.

use clap::Args;

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
    /// Prove the credential with a touch only, without the PIN.
    #[arg(long)]
    pub presence_only: bool,
    /// Try the PIN even when fewer than 3 retries remain (risks blocking the key).
    #[arg(long)]
    pub force: bool,
    /// The new seal number (asked for when absent; only with --key).
    #[arg(long, value_name = "N")]
    pub new_seal: Option<String>,
    /// Who is present (repeat for each custodian); default: $USER.
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,
}

pub fn run(_args: CheckArgs, _g: &super::GlobalArgs) -> crate::Result<()> {
    Err(crate::Error::input("not wired yet", ""))
}
