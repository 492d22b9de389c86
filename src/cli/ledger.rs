//! (being written)
use clap::Subcommand;

use super::GlobalArgs;
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum LedgerCmd {}

pub fn run(cmd: LedgerCmd, _g: &GlobalArgs) -> Result<()> {
    match cmd {}
}
