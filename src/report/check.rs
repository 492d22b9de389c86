//! The liveness-check evidence sheet: every key in service, what its last check
//! proved, who was present, and which keys are overdue.

use crate::ledger::{Custody, KeyState};

use super::pdf::{Doc, Face, GREY, LIGHT, PINK, RED};
use super::record::head_marker;
use super::{footers, header, natural_key, signature_block, ReportError, SheetContext};
use super::{CONTENT_TOP, FOOTER_SPACE, MARGIN, SIGNATURE_HEIGHT};

const ROW: f32 = 11.0;
/// Column x offsets (from the margin) and titles.
const COLUMNS: [(f32, &str); 7] = [
    (1.0, "Key"),
    (31.0, "Model"),
    (66.0, "Where"),
    (93.0, "Last check"),
    (113.0, "Result"),
    (128.0, "Counter"),
    (142.0, "Next due"),
];

/// Render the check evidence sheet as PDF bytes.
pub fn check_sheet(ctx: &SheetContext) -> Result<Vec<u8>, ReportError> {
    let head = ctx.head();
    let interval = ctx.config.policy.check_interval_days;
    let mut keys: Vec<&KeyState> = ctx.state.active_keys().collect();
    keys.sort_by_key(|k| natural_key(&k.label));
    let overdue = keys
        .iter()
        .filter(|k| k.is_overdue(interval, ctx.now))
        .count();
    let failed = keys
        .iter()
        .filter(|k| k.last_check().is_some_and(|c| !c.passed))
        .count();

    let mut doc = Doc::new("glasskey liveness check evidence", ctx.paper)?;
    let title = "Liveness check evidence";
    let facts = format!(
        "Tenant: {}   Printed: {} UTC   Check every {interval} days   \
         Keys: {}, overdue: {overdue}, failed: {failed}",
        ctx.config.tenant,
        ctx.now.date(),
        keys.len()
    );
    let instruction = "Red rows are overdue or failed: retrieve those keys with two custodians \
                       and run `glasskey check --key LABEL`.";
    let bottom = doc.height - FOOTER_SPACE;
    let width = doc.width - 2.0 * MARGIN;
    let new_page = |doc: &mut Doc| {
        doc.new_page();
        header(doc, title, &facts, instruction);
        doc.fill(MARGIN, CONTENT_TOP, width, 6.0, LIGHT);
        for (x, t) in COLUMNS {
            doc.text(Face::Sans, 7.5, MARGIN + x, CONTENT_TOP + 4.2, t);
        }
        CONTENT_TOP + 7.0
    };
    let mut y = new_page(&mut doc);
    if keys.is_empty() {
        doc.text(Face::Sans, 11.0, MARGIN, y + 6.0, "No keys are in service.");
        y += 12.0;
    }
    for key in keys {
        if y + ROW > bottom {
            y = new_page(&mut doc);
        }
        row(&mut doc, ctx, key, y, interval);
        y += ROW;
    }
    y = history(&mut doc, ctx, y + 6.0, &|doc: &mut Doc| {
        doc.new_page();
        header(doc, title, &facts, instruction);
        CONTENT_TOP
    });
    y += 4.0;
    if y + SIGNATURE_HEIGHT > bottom {
        doc.new_page();
        header(&mut doc, title, &facts, instruction);
        y = CONTENT_TOP;
    }
    signature_block(
        &mut doc,
        y,
        "We reviewed this evidence; every overdue or failed key above has a follow-up owner.",
        ["Reviewer 1", "Reviewer 2"],
    );
    footers(&mut doc, head);
    Ok(doc.finish(&head_marker(head)))
}

const HISTORY_ROW: f32 = 5.0;
/// Columns of the history table: x offset from the margin, title.
const HISTORY_COLUMNS: [(f32, &str); 6] = [
    (1.0, "Date (UTC)"),
    (33.0, "Key"),
    (66.0, "Result"),
    (84.0, "Checks"),
    (128.0, "Counter"),
    (144.0, "Present"),
];

/// Every check recorded in the last interval, oldest first; returns the new y.
fn history(
    doc: &mut Doc,
    ctx: &SheetContext,
    mut y: f32,
    new_page: &dyn Fn(&mut Doc) -> f32,
) -> f32 {
    let interval = ctx.config.policy.check_interval_days;
    let since = ctx
        .now
        .datetime()
        .checked_sub(time::Duration::days(i64::from(interval)))
        .unwrap_or_else(|| time::PrimitiveDateTime::MIN.assume_utc());
    let mut checks: Vec<(&KeyState, &crate::ledger::CheckRecord)> = ctx
        .state
        .keys
        .values()
        .flat_map(|k| k.checks.iter().map(move |c| (k, c)))
        .filter(|(_, c)| c.time.datetime() >= since)
        .collect();
    checks.sort_by_key(|(_, c)| c.seq);
    let bottom = doc.height - FOOTER_SPACE;
    let width = doc.width - 2.0 * MARGIN;
    let table_header = |doc: &mut Doc, y: f32| {
        doc.fill(MARGIN, y, width, 6.0, LIGHT);
        for (x, t) in HISTORY_COLUMNS {
            doc.text(Face::Sans, 7.5, MARGIN + x, y + 4.2, t);
        }
        y + 7.0
    };
    if y + 20.0 > bottom {
        y = new_page(doc);
    }
    let title = format!("Every liveness check recorded in the last {interval} days");
    doc.text(Face::Sans, 11.0, MARGIN, y + 4.0, &title);
    y += 7.0;
    if checks.is_empty() {
        doc.text_color(Face::Sans, 9.0, MARGIN, y + 4.0, "None.", RED);
        return y + 8.0;
    }
    y = table_header(doc, y);
    for (key, c) in checks {
        if y + HISTORY_ROW > bottom {
            let top = new_page(doc);
            y = table_header(doc, top);
        }
        let names: Vec<&str> = c.checks.iter().map(|i| i.name.as_str()).collect();
        let cells = [
            c.time
                .to_string()
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_string(),
            key.label.clone(),
            if c.passed {
                "passed".into()
            } else {
                "FAILED".into()
            },
            names.join(", "),
            c.counter.map_or("—".into(), |n| n.to_string()),
            c.operators.join(", "),
        ];
        for (i, ((x, _), text)) in HISTORY_COLUMNS.iter().zip(cells.iter()).enumerate() {
            let next_x = HISTORY_COLUMNS.get(i + 1).map_or(width, |c| c.0);
            let text = doc.fit(Face::Sans, 7.5, text, next_x - x - 1.5);
            let color = if i == 2 && !c.passed {
                RED
            } else {
                super::pdf::BLACK
            };
            doc.text_color(Face::Sans, 7.5, MARGIN + x, y + 3.6, &text, color);
        }
        doc.line(
            MARGIN,
            y + HISTORY_ROW,
            MARGIN + width,
            y + HISTORY_ROW,
            0.2,
        );
        y += HISTORY_ROW;
    }
    y
}

fn row(doc: &mut Doc, ctx: &SheetContext, key: &KeyState, y: f32, interval: u32) {
    let overdue = key.is_overdue(interval, ctx.now);
    let last = key.last_check();
    let failed = last.is_some_and(|c| !c.passed);
    let width = doc.width - 2.0 * MARGIN;
    if overdue || failed {
        doc.fill(MARGIN, y, width, ROW, PINK);
    }
    doc.line(MARGIN, y + ROW, MARGIN + width, y + ROW, 0.3);
    let where_ = match &key.custody {
        Custody::Sealed { location, .. } => location.clone(),
        Custody::Opened { location, .. } => format!("{location} (open)"),
        Custody::Unsealed => key.location.clone().unwrap_or_else(|| "not sealed".into()),
    };
    let seal = match &key.custody {
        Custody::Sealed { seal, .. } => format!("   seal: {seal}"),
        _ => String::new(),
    };
    let due = key.next_check_due(interval).date();
    let cells: [(String, bool); 7] = [
        (key.label.clone(), false),
        (key.model.clone(), false),
        (where_, false),
        (last.map_or("never".into(), |c| c.time.date()), false),
        (
            last.map_or("—".into(), |c| {
                if c.passed {
                    "passed".into()
                } else {
                    "FAILED".into()
                }
            }),
            failed,
        ),
        (
            last.and_then(|c| c.counter)
                .map_or("—".into(), |n| n.to_string()),
            false,
        ),
        (
            if overdue {
                format!("{due} OVERDUE")
            } else {
                due
            },
            overdue,
        ),
    ];
    for (i, ((x, _), (text, red))) in COLUMNS.iter().zip(cells.iter()).enumerate() {
        let next_x = COLUMNS.get(i + 1).map_or(width, |c| c.0);
        let text = doc.fit(Face::Sans, 8.0, text, next_x - x - 1.5);
        if *red {
            doc.text_color(Face::Sans, 8.0, MARGIN + x, y + 4.2, &text, RED);
        } else {
            doc.text(Face::Sans, 8.0, MARGIN + x, y + 4.2, &text);
        }
    }
    let detail = match last {
        Some(c) => {
            let checks: Vec<String> = c
                .checks
                .iter()
                .map(|i| format!("{} {}", i.name, if i.passed { "ok" } else { "FAILED" }))
                .collect();
            format!(
                "checked: {}   present: {}   account: {}{seal}",
                if checks.is_empty() {
                    "—".into()
                } else {
                    checks.join(", ")
                },
                c.operators.join(", "),
                key.accounts().join(", ")
            )
        }
        None => format!(
            "no check recorded   account: {}{seal}",
            key.accounts().join(", ")
        ),
    };
    let detail = doc.fit(Face::Sans, 6.5, &detail, width - 2.0);
    doc.text_color(Face::Sans, 6.5, MARGIN + 1.0, y + 8.6, &detail, GREY);
}
