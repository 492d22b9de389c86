//! The custody sheet: what every sealed envelope at one location contains.

use crate::ledger::{Custody, KeyState};

use super::pdf::{Doc, Face, Rgb3, GREEN, GREY, LIGHT, PINK, RED};
use super::record::{credential_fingerprint, head_marker, EnvelopeRecord};
use super::{footers, header, natural_key, signature_block, ReportError, SheetContext};
use super::{CONTENT_TOP, FOOTER_SPACE, MARGIN, SIGNATURE_HEIGHT};

const BLOCK: f32 = 41.0;
const GAP: f32 = 3.0;
const QR_SIZE: f32 = 37.0;

/// Render the custody sheet for `location` as PDF bytes.
pub fn custody_sheet(ctx: &SheetContext, location: &str) -> Result<Vec<u8>, ReportError> {
    let loc = ctx
        .config
        .location(location)
        .ok_or_else(|| ReportError::UnknownLocation {
            location: location.to_string(),
            known: ctx.config.locations.iter().map(|l| l.id.clone()).collect(),
        })?;
    let head = ctx.head();
    let interval = ctx.config.policy.check_interval_days;
    let mut sealed: Vec<&KeyState> = ctx.state.sealed_at(location).collect();
    sealed.sort_by_key(|k| natural_key(&k.label));
    let loose: Vec<&KeyState> = ctx
        .state
        .active_keys()
        .filter(|k| {
            k.location.as_deref() == Some(location) && !matches!(k.custody, Custody::Sealed { .. })
        })
        .collect();
    // Retired keys whose envelope the ledger last placed here: it must go.
    let mut retired: Vec<&KeyState> = ctx
        .state
        .keys
        .values()
        .filter(|k| {
            k.retired
                .as_ref()
                .is_some_and(|r| r.envelope_destroyed.is_none())
                && k.location.as_deref() == Some(location)
        })
        .collect();
    retired.sort_by_key(|k| natural_key(&k.label));

    let mut doc = Doc::new(&format!("glasskey custody sheet: {}", loc.name), ctx.paper)?;
    let title = format!("Custody sheet — {}", loc.name);
    let facts = format!(
        "Location: {}   Tenant: {}   Printed: {} UTC   Sealed envelopes: {}",
        loc.id,
        ctx.config.tenant,
        ctx.now.date(),
        sealed.len()
    );
    let instruction = "For each envelope: check it is here, its seal is intact and the seal \
                       number matches. Report any difference before signing.";
    let bottom = doc.height - FOOTER_SPACE;
    let new_page = |doc: &mut Doc| {
        doc.new_page();
        header(doc, &title, &facts, instruction);
        CONTENT_TOP
    };
    let mut y = new_page(&mut doc);
    let w = doc.width - 2.0 * MARGIN;
    // Address and custodians in full, wrapped: never cut.
    let mut about = Vec::new();
    if let Some(a) = &loc.address {
        about.push(format!("Address: {}", a.replace('\n', ", ")));
    }
    let custodians: Vec<String> = ctx
        .config
        .custodians
        .iter()
        .map(|c| {
            let mut s = c.name.clone();
            if let Some(r) = &c.role {
                s += &format!(" ({r})");
            }
            if let Some(p) = &c.phone {
                s += &format!(", {p}");
            }
            s
        })
        .collect();
    about.push(if custodians.is_empty() {
        "Custodians: none recorded in glasskey.toml".to_string()
    } else {
        format!("Custodians: {}", custodians.join("; "))
    });
    for text in about {
        for line in doc.wrap(Face::Sans, 8.5, &text, w) {
            doc.text(Face::Sans, 8.5, MARGIN, y + 3.5, &line);
            y += 4.0;
        }
    }
    y += 2.0;

    if sealed.is_empty() {
        doc.text(
            Face::Sans,
            11.0,
            MARGIN,
            y + 6.0,
            "No sealed envelopes are recorded at this location.",
        );
        y += 12.0;
    }
    for key in &sealed {
        if y + BLOCK > bottom {
            y = new_page(&mut doc);
        }
        envelope_block(&mut doc, ctx, key, location, y, interval)?;
        y += BLOCK + GAP;
    }
    if !loose.is_empty() {
        let needed = 8.0 + 5.0 * loose.len() as f32;
        if y + needed > bottom {
            y = new_page(&mut doc);
        }
        doc.text_color(
            Face::Sans,
            9.0,
            MARGIN,
            y + 5.0,
            "Keys recorded here that are NOT in a sealed envelope:",
            RED,
        );
        y += 10.0;
        for k in loose {
            let mut what = match &k.custody {
                Custody::Opened {
                    seal,
                    reason,
                    since,
                    ..
                } => {
                    format!(
                        "OPEN — key {}: envelope {seal} opened {} ({reason}) and not resealed",
                        k.label,
                        since.date()
                    )
                }
                _ => format!("key {}: never sealed", k.label),
            };
            if !registered(k) {
                what += " — NOT usable: registered in Entra for no account";
            }
            for line in doc.wrap(Face::Sans, 8.0, &what, w - 4.0) {
                doc.text_color(Face::Sans, 8.0, MARGIN + 4.0, y, &line, RED);
                y += 4.0;
            }
            y += 1.0;
        }
        y += 3.0;
    }
    if !retired.is_empty() {
        if y + 8.0 + 5.0 * retired.len() as f32 > bottom {
            y = new_page(&mut doc);
        }
        doc.text_color(
            Face::Sans,
            9.0,
            MARGIN,
            y + 5.0,
            "Retired keys: REMOVE AND DESTROY these envelopes (and the keys in them):",
            RED,
        );
        y += 10.0;
        for k in retired {
            let seal = match &k.custody {
                Custody::Sealed { seal, .. } | Custody::Opened { seal, .. } => {
                    format!("envelope {seal}")
                }
                Custody::Unsealed => "no envelope".to_string(),
            };
            let why = k
                .retired
                .as_ref()
                .map(|r| format!("retired {}: {}", r.time.date(), r.reason))
                .unwrap_or_default();
            let what = format!("remove and destroy — key {}, {seal} ({why})", k.label);
            for line in doc.wrap(Face::Sans, 8.0, &what, w - 4.0) {
                doc.text(Face::Sans, 8.0, MARGIN + 4.0, y, &line);
                y += 4.0;
            }
            y += 1.0;
        }
        y += 3.0;
    }
    if y + 10.0 + SIGNATURE_HEIGHT > bottom {
        y = new_page(&mut doc);
    }
    let witnessed = witness_line(ctx, head.map_or(0, |h| h.seq));
    let witnessed = doc.fit(Face::Sans, 8.0, &witnessed, doc.width - 2.0 * MARGIN);
    doc.text(Face::Sans, 8.0, MARGIN, y + 4.0, &witnessed);
    y += 8.0;
    signature_block(
        &mut doc,
        y,
        "We checked the envelopes listed on this sheet: all present, seals intact, numbers as printed.",
        ["Custodian 1", "Custodian 2"],
    );
    footers(&mut doc, head);
    Ok(doc.finish(&head_marker(head)))
}

/// Which keys last signed the ledger, and how much of it came after
/// (`glasskey ledger verify` re-checks those signatures).
fn witness_line(ctx: &SheetContext, head_seq: u64) -> String {
    let mut marks: Vec<(u64, &str)> = ctx
        .state
        .active_keys()
        .filter_map(|k| {
            k.last_witness
                .as_ref()
                .map(|w| (w.head_seq, k.label.as_str()))
        })
        .collect();
    marks.sort_unstable_by(|a, b| b.cmp(a));
    let Some(&(latest, _)) = marks.first() else {
        return format!("Ledger head event {head_seq}: no key has signed this ledger yet (it is witnessed at the next liveness check).");
    };
    let signers: Vec<String> = marks
        .iter()
        .map(|(seq, label)| format!("{label} (event {seq})"))
        .collect();
    format!(
        "Ledger head event {head_seq}, last witnessed by the keys at event {latest}: {}; {} later event(s) not yet signed by a key.",
        signers.join(", "),
        head_seq.saturating_sub(latest)
    )
}

/// A key some account can sign in with: a credential Entra registered.
fn registered(key: &KeyState) -> bool {
    key.credentials.iter().any(|c| c.entra.is_some())
}

/// One envelope: QR on the left, what it holds on the right, framed.
fn envelope_block(
    doc: &mut Doc,
    ctx: &SheetContext,
    key: &KeyState,
    location: &str,
    y: f32,
    interval: u32,
) -> Result<(), ReportError> {
    let Custody::Sealed {
        seal,
        since,
        custodians,
        ..
    } = &key.custody
    else {
        return Ok(());
    };
    let head = ctx.head();
    let account = key.accounts().join(", ");
    let cred_fp = key
        .credentials
        .first()
        .map(|c| credential_fingerprint(&c.credential_id.0));
    let record = EnvelopeRecord {
        seal: seal.clone(),
        key: key.label.clone(),
        location: location.to_string(),
        account: (!account.is_empty()).then(|| account.clone()),
        aaguid: key.aaguid.to_string(),
        credential_fp: cred_fp.clone(),
        serial: key.serial.clone(),
        head_seq: head.map_or(0, |h| h.seq),
        head_hash16: head.map_or("0".repeat(16), |h| h.hash.to_hex()[..16].to_string()),
    };
    let width = doc.width - 2.0 * MARGIN;
    doc.fill(MARGIN, y, width, 8.0, LIGHT);
    doc.frame(MARGIN, y, width, BLOCK, 0.8);
    doc.qr(MARGIN + 1.5, y + 3.0, QR_SIZE, &record.encode())?;

    let x = MARGIN + QR_SIZE + 4.0;
    doc.text(Face::Sans, 8.0, x, y + 5.6, "SEAL NO.");
    doc.text(Face::Mono, 12.0, x + 16.0, y + 6.0, seal);
    let key_text = format!("key {}", key.label);
    let kw = doc.width_mm(Face::Sans, 10.0, &key_text);
    doc.text(
        Face::Sans,
        10.0,
        doc.width - MARGIN - kw - 3.0,
        y + 5.8,
        &key_text,
    );

    let overdue = key.is_overdue(interval, ctx.now);
    let last = match key.last_check() {
        Some(c) if c.passed => (format!("{}  passed", c.time.date()), None),
        Some(c) => (format!("{}  FAILED", c.time.date()), Some(RED)),
        None => ("never checked".to_string(), None),
    };
    let due = key.next_check_due(interval).date();
    let cred = cred_fp
        .map(|f| format!("{} {} {} {}", &f[..4], &f[4..8], &f[8..12], &f[12..]))
        .unwrap_or_else(|| "none recorded".into());
    let rows: [(&str, String, Option<Rgb3>); 8] = [
        ("Model", key.model.clone(), None),
        ("AAGUID", key.aaguid.to_string(), None),
        (
            "Serial",
            key.serial.clone().unwrap_or_else(|| "not recorded".into()),
            None,
        ),
        if registered(key) {
            ("Account", account, None)
        } else {
            (
                "Account",
                format!(
                    "NOT usable: registered nowhere{}",
                    if account.is_empty() {
                        String::new()
                    } else {
                        format!(" (made for {account})")
                    }
                ),
                Some(RED),
            )
        },
        ("Credential", cred, None),
        ("Enrolled", key.enrolled.date(), None),
        ("Last check", last.0, last.1),
        (
            "Next check due",
            if overdue {
                format!("{due}  OVERDUE")
            } else {
                due
            },
            overdue.then_some(RED),
        ),
    ];
    let label_w = 24.0;
    let value_w = doc.width - MARGIN - 3.0 - (x + label_w);
    for (i, (label, value, color)) in rows.iter().enumerate() {
        let ry = y + 12.5 + i as f32 * 3.6;
        doc.text_color(Face::Sans, 6.5, x, ry, label, GREY);
        let value = doc.fit(Face::Mono, 7.5, value, value_w);
        match color {
            Some(c) => {
                if *c == RED && label.starts_with("Next") {
                    let vw = doc.width_mm(Face::Mono, 7.5, &value);
                    doc.fill(x + label_w - 1.0, ry - 2.6, vw + 2.0, 3.4, PINK);
                }
                doc.text_color(Face::Mono, 7.5, x + label_w, ry, &value, *c)
            }
            None => doc.text(Face::Mono, 7.5, x + label_w, ry, &value),
        }
    }
    // A box per envelope for the custodians to tick during the count.
    // Below the long rows (model, account), beside the short ones (dates).
    let bx = doc.width - MARGIN - 9.0;
    doc.text(Face::Sans, 7.0, bx - 25.0, y + 31.5, "Present, seal intact");
    doc.frame(bx, y + 27.0, 6.0, 6.0, 0.8);
    let sealed_by = format!("sealed {} by {}", since.date(), custodians.join(" & "));
    let lines = doc.wrap(Face::Sans, 6.5, &sealed_by, 60.0);
    let first = y + 39.5 - (lines.len().saturating_sub(1)) as f32 * 2.8;
    for (i, line) in lines.iter().enumerate() {
        doc.text_color(
            Face::Sans,
            6.5,
            doc.width - MARGIN - 63.0,
            first + i as f32 * 2.8,
            line,
            GREEN,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Bytes, Event, KitConfig, Ledger, State, Timestamp};
    use crate::report::Paper;

    #[test]
    fn the_witness_line_names_the_keys_that_last_signed_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::new(dir.path());
        let ops = vec!["alice".to_string()];
        let enrolled = |key: &str| Event::KeyEnrolled {
            key: key.into(),
            model: "m".into(),
            aaguid: crate::aaguid::Aaguid::ZERO,
            firmware: None,
            serial: None,
            attestation_fingerprint: None,
        };
        let witnessed = |key: &str, head_seq: u64| Event::CheckWitnessed {
            key: key.into(),
            credential_id: Bytes(vec![1]),
            head_seq,
            head_hash: "00".repeat(32),
            nonce: Bytes(vec![0; 32]),
            client_data_json: Bytes(vec![]),
            authenticator_data: Bytes(vec![]),
            signature: Bytes(vec![]),
        };
        for e in [enrolled("k1"), enrolled("k2")] {
            ledger.append(&ops, e).unwrap();
        }
        let config = KitConfig::example("contoso.onmicrosoft.com");
        let line = |state: &State, head: u64| {
            let ctx = SheetContext {
                config: &config,
                state,
                now: Timestamp::now(),
                paper: Paper::A4,
            };
            witness_line(&ctx, head)
        };
        let state = State::fold(&ledger.records().unwrap());
        assert!(line(&state, 2).contains("no key has signed"));
        ledger.append(&ops, witnessed("k1", 2)).unwrap();
        ledger.append(&ops, witnessed("k2", 3)).unwrap();
        ledger.append(&ops, enrolled("k3")).unwrap();
        let state = State::fold(&ledger.records().unwrap());
        let text = line(&state, 5);
        assert!(
            text.contains("at event 3: k2 (event 3), k1 (event 2)"),
            "{text}"
        );
        assert!(text.contains("2 later event(s)"), "{text}");
    }
}
