//! `glasskey report custody | check | emergency`: write a sheet, record in the
//! ledger that it was printed and which ledger head it shows, and with `--print`
//! send it to CUPS.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::ceremony::sheets::{write_sheet, Sheet};
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
    /// One page for the front of the binder: what to do when every admin is locked out.
    Emergency {
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
    /// Who printed the sheet (repeat for several); defaults to $USER, asked when unset.
    #[arg(long = "operator", value_name = "NAME")]
    operators: Vec<String>,
    /// Also send the PDF to the printer with CUPS `lp`.
    #[arg(long)]
    print: bool,
    /// The CUPS printer (lp -d NAME); default: the system's default printer.
    #[arg(long, value_name = "NAME", requires = "print")]
    printer: Option<String>,
}

pub fn run(cmd: ReportCmd, g: &GlobalArgs) -> Result<()> {
    let kit = Kit::open(&g.kit)?;
    let (sheet, out) = match &cmd {
        ReportCmd::Custody { location, out } => {
            super::suggest::known_location(&kit, location)?;
            (
                Sheet::Custody {
                    location: location.clone(),
                },
                out,
            )
        }
        ReportCmd::Check { out } => (Sheet::Check, out),
        ReportCmd::Emergency { out } => (Sheet::Emergency, out),
    };
    // A missing `lp` is found before anything is written or recorded.
    let printer = if out.print {
        Some(super::session::LpPrinter::find(out.printer.clone())?)
    } else {
        None
    };
    let operators = super::session::operators(&out.operators)?;
    let printed = write_sheet(&kit, &sheet, out.paper, &out.output, &operators)?;
    let sent_to = match &printer {
        Some(p) => Some(p.print(&printed.pdf, &format!("glasskey {} sheet", sheet.name()))?),
        None => None,
    };
    let head = printed.head;
    if g.json {
        return super::print_json(&serde_json::json!({
            "sheet": sheet.name(),
            "file": out.output,
            "bytes": printed.pdf.len(),
            "head_seq": head.map(|h| h.seq),
            "head_hash": head.map(|h| h.hash.to_hex()),
            "printed_to": sent_to,
        }));
    }
    crate::outln!(
        "wrote {} ({} bytes); it shows ledger head event {}",
        out.output.display(),
        printed.pdf.len(),
        head.map_or(0, |h| h.seq)
    );
    if let Some(to) = sent_to {
        crate::outln!("sent to printer {to}");
    }
    Ok(())
}
