//! The PIN slip: one page per key, printed straight from memory during enrollment.
//! glasskey never stores it; the caller sends the bytes where the operator says
//! (a printer spool path) and drops them. The bytes are zeroized on drop.

use zeroize::Zeroizing;

use crate::secret::Pin;

use super::pdf::{Doc, Face, Paper, GREY, LIGHT, RED};
use super::{ReportError, MARGIN};

/// What the slip says besides the PIN.
#[derive(Clone, Debug)]
pub struct PinSlip {
    pub account: String,
    pub key_label: String,
    pub model: String,
    pub tenant: String,
    /// Where the account signs in (the Entra admin center of the kit's cloud).
    pub sign_in_url: String,
}

/// Render one page per (slip, PIN). The PIN is drawn in DejaVu Sans Mono, spaced,
/// with a legend naming each character so 0/O and 1/l/I cannot be confused.
pub fn pin_slips(
    slips: &[(PinSlip, &Pin)],
    paper: Paper,
) -> Result<Zeroizing<Vec<u8>>, ReportError> {
    let mut doc = Doc::new("glasskey PIN slip", paper)?;
    for (slip, pin) in slips {
        doc.new_page();
        page(&mut doc, slip, pin);
    }
    if slips.is_empty() {
        doc.new_page();
    }
    Ok(Zeroizing::new(doc.finish("")))
}

fn page(doc: &mut Doc, slip: &PinSlip, pin: &Pin) {
    let w = doc.width - 2.0 * MARGIN;
    doc.text(Face::Sans, 20.0, MARGIN, 25.0, "PIN slip — confidential");
    doc.text_color(
        Face::Sans,
        11.0,
        MARGIN,
        33.0,
        "Place inside the envelope with the key. Do not copy, photograph or type this PIN elsewhere.",
        RED,
    );
    doc.line(MARGIN, 37.0, MARGIN + w, 37.0, 0.8);
    // The seal number changes at every check; the slip stays in the envelope, so
    // it points at the envelope instead of printing a number that will be stale.
    let rows = [
        ("Tenant", slip.tenant.as_str()),
        ("Sign in at", slip.sign_in_url.as_str()),
        ("Account", slip.account.as_str()),
        ("Key label", slip.key_label.as_str()),
        ("Model", slip.model.as_str()),
        (
            "Seal number",
            "see the envelope (a new seal after every check)",
        ),
    ];
    let mut y = 46.0;
    for (label, value) in rows {
        doc.text_color(Face::Sans, 10.0, MARGIN, y, label, GREY);
        let size = if label == "Seal number" { 10.0 } else { 12.0 };
        let face = if label == "Seal number" {
            Face::Sans
        } else {
            Face::Mono
        };
        for line in doc.wrap(face, size, value, w - 40.0) {
            doc.text(face, size, MARGIN + 40.0, y, &line);
            y += 5.5;
        }
        y += 1.5;
    }

    // Every PIN-derived buffer here wipes itself on drop.
    let chars: Zeroizing<Vec<char>> = Zeroizing::new(pin.expose().chars().collect());
    let size = if chars.len() <= 10 { 40.0 } else { 24.0 };
    let spaced: Zeroizing<String> = Zeroizing::new(chars.iter().flat_map(|c| [*c, ' ']).collect());
    let spaced = spaced.trim_end();
    let box_y = y.max(92.0) + 2.0;
    doc.fill(MARGIN, box_y, w, 30.0, LIGHT);
    doc.frame(MARGIN, box_y, w, 30.0, 1.2);
    doc.text_color(Face::Sans, 9.0, MARGIN + 3.0, box_y + 5.0, "PIN", GREY);
    let pw = doc.width_mm(Face::Mono, size, spaced);
    let x = MARGIN + ((w - pw) / 2.0).max(2.0);
    doc.text(Face::Mono, size, x, box_y + 22.0, spaced);

    let names: Zeroizing<Vec<String>> =
        Zeroizing::new(chars.iter().map(|c| describe(*c)).collect());
    let legend = Zeroizing::new(format!("{} characters: {}", chars.len(), names.join(", ")));
    let legend = Zeroizing::new(doc.fit(Face::Sans, 9.0, &legend, w));
    doc.text(Face::Sans, 9.0, MARGIN, box_y + 38.0, &legend);
    doc.text_color(
        Face::Sans,
        9.0,
        MARGIN,
        box_y + 46.0,
        "Whoever opens this envelope: use the PIN only at the key, with a second custodian present.",
        GREY,
    );
}

/// A spoken name for characters that look alike in print.
fn describe(c: char) -> String {
    match c {
        '0' => "zero".into(),
        'O' => "capital O".into(),
        'o' => "small o".into(),
        '1' => "one".into(),
        'l' => "small L".into(),
        'I' => "capital i".into(),
        c if c.is_ascii_digit() => c.to_string(),
        c if c.is_ascii_uppercase() => format!("capital {c}"),
        c if c.is_ascii_lowercase() => format!("small {c}"),
        ' ' => "space".into(),
        c => format!("'{c}'"),
    }
}
