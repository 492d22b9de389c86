//! The ledger file: locked, append-only, fsynced writes; streaming verification;
//! repair of a torn tail.
//!
//! Files in the kit directory:
//! - `ledger.jsonl`: one canonical record per line (see [`super::chain`]).
//! - `ledger.head`: the anchor, `<seq> <hash>\n`, rewritten atomically after each
//!   append. A chain alone cannot show that its last events were cut off; the anchor
//!   can. It may lag the ledger (crashes between the two writes) but never lead it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::chain::{self, Hash, LineFault, Record, MAX_LINE};
use super::event::{Event, Timestamp};
use super::LedgerError;

pub const LEDGER_FILE: &str = "ledger.jsonl";
pub const ANCHOR_FILE: &str = "ledger.head";
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The last event of a ledger: what sheets print and what the anchor stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
}

/// What is wrong with a ledger, located at the first bad line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line number (equal to the expected event seq).
    pub line: u64,
    pub kind: ProblemKind,
    pub message: String,
    /// What the operator should do.
    pub next: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The line is not a valid record (bytes changed, inserted, garbage).
    BadEvent,
    /// seq does not follow the previous event (removed, duplicated, reordered).
    BrokenSequence,
    /// prev does not match the previous event's hash.
    BrokenLink,
    /// The file ends inside a line: a write was interrupted.
    TornTail,
    /// Events the anchor vouches for are missing at the end.
    Truncated,
    /// The anchor names an event the chain does not contain.
    AnchorMismatch,
}

/// The outcome of `verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Valid events read before any problem.
    pub events: u64,
    /// The last valid event.
    pub head: Option<Head>,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// What `repair` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Repair {
    /// Nothing was wrong.
    Clean,
    /// The tail held a complete event missing only its newline; it was kept.
    CompletedLastEvent { seq: u64 },
    /// Incomplete bytes were moved to `backup` and cut from the ledger.
    CutTornTail { bytes: u64, backup: PathBuf },
}

/// Result of walking the file.
struct Walk {
    events: u64,
    head: Option<Head>,
    /// The anchor read before walking, and the chain's hash at the anchor's seq.
    anchor: Option<Head>,
    chain_hash_at_anchor: Option<Hash>,
    /// Byte offset just after the last valid line.
    good_end: u64,
    problem: Option<Problem>,
    /// The unterminated trailing bytes, when the problem is a torn tail.
    torn: Option<Vec<u8>>,
}

/// Handle on the ledger of one kit.
#[derive(Clone, Debug)]
pub struct Ledger {
    path: PathBuf,
    anchor: PathBuf,
    /// A kit made by `ledger init` always has an anchor (event 0 for an empty
    /// ledger), so a missing one is damage, never a fresh start.
    anchor_required: bool,
}

impl Ledger {
    pub fn new(kit_dir: &Path) -> Ledger {
        Ledger {
            path: kit_dir.join(LEDGER_FILE),
            anchor: kit_dir.join(ANCHOR_FILE),
            anchor_required: false,
        }
    }

    /// The ledger of a kit: its anchor must exist (see [`Ledger::start`]).
    pub fn of_kit(kit_dir: &Path) -> Ledger {
        Ledger {
            anchor_required: true,
            ..Ledger::new(kit_dir)
        }
    }

    /// Start an empty ledger: an empty `ledger.jsonl` and the anchor at event 0
    /// (the genesis hash). Refuses when either file exists.
    pub fn start(&self) -> Result<(), LedgerError> {
        crate::fsutil::create_new_private(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| self.io("create", e))?;
        write_anchor(
            &self.anchor,
            Head {
                seq: 0,
                hash: Hash::GENESIS,
            },
        )
    }

    /// The anchor, or an error when it is missing but must exist: for a kit's
    /// ledger always, for a bare ledger as soon as it holds any bytes.
    fn anchor_of(&self, ledger_len: u64) -> Result<Option<Head>, LedgerError> {
        let anchor = read_anchor(&self.anchor)?;
        if anchor.is_none() && (self.anchor_required || ledger_len > 0) {
            return Err(LedgerError::Invalid(missing_anchor()));
        }
        Ok(anchor)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one event now. Returns once the event is on stable storage.
    pub fn append(&self, operators: &[String], event: Event) -> Result<Record, LedgerError> {
        self.append_at(operators, event, Timestamp::now())
    }

    /// Append with an explicit time (imports, tests). Reads only the last line,
    /// so the cost does not grow with the ledger.
    pub fn append_at(
        &self,
        operators: &[String],
        event: Event,
        time: Timestamp,
    ) -> Result<Record, LedgerError> {
        let mut records = self.append_batch(operators, [(time, event)])?;
        records
            .pop()
            .ok_or_else(|| LedgerError::Encode("nothing was appended".into()))
    }

    /// Append several events under one lock with one fsync (a ceremony step that
    /// produces several facts, or an import). Not atomic: after a crash a prefix of
    /// the batch may be present, each event complete and chained.
    pub fn append_batch(
        &self,
        operators: &[String],
        events: impl IntoIterator<Item = (Timestamp, Event)>,
    ) -> Result<Vec<Record>, LedgerError> {
        if operators.is_empty() || operators.iter().any(|o| o.trim().is_empty()) {
            return Err(LedgerError::NoOperator);
        }
        let mut file = self.open_locked()?;
        let last = last_link(&mut file, &self.path)?;
        let last_seq = last.map_or(0, |h| h.seq);
        let len = file.metadata().map_err(|e| self.io("stat", e))?.len();
        if let Some(anchor) = self.anchor_of(len)? {
            if anchor.seq > last_seq {
                return Err(LedgerError::Invalid(Problem {
                    line: last_seq + 1,
                    kind: ProblemKind::Truncated,
                    message: format!(
                        "the ledger ends at event {last_seq} but its anchor records event {}",
                        anchor.seq
                    ),
                    next: "restore ledger.jsonl from backup; do not append to a truncated ledger"
                        .into(),
                }));
            }
        }
        let (mut seq, mut prev) = (last_seq, last.map_or(Hash::GENESIS, |h| h.hash));
        let mut bytes = Vec::new();
        let mut records = Vec::new();
        for (time, event) in events {
            seq += 1;
            let (line, record) = chain::encode(seq, time, operators.to_vec(), prev, event)
                .map_err(LedgerError::Encode)?;
            bytes.extend_from_slice(&line);
            bytes.push(b'\n');
            prev = record.hash;
            records.push(record);
        }
        if records.is_empty() {
            return Ok(records);
        }
        file.write_all(&bytes).map_err(|e| self.io("write", e))?;
        file.sync_data().map_err(|e| self.io("sync", e))?;
        write_anchor(&self.anchor, Head { seq, hash: prev })?;
        Ok(records)
    }

    /// Check every line, every link and the anchor. I/O failures are errors;
    /// a damaged ledger is a report with a problem.
    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        let walk = self.walk(|_| {})?;
        self.finish(walk)
    }

    /// All events, verified; refuses a damaged ledger.
    pub fn records(&self) -> Result<Vec<Record>, LedgerError> {
        let mut out = Vec::new();
        let walk = self.walk(|r| out.push(r.clone()))?;
        let report = self.finish(walk)?;
        match report.problem {
            Some(p) => Err(LedgerError::Invalid(p)),
            None => Ok(out),
        }
    }

    /// Does the chain contain this head (exact hash, or a hex prefix of at least 8 digits)?
    /// Returns the matching full head.
    pub fn find_head(&self, seq: u64, hash_prefix: &str) -> Result<Option<Head>, LedgerError> {
        let prefix = hash_prefix.to_ascii_lowercase();
        let mut found = None;
        let walk = self.walk(|r| {
            if r.seq == seq && r.hash.to_hex().starts_with(&prefix) {
                found = Some(Head { seq, hash: r.hash });
            }
        })?;
        if let Some(p) = self.finish(walk)?.problem {
            return Err(LedgerError::Invalid(p));
        }
        Ok(found)
    }

    /// Fix a torn tail: keep a complete trailing event, otherwise move the incomplete
    /// bytes to a backup file and cut them. Refuses any other damage.
    pub fn repair(&self) -> Result<Repair, LedgerError> {
        let mut file = self.open_locked()?;
        let walk = self.walk(|_| {})?;
        // Only a torn tail beyond the anchored head may be cut: events the
        // anchor vouches for are committed, and their absence is lost data.
        if let Some(anchor) = walk.anchor.filter(|a| a.seq > walk.events) {
            let completes_anchor = walk
                .torn
                .as_deref()
                .and_then(|t| chain::decode(t).ok())
                .is_some_and(|rec| {
                    rec.seq == anchor.seq
                        && rec.hash == anchor.hash
                        && rec.prev == walk.head.map_or(Hash::GENESIS, |h| h.hash)
                });
            if !completes_anchor {
                return Err(LedgerError::Invalid(lost_events(walk.events, anchor.seq)));
            }
        }
        let Some(problem) = walk.problem.clone() else {
            return Ok(Repair::Clean);
        };
        let Some(torn) = walk
            .torn
            .as_ref()
            .filter(|_| problem.kind == ProblemKind::TornTail)
        else {
            return Err(LedgerError::Invalid(problem));
        };
        let expected = walk
            .head
            .map_or((1, Hash::GENESIS), |h| (h.seq + 1, h.hash));
        let completed = chain::decode(torn)
            .ok()
            .filter(|rec| (rec.seq, rec.prev) == expected);
        if let Some(rec) = completed {
            file.write_all(b"\n").map_err(|e| self.io("write", e))?;
            file.sync_data().map_err(|e| self.io("sync", e))?;
            write_anchor(
                &self.anchor,
                Head {
                    seq: rec.seq,
                    hash: rec.hash,
                },
            )?;
            return Ok(Repair::CompletedLastEvent { seq: rec.seq });
        }
        let (mut b, backup) = self.create_backup(walk.good_end)?;
        b.write_all(torn)
            .map_err(|e| self.io("write the torn-tail backup", e))?;
        b.sync_all()
            .map_err(|e| self.io("sync the torn-tail backup", e))?;
        if let Some(dir) = backup.parent() {
            sync_dir(dir).map_err(|e| self.io("sync the directory of", e))?;
        }
        file.set_len(walk.good_end)
            .map_err(|e| self.io("truncate", e))?;
        file.sync_all().map_err(|e| self.io("sync", e))?;
        if let Some(head) = walk.head {
            write_anchor(&self.anchor, head)?;
        }
        Ok(Repair::CutTornTail {
            bytes: torn.len() as u64,
            backup,
        })
    }

    /// A new file `ledger.torn-<offset>-<unix time>[-n].bin`; never overwrites one.
    fn create_backup(&self, offset: u64) -> Result<(File, PathBuf), LedgerError> {
        let stamp = Timestamp::now().datetime().unix_timestamp();
        for n in 0..1000 {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let path = self
                .path
                .with_file_name(format!("ledger.torn-{offset}-{stamp}{suffix}.bin"));
            match crate::fsutil::create_new_private(&path) {
                Ok(f) => return Ok((f, path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(LedgerError::Io {
                        what: format!("create the torn-tail backup {}", path.display()),
                        source: e.to_string(),
                    })
                }
            }
        }
        Err(LedgerError::Io {
            what: format!("create a torn-tail backup next to {}", self.path.display()),
            source: "1000 backups with the same name already exist".into(),
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> LedgerError {
        LedgerError::Io {
            what: format!("{what} {}", self.path.display()),
            source: e.to_string(),
        }
    }

    /// Open for appending and take the exclusive lock (waits up to LOCK_TIMEOUT).
    fn open_locked(&self) -> Result<File, LedgerError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(crate::fsutil::PRIVATE_FILE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
            .map_err(|e| self.io("open", e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(LedgerError::Locked(self.path.clone()))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io("lock", e)),
            }
        }
    }

    /// Stream the file, checking each line and link; stop at the first problem.
    fn walk(&self, mut visit: impl FnMut(&Record)) -> Result<Walk, LedgerError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let anchor = self.anchor_of(0)?;
                return Ok(Walk {
                    events: 0,
                    head: None,
                    anchor,
                    chain_hash_at_anchor: anchor.filter(|a| a.seq == 0).map(|_| Hash::GENESIS),
                    good_end: 0,
                    problem: None,
                    torn: None,
                });
            }
            Err(e) => return Err(self.io("open", e)),
        };
        let len = file.metadata().map_err(|e| self.io("stat", e))?.len();
        let anchor = self.anchor_of(len)?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut buf = Vec::with_capacity(1024);
        let mut w = Walk {
            events: 0,
            head: None,
            anchor,
            chain_hash_at_anchor: anchor.filter(|a| a.seq == 0).map(|_| Hash::GENESIS),
            good_end: 0,
            problem: None,
            torn: None,
        };
        loop {
            buf.clear();
            let n = reader
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| self.io("read", e))?;
            if n == 0 {
                return Ok(w);
            }
            let line_no = w.events + 1;
            let fail = |kind, message: String, next: &str| Problem {
                line: line_no,
                kind,
                message,
                next: next.into(),
            };
            if buf.last() != Some(&b'\n') {
                if n > MAX_LINE {
                    w.problem = Some(fail(
                        ProblemKind::BadEvent,
                        format!("line {line_no}: {}", LineFault::TooLong),
                        TAMPER_NEXT,
                    ));
                } else {
                    w.problem = Some(fail(
                        ProblemKind::TornTail,
                        format!(
                            "the last {n} bytes after event {} are an incomplete write \
                             (interrupted append)",
                            w.events
                        ),
                        "run `glasskey ledger repair` (keeps every complete event, saves the \
                         torn bytes to a backup file), then `glasskey ledger verify`",
                    ));
                    w.torn = Some(buf.clone());
                }
                return Ok(w);
            }
            let record = match chain::decode(&buf[..buf.len() - 1]) {
                Ok(r) => r,
                Err(fault) => {
                    w.problem = Some(fail(
                        ProblemKind::BadEvent,
                        format!("event {line_no} (line {line_no}): {fault}"),
                        TAMPER_NEXT,
                    ));
                    return Ok(w);
                }
            };
            if record.seq != line_no {
                w.problem = Some(fail(
                    ProblemKind::BrokenSequence,
                    format!(
                        "line {line_no} holds event {} where event {line_no} belongs \
                         (events removed, duplicated, inserted or reordered)",
                        record.seq
                    ),
                    TAMPER_NEXT,
                ));
                return Ok(w);
            }
            let prev = w.head.map_or(Hash::GENESIS, |h| h.hash);
            if record.prev != prev {
                w.problem = Some(fail(
                    ProblemKind::BrokenLink,
                    format!(
                        "event {line_no} does not link to event {} (its prev hash differs)",
                        w.events
                    ),
                    TAMPER_NEXT,
                ));
                return Ok(w);
            }
            visit(&record);
            if w.anchor.is_some_and(|a| a.seq == record.seq) {
                w.chain_hash_at_anchor = Some(record.hash);
            }
            w.events = line_no;
            w.head = Some(Head {
                seq: record.seq,
                hash: record.hash,
            });
            w.good_end += n as u64;
        }
    }

    /// Compare the walk's end with the anchor. The anchor may lag the ledger (a
    /// crash between the ledger write and the anchor rename, possibly repeated),
    /// but it must never be ahead of it and its event must be in the chain.
    fn finish(&self, walk: Walk) -> Result<VerifyReport, LedgerError> {
        let mut report = VerifyReport {
            events: walk.events,
            head: walk.head,
            problem: walk.problem,
        };
        let last = report.head.map_or(0, |h| h.seq);
        if let Some(p) = &report.problem {
            // A torn tail is an interrupted append only when the anchor does not
            // vouch for more events than the file holds (an unanchored write, or
            // the anchored event itself missing its newline).
            let anchored_beyond = walk.anchor.is_some_and(|a| {
                a.seq > last
                    && !walk
                        .torn
                        .as_deref()
                        .and_then(|t| chain::decode(t).ok())
                        .is_some_and(|r| r.seq == a.seq && r.hash == a.hash)
            });
            if p.kind == ProblemKind::TornTail && anchored_beyond {
                let a = walk.anchor.map_or(last + 1, |a| a.seq);
                report.problem = Some(lost_events(last, a));
            }
            return Ok(report);
        }
        report.problem = match walk.anchor {
            None if last > 0 => Some(Problem {
                line: last,
                ..missing_anchor()
            }),
            Some(a) if a.seq > last => Some(lost_events(last, a.seq)),
            Some(a) if walk.chain_hash_at_anchor != Some(a.hash) => Some(Problem {
                line: a.seq,
                kind: ProblemKind::AnchorMismatch,
                message: format!(
                    "event {} differs from the one the anchor recorded (the ledger was \
                     rewritten)",
                    a.seq
                ),
                next: TAMPER_NEXT.into(),
            }),
            _ => None,
        };
        Ok(report)
    }
}

/// Committed events are gone: the anchor names event `anchored`, the file holds
/// `held`. Nothing may be cut or re-anchored; only the backup can bring them back.
fn lost_events(held: u64, anchored: u64) -> Problem {
    Problem {
        line: held + 1,
        kind: ProblemKind::Truncated,
        message: format!(
            "the ledger holds {held} complete event(s) but its anchor records event {anchored}: \
             {} committed event(s) are lost (cut off or overwritten), not an interrupted append",
            anchored - held
        ),
        next: "do not repair or append: restore ledger.jsonl (and ledger.head) from the kit \
               backup, then run `glasskey ledger verify`; compare with the last printed sheet \
               (`glasskey ledger verify --sheet FILE.pdf`)"
            .into(),
    }
}

/// The anchor file is gone: without it, cut-off events cannot be detected, so
/// glasskey never recreates it by itself.
fn missing_anchor() -> Problem {
    Problem {
        line: 1,
        kind: ProblemKind::AnchorMismatch,
        message: format!(
            "the anchor file {ANCHOR_FILE} is missing (`glasskey ledger init` creates it and \
             every append rewrites it; glasskey does not recreate it)"
        ),
        next: "restore ledger.head from the kit backup; compare the ledger with the last printed \
               sheet (`glasskey ledger verify --sheet FILE.pdf`)"
            .into(),
    }
}

const TAMPER_NEXT: &str = "the ledger was changed outside glasskey: keep this copy as evidence, \
     restore ledger.jsonl from backup and compare with the last printed sheet";

/// Read the last line of a locked, newline-terminated ledger.
fn last_link(file: &mut File, path: &Path) -> Result<Option<Head>, LedgerError> {
    let io = |what: &str, e: std::io::Error| LedgerError::Io {
        what: format!("{what} {}", path.display()),
        source: e.to_string(),
    };
    let len = file.metadata().map_err(|e| io("stat", e))?.len();
    if len == 0 {
        return Ok(None);
    }
    let n = len.min(MAX_LINE as u64 + 2);
    file.seek(SeekFrom::Start(len - n))
        .map_err(|e| io("seek", e))?;
    let mut tail = vec![0u8; n as usize];
    file.read_exact(&mut tail).map_err(|e| io("read", e))?;
    if tail.last() != Some(&b'\n') {
        return Err(LedgerError::TornTail(path.to_path_buf()));
    }
    let body = &tail[..tail.len() - 1];
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if n == len => body,
        None => &body[body.len()..], // longer than MAX_LINE: decode reports it
    };
    let record = chain::decode(line).map_err(|fault| {
        LedgerError::Invalid(Problem {
            line: 0,
            kind: ProblemKind::BadEvent,
            message: format!("the last event of the ledger is damaged: {fault}"),
            next: "run `glasskey ledger verify` to locate the damage".into(),
        })
    })?;
    Ok(Some(Head {
        seq: record.seq,
        hash: record.hash,
    }))
}

fn read_anchor(path: &Path) -> Result<Option<Head>, LedgerError> {
    let text = match crate::fsutil::read_regular(path, 200) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(bad_anchor(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LedgerError::Io {
                what: format!("read {}", path.display()),
                source: e.to_string(),
            })
        }
    };
    let text = std::str::from_utf8(&text).map_err(|_| bad_anchor(path))?;
    let mut parts = text.trim_end_matches('\n').split(' ');
    let seq = parts.next().and_then(|s| s.parse::<u64>().ok());
    let hash = parts.next().and_then(Hash::from_hex);
    match (seq, hash, parts.next()) {
        (Some(seq), Some(hash), None) => Ok(Some(Head { seq, hash })),
        _ => Err(bad_anchor(path)),
    }
}

fn bad_anchor(path: &Path) -> LedgerError {
    LedgerError::Invalid(Problem {
        line: 0,
        kind: ProblemKind::AnchorMismatch,
        message: format!("the anchor file {} is not `<seq> <hash>`", path.display()),
        next: "restore ledger.head from backup".into(),
    })
}

/// Replace the anchor atomically: temp file, fsync, rename, fsync the directory.
fn write_anchor(path: &Path, head: Head) -> Result<(), LedgerError> {
    let io = |what: &str, e: std::io::Error| LedgerError::Io {
        what: format!("{what} {}", path.display()),
        source: e.to_string(),
    };
    crate::fsutil::write_atomic(path, format!("{} {}\n", head.seq, head.hash).as_bytes())
        .map_err(|e| io("write", e))
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    crate::fsutil::sync_dir(dir)
}
