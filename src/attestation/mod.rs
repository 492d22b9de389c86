//! Offline attestation and assertion verification.
//!
//! This is glasskey's own verifier: X.509 path building to the roots in
//! `vendor-attestation/`, packed attestation (WebAuthn §8.2) and ES256
//! assertions, written against the specifications with RustCrypto primitives.
//! The Graph emulator verifies with webauthn-rs-core instead, so a single
//! misreading of the specification cannot pass both sides.

pub mod assertion;
pub mod catalogue;
pub mod certs;
pub mod chain;
pub mod keys;
pub mod mds;
pub mod packed;
pub mod trust;

use std::fmt;

pub use assertion::{verify_assertion, AssertionFacts, Counter};
pub use catalogue::{lookup, Model};
pub use packed::{verify_attestation, AttestationReport, Policy, Trust};
pub use trust::TrustStore;

/// What can go wrong while verifying. The class decides the exit code:
/// unreadable input is 2, an attestation that does not hold up is 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestError {
    /// The input could not be read at all (not CBOR, missing fields, bad PEM).
    Malformed(String),
    /// A certificate in the statement could not be read.
    BadCertificate(String),
    /// An algorithm glasskey does not verify.
    UnsupportedAlgorithm(String),
    /// An attestation format Entra does not accept, or `none`.
    RefusedFormat { fmt: String, reason: String },
    /// A root file (kit `roots/`, `--trust-root`) could not be used.
    BadRoot(String),
    /// A signature did not verify (the answer is "no").
    SignatureInvalid(String),
}

impl fmt::Display for AttestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttestError::Malformed(m) => write!(f, "unreadable input: {m}"),
            AttestError::BadCertificate(m) => write!(f, "bad certificate: {m}"),
            AttestError::UnsupportedAlgorithm(m) => write!(f, "unsupported algorithm: {m}"),
            AttestError::RefusedFormat { fmt, reason } => {
                write!(f, "attestation format '{fmt}' is refused: {reason}")
            }
            AttestError::SignatureInvalid(m) => write!(f, "signature check failed: {m}"),
            AttestError::BadRoot(m) => write!(f, "unusable trust root: {m}"),
        }
    }
}

impl std::error::Error for AttestError {}

impl From<AttestError> for crate::Error {
    fn from(e: AttestError) -> Self {
        match &e {
            AttestError::Malformed(_) => crate::Error::input(
                e.to_string(),
                "pass the attestationObject (raw CBOR or base64url) or the CTAP2 makeCredential response exactly as the key produced it",
            ),
            AttestError::BadCertificate(_) | AttestError::UnsupportedAlgorithm(_) => crate::Error::check(
                e.to_string(),
                "this key's attestation cannot be verified; do not enroll it, and report the model to the glasskey maintainers",
            ),
            AttestError::BadRoot(_) => crate::Error::input(
                e.to_string(),
                "fix or remove the file: a root file holds PEM CERTIFICATE blocks, '#' comment lines allowed (vendor-attestation/README.md)",
            ),
            AttestError::SignatureInvalid(_) => crate::Error::check(
                e.to_string(),
                "the key did not prove possession of the enrolled credential; check it is the right key, then treat it as compromised or faulty",
            ),
            AttestError::RefusedFormat { .. } => crate::Error::check(
                e.to_string(),
                "use a FIDO2 security key that produces packed attestation (see Microsoft's list of attestation-eligible keys)",
            ),
        }
    }
}
