//! (being written)
use clap::Subcommand;

use super::GlobalArgs;
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum GraphCmd {}

pub fn run(cmd: GraphCmd, _g: &GlobalArgs) -> Result<()> {
    match cmd {}
}
