//! `glasskey report custody | check`: write a sheet, then record in the ledger
//! that it was printed and which ledger head it shows.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::error::{Error, Result};
use crate::ledger::{Event, Kit, Timestamp};
use crate::report::{check_sheet, custody_sheet, Paper, SheetContext};

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
    let state = kit.state()?;
    let (sheet, location, out) = match &cmd {
        ReportCmd::Custody { location, out } => ("custody", Some(location.clone()), out),
        ReportCmd::Check { out } => ("check", None, out),
    };
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: Timestamp::now(),
        paper: out.paper,
    };
    let pdf = match &location {
        Some(loc) => custody_sheet(&ctx, loc)?,
        None => check_sheet(&ctx)?,
    };
    write_file(&out.output, &pdf)?;
    let head = state.head;
    let operators = if out.operators.is_empty() {
        vec![std::env::var("USER").unwrap_or_else(|_| "operator".into())]
    } else {
        out.operators.clone()
    };
    kit.append(
        &operators,
        Event::SheetPrinted {
            sheet: sheet.into(),
            location,
            head_seq: head.map_or(0, |h| h.seq),
            head_hash: head.map_or_else(
                || crate::ledger::Hash::GENESIS.to_hex(),
                |h| h.hash.to_hex(),
            ),
        },
    )?;
    if g.json {
        return super::print_json(&serde_json::json!({
            "sheet": sheet,
            "file": out.output,
            "head_seq": head.map(|h| h.seq),
            "head_hash": head.map(|h| h.hash.to_hex()),
        }));
    }
    println!(
        "wrote {} ({} bytes); it shows ledger head event {}",
        out.output.display(),
        pdf.len(),
        head.map_or(0, |h| h.seq)
    );
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| {
        Error::input(
            format!("could not write {}: {e}", path.display()),
            "choose a writable output path with -o",
        )
    })
}
