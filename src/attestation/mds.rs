//! The FIDO Metadata Service (MDS3) BLOB: verified offline, kept in the kit.
//!
//! Entra enforces attestation against MDS, so glasskey reads the same source:
//! the BLOB is a JWS (RS256 as served, ES256 in the spec's example) whose x5c
//! chain must reach GlobalSign Root CA - R3 (`vendor-attestation/mds/`, with
//! provenance). The operator downloads it on a connected machine; the kit stays
//! offline, so the chain is checked as of the BLOB's own date (the newest date
//! inside it, never after `nextUpdate`): a BLOB is judged by the certificates
//! that were valid when it was signed, and its age is reported separately
//! (past `nextUpdate` is a warning, a lower `no` than the stored one is refused).
//! Revocation lists are not consulted (offline).
//!
//! From the BLOB glasskey takes, per AAGUID: the model's name, its status
//! reports (security notices refuse enrollment and alert the audit), and its
//! attestationRootCertificates (extra trust anchors, labelled as coming from MDS).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::Date;

use super::certs::Cert;
use super::chain::verify_chain;
use super::keys::SigAlg;
use super::trust::TrustStore;
use crate::aaguid::Aaguid;
use crate::error::{Error, Result};

/// GlobalSign Root CA - R3: the root the FIDO Alliance signs MDS3 BLOBs under.
pub const MDS_ROOT_PEM: &str =
    include_str!("../../vendor-attestation/mds/globalsign-root-ca-r3.pem");

/// Where a kit keeps the imported BLOB.
pub const KIT_BLOB: &str = "mds/blob.jwt";

/// Real BLOBs are ~2-5 MB; anything past this is refused unread.
const MAX_BLOB_BYTES: u64 = 32 << 20;

/// Statuses that make a model unfit for a break-glass key (FIDO MDS3 §3.1.4):
/// the model's keys can be cloned, bypassed or forged.
pub const SECURITY_NOTICES: &[&str] = &[
    "REVOKED",
    "ATTESTATION_KEY_COMPROMISE",
    "USER_VERIFICATION_BYPASS",
    "USER_KEY_REMOTE_COMPROMISE",
    "USER_KEY_PHYSICAL_COMPROMISE",
];

/// One status report of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub status: String,
    pub effective_date: Option<String>,
}

/// One authenticator model in the BLOB (entries without an AAGUID, i.e. U2F and
/// UAF models, are not kept: FIDO2 keys are named by AAGUID).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub aaguid: Aaguid,
    pub description: Option<String>,
    pub status_reports: Vec<StatusReport>,
    /// attestationRootCertificates, DER.
    #[serde(skip)]
    pub attestation_roots: Vec<Vec<u8>>,
}

impl Entry {
    /// The report with the latest effectiveDate (the last one listed on a tie).
    pub fn latest_status(&self) -> Option<&StatusReport> {
        let mut best: Option<&StatusReport> = None;
        for r in &self.status_reports {
            if best.is_none_or(|b| r.effective_date >= b.effective_date) {
                best = Some(r);
            }
        }
        best
    }

    /// The latest status when it is a security notice.
    pub fn security_notice(&self) -> Option<&StatusReport> {
        self.latest_status()
            .filter(|r| SECURITY_NOTICES.contains(&r.status.as_str()))
    }

    /// FIDO certified at some level (any FIDO_CERTIFIED* report).
    pub fn certified(&self) -> bool {
        self.status_reports
            .iter()
            .any(|r| r.status.starts_with("FIDO_CERTIFIED"))
    }
}

/// A verified BLOB.
#[derive(Debug, Clone, Serialize)]
pub struct Blob {
    pub no: u64,
    pub next_update: String,
    /// The date the chain was checked at (see the module doc).
    pub as_of: String,
    /// Subject of the signing certificate and the root it chained to.
    pub signer: String,
    pub root: String,
    pub entries: Vec<Entry>,
    /// Entries that could not be read (skipped, never fatal).
    pub skipped: usize,
    /// SHA-256 of the BLOB as imported, hex.
    pub sha256: String,
}

/// Why a BLOB is refused (exit 1: the answer is "no", or 2: not a BLOB at all).
fn refused(what: impl Into<String>) -> Error {
    Error::check(
        what,
        "download the current BLOB from https://mds3.fidoalliance.org/ on a connected machine and import that; nothing was stored",
    )
}

fn unreadable(what: impl Into<String>) -> Error {
    Error::input(
        format!("not an MDS3 BLOB: {}", what.into()),
        "pass the file exactly as https://mds3.fidoalliance.org/ serves it (a JWT: three base64url parts separated by dots)",
    )
}

fn b64url(part: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| unreadable(format!("the {what} is not base64url")))
}

fn parse_date(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.get(..10)?, &format).ok()
}

fn noon_utc(d: Date) -> SystemTime {
    let secs = d.midnight().assume_utc().unix_timestamp() + 12 * 3600;
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// Verify a BLOB against `roots` (normally [`mds_roots`]) and read it.
pub fn verify_blob(jwt: &[u8], roots: &TrustStore) -> Result<Blob> {
    let text = std::str::from_utf8(jwt).map_err(|_| unreadable("it is not text"))?;
    let text = text.trim();
    let parts: Vec<&str> = text.split('.').collect();
    let [header_b64, payload_b64, sig_b64] = parts[..] else {
        return Err(unreadable(format!(
            "{} dot-separated parts, not 3",
            parts.len()
        )));
    };
    let header: Value = serde_json::from_slice(&b64url(header_b64, "header")?)
        .map_err(|e| unreadable(format!("the header is not JSON: {e}")))?;
    let signature = b64url(sig_b64, "signature")?;
    let alg = match header["alg"].as_str() {
        Some("RS256") => SigAlg::RsaPkcs1Sha256,
        Some("ES256") => SigAlg::EcdsaSha256,
        other => {
            return Err(refused(format!(
                "the BLOB is signed with {} (glasskey verifies RS256 and ES256)",
                other.unwrap_or("no algorithm")
            )))
        }
    };
    let chain: Vec<Cert> = header["x5c"]
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= 8)
        .ok_or_else(|| refused("the BLOB header carries no x5c certificate chain"))?
        .iter()
        .map(|c| {
            let der = c
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .ok_or_else(|| refused("an x5c certificate is not base64"))?;
            Cert::from_der(&der).map_err(|e| refused(format!("an x5c certificate: {e}")))
        })
        .collect::<Result<_>>()?;
    let leaf = &chain[0];
    // JWS ES256 signatures are r||s; the verifier takes DER.
    let signature = if alg == SigAlg::EcdsaSha256 {
        p256::ecdsa::Signature::from_slice(&signature)
            .map_err(|_| refused("the ES256 signature is not 64 bytes"))?
            .to_der()
            .as_bytes()
            .to_vec()
    } else {
        signature
    };
    let signed = format!("{header_b64}.{payload_b64}");
    leaf.public_key()
        .map_err(|e| refused(format!("the signing certificate's key: {e}")))?
        .verify(alg, signed.as_bytes(), &signature)
        .map_err(|why| refused(format!("the BLOB's signature is invalid ({why}): it was altered or not signed by the FIDO Alliance")))?;

    let payload = read_payload(&b64url(payload_b64, "payload")?)?;
    let as_of = payload.as_of;
    let reached = verify_chain(leaf, &chain[1..], roots, noon_utc(as_of)).map_err(|why| {
        refused(format!(
            "the BLOB's signing certificate does not chain to the MDS root as of {as_of}: {why}"
        ))
    })?;
    Ok(Blob {
        no: payload.no,
        next_update: payload.next_update.to_string(),
        as_of: as_of.to_string(),
        signer: leaf.subject(),
        root: reached.subject,
        entries: payload.entries,
        skipped: payload.skipped,
        sha256: super::certs::hex(&Sha256::digest(text.as_bytes())),
    })
}

/// What a BLOB's signed payload says, read after its signature verified.
#[derive(Debug)]
pub struct Payload {
    pub no: u64,
    pub next_update: Date,
    /// The newest date the payload itself vouches for (status changes up to nextUpdate):
    /// the BLOB is judged as of then, so an old BLOB's expired signer still verifies.
    pub as_of: Date,
    pub entries: Vec<Entry>,
    pub skipped: usize,
}

/// Read the payload JSON of a BLOB. Public so the fuzzer can reach it without a signature.
pub fn read_payload(bytes: &[u8]) -> Result<Payload> {
    let payload: Value = serde_json::from_slice(bytes)
        .map_err(|e| refused(format!("the signed payload is not JSON: {e}")))?;
    let no = payload["no"]
        .as_u64()
        .ok_or_else(|| refused("the payload has no serial number (no)"))?;
    let next_update_text = payload["nextUpdate"]
        .as_str()
        .ok_or_else(|| refused("the payload has no nextUpdate"))?;
    let next_update = parse_date(next_update_text)
        .ok_or_else(|| refused(format!("nextUpdate '{next_update_text}' is not a date")))?;
    let raw_entries = payload["entries"]
        .as_array()
        .ok_or_else(|| refused("the payload has no entries"))?;

    let mut entries = Vec::new();
    let mut skipped = 0;
    let mut newest: Option<Date> = None;
    for e in raw_entries {
        for d in entry_dates(e) {
            if d <= next_update && newest.is_none_or(|n| d > n) {
                newest = Some(d);
            }
        }
        match read_entry(e) {
            Some(Some(entry)) => entries.push(entry),
            Some(None) => {}
            None => skipped += 1,
        }
    }
    Ok(Payload {
        no,
        next_update,
        as_of: newest.unwrap_or(next_update),
        entries,
        skipped,
    })
}

fn entry_dates(e: &Value) -> Vec<Date> {
    let mut out = Vec::new();
    if let Some(d) = e["timeOfLastStatusChange"].as_str().and_then(parse_date) {
        out.push(d);
    }
    for r in e["statusReports"].as_array().into_iter().flatten() {
        if let Some(d) = r["effectiveDate"].as_str().and_then(parse_date) {
            out.push(d);
        }
    }
    out
}

/// `None`: unreadable (counted as skipped); `Some(None)`: not a FIDO2 entry.
fn read_entry(e: &Value) -> Option<Option<Entry>> {
    let statement = e.get("metadataStatement").filter(|s| s.is_object());
    let aaguid_text = e["aaguid"]
        .as_str()
        .or_else(|| statement.and_then(|s| s["aaguid"].as_str()));
    let Some(aaguid_text) = aaguid_text else {
        return if e.is_object() { Some(None) } else { None };
    };
    let aaguid: Aaguid = aaguid_text.parse().ok()?;
    let mut status_reports = Vec::new();
    for r in e["statusReports"].as_array()? {
        status_reports.push(StatusReport {
            status: r["status"].as_str()?.to_string(),
            effective_date: r["effectiveDate"].as_str().map(str::to_string),
        });
    }
    let mut attestation_roots = Vec::new();
    for c in statement
        .and_then(|s| s["attestationRootCertificates"].as_array())
        .into_iter()
        .flatten()
    {
        let der = base64::engine::general_purpose::STANDARD
            .decode(c.as_str()?)
            .ok()?;
        attestation_roots.push(der);
    }
    Some(Some(Entry {
        aaguid,
        description: statement
            .and_then(|s| s["description"].as_str())
            .map(str::to_string),
        status_reports,
        attestation_roots,
    }))
}

/// The trust store for BLOB signatures: GlobalSign Root CA - R3 only.
pub fn mds_roots() -> TrustStore {
    let mut store = TrustStore::empty();
    // The shipped file is tested to parse (tests below).
    let _ = store.add_root_pem(
        "vendor-attestation/mds/globalsign-root-ca-r3.pem",
        MDS_ROOT_PEM,
    );
    store
}

impl Blob {
    pub fn entry(&self, aaguid: &Aaguid) -> Option<&Entry> {
        self.entries.iter().find(|e| e.aaguid == *aaguid)
    }

    /// Past nextUpdate at `today`: the FIDO Alliance has published a newer BLOB.
    pub fn stale_at(&self, today: Date) -> bool {
        parse_date(&self.next_update).is_some_and(|d| today > d)
    }

    /// Add the model's attestationRootCertificates to `store`, labelled with
    /// their origin, so a chain that reaches them records that MDS vouched.
    pub fn add_roots_for(&self, aaguid: &Aaguid, store: &mut TrustStore) -> usize {
        let Some(entry) = self.entry(aaguid) else {
            return 0;
        };
        let label = format!(
            "FIDO MDS BLOB no {} ({})",
            self.no,
            entry.description.as_deref().unwrap_or("unnamed model")
        );
        entry
            .attestation_roots
            .iter()
            .filter(|der| store.add_root_der(&label, der).is_ok())
            .count()
    }
}

/// What a kit's `mds import` did.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub no: u64,
    pub previous_no: Option<u64>,
    pub next_update: String,
    pub as_of: String,
    pub entries: usize,
    pub skipped: usize,
    pub stale: bool,
    pub path: PathBuf,
    pub sha256: String,
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| {
        Error::input(
            format!("cannot open {}: {e}", path.display()),
            "check the path of the downloaded BLOB",
        )
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_BLOB_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::input(
                format!("cannot read {}: {e}", path.display()),
                "check the file and its permissions",
            )
        })?;
    if bytes.len() as u64 > MAX_BLOB_BYTES {
        return Err(unreadable(format!("larger than {MAX_BLOB_BYTES} bytes")));
    }
    Ok(bytes)
}

/// The kit's BLOB, verified again (a file changed on disk is refused, not trusted).
pub fn load(kit_dir: &Path) -> Result<Option<Blob>> {
    let path = kit_dir.join(KIT_BLOB);
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = read_limited(&path)?;
    verify_blob(&bytes, &mds_roots())
        .map(Some)
        .map_err(|mut e| {
            e.what = format!("the kit's MDS BLOB {}: {}", path.display(), e.what);
            e.next = "import a fresh BLOB with `glasskey mds import FILE`".into();
            e
        })
}

/// Verify `file` and store it in the kit: refused when its `no` is lower than
/// the stored BLOB's (a replayed older BLOB could hide a newer security
/// notice), or equal with other content.
pub fn import(kit_dir: &Path, file: &Path, today: Date) -> Result<Imported> {
    let bytes = read_limited(file)?;
    let blob = verify_blob(&bytes, &mds_roots())?;
    let previous = load(kit_dir).ok().flatten();
    if let Some(prev) = &previous {
        if blob.no < prev.no || (blob.no == prev.no && blob.sha256 != prev.sha256) {
            return Err(refused(format!(
                "this BLOB is number {}, the kit already holds number {}: MDS numbers never go backwards (an older BLOB could hide a newer security notice)",
                blob.no, prev.no
            )));
        }
    }
    let path = kit_dir.join(KIT_BLOB);
    write_atomically(&path, &bytes)?;
    Ok(Imported {
        no: blob.no,
        previous_no: previous.map(|p| p.no),
        next_update: blob.next_update.clone(),
        as_of: blob.as_of.clone(),
        entries: blob.entries.len(),
        skipped: blob.skipped,
        stale: blob.stale_at(today),
        path,
        sha256: blob.sha256,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::device(
            format!("cannot store the BLOB at {}: {e}", path.display()),
            "check free space and permissions of the kit folder",
        )
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".blob.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e)
        })
}

/// Enrollment refuses a model with a security notice, before the key is touched.
pub fn refuse_security_notice(blob: Option<&Blob>, aaguid: &Aaguid) -> Result<()> {
    let Some(entry) = blob.and_then(|b| b.entry(aaguid)) else {
        return Ok(());
    };
    if let Some(notice) = entry.security_notice() {
        return Err(Error::check(
            format!(
                "the FIDO Metadata Service reports {} for this model ({}, AAGUID {aaguid}) since {}",
                notice.status,
                entry.description.as_deref().unwrap_or("unnamed model"),
                notice.effective_date.as_deref().unwrap_or("an unknown date")
            ),
            "do not use this model for a break-glass key: choose another model; the key was not touched",
        ));
    }
    Ok(())
}

/// What Entra's attestation enforcement will make of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum EntraPrediction {
    /// In MDS, FIDO certified, no security notice.
    Accepts,
    /// Entra will refuse the registration, for this reason.
    Refuses { reason: String },
    /// No BLOB in the kit: glasskey cannot tell.
    Unknown { reason: String },
}

/// Predict Entra's attestation enforcement for `aaguid`: the AAGUID must be in
/// MDS, FIDO certified, and without a security notice.
pub fn predict_entra(blob: Option<&Blob>, aaguid: &Aaguid) -> EntraPrediction {
    let Some(blob) = blob else {
        return EntraPrediction::Unknown {
            reason: "no MDS BLOB in the kit (`glasskey mds import FILE`)".into(),
        };
    };
    match blob.entry(aaguid) {
        None => EntraPrediction::Refuses {
            reason: format!(
                "AAGUID {aaguid} is not in the FIDO Metadata Service (BLOB no {})",
                blob.no
            ),
        },
        Some(e) => match e.security_notice() {
            Some(n) => EntraPrediction::Refuses {
                reason: format!("MDS reports {}", n.status),
            },
            None if !e.certified() => EntraPrediction::Refuses {
                reason: "the model is not FIDO certified".into(),
            },
            None => EntraPrediction::Accepts,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_mds_root_is_globalsign_r3() {
        let store = mds_roots();
        assert_eq!(store.anchors().len(), 1);
        assert!(store.anchors()[0]
            .cert
            .subject()
            .contains("GlobalSign Root CA - R3"));
    }

    #[test]
    fn latest_status_is_by_date_and_notices_are_recognised() {
        let entry = Entry {
            aaguid: Aaguid::virtual_model(1),
            description: None,
            status_reports: vec![
                StatusReport {
                    status: "REVOKED".into(),
                    effective_date: Some("2024-05-01".into()),
                },
                StatusReport {
                    status: "FIDO_CERTIFIED_L1".into(),
                    effective_date: Some("2020-01-01".into()),
                },
            ],
            attestation_roots: Vec::new(),
        };
        assert_eq!(entry.latest_status().unwrap().status, "REVOKED");
        assert!(entry.security_notice().is_some());
        assert!(entry.certified());
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        for junk in [&b""[..], b"a.b", b"a.b.c", b"\xff\xfe", b"e30.e30.AA"] {
            assert!(verify_blob(junk, &mds_roots()).is_err());
        }
    }
}
