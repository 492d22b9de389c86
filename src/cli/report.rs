//! (being written)
use clap::Subcommand;

use super::GlobalArgs;
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum ReportCmd {}

pub fn run(cmd: ReportCmd, _g: &GlobalArgs) -> Result<()> {
    match cmd {}
}
