//! The kit and its custody ledger.
//!
//! A kit is a directory holding `glasskey.toml` ([`KitConfig`]) and the ledger: an
//! append-only, hash-chained JSON-lines file ([`Ledger`]). Current state is a fold
//! over the events ([`State`]); nothing else is stored. Format, canonical encoding
//! and crash-safety argument: docs/ledger.md.

mod chain;
mod config;
mod event;
mod state;
mod store;

use std::fmt;
use std::path::{Path, PathBuf};

pub use chain::{decode as decode_line, Hash, LineFault, Record, MAX_LINE};
pub use config::{Account, Custodian, KitConfig, Location, Policy, REQUIRED_LOCATIONS};
pub use event::{Bytes, CheckItem, Event, Timestamp};
pub use state::{
    CheckRecord, CredentialState, Custody, EntraRegistration, KeyState, State, WitnessMark,
};
pub use store::{
    Head, Ledger, Problem, ProblemKind, Repair, VerifyReport, ANCHOR_FILE, LEDGER_FILE,
};

pub const CONFIG_FILE: &str = "glasskey.toml";
/// Largest kit configuration read (a real one is a few kilobytes).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Everything that can go wrong in this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// The kit directory or its config is missing.
    NoKit(PathBuf),
    /// `init` on a directory that already holds a kit.
    KitExists(PathBuf),
    Config {
        path: PathBuf,
        problem: String,
    },
    Io {
        what: String,
        source: String,
    },
    /// Another glasskey process holds the ledger lock.
    Locked(PathBuf),
    /// The ledger ends inside a line; append refuses until repaired.
    TornTail(PathBuf),
    /// The ledger failed verification.
    Invalid(Problem),
    NoOperator,
    Encode(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e: crate::Error = self.clone().into();
        write!(f, "{e}")
    }
}

impl std::error::Error for LedgerError {}

impl From<LedgerError> for crate::Error {
    fn from(e: LedgerError) -> Self {
        use crate::Error;
        match e {
            LedgerError::NoKit(p) => Error::input(
                format!("no kit at {} (glasskey.toml not found)", p.display()),
                "pass --kit DIR pointing at your kit, or create one with `glasskey ledger init`",
            ),
            LedgerError::KitExists(p) => Error::input(
                format!("{} already holds a kit", p.display()),
                "use that kit, or choose another --kit directory",
            ),
            LedgerError::Config { path, problem } => Error::input(
                format!(
                    "{} is not a valid kit configuration: {problem}",
                    path.display()
                ),
                "fix the file (see docs/ledger.md for every field) and run the command again",
            ),
            LedgerError::Io { what, source } => Error::device(
                format!("could not {what}: {source}"),
                "check the disk, free space and permissions of the kit directory, then retry",
            ),
            LedgerError::Locked(p) => Error::device(
                format!("another glasskey process is writing {}", p.display()),
                "wait for it to finish (or stop it), then run the command again",
            ),
            LedgerError::TornTail(p) => Error::check(
                format!(
                    "{} ends with an incomplete write (interrupted append)",
                    p.display()
                ),
                "run `glasskey ledger repair`, then `glasskey ledger verify`",
            ),
            LedgerError::Invalid(p) => {
                Error::check(format!("ledger check failed: {}", p.message), p.next)
            }
            LedgerError::NoOperator => Error::input(
                "an event must name at least one operator",
                "pass the operator name(s) of the people present",
            ),
            LedgerError::Encode(m) => Error::input(
                format!("the event cannot be recorded: {m}"),
                "shorten the free-text fields and retry",
            ),
        }
    }
}

/// An open kit: its directory, its configuration and its ledger.
#[derive(Clone, Debug)]
pub struct Kit {
    dir: PathBuf,
    config: KitConfig,
    ledger: Ledger,
}

impl Kit {
    /// Create a kit: write `glasskey.toml`, an empty ledger and its anchor at
    /// event 0 (so a missing anchor is always damage, see [`Ledger::of_kit`]).
    pub fn init(dir: &Path, config: &KitConfig) -> Result<Kit, LedgerError> {
        let config_path = dir.join(CONFIG_FILE);
        config.validate().map_err(|problem| LedgerError::Config {
            path: config_path.clone(),
            problem,
        })?;
        let io = |what: &str, e: std::io::Error| LedgerError::Io {
            what: format!("{what} {}", dir.display()),
            source: e.to_string(),
        };
        crate::fsutil::create_private_dir(dir).map_err(|e| io("create", e))?;
        if config_path.exists() || dir.join(LEDGER_FILE).exists() || dir.join(ANCHOR_FILE).exists()
        {
            return Err(LedgerError::KitExists(dir.to_path_buf()));
        }
        let text = config
            .to_commented_toml()
            .map_err(|problem| LedgerError::Config {
                path: config_path.clone(),
                problem,
            })?;
        crate::fsutil::write_atomic(&config_path, text.as_bytes())
            .map_err(|e| io("write the config in", e))?;
        Ledger::of_kit(dir).start()?;
        store::sync_dir(dir).map_err(|e| io("sync", e))?;
        Kit::open(dir)
    }

    /// Open an existing kit and load its configuration.
    pub fn open(dir: &Path) -> Result<Kit, LedgerError> {
        let config_path = dir.join(CONFIG_FILE);
        let text = match crate::fsutil::read_regular_text(&config_path, MAX_CONFIG_BYTES) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LedgerError::NoKit(dir.to_path_buf()))
            }
            Err(e) => {
                return Err(LedgerError::Io {
                    what: format!("read {}", config_path.display()),
                    source: e.to_string(),
                })
            }
        };
        let config = KitConfig::from_toml(&text).map_err(|problem| LedgerError::Config {
            path: config_path,
            problem,
        })?;
        Ok(Kit {
            dir: dir.to_path_buf(),
            ledger: Ledger::of_kit(dir),
            config,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &KitConfig {
        &self.config
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Append one event (see [`Ledger::append`]).
    pub fn append(&self, operators: &[String], event: Event) -> Result<Record, LedgerError> {
        self.ledger.append(operators, event)
    }

    pub fn verify(&self) -> Result<VerifyReport, LedgerError> {
        self.ledger.verify()
    }

    /// The current state, from a verified ledger.
    pub fn state(&self) -> Result<State, LedgerError> {
        Ok(State::fold(&self.ledger.records()?))
    }
}
