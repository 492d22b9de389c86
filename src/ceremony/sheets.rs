//! Printing a sheet: render it from the ledger's state, write it, and record in
//! the ledger which head it shows, so paper and ledger can be matched later.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ledger::{Event, Hash, Head, Kit, Timestamp};
use crate::report::{check_sheet, custody_sheet, emergency_sheet, Paper, SheetContext};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sheet {
    /// The inventory of one location.
    Custody { location: String },
    /// The quarterly evidence report.
    Check,
    /// The one page for the front of the binder.
    Emergency,
}

impl Sheet {
    /// A file name for the sheet inside a folder of sheets.
    pub fn file_name(&self) -> String {
        match self {
            Sheet::Custody { location } => format!("custody-{location}.pdf"),
            Sheet::Check => "check-report.pdf".into(),
            Sheet::Emergency => "emergency.pdf".into(),
        }
    }

    /// The name recorded in the ledger and shown in `--json` output.
    pub fn name(&self) -> &'static str {
        match self {
            Sheet::Custody { .. } => "custody",
            Sheet::Check => "check",
            Sheet::Emergency => "emergency",
        }
    }
}

/// What printing a sheet produced.
pub struct Printed {
    /// The ledger head the sheet shows.
    pub head: Option<Head>,
    pub pdf: Vec<u8>,
}

/// Render `sheet`, write it to `path`, record the print; returns the head it shows.
pub fn print_sheet(
    kit: &Kit,
    sheet: &Sheet,
    paper: Paper,
    path: &Path,
    operators: &[String],
) -> Result<(Option<Head>, usize)> {
    let printed = write_sheet(kit, sheet, paper, path, operators)?;
    Ok((printed.head, printed.pdf.len()))
}

/// [`print_sheet`], keeping the PDF bytes (to send them on to a printer).
pub fn write_sheet(
    kit: &Kit,
    sheet: &Sheet,
    paper: Paper,
    path: &Path,
    operators: &[String],
) -> Result<Printed> {
    let state = kit.state()?;
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: Timestamp::now(),
        paper,
    };
    let name = sheet.name();
    let (pdf, location) = match sheet {
        Sheet::Custody { location } => (custody_sheet(&ctx, location)?, Some(location.clone())),
        Sheet::Check => (check_sheet(&ctx)?, None),
        Sheet::Emergency => (emergency_sheet(&ctx)?, None),
    };
    crate::fsutil::write_atomic(path, &pdf).map_err(|e| {
        Error::input(
            format!("could not write {}: {e}", path.display()),
            "choose a writable output path",
        )
    })?;
    let head = state.head;
    kit.append(
        operators,
        Event::SheetPrinted {
            sheet: name.into(),
            location,
            head_seq: head.map_or(0, |h| h.seq),
            head_hash: head.map_or_else(|| Hash::GENESIS.to_hex(), |h| h.hash.to_hex()),
        },
    )?;
    Ok(Printed { head, pdf })
}

/// After a ceremony: the custody sheets of `locations`, the check report and the
/// emergency sheet (which names every envelope's place and seal), refreshed in the kit's
/// `sheets/` folder, so the binder's front page never shows an envelope that has changed.
pub fn refresh_kit_sheets(
    kit: &Kit,
    locations: &[String],
    operators: &[String],
) -> Result<Vec<PathBuf>> {
    let dir = kit.dir().join("sheets");
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::input(
            format!("could not create {}: {e}", dir.display()),
            "check the kit folder's permissions",
        )
    })?;
    let mut written = Vec::new();
    let sheets = locations
        .iter()
        .map(|l| Sheet::Custody {
            location: l.clone(),
        })
        .chain([Sheet::Check, Sheet::Emergency]);
    for sheet in sheets {
        let path = dir.join(sheet.file_name());
        print_sheet(kit, &sheet, Paper::A4, &path, operators)?;
        written.push(path);
    }
    Ok(written)
}
