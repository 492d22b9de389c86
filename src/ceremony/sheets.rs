//! Printing a sheet: render it from the ledger's state, write it, and record in
//! the ledger which head it shows, so paper and ledger can be matched later.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ledger::{Event, Hash, Head, Kit, Timestamp};
use crate::report::{check_sheet, custody_sheet, Paper, SheetContext};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sheet {
    /// The inventory of one location.
    Custody { location: String },
    /// The quarterly evidence report.
    Check,
}

impl Sheet {
    /// A file name for the sheet inside a folder of sheets.
    pub fn file_name(&self) -> String {
        match self {
            Sheet::Custody { location } => format!("custody-{location}.pdf"),
            Sheet::Check => "check-report.pdf".into(),
        }
    }
}

/// Render `sheet`, write it to `path`, record the print; returns the head it shows.
pub fn print_sheet(
    kit: &Kit,
    sheet: &Sheet,
    paper: Paper,
    path: &Path,
    operators: &[String],
) -> Result<(Option<Head>, usize)> {
    let state = kit.state()?;
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: Timestamp::now(),
        paper,
    };
    let (pdf, name, location) = match sheet {
        Sheet::Custody { location } => (
            custody_sheet(&ctx, location)?,
            "custody",
            Some(location.clone()),
        ),
        Sheet::Check => (check_sheet(&ctx)?, "check", None),
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
    Ok((head, pdf.len()))
}

/// After a ceremony: the custody sheets of `locations` and the check report,
/// refreshed in the kit's `sheets/` folder.
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
        .chain([Sheet::Check]);
    for sheet in sheets {
        let path = dir.join(sheet.file_name());
        print_sheet(kit, &sheet, Paper::A4, &path, operators)?;
        written.push(path);
    }
    Ok(written)
}
