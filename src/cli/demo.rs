//! `glasskey demo`: the whole story on virtual keys and the local Graph emulator.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to put the kit, the virtual keys and the sheets.
    #[arg(long, value_name = "DIR", default_value = "demo-out")]
    pub out: PathBuf,
}
