//! Credential signing for assertions. Loading a P-256 key from its stored
//! scalar costs a point multiplication (the public key is derived and checked),
//! and the pure-Rust p256 signature is about five times slower than ring's, so
//! assertions sign with ring and keep the last few loaded keys. A cached key is
//! used only while the stored credential still has the same id and private
//! scalar, so reset, deletion and eviction need no invalidation hook.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use zeroize::Zeroizing;

use super::state::StoredCredential;
use crate::ctap::Status;

/// Keys kept loaded. A ceremony touches a handful of credentials; more only costs a reload.
const CAPACITY: usize = 8;

struct Loaded {
    id: Vec<u8>,
    private_key: Zeroizing<Vec<u8>>,
    pair: EcdsaKeyPair,
}

/// The most recently used credential keys, newest first.
pub(super) struct SignerCache {
    loaded: Vec<Loaded>,
    rng: SystemRandom,
}

impl SignerCache {
    pub(super) fn new() -> SignerCache {
        SignerCache {
            loaded: Vec::with_capacity(CAPACITY),
            rng: SystemRandom::new(),
        }
    }

    /// ES256 signature (ASN.1 DER) by `cred` over `parts` concatenated.
    pub(super) fn sign(
        &mut self,
        cred: &StoredCredential,
        parts: &[&[u8]],
    ) -> Result<Vec<u8>, Status> {
        self.load_first(cred)?;
        let pair = &self.loaded.first().ok_or(Status::Other)?.pair;
        let sig = pair
            .sign(&self.rng, &parts.concat())
            .map_err(|_| Status::Other)?;
        Ok(sig.as_ref().to_vec())
    }

    /// Make `cred`'s key the first entry, loading it if needed.
    fn load_first(&mut self, cred: &StoredCredential) -> Result<(), Status> {
        let hit = self
            .loaded
            .iter()
            .position(|l| l.id == cred.id && l.private_key[..] == cred.private_key[..]);
        match hit {
            Some(0) => {}
            Some(i) => {
                let l = self.loaded.remove(i);
                self.loaded.insert(0, l);
            }
            None => {
                let pair = load(&cred.private_key, &self.rng)?;
                self.loaded.truncate(CAPACITY - 1);
                self.loaded.insert(
                    0,
                    Loaded {
                        id: cred.id.clone(),
                        private_key: Zeroizing::new(cred.private_key.clone()),
                        pair,
                    },
                );
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.loaded.len()
    }
}

/// A ring key pair from a stored P-256 scalar (ring wants the public point too).
fn load(private_key: &[u8], rng: &SystemRandom) -> Result<EcdsaKeyPair, Status> {
    let sk = p256::ecdsa::SigningKey::from_slice(private_key).map_err(|_| Status::Other)?;
    let public = sk.verifying_key().to_sec1_point(false);
    EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        private_key,
        public.as_bytes(),
        rng,
    )
    .map_err(|_| Status::Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{DerSignature, SigningKey};
    use p256::elliptic_curve::Generate;

    fn credential(id: u8) -> (StoredCredential, SigningKey) {
        let key = SigningKey::generate_from_rng(&mut rand::rng());
        let cred = StoredCredential {
            id: vec![id; 32],
            rp_id: "example.com".into(),
            rp_name: None,
            user_id: vec![1],
            user_name: None,
            user_display_name: None,
            discoverable: false,
            private_key: key.to_bytes().to_vec(),
            cred_protect: 1,
            cred_random_uv: None,
            cred_random_no_uv: None,
            sign_count: 0,
            created: 0,
        };
        (cred, key)
    }

    fn verifies(key: &SigningKey, message: &[u8], sig: &[u8]) -> bool {
        DerSignature::try_from(sig).is_ok_and(|s| key.verifying_key().verify(message, &s).is_ok())
    }

    #[test]
    fn signatures_verify_with_the_stored_key() {
        let mut cache = SignerCache::new();
        let (cred, key) = credential(1);
        for _ in 0..3 {
            let sig = cache.sign(&cred, &[b"auth data", b"hash"]).unwrap();
            assert!(verifies(&key, b"auth datahash", &sig));
            assert!(!verifies(&key, b"auth data", &sig));
        }
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_replaced_private_key_is_reloaded_not_reused() {
        let mut cache = SignerCache::new();
        let (mut cred, _) = credential(1);
        cache.sign(&cred, &[b"m"]).unwrap();
        let (other, other_key) = credential(1);
        cred.private_key = other.private_key.clone();
        let sig = cache.sign(&cred, &[b"m"]).unwrap();
        assert!(verifies(&other_key, b"m", &sig));
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_signing_correctly() {
        let mut cache = SignerCache::new();
        let creds: Vec<_> = (0..(CAPACITY as u8 + 4)).map(credential).collect();
        for round in 0..2 {
            for (cred, key) in &creds {
                let sig = cache.sign(cred, &[&[round]]).unwrap();
                assert!(verifies(key, &[round], &sig));
                assert!(cache.len() <= CAPACITY);
            }
        }
    }

    #[test]
    fn a_corrupt_private_key_is_an_error_not_a_panic() {
        let mut cache = SignerCache::new();
        let (mut cred, _) = credential(1);
        cred.private_key = vec![0; 32];
        assert_eq!(cache.sign(&cred, &[b"m"]), Err(Status::Other));
        cred.private_key = vec![1; 5];
        assert_eq!(cache.sign(&cred, &[b"m"]), Err(Status::Other));
    }
}
