//! `glasskey attest verify`: offline verification of one attestation object
//! against the shipped vendor roots, the kit's `roots/` folder and any
//! `--trust-root` given. Exit 0 only for a packed statement whose signature
//! verifies, whose chain reaches a trusted root and whose certificate AAGUID
//! matches authData; 1 when the answer is no; 2 when the input is unreadable.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::{Args, Subcommand};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{print_json, GlobalArgs};
use crate::attestation::{self, mds, AttestationReport, Policy, Trust, TrustStore};
use crate::error::{Error, Result};
use crate::webauthn::{b64, AttestationObject};

/// Largest input file read (attestation objects are a few KiB; PEM bundles small).
const MAX_FILE: u64 = 256 * 1024;

#[derive(Subcommand, Debug)]
pub enum AttestCmd {
    /// Verify an attestation object offline: signature, chain to a trusted root, AAGUID, format.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// WebAuthn attestationObject or CTAP2 makeCredential response: raw CBOR, or base64url text.
    #[arg(long, value_name = "FILE")]
    pub attestation_object: PathBuf,
    /// The clientDataJSON the key signed over (hashed byte for byte).
    #[arg(long, value_name = "FILE", conflicts_with = "client_data_hash")]
    pub client_data_json: Option<PathBuf>,
    /// SHA-256 of the clientDataJSON, 64 hex digits (what CTAP calls clientDataHash).
    #[arg(long, value_name = "HEX")]
    pub client_data_hash: Option<String>,
    /// Also trust the certificates in this PEM file (repeatable).
    #[arg(long, value_name = "PEM")]
    pub trust_root: Vec<PathBuf>,
}

pub fn run(cmd: AttestCmd, g: &GlobalArgs) -> Result<()> {
    match cmd {
        AttestCmd::Verify(args) => verify(&args, g),
    }
}

/// What `--json` prints: the report plus the verdict.
#[derive(Serialize)]
struct JsonOut<'a> {
    accepted: bool,
    #[serde(flatten)]
    report: &'a AttestationReport,
    /// What the kit's MDS BLOB says of the model (absent without a BLOB or an entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    mds: Option<&'a MdsView>,
}

/// The kit's MDS BLOB on one model.
#[derive(Serialize)]
struct MdsView {
    description: Option<String>,
    latest_status: Option<String>,
    certified: bool,
    security_notice: bool,
}

impl MdsView {
    fn of(e: &mds::Entry) -> MdsView {
        MdsView {
            description: e.description.clone(),
            latest_status: e.latest_status().map(|s| s.status.clone()),
            certified: e.certified(),
            security_notice: e.security_notice().is_some(),
        }
    }
}

fn verify(args: &VerifyArgs, g: &GlobalArgs) -> Result<()> {
    let bytes = read_bounded(&args.attestation_object)?;
    let cbor = decode_input(&bytes).map_err(|why| {
        Error::input(
            format!("{}: {why}", args.attestation_object.display()),
            "pass the attestationObject as raw CBOR or base64url text",
        )
    })?;
    let obj = AttestationObject::parse(&cbor)?;
    let cdh = client_data_hash(args)?;
    let mut store = trust_store(args, g)?;
    // The kit's MDS BLOB, when imported: the model's roots, its name and its status.
    let blob = mds::load(&g.kit)?;
    let aaguid = obj.auth_data.attested.as_ref().map(|a| a.aaguid);
    let entry = blob.as_ref().zip(aaguid).and_then(|(b, a)| {
        b.add_roots_for(&a, &mut store);
        b.entry(&a)
    });
    let mds_view = entry.map(MdsView::of);

    let mut report = match attestation::verify_attestation(
        &obj,
        &cdh,
        &store,
        &Policy::default(),
        SystemTime::now(),
    ) {
        Ok(r) => r,
        Err(e) => {
            if g.json {
                print_json(
                    &serde_json::json!({"accepted": false, "format": obj.fmt, "problems": [e.to_string()]}),
                )?;
            }
            return Err(e.into());
        }
    };
    if let Some(notice) = entry.and_then(mds::Entry::security_notice) {
        report.problems.push(format!(
            "the FIDO Metadata Service lists a security notice for this model: {}",
            notice.status
        ));
    }
    if g.json {
        print_json(&JsonOut {
            accepted: report.accepted(),
            report: &report,
            mds: mds_view.as_ref(),
        })?;
    } else {
        print_human(&report, mds_view.as_ref());
    }
    if report.accepted() {
        Ok(())
    } else {
        Err(Error::check(
            format!("the attestation does not verify: {}", report.problems.join("; ")),
            "do not enroll this key; if it is a genuine vendor key whose root glasskey lacks, add the vendor's root to the kit's roots/ folder (see vendor-attestation/README.md) and verify again",
        ))
    }
}

fn print_human(r: &AttestationReport, mds: Option<&MdsView>) {
    let alg = r.algorithm.as_deref().unwrap_or("?");
    let sig = if r.signature_verified {
        "signature verified"
    } else {
        "signature NOT verified"
    };
    crate::outln!("format:       {} ({alg}), {sig}", r.format);
    match &r.trust {
        Trust::Anchor(a) => crate::outln!("chain:        reaches {} ({})", a.subject, a.label),
        Trust::SelfAttestation => crate::outln!("chain:        none (self attestation)"),
        Trust::Untrusted { reason } => {
            crate::outln!("chain:        reaches no trusted root ({reason})")
        }
    }
    let cert_aaguid = match r.certificate_aaguid {
        Some(c) if c == r.aaguid => "certificate agrees".to_string(),
        Some(c) => format!("certificate says {c}"),
        None => "not in certificate".to_string(),
    };
    crate::outln!("AAGUID:       {} ({cert_aaguid})", r.aaguid);
    match &r.model {
        Some(m) => crate::outln!("model:        {} {}", m.vendor, m.model),
        None => match mds.and_then(|m| m.description.as_deref()) {
            Some(d) => crate::outln!("model:        {d} (from the kit's MDS BLOB)"),
            None => crate::outln!("model:        unknown (AAGUID not in the catalogue)"),
        },
    }
    if let Some(m) = mds {
        crate::outln!(
            "MDS status:   {}{}",
            m.latest_status.as_deref().unwrap_or("no status report"),
            if m.security_notice {
                " (a FIDO security notice: do not enroll this model)"
            } else {
                ""
            }
        );
    }
    if let Some(fp) = &r.certificate_sha256 {
        crate::outln!("cert SHA-256: {fp}");
    }
    crate::outln!(
        "result:       {}",
        if r.accepted() { "VALID" } else { "NOT VALID" }
    );
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        Error::input(
            format!("cannot open {}: {e}", path.display()),
            "check the path",
        )
    })?;
    let mut buf = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut buf).map_err(|e| {
        Error::input(
            format!("cannot read {}: {e}", path.display()),
            "check the file",
        )
    })?;
    if buf.len() as u64 > MAX_FILE {
        return Err(Error::input(
            format!("{} is larger than {MAX_FILE} bytes", path.display()),
            "pass the attestation object itself, not a bundle or log",
        ));
    }
    Ok(buf)
}

/// Raw CBOR (a map, optionally after a CTAP status byte 0x00) or base64url text.
fn decode_input(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let is_map = |b: &[u8]| b.first().is_some_and(|x| (0xa0..=0xbf).contains(x));
    if is_map(bytes) {
        return Ok(bytes.to_vec());
    }
    if bytes.first() == Some(&0x00) && is_map(&bytes[1..]) {
        return Ok(bytes[1..].to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "neither a CBOR map nor text".to_string())?;
    let decoded = b64::decode(text.trim()).map_err(|e| format!("not base64url: {e}"))?;
    if is_map(&decoded) {
        Ok(decoded)
    } else {
        Err("the decoded text is not a CBOR map".into())
    }
}

fn client_data_hash(args: &VerifyArgs) -> Result<[u8; 32]> {
    if let Some(path) = &args.client_data_json {
        return Ok(Sha256::digest(read_bounded(path)?).into());
    }
    if let Some(hex) = &args.client_data_hash {
        let hex = hex.trim();
        let bytes: Option<Vec<u8>> = (hex.len() == 64 && hex.is_ascii())
            .then(|| {
                (0..32)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect()
            })
            .flatten();
        return bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            Error::input(
                "--client-data-hash is not 64 hex digits",
                "pass the SHA-256 of the clientDataJSON in hex",
            )
        });
    }
    Err(Error::input(
        "without the client data the attestation signature cannot be verified (it covers authData and the clientDataJSON hash)",
        "pass --client-data-json FILE or --client-data-hash HEX",
    ))
}

/// Shipped roots, then `<kit>/roots/*.pem` when the folder exists, then `--trust-root` files.
fn trust_store(args: &VerifyArgs, g: &GlobalArgs) -> Result<TrustStore> {
    let mut store = TrustStore::production();
    store.add_roots_dir(&g.kit.join("roots"))?;
    for path in &args.trust_root {
        store.add_root_file(path)?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes_are_detected() {
        assert_eq!(
            decode_input(&[0xa1, 0x01, 0x02]).unwrap(),
            [0xa1, 0x01, 0x02]
        );
        assert_eq!(
            decode_input(&[0x00, 0xa1, 0x01, 0x02]).unwrap(),
            [0xa1, 0x01, 0x02]
        );
        assert_eq!(decode_input(b"oQEC\n").unwrap(), [0xa1, 0x01, 0x02]);
        assert!(decode_input(b"AQID").is_err(), "base64 of a non-map");
        assert!(decode_input(&[0xff, 0xfe]).is_err());
        assert!(decode_input(b"").is_err());
    }
}
