//! `glasskey enroll`: onboard one key for one break-glass account (online), or the
//! offline half of a split ceremony (`--request REQ.json --out RESP.json`).

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct EnrollArgs {
    /// The break-glass account (userPrincipalName).
    #[arg(long, value_name = "UPN", required_unless_present = "request")]
    pub account: Option<String>,
    /// Where the sealed key will be kept (a location id from glasskey.toml).
    #[arg(long, value_name = "LOC", required_unless_present = "request")]
    pub location: Option<String>,
    /// The key's label (default: ACCOUNT-LOCATION-MODEL).
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
}

pub fn run(_args: EnrollArgs, _g: &super::GlobalArgs) -> crate::Result<()> {
    Err(crate::Error::input("not wired yet", ""))
}
