//! The ledger witnessed by the keys themselves.
//!
//! A hash chain and its anchor show that a ledger is internally consistent, not
//! that it is the ledger that was written: whoever can write the kit can rewrite
//! history and recompute every hash. Here the keys sign the ledger:
//!
//! - a liveness check's getAssertion challenge is
//!   `SHA-256(CHALLENGE_TAG ‖ head seq (u64 big-endian) ‖ head hash ‖ nonce)`
//!   over the ledger head before the check and 32 fresh random bytes, inside a
//!   clientDataJSON whose `type` and `origin` no relying party accepts (so the
//!   signature is useless as a sign-in), and the `check_witnessed` event keeps
//!   authenticatorData, clientDataJSON and signature;
//! - an enrollment keeps the attestation object and clientDataJSON
//!   (`credential_attested`);
//! - [`verify_ledger`] re-verifies every stored attestation and assertion
//!   against the enrolled public keys and the heads they commit to.
//!
//! What this proves and what it does not: docs/ledger.md "Witnessed by the keys".

use std::collections::HashMap;

use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::attestation::{self, TrustStore};
use crate::error::{Error, Result};
use crate::ledger::{Bytes, Event, Hash, Kit, Record};
use crate::webauthn::{b64, AttestationObject};

/// Domain separation: a witness challenge can never equal another protocol's.
pub const CHALLENGE_TAG: &[u8] = b"glasskey/ledger-witness/v1\0";
/// clientDataJSON `type` of a witness: not `webauthn.get`, so no relying party
/// (Entra included) accepts the assertion as a sign-in.
pub const CLIENT_DATA_TYPE: &str = "glasskey.ledger-witness";
/// clientDataJSON `origin` of a witness: not an https origin of any relying party.
pub const CLIENT_DATA_ORIGIN: &str = "glasskey:ledger";
/// Nonce length in bytes.
pub const NONCE_LEN: usize = 32;

/// `SHA-256(CHALLENGE_TAG ‖ seq (u64 BE) ‖ head hash ‖ nonce)`.
pub fn challenge(head_seq: u64, head_hash: &Hash, nonce: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CHALLENGE_TAG);
    h.update(head_seq.to_be_bytes());
    h.update(head_hash.0);
    h.update(nonce);
    h.finalize().into()
}

/// The clientDataJSON a witness signs (its SHA-256 is the clientDataHash).
pub fn client_data_json(challenge: &[u8; 32], head_seq: u64, head_hash: &Hash) -> Vec<u8> {
    format!(
        "{{\"type\":\"{CLIENT_DATA_TYPE}\",\"challenge\":\"{}\",\"origin\":\"{CLIENT_DATA_ORIGIN}\",\"head\":\"{head_seq}:{}\"}}",
        b64::encode(challenge),
        head_hash.to_hex()
    )
    .into_bytes()
}

/// What a check asks the key to sign: the current head of the kit's ledger.
#[derive(Debug, Clone)]
pub struct WitnessRequest {
    pub head_seq: u64,
    pub head_hash: Hash,
    pub nonce: [u8; NONCE_LEN],
    pub client_data_json: Vec<u8>,
    pub client_data_hash: [u8; 32],
}

impl WitnessRequest {
    /// A request over the kit's current head (the ledger must verify).
    pub fn for_kit(kit: &Kit) -> Result<WitnessRequest> {
        let report = kit.verify()?;
        if let Some(p) = report.problem {
            return Err(Error::check(
                format!("the ledger does not verify: {}", p.message),
                p.next,
            ));
        }
        let (head_seq, head_hash) = report.head.map_or((0, Hash::GENESIS), |h| (h.seq, h.hash));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        Ok(WitnessRequest::new(head_seq, head_hash, nonce))
    }

    pub fn new(head_seq: u64, head_hash: Hash, nonce: [u8; NONCE_LEN]) -> WitnessRequest {
        let c = challenge(head_seq, &head_hash, &nonce);
        let client_data_json = client_data_json(&c, head_seq, &head_hash);
        let client_data_hash = Sha256::digest(&client_data_json).into();
        WitnessRequest {
            head_seq,
            head_hash,
            nonce,
            client_data_json,
            client_data_hash,
        }
    }

    /// The `check_witnessed` event for the key's answer.
    pub fn event(
        &self,
        key: &str,
        credential_id: &[u8],
        authenticator_data: &[u8],
        signature: &[u8],
    ) -> Event {
        Event::CheckWitnessed {
            key: key.to_string(),
            credential_id: Bytes(credential_id.to_vec()),
            head_seq: self.head_seq,
            head_hash: self.head_hash.to_hex(),
            nonce: Bytes(self.nonce.to_vec()),
            client_data_json: Bytes(self.client_data_json.clone()),
            authenticator_data: Bytes(authenticator_data.to_vec()),
            signature: Bytes(signature.to_vec()),
        }
    }
}

/// The `credential_attested` event for a credential just created and verified.
pub fn attestation_event(
    key: &str,
    credential_id: &[u8],
    attestation_object_webauthn: &[u8],
    client_data_json: &[u8],
    trust: &str,
) -> Event {
    Event::CredentialAttested {
        key: key.to_string(),
        credential_id: Bytes(credential_id.to_vec()),
        attestation_object: Bytes(attestation_object_webauthn.to_vec()),
        client_data_json: Bytes(client_data_json.to_vec()),
        trust: trust.to_string(),
    }
}

/// What [`verify_ledger`] found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct WitnessReport {
    /// `credential_attested` events re-verified.
    pub attestations: u64,
    /// `check_witnessed` events re-verified.
    pub witnesses: u64,
    /// The latest head any key signed, and which keys signed it last.
    pub last_witnessed_head: Option<u64>,
    /// Events after the last witnessed head: rewriting them needs no key.
    pub events_after_last_witness: u64,
    /// Credentials enrolled without stored evidence (older glasskey).
    pub unattested_credentials: u64,
    /// The first failure: the event and what is wrong.
    pub problem: Option<WitnessProblem>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WitnessProblem {
    pub seq: u64,
    pub message: String,
}

impl WitnessReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// A credential as the ledger recorded it, up to the event being verified.
struct Known {
    key: String,
    rp_id: String,
    cose_public_key: Vec<u8>,
    attested: bool,
}

/// Re-verify every stored attestation and assertion of a verified chain, in
/// order, against the public keys enrolled before them and the heads they
/// commit to. Stops at the first failure, naming the event.
pub fn verify_ledger(records: &[Record]) -> WitnessReport {
    let mut report = WitnessReport::default();
    let mut known: HashMap<Vec<u8>, Known> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let fail = |message: String| WitnessProblem {
            seq: r.seq,
            message,
        };
        let outcome = match &r.event {
            Event::CredentialCreated {
                key,
                rp_id,
                credential_id,
                cose_public_key,
                ..
            } => {
                known.insert(
                    credential_id.0.clone(),
                    Known {
                        key: key.clone(),
                        rp_id: rp_id.clone(),
                        cose_public_key: cose_public_key.0.clone(),
                        attested: false,
                    },
                );
                Ok(())
            }
            Event::CredentialAttested {
                key,
                credential_id,
                attestation_object,
                client_data_json,
                ..
            } => {
                let r = check_attestation(
                    known.get(&credential_id.0),
                    key,
                    &credential_id.0,
                    &attestation_object.0,
                    &client_data_json.0,
                );
                if r.is_ok() {
                    report.attestations += 1;
                    if let Some(k) = known.get_mut(&credential_id.0) {
                        k.attested = true;
                    }
                }
                r
            }
            Event::CheckWitnessed {
                key,
                credential_id,
                head_seq,
                head_hash,
                nonce,
                client_data_json,
                authenticator_data,
                signature,
            } => {
                let evidence = Evidence {
                    key,
                    head_seq: *head_seq,
                    head_hash,
                    nonce: &nonce.0,
                    client_data_json: &client_data_json.0,
                    authenticator_data: &authenticator_data.0,
                    signature: &signature.0,
                };
                let r = check_witness(records, i, known.get(&credential_id.0), &evidence);
                if r.is_ok() {
                    report.witnesses += 1;
                    report.last_witnessed_head = Some(
                        report
                            .last_witnessed_head
                            .map_or(*head_seq, |h| h.max(*head_seq)),
                    );
                }
                r
            }
            _ => Ok(()),
        };
        if let Err(message) = outcome {
            report.problem = Some(fail(message));
            return report;
        }
    }
    report.unattested_credentials = known.values().filter(|k| !k.attested).count() as u64;
    let last = records.last().map_or(0, |r| r.seq);
    report.events_after_last_witness = last - report.last_witnessed_head.unwrap_or(0);
    report
}

fn check_attestation(
    known: Option<&Known>,
    key: &str,
    credential_id: &[u8],
    attestation_object: &[u8],
    client_data_json: &[u8],
) -> std::result::Result<(), String> {
    let k = known.ok_or("the attested credential was never created in this ledger")?;
    if k.key != key {
        return Err(format!(
            "the attested credential belongs to key {}, not {key}",
            k.key
        ));
    }
    let obj = AttestationObject::parse(attestation_object)
        .map_err(|e| format!("the stored attestation object does not parse: {e}"))?;
    let want_rp: [u8; 32] = Sha256::digest(k.rp_id.as_bytes()).into();
    if obj.auth_data.rp_id_hash != want_rp {
        return Err(format!("the attestation is not for {}", k.rp_id));
    }
    let attested = obj
        .auth_data
        .attested
        .as_ref()
        .ok_or("the attestation carries no credential")?;
    if attested.credential_id != credential_id {
        return Err("the attestation is for another credential id".into());
    }
    if attested.public_key_cbor != k.cose_public_key {
        return Err(format!(
            "the public key the ledger records for key {key} is not the one the key attested (the enrolled public key was changed)"
        ));
    }
    let cd: serde_json::Value = serde_json::from_slice(client_data_json)
        .map_err(|_| "the stored clientDataJSON is not JSON")?;
    if cd["type"] != "webauthn.create" || cd["origin"] != format!("https://{}", k.rp_id) {
        return Err(
            "the stored clientDataJSON is not a webauthn.create for the relying party".into(),
        );
    }
    // The signature over authData ‖ SHA-256(clientDataJSON). Trust in the
    // chain was judged at enrollment (roots change over the years); here the
    // question is whether these bytes are what the key signed.
    let hash: [u8; 32] = Sha256::digest(client_data_json).into();
    let lenient = attestation::Policy {
        allow_self_attestation: true,
        allow_unknown_root: true,
    };
    let verdict = attestation::verify_attestation(
        &obj,
        &hash,
        &TrustStore::empty(),
        &lenient,
        std::time::SystemTime::now(),
    )
    .map_err(|e| format!("the stored attestation cannot be verified: {e}"))?;
    if !verdict.signature_verified {
        return Err(format!(
            "the stored attestation signature does not verify: {}",
            verdict.problems.join("; ")
        ));
    }
    Ok(())
}

struct Evidence<'a> {
    key: &'a str,
    head_seq: u64,
    head_hash: &'a str,
    nonce: &'a [u8],
    client_data_json: &'a [u8],
    authenticator_data: &'a [u8],
    signature: &'a [u8],
}

fn check_witness(
    records: &[Record],
    index: usize,
    known: Option<&Known>,
    e: &Evidence,
) -> std::result::Result<(), String> {
    let seq = records[index].seq;
    let key = e.key;
    let k = known.ok_or("the witnessing credential was never created in this ledger")?;
    if k.key != key {
        return Err(format!(
            "the witnessing credential belongs to key {}, not {key}",
            k.key
        ));
    }
    if e.head_seq >= seq {
        return Err(format!(
            "it claims to sign head {} from the future",
            e.head_seq
        ));
    }
    let chain_hash = if e.head_seq == 0 {
        Hash::GENESIS
    } else {
        // A verified chain holds event n at index n - 1.
        usize::try_from(e.head_seq - 1)
            .ok()
            .and_then(|i| records.get(i))
            .filter(|r| r.seq == e.head_seq)
            .map(|r| r.hash)
            .ok_or("the head it signed is not in the ledger")?
    };
    if chain_hash.to_hex() != e.head_hash {
        return Err(format!(
            "key {key} signed the ledger as it stood at event {} (sha256 {}…), but event {} now hashes to {}…: events 1..{} were rewritten after this check",
            e.head_seq,
            e.head_hash.get(..16).unwrap_or(e.head_hash),
            e.head_seq,
            &chain_hash.to_hex()[..16],
            e.head_seq
        ));
    }
    if e.nonce.len() != NONCE_LEN {
        return Err("the nonce is not 32 bytes".into());
    }
    let expected = client_data_json(
        &challenge(e.head_seq, &chain_hash, e.nonce),
        e.head_seq,
        &chain_hash,
    );
    if e.client_data_json != expected.as_slice() {
        return Err(
            "the clientDataJSON is not the witness challenge over the head it names".into(),
        );
    }
    let hash: [u8; 32] = Sha256::digest(e.client_data_json).into();
    let facts = attestation::verify_assertion(&k.cose_public_key, e.authenticator_data, &hash, e.signature)
        .map_err(|err| {
            format!("key {key}'s signature does not verify against the public key the ledger records for it ({err}): the enrolled public key or the evidence was changed")
        })?;
    if !facts.rp_id_matches(&k.rp_id) {
        return Err(format!("the assertion is not for {}", k.rp_id));
    }
    if !facts.user_present {
        return Err("the assertion was made without user presence".into());
    }
    // The check result recorded next to the evidence must agree with it.
    let counter = records[..index].iter().rev().find_map(|r| match &r.event {
        Event::LivenessChecked {
            key: k2, counter, ..
        } if k2 == key => Some((r.seq, *counter)),
        _ => None,
    });
    match counter {
        Some((_, Some(c))) if c == facts.sign_count => Ok(()),
        Some((s, c)) => Err(format!(
            "event {s} records counter {} for key {key}, but the key signed counter {}",
            c.map_or("none".into(), |c| c.to_string()),
            facts.sign_count
        )),
        None => Err("no liveness check of this key precedes its evidence".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_domain_separated_and_bind_head_and_nonce() {
        let h = Hash([7; 32]);
        let a = challenge(5, &h, &[1; 32]);
        assert_ne!(a, challenge(6, &h, &[1; 32]));
        assert_ne!(a, challenge(5, &Hash([8; 32]), &[1; 32]));
        assert_ne!(a, challenge(5, &h, &[2; 32]));
        let mut plain = Sha256::new();
        plain.update(5u64.to_be_bytes());
        plain.update([7; 32]);
        plain.update([1; 32]);
        assert_ne!(a, <[u8; 32]>::from(plain.finalize()));
    }

    #[test]
    fn the_client_data_is_nothing_entra_accepts() {
        let r = WitnessRequest::new(3, Hash([1; 32]), [2; 32]);
        let v: serde_json::Value = serde_json::from_slice(&r.client_data_json).unwrap();
        assert_ne!(v["type"], "webauthn.get");
        assert_ne!(v["type"], "webauthn.create");
        assert!(!v["origin"].as_str().unwrap().starts_with("https://"));
        assert_eq!(
            r.client_data_hash,
            <[u8; 32]>::from(Sha256::digest(&r.client_data_json))
        );
    }
}
