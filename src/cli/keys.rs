//! (being written)
use clap::Subcommand;

use super::GlobalArgs;
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {}

pub fn run(cmd: KeysCmd, _g: &GlobalArgs) -> Result<()> {
    match cmd {}
}
