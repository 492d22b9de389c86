//! PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7): the ECDH key
//! agreement, the KDFs, encrypt/decrypt and authenticate. Both the host side
//! (ctap client) and the device side (virtual key) use this; the independent
//! judges (python-fido2, libfido2, the peers) keep a shared mistake from hiding.

use aes::cipher::{block_padding::NoPadding, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use hmac::{KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::elliptic_curve::Generate;
use rand::Rng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::webauthn::cose::{CoseKey, ALG_ECDH_ES_HKDF_256};

type HmacSha256 = hmac::Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PinProtocol {
    V1,
    V2,
}

/// Why a PIN protocol operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinProtocolError {
    /// The peer's key-agreement key is not a valid P-256 point.
    BadPeerKey(String),
    /// Ciphertext of the wrong length for this protocol.
    BadCiphertext,
}

impl std::fmt::Display for PinProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinProtocolError::BadPeerKey(e) => write!(f, "the key-agreement key is invalid: {e}"),
            PinProtocolError::BadCiphertext => {
                f.write_str("encrypted PIN data has an invalid length")
            }
        }
    }
}

impl std::error::Error for PinProtocolError {}

impl PinProtocol {
    pub fn number(self) -> u8 {
        match self {
            PinProtocol::V1 => 1,
            PinProtocol::V2 => 2,
        }
    }

    pub fn from_number(n: u64) -> Option<PinProtocol> {
        match n {
            1 => Some(PinProtocol::V1),
            2 => Some(PinProtocol::V2),
            _ => None,
        }
    }

    /// Derive the shared secret from the ECDH x-coordinate Z.
    pub fn kdf(self, z: &[u8]) -> SharedSecret {
        let bytes = match self {
            PinProtocol::V1 => Zeroizing::new(Sha256::digest(z).to_vec()),
            PinProtocol::V2 => {
                let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), z);
                let mut okm = Zeroizing::new(vec![0u8; 64]);
                // 32-byte outputs are always within HKDF-SHA-256's limit.
                let _ = hk.expand(b"CTAP2 HMAC key", &mut okm[..32]);
                let _ = hk.expand(b"CTAP2 AES key", &mut okm[32..]);
                okm
            }
        };
        SharedSecret {
            protocol: self,
            bytes,
        }
    }

    /// Host side: make an ephemeral key pair, agree with the authenticator's key,
    /// return our public key (to send as keyAgreement) and the shared secret.
    pub fn encapsulate(self, peer: &CoseKey) -> Result<(CoseKey, SharedSecret), PinProtocolError> {
        let ours = KeyAgreementKey::generate();
        let secret = ours.shared_secret(self, peer)?;
        Ok((ours.public_cose(), secret))
    }

    /// authenticate(key, message): HMAC-SHA-256, truncated to 16 bytes in protocol 1.
    /// `key` is a pinUvAuthToken (or, for protocol 1, the shared secret).
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = match <HmacSha256 as KeyInit>::new_from_slice(key) {
            Ok(m) => m,
            // HMAC accepts keys of any length; this arm cannot be reached.
            Err(_) => return Vec::new(),
        };
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        match self {
            PinProtocol::V1 => tag[..16].to_vec(),
            PinProtocol::V2 => tag.to_vec(),
        }
    }

    /// Constant-time check of a pinUvAuthParam.
    pub fn verify(self, key: &[u8], message: &[u8], param: &[u8]) -> bool {
        let expected = self.authenticate(key, message);
        constant_time_eq(&expected, param)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The secret both sides derive; wiped on drop.
pub struct SharedSecret {
    protocol: PinProtocol,
    bytes: Zeroizing<Vec<u8>>,
}

impl SharedSecret {
    pub fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    fn hmac_key(&self) -> &[u8] {
        &self.bytes[..32]
    }

    fn aes_key(&self) -> &[u8] {
        match self.protocol {
            PinProtocol::V1 => &self.bytes[..32],
            PinProtocol::V2 => &self.bytes[32..],
        }
    }

    /// The raw secret (for tests comparing against published vectors).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// AES-256-CBC without padding; protocol 1 uses a zero IV, protocol 2 a random
    /// IV prepended to the ciphertext. `plaintext` must be a multiple of 16 bytes.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut iv = [0u8; 16];
        if self.protocol == PinProtocol::V2 {
            rand::rng().fill_bytes(&mut iv);
        }
        let ct = match cbc::Encryptor::<aes::Aes256>::new_from_slices(self.aes_key(), &iv) {
            Ok(enc) => enc.encrypt_padded_vec::<NoPadding>(plaintext),
            Err(_) => Vec::new(),
        };
        match self.protocol {
            PinProtocol::V1 => ct,
            PinProtocol::V2 => [iv.as_slice(), &ct].concat(),
        }
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, PinProtocolError> {
        let (iv, ct) = match self.protocol {
            PinProtocol::V1 => ([0u8; 16], ciphertext),
            PinProtocol::V2 => {
                if ciphertext.len() < 16 {
                    return Err(PinProtocolError::BadCiphertext);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&ciphertext[..16]);
                (iv, &ciphertext[16..])
            }
        };
        if ct.is_empty() || ct.len() % 16 != 0 {
            return Err(PinProtocolError::BadCiphertext);
        }
        let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(self.aes_key(), &iv)
            .map_err(|_| PinProtocolError::BadCiphertext)?;
        dec.decrypt_padded_vec::<NoPadding>(ct)
            .map(Zeroizing::new)
            .map_err(|_| PinProtocolError::BadCiphertext)
    }

    /// authenticate() keyed with this shared secret (setPIN, changePIN, hmac-secret).
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(self.hmac_key(), message)
    }

    pub fn verify(&self, message: &[u8], param: &[u8]) -> bool {
        self.protocol.verify(self.hmac_key(), message, param)
    }
}

/// A P-256 key-agreement key pair (the host's ephemeral one, or the
/// authenticator's, regenerated each power cycle).
pub struct KeyAgreementKey {
    secret: p256::SecretKey,
}

impl KeyAgreementKey {
    pub fn generate() -> Self {
        KeyAgreementKey {
            secret: p256::SecretKey::generate_from_rng(&mut rand::rng()),
        }
    }

    /// From a raw 32-byte scalar (test vectors).
    pub fn from_scalar(bytes: &[u8]) -> Option<Self> {
        p256::SecretKey::from_slice(bytes)
            .ok()
            .map(|secret| KeyAgreementKey { secret })
    }

    /// The public key as CTAP sends it: COSE EC2, alg ECDH-ES+HKDF-256 (-25).
    pub fn public_cose(&self) -> CoseKey {
        let point = self.secret.public_key().to_sec1_point(false);
        let coord = |c: Option<&_>| -> Vec<u8> {
            c.map(|a: &p256::FieldBytes| a.to_vec()).unwrap_or_default()
        };
        CoseKey::Ec2 {
            alg: Some(ALG_ECDH_ES_HKDF_256),
            crv: 1,
            x: coord(point.x()),
            y: coord(point.y()),
        }
    }

    /// ECDH with the peer's public key, then the protocol's KDF.
    pub fn shared_secret(
        &self,
        protocol: PinProtocol,
        peer: &CoseKey,
    ) -> Result<SharedSecret, PinProtocolError> {
        let sec1 = match peer {
            CoseKey::Ec2 { crv: 1, .. } => peer.sec1_uncompressed(),
            _ => None,
        }
        .ok_or_else(|| PinProtocolError::BadPeerKey("not a P-256 EC2 key".into()))?;
        let peer_key = p256::PublicKey::from_sec1_bytes(&sec1)
            .map_err(|_| PinProtocolError::BadPeerKey("not a point on P-256".into()))?;
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer_key.as_affine());
        let mut z = shared.raw_secret_bytes().to_vec();
        let secret = protocol.kdf(&z);
        z.zeroize();
        Ok(secret)
    }
}

/// LEFT(SHA-256(pin), 16): what clientPin sends (encrypted) instead of the PIN.
pub fn pin_hash(pin: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(Sha256::digest(pin.as_bytes())[..16].to_vec())
}

/// The PIN as setPIN/changePIN carry it: UTF-8, zero-padded to 64 bytes.
/// `None` when the PIN is longer than 63 bytes (CTAP's limit).
pub fn padded_pin(pin: &str) -> Option<Zeroizing<Vec<u8>>> {
    let bytes = pin.as_bytes();
    if bytes.len() > 63 {
        return None;
    }
    let mut padded = Zeroizing::new(vec![0u8; 64]);
    padded[..bytes.len()].copy_from_slice(bytes);
    Some(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn vector(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/vectors/pin_protocol/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn peer(v: &serde_json::Value) -> CoseKey {
        CoseKey::Ec2 {
            alg: Some(ALG_ECDH_ES_HKDF_256),
            crv: 1,
            x: hex(v["authenticator_keyAgreement_x"].as_str().unwrap()),
            y: hex(v["authenticator_keyAgreement_y"].as_str().unwrap()),
        }
    }

    #[test]
    fn protocol_one_matches_python_fido2_vectors() {
        let v = vector("python-fido2-pin-protocol-v1.json");
        let ours =
            KeyAgreementKey::from_scalar(&hex(v["platform_private_scalar_hex"].as_str().unwrap()))
                .unwrap();
        let CoseKey::Ec2 { x, y, .. } = ours.public_cose() else {
            panic!()
        };
        assert_eq!(x, hex(v["platform_public_x"].as_str().unwrap()));
        assert_eq!(y, hex(v["platform_public_y"].as_str().unwrap()));
        let ss = ours.shared_secret(PinProtocol::V1, &peer(&v)).unwrap();
        assert_eq!(ss.as_bytes(), hex(v["sharedSecret"].as_str().unwrap()));
        let token = ss
            .decrypt(&hex(v["pinTokenEnc"].as_str().unwrap()))
            .unwrap();
        assert_eq!(*token, hex(v["pinToken"].as_str().unwrap()));
        assert_eq!(
            ss.encrypt(&pin_hash("1234")),
            hex(v["pinHashEnc"].as_str().unwrap())
        );
        let new_pin_enc = ss.encrypt(&padded_pin("1234").unwrap());
        assert_eq!(new_pin_enc, hex(v["setPin"]["newPinEnc"].as_str().unwrap()));
        assert_eq!(
            ss.authenticate(&new_pin_enc),
            hex(v["setPin"]["pinUvAuthParam"].as_str().unwrap())
        );
        let change_enc = hex(v["changePin"]["newPinEnc"].as_str().unwrap());
        let msg = [
            change_enc.as_slice(),
            &hex(v["changePin"]["pinHashEnc"].as_str().unwrap()),
        ]
        .concat();
        assert!(ss.verify(
            &msg,
            &hex(v["changePin"]["pinUvAuthParam"].as_str().unwrap())
        ));
        assert!(!ss.verify(
            &msg[1..],
            &hex(v["changePin"]["pinUvAuthParam"].as_str().unwrap())
        ));
    }

    #[test]
    fn protocol_two_matches_webauthn_rs_vectors_and_round_trips() {
        let v = vector("webauthn-rs-pin-protocol-v2.json");
        let ours =
            KeyAgreementKey::from_scalar(&hex(v["platform_private_scalar_hex"].as_str().unwrap()))
                .unwrap();
        let ss = ours.shared_secret(PinProtocol::V2, &peer(&v)).unwrap();
        assert_eq!(
            ss.as_bytes(),
            hex(v["sharedSecret_v2_hmacKey||aesKey"].as_str().unwrap())
        );
        assert_eq!(
            ss.authenticate(&[0xff; 64]),
            hex(v["authenticate_v2(0xff*64)"].as_str().unwrap())
        );
        let ct = ss.encrypt(&[7u8; 32]);
        assert_eq!(ct.len(), 48);
        assert_eq!(*ss.decrypt(&ct).unwrap(), vec![7u8; 32]);
        assert!(ss.decrypt(&ct[..20]).is_err());
        assert!(ss.decrypt(&[]).is_err());
    }

    #[test]
    fn both_sides_agree_and_bad_points_are_refused() {
        for protocol in [PinProtocol::V1, PinProtocol::V2] {
            let device = KeyAgreementKey::generate();
            let (host_pub, host_ss) = protocol.encapsulate(&device.public_cose()).unwrap();
            let device_ss = device.shared_secret(protocol, &host_pub).unwrap();
            assert_eq!(host_ss.as_bytes(), device_ss.as_bytes());
        }
        let bogus = CoseKey::Ec2 {
            alg: None,
            crv: 1,
            x: vec![1; 32],
            y: vec![1; 32],
        };
        assert!(PinProtocol::V2.encapsulate(&bogus).is_err());
        assert!(padded_pin(&"x".repeat(64)).is_none());
    }
}
