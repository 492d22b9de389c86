//! `glasskey report custody | check`: write a sheet, then record in the ledger
//! that it was printed and which ledger head it shows.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::ceremony::sheets::{print_sheet, Sheet};
use crate::error::Result;
use crate::ledger::Kit;
use crate::report::Paper;

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Inventory sheet for one location: every sealed envelope, QR codes, signature lines.
    Custody {
        /// Location id from glasskey.toml (e.g. vault, office-safe).
        #[arg(long)]
        location: String,
        #[command(flatten)]
        out: SheetArgs,
    },
    /// Quarterly evidence: every key, its last check, who was present, overdue keys.
    Check {
        #[command(flatten)]
        out: SheetArgs,
    },
}

#[derive(Args, Debug)]
pub struct SheetArgs {
    /// Where to write the PDF.
    #[arg(short = 'o', long = "output", value_name = "FILE.pdf")]
    output: PathBuf,
    /// Paper size: a4 or letter.
    #[arg(long, default_value = "a4")]
    paper: Paper,
    /// Who printed the sheet (repeat for several); defaults to $USER.
    #[arg(long = "operator", value_name = "NAME")]
    operators: Vec<String>,
}

pub fn run(cmd: ReportCmd, g: &GlobalArgs) -> Result<()> {
    let kit = Kit::open(&g.kit)?;
    let (sheet, out) = match &cmd {
        ReportCmd::Custody { location, out } => (
            Sheet::Custody {
                location: location.clone(),
            },
            out,
        ),
        ReportCmd::Check { out } => (Sheet::Check, out),
    };
    let operators = super::session::operators(&out.operators);
    let (head, size) = print_sheet(&kit, &sheet, out.paper, &out.output, &operators)?;
    if g.json {
        return super::print_json(&serde_json::json!({
            "sheet": match sheet { Sheet::Custody { .. } => "custody", Sheet::Check => "check" },
            "file": out.output,
            "head_seq": head.map(|h| h.seq),
            "head_hash": head.map(|h| h.hash.to_hex()),
        }));
    }
    println!(
        "wrote {} ({size} bytes); it shows ledger head event {}",
        out.output.display(),
        head.map_or(0, |h| h.seq)
    );
    Ok(())
}
