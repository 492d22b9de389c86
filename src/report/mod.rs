//! Printable sheets (PDF bytes): the custody inventory for one location, the
//! liveness-check evidence sheet and the PIN slip.
//!
//! Sheets are drawn from a [`State`] (the ledger fold), the kit config and the
//! ledger head, which every sheet prints in its footer and embeds in its metadata
//! so paper and ledger can be matched later (`glasskey ledger verify --sheet`).
//! Fonts: DejaVu Sans and Sans Mono, embedded (docs/ledger.md explains the choice).

mod check;
mod custody;
mod emergency;
mod pdf;
mod pin_slip;
mod record;

use std::fmt;

pub use check::check_sheet;
pub use custody::custody_sheet;
pub use emergency::emergency_sheet;
pub use pdf::Paper;
pub use pin_slip::{pin_slips, PinSlip};
pub use record::{credential_fingerprint, head_in_pdf, EnvelopeRecord, HEAD_MARKER};

use crate::ledger::{Head, KitConfig, State, Timestamp};
use pdf::{Doc, Face, GREY};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// The embedded fonts could not be parsed (a broken build).
    Font,
    /// A QR code could not hold the record.
    Qr(String),
    UnknownLocation {
        location: String,
        known: Vec<String>,
    },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e: crate::Error = self.clone().into();
        write!(f, "{e}")
    }
}

impl std::error::Error for ReportError {}

impl From<ReportError> for crate::Error {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Font => crate::Error::input(
                "the fonts built into glasskey could not be read",
                "this glasskey binary is damaged: reinstall it",
            ),
            ReportError::Qr(m) => crate::Error::input(
                format!("an envelope record is too long for a QR code: {m}"),
                "shorten the key label, seal number or serial in the ledger",
            ),
            ReportError::UnknownLocation { location, known } => crate::Error::input(
                format!("location '{location}' is not in glasskey.toml"),
                format!("use one of: {}", known.join(", ")),
            ),
        }
    }
}

/// What every sheet shows: whose program, when, and which ledger it reflects.
pub struct SheetContext<'a> {
    pub config: &'a KitConfig,
    pub state: &'a State,
    /// "Now" for dates and overdue marks (passed in so sheets are reproducible).
    pub now: Timestamp,
    pub paper: Paper,
}

impl SheetContext<'_> {
    fn head(&self) -> Option<Head> {
        self.state.head
    }
}

const MARGIN: f32 = 15.0;
/// Top of the content area, below the page header.
const CONTENT_TOP: f32 = 38.0;
/// Space kept for the footer at the bottom of each page.
const FOOTER_SPACE: f32 = 22.0;

/// Page header: title, a line of facts and a one-line instruction.
fn header(doc: &mut Doc, title: &str, facts: &str, instruction: &str) {
    let continued = if doc.page_count() > 1 {
        "  (continued)"
    } else {
        ""
    };
    doc.text(
        Face::Sans,
        16.0,
        MARGIN,
        20.0,
        &format!("{title}{continued}"),
    );
    let w = doc.width - 2.0 * MARGIN;
    // Shrink before shortening: every fact on this line matters.
    let size = [9.0, 8.5, 8.0, 7.5]
        .into_iter()
        .find(|s| doc.width_mm(Face::Sans, *s, facts) <= w)
        .unwrap_or(7.5);
    let facts = doc.fit(Face::Sans, size, facts, w);
    doc.text(Face::Sans, size, MARGIN, 27.0, &facts);
    let instruction = doc.fit(Face::Sans, 8.0, instruction, w);
    doc.text_color(Face::Sans, 8.0, MARGIN, 32.0, &instruction, GREY);
    doc.line(MARGIN, 34.5, doc.width - MARGIN, 34.5, 0.8);
}

/// Footers on every page: ledger head (full hash), how to check it, page i of n.
fn footers(doc: &mut Doc, head: Option<Head>) {
    let n = doc.page_count();
    let y = doc.height - 14.0;
    let (ledger, hint) = match head {
        Some(h) => (
            format!(
                "Ledger: {} events · head event {} · sha256 {}",
                h.seq, h.seq, h.hash
            ),
            format!(
                "To match this paper with the ledger: glasskey ledger verify --head {}:{}",
                h.seq,
                &h.hash.to_hex()[..16]
            ),
        ),
        None => ("Ledger: empty".to_string(), String::new()),
    };
    for i in 0..n {
        let ledger = doc.fit(Face::Mono, 6.5, &ledger, doc.width - 2.0 * MARGIN);
        let page = format!("Page {} of {n}", i + 1);
        let pw = doc.width_mm(Face::Sans, 8.0, &page);
        doc.text_on_page(i, Face::Mono, 6.5, MARGIN, y, &ledger);
        doc.text_on_page(i, Face::Sans, 7.0, MARGIN, y + 4.0, &hint);
        doc.text_on_page(i, Face::Sans, 8.0, doc.width - MARGIN - pw, y + 4.0, &page);
        // Each page initialled, so a loose page still carries its attestation.
        let initials = "Initials: ________  ________";
        let iw = doc.width_mm(Face::Sans, 7.0, initials);
        doc.text_on_page(
            i,
            Face::Sans,
            7.0,
            doc.width - MARGIN - iw,
            y - 4.0,
            initials,
        );
    }
}

/// Two custodian signature blocks side by side; returns the height used.
fn signature_block(doc: &mut Doc, y: f32, statement: &str, roles: [&str; 2]) -> f32 {
    let w = doc.width - 2.0 * MARGIN;
    let statement = doc.fit(Face::Sans, 9.0, statement, w);
    doc.text(Face::Sans, 9.0, MARGIN, y + 5.0, &statement);
    let col = (w - 10.0) / 2.0;
    for (i, role) in roles.iter().enumerate() {
        let x = MARGIN + i as f32 * (col + 10.0);
        doc.text(Face::Sans, 9.0, x, y + 12.0, role);
        for (j, label) in ["Name", "Signature", "Date"].iter().enumerate() {
            let ly = y + 21.0 + j as f32 * 8.0;
            doc.text_color(Face::Sans, 7.0, x, ly, label, GREY);
            doc.line(x + 16.0, ly + 0.5, x + col, ly + 0.5, 0.5);
        }
    }
    SIGNATURE_HEIGHT
}

const SIGNATURE_HEIGHT: f32 = 40.0;

/// Order labels as people read them: "key-2" before "key-10".
fn natural_key(s: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut n = u64::from(c as u8 - b'0');
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n = n
                    .saturating_mul(10)
                    .saturating_add(u64::from(*d as u8 - b'0'));
                chars.next();
            }
            out.push((std::mem::take(&mut text), n));
        } else {
            text.push(c);
        }
    }
    out.push((text, 0));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn natural_order() {
        let mut v = vec!["bg1-10", "bg1-9", "bg1-1", "bg2-0", "a"];
        v.sort_by_key(|s| super::natural_key(s));
        assert_eq!(v, ["a", "bg1-1", "bg1-9", "bg1-10", "bg2-0"]);
    }
}
