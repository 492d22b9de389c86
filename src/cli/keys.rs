//! (being written)
use clap::Subcommand;

use super::GlobalArgs;
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    #[command(flatten)]
    Virtual(super::virtual_keys::VirtualKeysCmd),
}

pub fn run(cmd: KeysCmd, g: &GlobalArgs) -> Result<()> {
    match cmd {
        KeysCmd::Virtual(c) => super::virtual_keys::run(c, g),
    }
}
