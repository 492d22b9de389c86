//! Preflight: everything that can be checked before a key is changed.
//!
//! A break-glass key is precious: a ceremony that sets a PIN and only then finds
//! the label too long or the printer missing leaves a key with a PIN, perhaps a
//! stray credential, and no clean way forward. So every ceremony first runs the
//! checks here (each read-only), gathers every failure with its fix, and refuses
//! before touching the key if any failed. `--dry-run` runs the same checks and
//! prints the plan.

use std::fs::OpenOptions;
use std::path::Path;

use serde::Serialize;

use crate::aaguid::Aaguid;
use crate::attestation::{catalogue, TrustStore};
use crate::ctap::Info;
use crate::error::{Error, Result};
use crate::ledger::{Custody, Kit, State};

/// Entra's limit on a FIDO2 method's displayName, which glasskey sets from the label.
pub const MAX_LABEL_CHARS: usize = 30;
/// CTAP 2.1 §6.5.5.5: a PIN is at most 63 bytes of UTF-8.
pub const MAX_PIN_BYTES: usize = 63;
/// CTAP 2.1 §6.4: when getInfo gives no maxMsgSize, 1024 bytes is the assumed limit.
pub const DEFAULT_MAX_MSG_SIZE: u64 = 1024;

/// One preflight check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Short name of the check ("label", "kit_writable", ...).
    pub check: &'static str,
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// What to do about a failure (empty when it passed).
    pub fix: String,
}

/// The findings of one preflight, in the order they were checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    pub findings: Vec<Finding>,
}

impl Preflight {
    pub fn new() -> Preflight {
        Preflight::default()
    }

    pub fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.findings.push(Finding {
            check,
            passed: true,
            detail: detail.into(),
            fix: String::new(),
        });
    }

    pub fn fail(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.findings.push(Finding {
            check,
            passed: false,
            detail: detail.into(),
            fix: fix.into(),
        });
    }

    /// Record a check that returned an error as a failure (its fix is the error's next step).
    pub fn record(&mut self, check: &'static str, outcome: Result<String>) {
        match outcome {
            Ok(detail) => self.pass(check, detail),
            Err(e) => self.fail(check, e.what, e.next),
        }
    }

    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.passed)
    }

    /// Ok when every check passed; otherwise one error listing every failure and its fix.
    pub fn into_result(self) -> Result<Preflight> {
        if self.passed() {
            return Ok(self);
        }
        let failed: Vec<&Finding> = self.findings.iter().filter(|f| !f.passed).collect();
        let what = failed
            .iter()
            .map(|f| format!("{}: {}", f.check, f.detail))
            .collect::<Vec<_>>()
            .join("; ");
        let next = failed
            .iter()
            .map(|f| f.fix.as_str())
            .filter(|f| !f.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::input(
            format!("preflight refused, nothing on the key was changed: {what}"),
            next,
        ))
    }

    /// The findings as lines an operator reads (`--dry-run`).
    pub fn lines(&self) -> Vec<String> {
        self.findings
            .iter()
            .map(|f| {
                if f.passed {
                    format!("  [ok]   {}: {}", f.check, f.detail)
                } else {
                    format!("  [FAIL] {}: {} — {}", f.check, f.detail, f.fix)
                }
            })
            .collect()
    }
}

/// The kit directory accepts new files and the ledger's lock can be taken now.
/// Creates and removes one probe file; the ledger itself is not written.
pub fn kit_writable(kit: &Kit) -> Result<String> {
    let dir = kit.dir();
    let probe = dir.join(".glasskey-preflight");
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|f| f.sync_all());
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        return Err(Error::input(
            format!("the kit {} is not writable ({e})", dir.display()),
            "make the kit folder writable (remount read-write, free space, fix permissions), then run again",
        ));
    }
    let ledger = kit.ledger().path();
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(ledger)
        .map_err(|e| {
            Error::input(
                format!(
                    "the ledger {} cannot be opened for writing ({e})",
                    ledger.display()
                ),
                "fix the ledger file's permissions, then run again",
            )
        })?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(format!(
                "{} is writable and its ledger lock is free",
                dir.display()
            ))
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::input(
            format!(
                "another glasskey holds the ledger lock of {}",
                dir.display()
            ),
            "wait for the other ceremony on this kit to finish, then run again",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::input(
            format!("the ledger lock of {} cannot be taken ({e})", dir.display()),
            "check the kit's filesystem, then run again",
        )),
    }
}

/// A label is also the key's displayName in Entra: 1–30 printable characters.
pub fn label_valid(label: &str) -> Result<String> {
    let n = label.chars().count();
    if n == 0 || n > MAX_LABEL_CHARS {
        return Err(Error::input(
            format!("the label '{label}' has {n} characters; Entra's displayName allows 1 to {MAX_LABEL_CHARS}"),
            "choose a shorter --label such as BG1-VAULT-A",
        ));
    }
    if label.chars().any(|c| c.is_control()) || label.trim() != label {
        return Err(Error::input(
            format!("the label {label:?} holds control characters or surrounding spaces"),
            "choose a --label of letters, digits and dashes",
        ));
    }
    Ok(format!("'{label}' ({n} characters)"))
}

/// The default label: `LOCAL-LOCATION-X` in capitals (e.g. `BG1-VAULT-A`), the
/// first letter X not yet used in the ledger, cut to fit Entra's 30 characters.
pub fn default_label(account: &str, location: &str, state: &State) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '-'
                }
            })
            .collect()
    };
    let local = clean(account.split('@').next().unwrap_or(account));
    let loc = clean(location);
    // Room for "-" + loc + "-" + one or two suffix letters.
    let room = MAX_LABEL_CHARS
        .saturating_sub(loc.chars().count() + 4)
        .max(1);
    let local: String = local.chars().take(room).collect();
    let stem: String = format!("{local}-{loc}")
        .chars()
        .take(MAX_LABEL_CHARS - 3)
        .collect();
    let letters = ('A'..='Z').map(|c| c.to_string());
    let pairs = ('A'..='Z').flat_map(|a| ('A'..='Z').map(move |b| format!("{a}{b}")));
    letters
        .chain(pairs)
        .map(|suffix| format!("{stem}-{suffix}"))
        .find(|label| !state.keys.contains_key(label))
        .unwrap_or(stem)
}

/// No key in service is sealed under this seal number.
pub fn seal_unused(state: &State, seal: &str) -> Result<String> {
    for k in state.active_keys() {
        if let Custody::Sealed { seal: s, .. } = &k.custody {
            if s == seal {
                return Err(Error::input(
                    format!("seal {seal} is already on the envelope of key {}", k.label),
                    "every envelope needs its own seal: check the number on the envelope",
                ));
            }
        }
    }
    Ok(format!("seal {seal} is not in use"))
}

/// The slip print command's program exists (first word of the shell command, or
/// a shell builtin). The command is not run.
pub fn printer_exists(command: &str) -> Result<String> {
    let program = command
        .split_whitespace()
        .find(|w| !w.contains('='))
        .unwrap_or("");
    if program.is_empty() {
        return Err(Error::input(
            "the PIN slip print command is empty",
            "pass --pin-slip-cmd (default `lp`)",
        ));
    }
    const BUILTINS: &[&str] = &[
        ":", "true", "false", "exit", "exec", "cd", "eval", "echo", "printf", "test", "[", "read",
    ];
    let found = if BUILTINS.contains(&program) {
        true
    } else if program.contains('/') {
        is_executable(Path::new(program))
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| is_executable(&d.join(program))))
            .unwrap_or(false)
    };
    if found {
        Ok(format!("print command `{program}` found"))
    } else {
        Err(Error::input(
            format!("the PIN slip print command `{program}` does not exist"),
            "install CUPS (lp) or pass --pin-slip-cmd with a command that exists",
        ))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The trust store holds a root for this key's vendor or model, unless the kit's
/// policy accepts unknown roots. Decided by name (catalogue vendor/model against
/// the anchors' subjects and labels): the chain itself is verified after the
/// credential is made, this only refuses what cannot pass.
pub fn trust_anchor_known(
    trust: &TrustStore,
    aaguid: &Aaguid,
    allow_unknown: bool,
    allow_self_attestation: bool,
) -> Result<String> {
    if allow_unknown {
        return Ok("the kit policy accepts unknown attestation roots".into());
    }
    let Some(model) = catalogue::lookup(aaguid) else {
        if allow_self_attestation {
            return Ok(format!(
                "AAGUID {aaguid} is not catalogued; the kit allows self attestation, checked once the credential is made"
            ));
        }
        return Err(Error::input(
            format!("AAGUID {aaguid} is not in the model catalogue, so no attestation root is known for it"),
            "use a catalogued model; if this model is approved anyway, set policy.allow_unknown_root (or policy.allow_self_attestation for a self-attesting model) in glasskey.toml",
        ));
    };
    let names: Vec<String> = if model.is_virtual() {
        vec![model.model.to_lowercase()]
    } else {
        model
            .vendor
            .split_whitespace()
            .next()
            .map(|v| vec![v.to_lowercase()])
            .unwrap_or_default()
    };
    let anchor = trust.anchors().iter().find(|a| {
        let hay = format!("{} {}", a.label, a.cert.subject()).to_lowercase();
        names
            .iter()
            .any(|n| !n.is_empty() && hay.contains(n.as_str()))
    });
    match anchor {
        Some(a) => Ok(format!("{} chains to {}", model.model, a.label)),
        None => Err(Error::input(
            format!("no attestation root for {} ({}) is installed", model.model, model.vendor),
            "put the vendor's root certificate in the kit's roots/ folder (see vendor-attestation/README.md)",
        )),
    }
}

/// A virtual key may only go to the local emulator; known from the endpoints
/// before signing in (loopback), confirmed after sign-in by the emulator's id.
pub fn virtual_key_guard(aaguid: &Aaguid, endpoint_is_loopback: bool) -> Result<String> {
    if !aaguid.is_virtual() {
        return Ok("a real security key".into());
    }
    if endpoint_is_loopback {
        Ok("a virtual key, and Graph is on loopback (the emulator)".into())
    } else {
        Err(Error::input(
            "this is a virtual key and the Graph endpoint is not the local emulator",
            "virtual keys are for rehearsals: point --graph-url/--login-url at `glasskey graph emulator`, or plug in a real key",
        ))
    }
}

/// What of a makeCredential request must fit the key's limits.
pub struct RequestShape<'a> {
    pub exclude_ids: &'a [Vec<u8>],
    /// rp id + name + user id + name + displayName, in bytes.
    pub fixed_text_bytes: usize,
}

/// The request can be sent to this key. Entries the key cannot hold (an id longer
/// than maxCredentialIdLength) cannot be its credentials and may be dropped by the
/// CTAP layer; a list longer than maxCredentialCountInList is sent in batches. What
/// cannot fit is a request whose fixed part plus its longest single exclusion
/// exceeds maxMsgSize (1024 when the key does not say).
pub fn request_fits(info: &Info, shape: &RequestShape) -> Result<String> {
    let max_msg = info.max_msg_size.unwrap_or(DEFAULT_MAX_MSG_SIZE);
    let usable: Vec<&Vec<u8>> = shape
        .exclude_ids
        .iter()
        .filter(|id| {
            info.max_credential_id_length
                .is_none_or(|m| id.len() as u64 <= m)
        })
        .collect();
    // clientDataHash, pubKeyCredParams, options, extensions, pinUvAuthParam and CBOR framing.
    const OVERHEAD: usize = 32 + 24 + 16 + 48 + 40 + 48;
    let longest = usable.iter().map(|id| id.len() + 24).max().unwrap_or(0);
    let smallest = OVERHEAD + shape.fixed_text_bytes + longest;
    if smallest as u64 > max_msg {
        return Err(Error::input(
            format!("a makeCredential request for this account needs at least {smallest} bytes; the key accepts {max_msg}"),
            "use a key model with a larger maxMsgSize, or shorten the account's display name",
        ));
    }
    let per_batch = info.max_credential_count_in_list.unwrap_or(1).max(1);
    Ok(format!(
        "{} exclusion(s) ({} the key could hold), sent {} per request, within {max_msg} bytes",
        shape.exclude_ids.len(),
        usable.len(),
        per_batch
    ))
}

/// The kit's PIN policy can be met on this key.
pub fn pin_policy_fits(policy_length: usize, key_min: usize) -> Result<String> {
    let needed = policy_length.max(key_min);
    if needed > MAX_PIN_BYTES {
        return Err(Error::input(
            format!("a PIN of {needed} characters is needed, but CTAP allows at most {MAX_PIN_BYTES} bytes"),
            "lower policy.pin_length in glasskey.toml",
        ));
    }
    Ok(format!(
        "PIN of {needed} characters (kit policy {policy_length}, key minimum {key_min})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_longer_than_entra_allows_are_refused() {
        assert!(label_valid("BG1-VAULT-A").is_ok());
        assert!(label_valid(&"x".repeat(30)).is_ok());
        assert!(label_valid(&"x".repeat(31)).is_err());
        assert!(label_valid("").is_err());
        assert!(label_valid(" a").is_err());
    }

    #[test]
    fn default_labels_are_short_and_unique() {
        let state = State::default();
        assert_eq!(
            default_label("bg1@contoso.onmicrosoft.com", "vault", &state),
            "BG1-VAULT-A"
        );
        let long = default_label(
            "emergency-access-account-number-one@contoso.onmicrosoft.com",
            "office-safe",
            &state,
        );
        assert!(label_valid(&long).is_ok(), "{long}");
        assert!(long.ends_with("-OFFICE-SAFE-A"), "{long}");
    }

    #[test]
    fn printer_must_exist() {
        assert!(printer_exists("cat > /dev/null").is_ok());
        assert!(printer_exists("/definitely/not/here -d x").is_err());
        assert!(printer_exists("no-such-printer-command-xyz").is_err());
        assert!(printer_exists("").is_err());
    }

    #[test]
    fn virtual_keys_need_a_loopback_endpoint() {
        let v = Aaguid::virtual_model(1);
        assert!(virtual_key_guard(&v, true).is_ok());
        assert!(virtual_key_guard(&v, false).is_err());
    }

    #[test]
    fn pin_policy_is_capped_by_ctap() {
        assert!(pin_policy_fits(10, 4).is_ok());
        assert!(pin_policy_fits(64, 4).is_err());
    }

    #[test]
    fn failures_are_listed_with_their_fixes() {
        let mut p = Preflight::new();
        p.pass("a", "fine");
        p.fail("label", "too long", "shorten it");
        let e = p.into_result().unwrap_err();
        assert!(e.what.contains("label: too long"));
        assert_eq!(e.next, "shorten it");
    }
}
