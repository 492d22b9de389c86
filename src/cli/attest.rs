//! (being written)
use clap::Subcommand;

use super::GlobalArgs;
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum AttestCmd {}

pub fn run(cmd: AttestCmd, _g: &GlobalArgs) -> Result<()> {
    match cmd {}
}
