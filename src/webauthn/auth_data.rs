//! Authenticator data (WebAuthn §6.1): rpIdHash, flags, signCount, and the
//! optional attested credential data and extensions.

use ciborium::Value;

use super::{cbor_raw, cose::CoseKey, ParseError};
use crate::aaguid::Aaguid;

/// The flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    pub const UP: u8 = 0x01;
    pub const UV: u8 = 0x04;
    pub const BE: u8 = 0x08;
    pub const BS: u8 = 0x10;
    pub const AT: u8 = 0x40;
    pub const ED: u8 = 0x80;
    pub fn user_present(self) -> bool {
        self.0 & Self::UP != 0
    }
    pub fn user_verified(self) -> bool {
        self.0 & Self::UV != 0
    }
    pub fn backup_eligible(self) -> bool {
        self.0 & Self::BE != 0
    }
    pub fn attested(self) -> bool {
        self.0 & Self::AT != 0
    }
    pub fn extensions(self) -> bool {
        self.0 & Self::ED != 0
    }
}

/// Attested credential data: which model made which credential with which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    pub aaguid: Aaguid,
    pub credential_id: Vec<u8>,
    pub public_key: CoseKey,
    /// The COSE key exactly as the authenticator encoded it.
    pub public_key_cbor: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    pub rp_id_hash: [u8; 32],
    pub flags: Flags,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
    /// Extension outputs (a CBOR map keyed by extension identifier).
    pub extensions: Option<Value>,
}

fn err(why: impl Into<String>) -> ParseError {
    ParseError::new("authenticator data", why)
}

/// Credential ids longer than this are refused (CTAP allows up to 1023).
const MAX_CREDENTIAL_ID: usize = 1023;

impl AuthenticatorData {
    pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData, ParseError> {
        if bytes.len() < 37 {
            return Err(err(format!("{} bytes, at least 37 needed", bytes.len())));
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = Flags(bytes[32]);
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let mut pos = 37;
        let attested = if flags.attested() {
            let fixed = bytes
                .get(pos..pos + 18)
                .ok_or_else(|| err("attested credential data is truncated"))?;
            let aaguid = Aaguid::from_slice(&fixed[..16]).ok_or_else(|| err("aaguid"))?;
            let id_len = usize::from(u16::from_be_bytes([fixed[16], fixed[17]]));
            if id_len > MAX_CREDENTIAL_ID {
                return Err(err(format!("credential id of {id_len} bytes")));
            }
            pos += 18;
            let credential_id = bytes
                .get(pos..pos + id_len)
                .ok_or_else(|| err("credential id is truncated"))?
                .to_vec();
            pos += id_len;
            let key_len = cbor_raw::item_len(&bytes[pos..])
                .map_err(|e| err(format!("credential public key: {}", e.why)))?;
            let public_key_cbor = bytes[pos..pos + key_len].to_vec();
            pos += key_len;
            let public_key = CoseKey::from_cbor(&public_key_cbor)?;
            Some(AttestedCredential {
                aaguid,
                credential_id,
                public_key,
                public_key_cbor,
            })
        } else {
            None
        };
        let extensions = if flags.extensions() {
            let len = cbor_raw::item_len(&bytes[pos..])
                .map_err(|e| err(format!("extensions: {}", e.why)))?;
            let value: Value = ciborium::de::from_reader(&bytes[pos..pos + len])
                .map_err(|e| err(format!("extensions: {e}")))?;
            if value.as_map().is_none() {
                return Err(err("extensions are not a CBOR map"));
            }
            pos += len;
            Some(value)
        } else {
            None
        };
        if pos != bytes.len() {
            return Err(err(format!(
                "{} unexpected trailing bytes",
                bytes.len() - pos
            )));
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
            extensions,
        })
    }

    /// An extension output by its identifier (e.g. "credProtect", "hmac-secret").
    pub fn extension(&self, id: &str) -> Option<&Value> {
        self.extensions
            .as_ref()?
            .as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(id))
            .map(|(_, v)| v)
    }

    /// The credProtect level the authenticator reported, if any.
    pub fn cred_protect(&self) -> Option<u8> {
        self.extension("credProtect")?
            .as_integer()
            .and_then(|i| u8::try_from(i).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webauthn::cose::{CoseKey, ALG_ES256};

    fn sample(ext: bool) -> Vec<u8> {
        let mut d = vec![7u8; 32];
        d.push(Flags::UP | Flags::UV | Flags::AT | if ext { Flags::ED } else { 0 });
        d.extend(5u32.to_be_bytes());
        d.extend([0xaa; 16]);
        d.extend(3u16.to_be_bytes());
        d.extend([1, 2, 3]);
        let key = CoseKey::Ec2 {
            alg: Some(ALG_ES256),
            crv: 1,
            x: vec![9; 32],
            y: vec![8; 32],
        };
        d.extend(key.to_cbor());
        if ext {
            // {"credProtect": 2}
            d.extend([0xa1, 0x6b]);
            d.extend(b"credProtect");
            d.push(0x02);
        }
        d
    }

    #[test]
    fn parses_attested_data_with_extensions() {
        let ad = AuthenticatorData::parse(&sample(true)).unwrap();
        assert!(ad.flags.user_present() && ad.flags.user_verified());
        assert_eq!(ad.sign_count, 5);
        let att = ad.attested.as_ref().unwrap();
        assert_eq!(att.credential_id, [1, 2, 3]);
        assert_eq!(att.aaguid, Aaguid([0xaa; 16]));
        assert_eq!(ad.cred_protect(), Some(2));
    }

    #[test]
    fn rejects_every_truncation_and_trailing_bytes() {
        let full = sample(true);
        for cut in 0..full.len() {
            assert!(
                AuthenticatorData::parse(&full[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = sample(false);
        extra.push(0);
        assert!(AuthenticatorData::parse(&extra).is_err());
    }
}
