//! `glasskey ledger init | verify | show | repair`.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::{print_json, GlobalArgs};
use crate::error::{Error, Result};
use crate::ledger::{Head, Kit, KitConfig, Ledger, Record, Repair, State, VerifyReport};
use crate::report::head_in_pdf;

#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Create a kit directory with a starting glasskey.toml (for --tenant) and an empty ledger.
    Init,
    /// Check every event, link and the anchor; optionally match a printed sheet.
    Verify {
        /// A sheet glasskey printed: does its ledger head match this ledger?
        #[arg(long, value_name = "FILE.pdf", conflicts_with = "head")]
        sheet: Option<PathBuf>,
        /// A head as printed in a sheet footer or QR code: SEQ:HASH (hash: 8+ hex digits).
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
    },
    /// Print the events and the current state.
    Show,
    /// Fix an interrupted append (torn tail); saves the torn bytes to a backup file.
    Repair,
}

pub fn run(cmd: LedgerCmd, g: &GlobalArgs) -> Result<()> {
    match cmd {
        LedgerCmd::Init => {
            let tenant = g.graph.tenant.as_deref().ok_or_else(|| {
                Error::input(
                    "ledger init needs the tenant",
                    "pass --tenant contoso.onmicrosoft.com (your tenant's domain or id)",
                )
            })?;
            let kit = Kit::init(&g.kit, &KitConfig::example(tenant))?;
            println!(
                "created kit {}: edit {} (accounts, locations, custodians, policy)",
                kit.dir().display(),
                kit.dir().join(crate::ledger::CONFIG_FILE).display()
            );
            Ok(())
        }
        LedgerCmd::Verify { sheet, head } => verify(g, sheet, head),
        LedgerCmd::Show => show(g),
        LedgerCmd::Repair => {
            let kit = Kit::open(&g.kit)?;
            let outcome = kit.ledger().repair()?;
            if g.json {
                return print_json(&outcome);
            }
            match outcome {
                Repair::Clean => println!("nothing to repair: the ledger ends cleanly"),
                Repair::CompletedLastEvent { seq } => {
                    println!("kept event {seq}: it was complete but missing its line end")
                }
                Repair::CutTornTail { bytes, backup } => println!(
                    "removed {bytes} bytes of an interrupted write; saved them to {}; \
                     every complete event is kept. Redo the last step if it was not recorded.",
                    backup.display()
                ),
            }
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct VerifyOutput {
    #[serde(flatten)]
    report: VerifyReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    sheet: Option<SheetMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    witnesses: Option<crate::ceremony::witness::WitnessReport>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(tag = "result", rename_all = "snake_case")]
enum SheetMatch {
    /// The sheet shows the current head.
    Current { seq: u64 },
    /// The sheet shows an older head that the chain still contains.
    Older { seq: u64, events_since: u64 },
    /// The chain does not contain the sheet's head.
    Mismatch { seq: u64, hash: String },
}

fn verify(g: &GlobalArgs, sheet: Option<PathBuf>, head: Option<String>) -> Result<()> {
    let ledger = Ledger::of_kit(&g.kit);
    if !ledger.path().exists() && !g.kit.join(crate::ledger::CONFIG_FILE).exists() {
        Kit::open(&g.kit)?; // names the missing kit
    }
    let report = ledger.verify()?;
    let wanted = match (sheet, head) {
        (Some(path), _) => Some(sheet_head(&path)?),
        (None, Some(text)) => Some(parse_head(&text)?),
        (None, None) => None,
    };
    let matched = match (&wanted, report.ok()) {
        (Some((seq, prefix)), true) => {
            let found = ledger.find_head(*seq, prefix)?;
            let current = report.head.map_or(0, |h| h.seq);
            Some(match found {
                Some(h) if h.seq == current => SheetMatch::Current { seq: h.seq },
                Some(h) => SheetMatch::Older {
                    seq: h.seq,
                    events_since: current - h.seq,
                },
                None => SheetMatch::Mismatch {
                    seq: *seq,
                    hash: prefix.clone(),
                },
            })
        }
        _ => None,
    };
    // A sound chain is then re-verified against the keys that witnessed it.
    let witnesses = if report.ok() {
        Some(crate::ceremony::witness::verify_ledger(&ledger.records()?))
    } else {
        None
    };
    let out = VerifyOutput {
        report: report.clone(),
        sheet: matched.clone(),
        witnesses: witnesses.clone(),
    };
    if g.json {
        print_json(&out)?;
    } else if report.ok() && witnesses.as_ref().is_none_or(|w| w.ok()) {
        match report.head {
            Some(h) => println!(
                "ledger OK: {} events, head event {} sha256 {}",
                report.events, h.seq, h.hash
            ),
            None => println!("ledger OK: empty"),
        }
        if let Some(w) = witnesses.as_ref().filter(|w| w.ok()) {
            println!(
                "witnessed by the keys: {} check signature(s) and {} attestation(s) verify; \
                 last head a key signed: {}; {} event(s) since then are not yet witnessed",
                w.witnesses,
                w.attestations,
                w.last_witnessed_head
                    .map_or("none".into(), |h| format!("event {h}")),
                w.events_after_last_witness
            );
        }
        match &matched {
            Some(SheetMatch::Current { seq }) => {
                println!("sheet matches the current ledger head (event {seq})")
            }
            Some(SheetMatch::Older { seq, events_since }) => println!(
                "sheet matches event {seq}, an older head this ledger still contains; \
                 {events_since} event(s) recorded since it was printed"
            ),
            Some(SheetMatch::Mismatch { .. }) | None => {}
        }
    }
    if let Some(p) = report.problem {
        return Err(Error::check(
            format!("ledger check failed at event {}: {}", p.line, p.message),
            p.next,
        ));
    }
    if let Some(p) = witnesses.and_then(|w| w.problem) {
        return Err(Error::check(
            format!(
                "ledger witness check failed at event {}: {}",
                p.seq, p.message
            ),
            "the ledger no longer matches what the keys signed: keep this copy as evidence, \
             restore ledger.jsonl from backup and compare with the last printed sheet",
        ));
    }
    if let Some(SheetMatch::Mismatch { seq, hash }) = matched {
        return Err(Error::check(
            format!("the sheet's ledger head (event {seq}, {hash}) is not in this ledger"),
            "this paper belongs to another ledger or the ledger was rewritten: keep both as \
             evidence and compare with your ledger backups",
        ));
    }
    Ok(())
}

/// Largest PDF read as a sheet (a 200-envelope custody sheet is ~1.3 MB).
const MAX_SHEET_BYTES: u64 = 64 * 1024 * 1024;

fn sheet_head(path: &std::path::Path) -> Result<(u64, String)> {
    let bytes = crate::fsutil::read_regular(path, MAX_SHEET_BYTES).map_err(|e| {
        Error::input(
            format!("cannot read {}: {e}", path.display()),
            "check the sheet's path",
        )
    })?;
    let Head { seq, hash } = head_in_pdf(&bytes).ok_or_else(|| {
        Error::input(
            format!("{} carries no glasskey ledger head", path.display()),
            "pass a sheet glasskey printed, or type the head from its footer with --head SEQ:HASH",
        )
    })?;
    Ok((seq, hash.to_hex()))
}

fn parse_head(text: &str) -> Result<(u64, String)> {
    let bad = || {
        Error::input(
            format!("'{text}' is not a ledger head"),
            "write it as SEQ:HASH, e.g. 42:3f2a1b9c0d4e5f60 (at least 8 hex digits), as printed in the sheet footer",
        )
    };
    let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
    let seq = seq.parse::<u64>().map_err(|_| bad())?;
    let hash = hash.to_ascii_lowercase();
    if hash.len() < 8 || hash.len() > 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((seq, hash))
}

#[derive(Serialize)]
struct ShowOutput<'a> {
    events: &'a [Record],
    state: &'a State,
}

fn show(g: &GlobalArgs) -> Result<()> {
    let kit = Kit::open(&g.kit)?;
    let records = kit.ledger().records()?;
    let state = State::fold(&records);
    if g.json {
        return print_json(&ShowOutput {
            events: &records,
            state: &state,
        });
    }
    println!("tenant {}  ({} events)", kit.config().tenant, records.len());
    for r in &records {
        let key = r
            .event
            .key()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        println!(
            "#{:<5} {}  {:<20}{key}  by {}",
            r.seq,
            r.time,
            r.event.kind(),
            r.operators.join(", ")
        );
    }
    println!();
    let interval = kit.config().policy.check_interval_days;
    for k in state.keys.values() {
        let custody = match &k.custody {
            crate::ledger::Custody::Sealed { location, seal, .. } => {
                format!("sealed at {location}, seal {seal}")
            }
            crate::ledger::Custody::Opened { location, .. } => format!("OPEN at {location}"),
            crate::ledger::Custody::Unsealed => "not sealed".into(),
        };
        let status = if k.retired.is_some() {
            "retired".to_string()
        } else {
            custody
        };
        let last = k
            .last_check()
            .map(|c| {
                format!(
                    "{} {}",
                    c.time.date(),
                    if c.passed { "passed" } else { "FAILED" }
                )
            })
            .unwrap_or_else(|| "never".into());
        println!(
            "{:<16} {:<28} {}  accounts: {}  last check: {last}  next due: {}",
            k.label,
            k.model,
            status,
            k.accounts().join(", "),
            k.next_check_due(interval).date()
        );
    }
    for w in &state.warnings {
        println!("warning: {w}");
    }
    Ok(())
}
