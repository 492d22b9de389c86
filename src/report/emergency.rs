//! The emergency sheet: one page for the front of the binder, for the day every
//! administrator is locked out. Where each envelope is and which account it
//! serves, the two-person rule, where to sign in, who to call, and what to do
//! afterwards — bound to the ledger head like every other sheet.

use crate::ledger::{Custody, KeyState};

use super::pdf::{Doc, Face, GREY, LIGHT, RED};
use super::record::head_marker;
use super::{footers, header, natural_key, ReportError, SheetContext};
use super::{CONTENT_TOP, FOOTER_SPACE, MARGIN};

const LINE: f32 = 4.2;

/// Render the emergency sheet as PDF bytes.
pub fn emergency_sheet(ctx: &SheetContext) -> Result<Vec<u8>, ReportError> {
    let head = ctx.head();
    let config = ctx.config;
    let url = config.sign_in_url();
    let mut doc = Doc::new("glasskey emergency access sheet", ctx.paper)?;
    let title = "EMERGENCY ACCESS — when every administrator is locked out";
    let facts = format!(
        "Tenant: {}   Sign in at: {url}   Printed: {} UTC",
        config.tenant,
        ctx.now.date()
    );
    let instruction = "Follow the steps in order. Two custodians together, always. \
                       Record everything you do on this sheet.";
    let w = doc.width - 2.0 * MARGIN;
    let bottom = doc.height - FOOTER_SPACE;
    doc.new_page();
    header(&mut doc, title, &facts, instruction);
    let mut y = CONTENT_TOP + 2.0;

    let section = |doc: &mut Doc, y: &mut f32, heading: &str| {
        if *y + 12.0 > bottom {
            doc.new_page();
            header(doc, title, &facts, instruction);
            *y = CONTENT_TOP + 2.0;
        }
        doc.fill(MARGIN, *y, w, 6.0, LIGHT);
        doc.text(Face::Sans, 10.0, MARGIN + 1.5, *y + 4.3, heading);
        *y += 8.5;
    };
    let para = |doc: &mut Doc, y: &mut f32, text: &str, size: f32, indent: f32| {
        for line in doc.wrap(Face::Sans, size, text, w - indent) {
            doc.text(Face::Sans, size, MARGIN + indent, *y + 3.0, &line);
            *y += LINE * size / 8.5;
        }
    };

    section(&mut doc, &mut y, "1. Two people, always");
    para(
        &mut doc,
        &mut y,
        "Two custodians fetch, open and use a key together, and stay together until it is \
         resealed. Neither holds the key and its PIN alone. Note the time you open each envelope.",
        8.5,
        2.0,
    );
    y += 1.5;

    section(
        &mut doc,
        &mut y,
        "2. Where the keys are, and which account each one opens",
    );
    let mut keys: Vec<&KeyState> = ctx.state.active_keys().collect();
    keys.sort_by_key(|k| natural_key(&k.label));
    for loc in &config.locations {
        let here: Vec<&&KeyState> = keys
            .iter()
            .filter(|k| k.location.as_deref() == Some(loc.id.as_str()))
            .collect();
        let mut place = format!("{} ({})", loc.name, loc.id);
        if let Some(a) = &loc.address {
            place += &format!(" — {}", a.replace('\n', ", "));
        }
        for line in doc.wrap(Face::Sans, 9.0, &place, w - 2.0) {
            doc.text(Face::Sans, 9.0, MARGIN + 2.0, y + 3.2, &line);
            y += 4.3;
        }
        if here.is_empty() {
            doc.text_color(
                Face::Sans,
                8.0,
                MARGIN + 6.0,
                y + 3.0,
                "no key recorded here",
                GREY,
            );
            y += LINE;
        }
        for k in here {
            let envelope = match &k.custody {
                Custody::Sealed { seal, .. } => format!("envelope seal {seal}"),
                Custody::Opened { seal, .. } => format!("envelope {seal} is OPEN (not resealed)"),
                Custody::Unsealed => "NOT in a sealed envelope".to_string(),
            };
            let accounts: Vec<String> = k
                .accounts()
                .iter()
                .map(|upn| {
                    let id = config
                        .account(upn)
                        .and_then(|a| a.object_id.clone())
                        .unwrap_or_else(|| "object id not recorded".into());
                    format!("{upn} (object id {id})")
                })
                .collect();
            let usable = !accounts.is_empty() && k.credentials.iter().any(|c| c.entra.is_some());
            let text = format!(
                "key {} — {} — {} — opens: {}",
                k.label,
                k.model,
                envelope,
                if accounts.is_empty() {
                    "no account".to_string()
                } else {
                    accounts.join("; ")
                }
            );
            for line in doc.wrap(Face::Sans, 8.0, &text, w - 6.0) {
                if usable {
                    doc.text(Face::Sans, 8.0, MARGIN + 6.0, y + 3.0, &line);
                } else {
                    doc.text_color(Face::Sans, 8.0, MARGIN + 6.0, y + 3.0, &line, RED);
                }
                y += 3.8;
            }
            if !usable {
                doc.text_color(
                    Face::Sans,
                    8.0,
                    MARGIN + 6.0,
                    y + 3.0,
                    "NOT usable: this key is registered in Entra for no account",
                    RED,
                );
                y += 3.8;
            }
        }
        y += 1.5;
    }

    section(&mut doc, &mut y, "3. Sign in");
    let steps = [
        format!("Open {url} in a private browser window on a trusted computer."),
        "Sign in with the account the key opens (UPN above); choose \"Sign in with a security \
         key\" (or \"Face, fingerprint, PIN or security key\")."
            .to_string(),
        "Insert the key, type the PIN from the PIN slip inside its envelope, touch the key."
            .to_string(),
        "Fix what locked everyone out; change nothing else.".to_string(),
    ];
    for (i, s) in steps.iter().enumerate() {
        para(&mut doc, &mut y, &format!("{}. {s}", i + 1), 8.5, 2.0);
    }
    y += 1.5;

    section(&mut doc, &mut y, "4. Who to call");
    if config.custodians.is_empty() {
        doc.text_color(
            Face::Sans,
            8.5,
            MARGIN + 2.0,
            y + 3.0,
            "No custodians are recorded in glasskey.toml: add them (name, role, phone).",
            RED,
        );
        y += LINE;
    }
    for c in &config.custodians {
        let text = format!(
            "{}{} — {}",
            c.name,
            c.role
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            c.phone.as_deref().unwrap_or("no phone number recorded")
        );
        para(&mut doc, &mut y, &text, 9.0, 2.0);
    }
    y += 1.5;

    section(&mut doc, &mut y, "5. After the emergency");
    let after = [
        "Reseal each key used in a new tamper-evident envelope; note the new seal number.",
        "Run `glasskey check --key LABEL --new-seal N` for each key used: it proves the key, \
         records the new seal and reprints the sheets.",
        "Review the sign-in in Entra (Sign-in logs, filtered on the account) and every change \
         made during the emergency; `glasskey check --signin` records it.",
        "Rotate: change the PIN of each key used (or enroll a replacement), then run \
         `glasskey audit --online`.",
    ];
    for (i, s) in after.iter().enumerate() {
        para(&mut doc, &mut y, &format!("{}. {s}", i + 1), 8.5, 2.0);
    }
    y += 3.0;
    if y + 14.0 > bottom {
        doc.new_page();
        header(&mut doc, title, &facts, instruction);
        y = CONTENT_TOP + 2.0;
    }
    for (i, label) in ["Opened by", "and by"].iter().enumerate() {
        let x = MARGIN + i as f32 * (w / 2.0 + 5.0);
        doc.text_color(Face::Sans, 7.0, x, y + 5.0, label, GREY);
        doc.line(x + 14.0, y + 5.5, x + w / 2.0 - 5.0, y + 5.5, 0.5);
        doc.text_color(Face::Sans, 7.0, x, y + 11.0, "Date, time", GREY);
        doc.line(x + 14.0, y + 11.5, x + w / 2.0 - 5.0, y + 11.5, 0.5);
    }
    footers(&mut doc, head);
    Ok(doc.finish(&head_marker(head)))
}
