//! Assertion verification: does a fresh getAssertion signature come from the
//! credential key recorded at enrollment? Used by the quarterly check.
//!
//! Only ES256 credentials are verified (glasskey asks keys for ES256 only);
//! anything else is refused by name rather than guessed at. The flags, counter
//! and rpIdHash are returned as data: whether UV is required or a counter may
//! stay at zero is the caller's policy.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::{cose_alg_name, PublicKey, SigAlg};
use super::AttestError;
use crate::webauthn::cose::ALG_ES256;
use crate::webauthn::{AuthenticatorData, CoseKey};

/// What a verified assertion says, for the caller to judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertionFacts {
    pub rp_id_hash: [u8; 32],
    pub user_present: bool,
    pub user_verified: bool,
    pub sign_count: u32,
}

impl AssertionFacts {
    /// Is the assertion for this relying party id?
    pub fn rp_id_matches(&self, rp_id: &str) -> bool {
        let want: [u8; 32] = Sha256::digest(rp_id.as_bytes()).into();
        want == self.rp_id_hash
    }

    /// Compare with the last counter recorded for this credential.
    pub fn counter_against(&self, previous: u32) -> Counter {
        match (previous, self.sign_count) {
            (0, 0) => Counter::NotImplemented,
            (p, c) if c > p => Counter::Advanced,
            _ => Counter::DidNotAdvance,
        }
    }
}

/// How a signCount compares with the recorded one (WebAuthn §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// Greater than before: normal.
    Advanced,
    /// Both zero: the key keeps no counter.
    NotImplemented,
    /// Equal or lower: the key may have been cloned, or the record is stale.
    DidNotAdvance,
}

/// Verify an assertion signature over `auth_data || client_data_hash` with the
/// credential public key (COSE CBOR as recorded at enrollment).
/// A signature that does not verify is [`AttestError::SignatureInvalid`].
pub fn verify_assertion(
    cose_public_key: &[u8],
    auth_data: &[u8],
    client_data_hash: &[u8],
    signature: &[u8],
) -> Result<AssertionFacts, AttestError> {
    let key =
        CoseKey::from_cbor(cose_public_key).map_err(|e| AttestError::Malformed(e.to_string()))?;
    if key.alg() != Some(ALG_ES256) {
        return Err(AttestError::UnsupportedAlgorithm(format!(
            "the credential key is {}; glasskey verifies ES256 credentials only",
            key.alg()
                .map(cose_alg_name)
                .unwrap_or_else(|| "without an algorithm".into())
        )));
    }
    if client_data_hash.len() != 32 {
        return Err(AttestError::Malformed(format!(
            "clientDataHash is {} bytes, not 32",
            client_data_hash.len()
        )));
    }
    let parsed =
        AuthenticatorData::parse(auth_data).map_err(|e| AttestError::Malformed(e.to_string()))?;
    let public = public_key_from_cose(&key)?;
    let mut signed = Vec::with_capacity(auth_data.len() + 32);
    signed.extend_from_slice(auth_data);
    signed.extend_from_slice(client_data_hash);
    public
        .verify(SigAlg::EcdsaSha256, &signed, signature)
        .map_err(AttestError::SignatureInvalid)?;
    Ok(AssertionFacts {
        rp_id_hash: parsed.rp_id_hash,
        user_present: parsed.flags.user_present(),
        user_verified: parsed.flags.user_verified(),
        sign_count: parsed.sign_count,
    })
}

/// A verifying key from a COSE key: EC2 P-256 only (see the module doc).
pub(crate) fn public_key_from_cose(key: &CoseKey) -> Result<PublicKey, AttestError> {
    match key {
        CoseKey::Ec2 { crv: 1, x, y, .. } => PublicKey::p256_from_xy(x, y),
        other => Err(AttestError::UnsupportedAlgorithm(format!(
            "credential key {} is not an EC2 P-256 key",
            other
                .alg()
                .map(cose_alg_name)
                .unwrap_or_else(|| "(no alg)".into())
        ))),
    }
}
