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
        let layout = row_layout(&doc, ctx, key, interval);
        if y + layout.height > bottom {
            y = new_page(&mut doc);
        }
        draw_row(&mut doc, &layout, y);
        y += layout.height;
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
/// Each further wrapped line of a history row.
const HISTORY_LINE: f32 = 3.3;
/// Columns of the history table: x offset from the margin, title.
/// Who was present goes on its own full-width line under each row.
const HISTORY_COLUMNS: [(f32, &str); 5] = [
    (1.0, "Date (UTC)"),
    (31.0, "Key"),
    (64.0, "Result"),
    (103.0, "Counter"),
    (118.0, "Checks"),
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
        // A failure the operators corrected (a mistyped PIN, the wrong key plugged):
        // a later check of the same key passed.
        let corrected_by = (!c.passed)
            .then(|| {
                key.checks
                    .iter()
                    .find(|later| later.seq > c.seq && later.passed)
            })
            .flatten();
        let cells = [
            c.time
                .to_string()
                .replace('T', " ")
                .trim_end_matches('Z')
                .to_string(),
            key.label.clone(),
            match (c.passed, corrected_by) {
                (true, _) => "passed".into(),
                (false, Some(later)) => format!("failed, corrected {}", later.time.date()),
                (false, None) => "FAILED".into(),
            },
            c.counter.map_or("—".into(), |n| n.to_string()),
            c.checks
                .iter()
                .map(|i| {
                    if i.passed {
                        i.name.clone()
                    } else {
                        format!("{} failed", i.name)
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        ];
        let present = doc.wrap(
            Face::Sans,
            6.5,
            &format!("present: {}", c.operators.join(", ")),
            width - 2.0,
        );
        let wrapped: Vec<Vec<String>> = HISTORY_COLUMNS
            .iter()
            .enumerate()
            .zip(cells.iter())
            .map(|((i, (x, _)), text)| {
                let next_x = HISTORY_COLUMNS.get(i + 1).map_or(width, |c| c.0);
                doc.wrap(Face::Sans, 7.5, text, next_x - x - 1.5)
            })
            .collect();
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let height =
            HISTORY_ROW + (lines - 1) as f32 * HISTORY_LINE + present.len() as f32 * DETAIL_LINE;
        if y + height > bottom {
            let top = new_page(doc);
            y = table_header(doc, top);
        }
        for (i, ((x, _), lines)) in HISTORY_COLUMNS.iter().zip(wrapped.iter()).enumerate() {
            let color = match (i, c.passed, corrected_by) {
                (2, false, None) => RED,
                (2, false, Some(_)) => GREY,
                _ => super::pdf::BLACK,
            };
            for (j, line) in lines.iter().enumerate() {
                let ly = y + 3.6 + j as f32 * HISTORY_LINE;
                doc.text_color(Face::Sans, 7.5, MARGIN + x, ly, line, color);
            }
        }
        let below = y + 3.6 + (lines - 1) as f32 * HISTORY_LINE;
        for (j, line) in present.iter().enumerate() {
            let ly = below + 3.2 + j as f32 * DETAIL_LINE;
            doc.text_color(Face::Sans, 6.5, MARGIN + 1.0, ly, line, GREY);
        }
        doc.line(MARGIN, y + height, MARGIN + width, y + height, 0.2);
        y += height;
    }
    y
}

/// One key's row, wrapped to fit: every cell's lines, the detail lines, the height.
struct RowLayout {
    cells: Vec<(Vec<String>, bool)>,
    detail: Vec<String>,
    pink: bool,
    height: f32,
}

const CELL_LINE: f32 = 3.5;
const DETAIL_LINE: f32 = 3.0;

fn row_layout(doc: &Doc, ctx: &SheetContext, key: &KeyState, interval: u32) -> RowLayout {
    let overdue = key.is_overdue(interval, ctx.now);
    let last = key.last_check();
    let failed = last.is_some_and(|c| !c.passed);
    let width = doc.width - 2.0 * MARGIN;
    let where_ = match &key.custody {
        Custody::Sealed { location, .. } => location.clone(),
        Custody::Opened { location, .. } => format!("{location} (OPEN)"),
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
    let cells: Vec<(Vec<String>, bool)> = cells
        .iter()
        .enumerate()
        .map(|(i, (text, red))| {
            let next_x = COLUMNS.get(i + 1).map_or(width, |c| c.0);
            (
                doc.wrap(Face::Sans, 8.0, text, next_x - COLUMNS[i].0 - 1.5),
                *red,
            )
        })
        .collect();
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
    let detail = doc.wrap(Face::Sans, 6.5, &detail, width - 2.0);
    let lines = cells.iter().map(|(l, _)| l.len()).max().unwrap_or(1).max(1);
    let height = 2.0 + lines as f32 * CELL_LINE + detail.len() as f32 * DETAIL_LINE + 1.5;
    RowLayout {
        cells,
        detail,
        pink: overdue || failed,
        height: height.max(ROW),
    }
}

fn draw_row(doc: &mut Doc, layout: &RowLayout, y: f32) {
    let width = doc.width - 2.0 * MARGIN;
    if layout.pink {
        doc.fill(MARGIN, y, width, layout.height, PINK);
    }
    doc.line(
        MARGIN,
        y + layout.height,
        MARGIN + width,
        y + layout.height,
        0.3,
    );
    let mut bottom_of_cells = y;
    for ((x, _), (lines, red)) in COLUMNS.iter().zip(layout.cells.iter()) {
        for (j, line) in lines.iter().enumerate() {
            let ly = y + 4.2 + j as f32 * CELL_LINE;
            if *red {
                doc.text_color(Face::Sans, 8.0, MARGIN + x, ly, line, RED);
            } else {
                doc.text(Face::Sans, 8.0, MARGIN + x, ly, line);
            }
            bottom_of_cells = bottom_of_cells.max(ly);
        }
    }
    for (j, line) in layout.detail.iter().enumerate() {
        let ly = bottom_of_cells + 4.0 + j as f32 * DETAIL_LINE;
        doc.text_color(Face::Sans, 6.5, MARGIN + 1.0, ly, line, GREY);
    }
}
