//! The ceremony journal: where an interrupted ceremony stands, step by step.
//!
//! The ledger records facts (a credential exists, Entra has it, an envelope is
//! sealed). What it cannot hold is what a half-done ceremony needs to go on: the
//! step it was about to take (so a key that may have a PIN is never forgotten)
//! and the response item a registration still has to send. That lives here, one
//! JSON file per key label in `KIT/journal/`, rewritten atomically before and
//! after every step that changes a key or the tenant, and removed when the
//! ceremony finishes. No secrets: PINs and tokens have no field here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ledger::Kit;

const DIR: &str = "journal";

/// Which ceremony was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ceremony {
    /// `enroll --account`: PIN, credential, registration, seal.
    Enroll,
    /// `enroll --request`: PIN, credential, seal; the response goes to a file.
    EnrollOffline,
    /// `check`: envelope opened, key checked, resealed.
    Check,
    /// `retire`: Entra method deleted, key reset, recorded.
    Retire,
}

/// The step a ceremony is at. A `...Pending` step is written *before* the action,
/// so after a crash the journal says the action may or may not have happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Preflight passed; the key is not changed yet.
    Started,
    /// A factory reset was about to be sent.
    ResetPending,
    /// The PIN was about to be set (it may be set).
    PinPending,
    /// The PIN is set and the slip printed; no credential yet.
    PinSet,
    /// makeCredential was about to be sent (a credential may exist, unrecorded).
    CredentialPending,
    /// The credential is made and recorded in the ledger; not registered yet.
    CredentialRecorded,
    /// Entra has the method (or, offline, the response item is written).
    Registered,
    /// The envelope was opened (check, retire).
    EnvelopeOpened,
    /// The check result is recorded; the key still needs resealing.
    Checked,
    /// The Entra method was deleted (retire).
    MethodDeleted,
}

/// One ceremony in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    pub ceremony: Ceremony,
    pub step: Step,
    pub label: String,
    pub account: String,
    pub location: String,
    /// The seal given up front, if any.
    pub seal: Option<String>,
    pub model: String,
    pub operators: Vec<String>,
    /// Entra's user object id (online enroll), for registering later.
    pub user_id: Option<String>,
    /// The response item (Graph body and key facts) once the credential exists.
    pub response_item: Option<serde_json::Value>,
    /// `enroll --request`: the response bundle being written.
    pub response_out: Option<PathBuf>,
    /// The tenant of a split ceremony (for the response bundle).
    pub tenant: Option<String>,
    /// `enroll --request`: the request item being enrolled (to continue it).
    #[serde(default)]
    pub request_item: Option<serde_json::Value>,
    /// When the journal was last written (RFC 3339).
    pub updated: String,
}

fn dir(kit: &Kit) -> PathBuf {
    kit.dir().join(DIR)
}

fn file_for(kit: &Kit, label: &str) -> PathBuf {
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir(kit).join(format!("{safe}.json"))
}

/// Write `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = parent.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Progress {
    /// A ceremony's journal at its first step: who and what it is about; what later steps
    /// learn (the user id, the response item, the bundle) is filled in as they finish.
    pub fn new(
        ceremony: Ceremony,
        step: Step,
        label: &str,
        account: String,
        location: String,
        model: String,
        operators: &[String],
    ) -> Progress {
        Progress {
            ceremony,
            step,
            label: label.to_string(),
            account,
            location,
            seal: None,
            model,
            operators: operators.to_vec(),
            user_id: None,
            response_item: None,
            response_out: None,
            tenant: None,
            request_item: None,
            updated: String::new(),
        }
    }

    /// Record this step on disk before going on. A ceremony that cannot write its
    /// journal stops: going on would leave a key changed with no record.
    pub fn save(&mut self, kit: &Kit, step: Step) -> Result<()> {
        self.step = step;
        self.updated = crate::ledger::Timestamp::now().to_string();
        let path = file_for(kit, &self.label);
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::input(format!("cannot encode the ceremony journal: {e}"), ""))?;
        write_atomic(&path, &bytes).map_err(|e| {
            Error::device(
                format!(
                    "cannot record the ceremony's progress in {} ({e}) at step {:?}",
                    path.display(),
                    step
                ),
                "free space or make the kit writable, then run `glasskey resume`",
            )
        })
    }

    /// The ceremony finished: forget it.
    pub fn finish(&self, kit: &Kit) -> Result<()> {
        let path = file_for(kit, &self.label);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::device(
                format!(
                    "the ceremony finished but its journal {} cannot be removed ({e})",
                    path.display()
                ),
                "make the kit writable and delete that file; the ledger is complete",
            )),
        }
    }
}

/// Every ceremony in progress in this kit, oldest label first. Unreadable
/// journal files are returned as errors naming the file.
pub fn pending(kit: &Kit) -> Result<Vec<Progress>> {
    let d = dir(kit);
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::device(
                format!("cannot read {} ({e})", d.display()),
                "check the kit's permissions",
            ))
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(|e| {
            Error::device(
                format!("cannot read {} ({e})", p.display()),
                "check the kit's permissions",
            )
        })?;
        let progress: Progress = serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(
                format!("the ceremony journal {} is unreadable ({e})", p.display()),
                "look at it, then move it aside; `glasskey audit` shows the ledger's view",
            )
        })?;
        out.push(progress);
    }
    Ok(out)
}

/// The journal of the ceremony on `label`, if one is in progress.
pub fn find(kit: &Kit, label: &str) -> Result<Option<Progress>> {
    Ok(pending(kit)?.into_iter().find(|p| p.label == label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a").join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
