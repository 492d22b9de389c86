//! Attestation statement verification (WebAuthn §8.2 "packed"), and the
//! refusal of every other format Entra does not accept for security keys.
//!
//! The result is a report, not a yes/no: it says what was proven (signature,
//! anchor reached, AAGUID, model) and lists every problem, so `attest verify`,
//! `enroll` and the ledger can record the same facts. [`AttestationReport::accepted`]
//! is the verdict under the caller's [`Policy`].

use std::time::SystemTime;

use serde::Serialize;

use super::catalogue::{self, Model};
use super::certs::Cert;
use super::chain::{verify_chain, ReachedAnchor};
use super::keys::{cose_alg_name, CoseAlg};
use super::trust::TrustStore;
use super::AttestError;
use crate::aaguid::Aaguid;
use crate::webauthn::{AttestationObject, CoseKey};

/// id-fido-gen-ce-aaguid: the AAGUID extension of FIDO attestation certificates.
pub const OID_FIDO_AAGUID: &str = "1.3.6.1.4.1.45724.1.1.4";

/// Required subject OU of a packed attestation certificate (WebAuthn §8.2.1).
const ATTESTATION_OU: &str = "Authenticator Attestation";

/// Most certificates accepted in x5c.
const MAX_X5C: usize = 8;

/// What the caller tolerates. The default (all false) is what enrollment wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Accept self attestation (no x5c; signed by the credential key itself).
    /// It proves possession of the key, nothing about the model.
    pub allow_self_attestation: bool,
    /// Accept a valid x5c chain that reaches no trusted root.
    pub allow_unknown_root: bool,
}

/// How far trust reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trust {
    /// The chain reached this trusted root.
    Anchor(ReachedAnchor),
    /// No certificate: the credential key signed its own attestation.
    SelfAttestation,
    /// The chain reached no trusted root, for this reason.
    Untrusted { reason: String },
}

/// Everything verification established about one attestation.
#[derive(Debug, Clone, Serialize)]
pub struct AttestationReport {
    pub format: String,
    /// attStmt.alg by name (ES256, …).
    pub algorithm: Option<String>,
    /// Did the attestation signature verify over authData || clientDataHash?
    pub signature_verified: bool,
    pub trust: Trust,
    /// AAGUID from authData.
    pub aaguid: Aaguid,
    /// AAGUID from the attestation certificate's id-fido-gen-ce-aaguid extension.
    pub certificate_aaguid: Option<Aaguid>,
    /// Vendor and model for `aaguid`, from the catalogue.
    pub model: Option<Model>,
    /// SHA-256 of the attestation (leaf) certificate DER, hex.
    pub certificate_sha256: Option<String>,
    pub certificate_subject: Option<String>,
    /// Every reason the attestation is not acceptable under the policy; empty when accepted.
    pub problems: Vec<String>,
}

impl AttestationReport {
    /// True when nothing is wrong under the policy that produced this report.
    pub fn accepted(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Why each non-packed format is refused. Entra accepts only packed (and none,
/// which proves nothing, so glasskey refuses it for break-glass keys).
pub fn refusal_reason(fmt: &str) -> Option<&'static str> {
    match fmt {
        "packed" => None,
        "none" => Some("the key gave no attestation, so its model and origin cannot be proven"),
        "fido-u2f" => Some("U2F-only attestation: Entra needs a FIDO2 key with packed attestation"),
        "tpm" | "apple" | "android-key" | "android-safetynet" => {
            Some("this is a platform authenticator's attestation, not a security key's; Entra accepts only packed for security keys")
        }
        _ => Some("unknown attestation format; Entra accepts only packed"),
    }
}

/// Verify an attestation object against `client_data_hash` (SHA-256 of clientDataJSON).
///
/// Errors are for statements that cannot be evaluated at all (refused format,
/// missing attested credential); everything else lands in the report's `problems`.
pub fn verify_attestation(
    obj: &AttestationObject,
    client_data_hash: &[u8; 32],
    store: &TrustStore,
    policy: &Policy,
    now: SystemTime,
) -> Result<AttestationReport, AttestError> {
    if let Some(reason) = refusal_reason(&obj.fmt) {
        return Err(AttestError::RefusedFormat {
            fmt: obj.fmt.clone(),
            reason: reason.to_string(),
        });
    }
    let attested = obj.auth_data.attested.as_ref().ok_or_else(|| {
        AttestError::Malformed("authData carries no attested credential (AT flag clear)".into())
    })?;
    let mut report = AttestationReport {
        format: obj.fmt.clone(),
        algorithm: obj.alg().map(cose_alg_name),
        signature_verified: false,
        trust: Trust::Untrusted {
            reason: "not evaluated".into(),
        },
        aaguid: attested.aaguid,
        certificate_aaguid: None,
        model: catalogue::lookup(&attested.aaguid).cloned(),
        certificate_sha256: None,
        certificate_subject: None,
        problems: Vec::new(),
    };
    let (Some(alg), Some(sig)) = (obj.alg(), obj.sig()) else {
        report
            .problems
            .push("the packed statement lacks alg or sig".into());
        return Ok(report);
    };
    let Some(cose_alg) = CoseAlg::from_cose(alg) else {
        report.problems.push(format!(
            "attestation algorithm {} is not supported (ES256, ES384, RS256 are)",
            cose_alg_name(alg)
        ));
        return Ok(report);
    };
    let mut signed = Vec::with_capacity(obj.auth_data_raw.len() + 32);
    signed.extend_from_slice(&obj.auth_data_raw);
    signed.extend_from_slice(client_data_hash);

    let x5c = obj
        .x5c()
        .map_err(|e| AttestError::Malformed(e.to_string()))?;
    if x5c.len() > MAX_X5C {
        report.problems.push(format!(
            "x5c holds {} certificates, more than the {MAX_X5C} accepted",
            x5c.len()
        ));
        return Ok(report);
    }
    if x5c.is_empty() {
        verify_self(
            &mut report,
            &attested.public_key,
            alg,
            cose_alg,
            &signed,
            sig,
            policy,
        );
        return Ok(report);
    }

    let certs = match x5c
        .iter()
        .map(|der| Cert::from_der(der))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(e.to_string());
            return Ok(report);
        }
    };
    let leaf = &certs[0];
    report.certificate_sha256 = Some(leaf.sha256_hex());
    report.certificate_subject = Some(leaf.subject());

    match leaf.public_key() {
        Err(e) => report
            .problems
            .push(format!("attestation certificate: {e}")),
        Ok(key) if !cose_alg.fits(&key) => report.problems.push(format!(
            "attStmt.alg {} does not match the attestation certificate's {} key",
            cose_alg_name(alg),
            key.describe()
        )),
        Ok(key) => match key.verify(cose_alg.sig_alg(), &signed, sig) {
            Ok(()) => report.signature_verified = true,
            Err(why) => report
                .problems
                .push(format!("attestation signature is invalid: {why}")),
        },
    }

    check_leaf(&mut report, leaf, &attested.aaguid);

    report.trust = match verify_chain(leaf, &certs[1..], store, now) {
        Ok(anchor) => Trust::Anchor(anchor),
        Err(reason) => {
            if !policy.allow_unknown_root {
                report.problems.push(format!(
                    "the certificate chain reaches no trusted root: {reason}"
                ));
            }
            Trust::Untrusted { reason }
        }
    };
    Ok(report)
}

/// Leaf requirements of WebAuthn §8.2.1, plus the AAGUID binding.
fn check_leaf(report: &mut AttestationReport, leaf: &Cert, aaguid: &Aaguid) {
    if !leaf.is_v3() {
        report
            .problems
            .push("attestation certificate is not X.509 version 3".into());
    }
    if leaf.subject_ou().as_deref() != Some(ATTESTATION_OU) {
        report.problems.push(format!(
            "attestation certificate subject OU is not '{ATTESTATION_OU}'"
        ));
    }
    match leaf.basic_constraints() {
        Ok(Some(bc)) if !bc.ca => {}
        Ok(Some(_)) => report
            .problems
            .push("attestation certificate is a CA (basicConstraints CA:TRUE)".into()),
        Ok(None) => report
            .problems
            .push("attestation certificate lacks basicConstraints CA:FALSE".into()),
        Err(e) => report.problems.push(e.to_string()),
    }
    match leaf.extension(OID_FIDO_AAGUID) {
        Err(e) => report.problems.push(e.to_string()),
        Ok(None) => report.problems.push(
            "attestation certificate has no AAGUID extension (1.3.6.1.4.1.45724.1.1.4)".into(),
        ),
        Ok(Some((critical, value))) => {
            // extnValue holds OCTET STRING(16).
            let cert_aaguid = match value.as_slice() {
                [0x04, 0x10, rest @ ..] => Aaguid::from_slice(rest),
                _ => None,
            };
            if critical {
                report
                    .problems
                    .push("the AAGUID extension is marked critical".into());
            }
            match cert_aaguid {
                None => report
                    .problems
                    .push("the AAGUID extension is not an OCTET STRING of 16 bytes".into()),
                Some(c) => {
                    if c != *aaguid {
                        report.problems.push(format!(
                            "certificate AAGUID {c} differs from authData AAGUID {aaguid}"
                        ));
                    }
                    report.certificate_aaguid = Some(c);
                }
            }
        }
    }
}

/// Self attestation: the credential key signs; alg must be the credential's alg.
fn verify_self(
    report: &mut AttestationReport,
    credential_key: &CoseKey,
    alg: i64,
    cose_alg: CoseAlg,
    signed: &[u8],
    sig: &[u8],
    policy: &Policy,
) {
    report.trust = Trust::SelfAttestation;
    if !policy.allow_self_attestation {
        report.problems.push(
            "self attestation proves nothing about the key's model (policy refuses it)".into(),
        );
    }
    if credential_key.alg() != Some(alg) {
        report.problems.push(format!(
            "self attestation alg {} differs from the credential key's algorithm",
            cose_alg_name(alg)
        ));
        return;
    }
    match super::assertion::public_key_from_cose(credential_key) {
        Err(e) => report.problems.push(e.to_string()),
        Ok(key) => match key.verify(cose_alg.sig_alg(), signed, sig) {
            Ok(()) => report.signature_verified = true,
            Err(why) => report
                .problems
                .push(format!("self attestation signature is invalid: {why}")),
        },
    }
}
