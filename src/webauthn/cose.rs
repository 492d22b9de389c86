//! COSE_Key public keys (RFC 9052/9053) as authenticators return them.

use ciborium::Value;

use super::ParseError;

/// COSE algorithm identifiers glasskey meets.
pub const ALG_ES256: i64 = -7;
pub const ALG_EDDSA: i64 = -8;
pub const ALG_ECDH_ES_HKDF_256: i64 = -25;
pub const ALG_ES384: i64 = -35;
pub const ALG_RS256: i64 = -257;

/// A credential or key-agreement public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoseKey {
    /// kty 2: elliptic curve with x and y (P-256 is crv 1).
    Ec2 {
        alg: Option<i64>,
        crv: i64,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// kty 1: octet key pair (Ed25519 is crv 6).
    Okp {
        alg: Option<i64>,
        crv: i64,
        x: Vec<u8>,
    },
    /// kty 3: RSA.
    Rsa {
        alg: Option<i64>,
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

fn err(why: impl Into<String>) -> ParseError {
    ParseError::new("COSE public key", why)
}

fn int_of(v: &Value) -> Option<i64> {
    v.as_integer().and_then(|i| i64::try_from(i).ok())
}

impl CoseKey {
    /// Parse a COSE_Key from its CBOR bytes.
    pub fn from_cbor(bytes: &[u8]) -> Result<CoseKey, ParseError> {
        let value: Value = ciborium::de::from_reader(bytes).map_err(|e| err(e.to_string()))?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<CoseKey, ParseError> {
        let map = value.as_map().ok_or_else(|| err("not a CBOR map"))?;
        let get = |label: i64| {
            map.iter()
                .find(|(k, _)| int_of(k) == Some(label))
                .map(|(_, v)| v)
        };
        let int = |label: i64| get(label).and_then(int_of);
        let bytes = |label: i64, name: &str| {
            get(label)
                .and_then(Value::as_bytes)
                .cloned()
                .ok_or_else(|| err(format!("missing {name}")))
        };
        let kty = int(1).ok_or_else(|| err("missing kty"))?;
        let alg = int(3);
        match kty {
            2 => {
                let crv = int(-1).ok_or_else(|| err("missing crv"))?;
                let (x, y) = (bytes(-2, "x")?, bytes(-3, "y")?);
                let size = match crv {
                    1 => 32,
                    2 => 48,
                    3 => 66,
                    _ => return Err(err(format!("unsupported EC2 curve {crv}"))),
                };
                if x.len() != size || y.len() != size {
                    return Err(err(format!(
                        "coordinates must be {size} bytes for curve {crv}"
                    )));
                }
                Ok(CoseKey::Ec2 { alg, crv, x, y })
            }
            1 => {
                let crv = int(-1).ok_or_else(|| err("missing crv"))?;
                Ok(CoseKey::Okp {
                    alg,
                    crv,
                    x: bytes(-2, "x")?,
                })
            }
            3 => Ok(CoseKey::Rsa {
                alg,
                n: bytes(-1, "n")?,
                e: bytes(-2, "e")?,
            }),
            other => Err(err(format!("unsupported key type {other}"))),
        }
    }

    pub fn alg(&self) -> Option<i64> {
        match self {
            CoseKey::Ec2 { alg, .. } | CoseKey::Okp { alg, .. } | CoseKey::Rsa { alg, .. } => *alg,
        }
    }

    /// Canonical CTAP2 CBOR encoding (keys in canonical order: 1, 3, -1, -2, -3).
    pub fn to_cbor(&self) -> Vec<u8> {
        let i = |n: i64| Value::Integer(n.into());
        let b = |v: &Vec<u8>| Value::Bytes(v.clone());
        let mut entries = Vec::new();
        match self {
            CoseKey::Ec2 { alg, crv, x, y } => {
                entries.push((i(1), i(2)));
                if let Some(a) = alg {
                    entries.push((i(3), i(*a)));
                }
                entries.extend([(i(-1), i(*crv)), (i(-2), b(x)), (i(-3), b(y))]);
            }
            CoseKey::Okp { alg, crv, x } => {
                entries.push((i(1), i(1)));
                if let Some(a) = alg {
                    entries.push((i(3), i(*a)));
                }
                entries.extend([(i(-1), i(*crv)), (i(-2), b(x))]);
            }
            CoseKey::Rsa { alg, n, e } => {
                entries.push((i(1), i(3)));
                if let Some(a) = alg {
                    entries.push((i(3), i(*a)));
                }
                entries.extend([(i(-1), b(n)), (i(-2), b(e))]);
            }
        }
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = ciborium::ser::into_writer(&Value::Map(entries), &mut out);
        out
    }

    /// The uncompressed SEC1 point (0x04 || x || y) of an EC2 key.
    pub fn sec1_uncompressed(&self) -> Option<Vec<u8>> {
        match self {
            CoseKey::Ec2 { x, y, .. } => {
                let mut p = Vec::with_capacity(1 + x.len() + y.len());
                p.push(0x04);
                p.extend_from_slice(x);
                p.extend_from_slice(y);
                Some(p)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_p256_and_rejects_bad_sizes() {
        let key = CoseKey::Ec2 {
            alg: Some(ALG_ES256),
            crv: 1,
            x: vec![1; 32],
            y: vec![2; 32],
        };
        let cbor = key.to_cbor();
        assert_eq!(&cbor[..5], &[0xa5, 0x01, 0x02, 0x03, 0x26]);
        assert_eq!(CoseKey::from_cbor(&cbor).unwrap(), key);
        let short = CoseKey::Ec2 {
            alg: Some(ALG_ES256),
            crv: 1,
            x: vec![1; 31],
            y: vec![2; 32],
        };
        assert!(CoseKey::from_cbor(&short.to_cbor()).is_err());
        assert!(CoseKey::from_cbor(&[0xa0]).is_err());
        assert!(CoseKey::from_cbor(&[0x01]).is_err());
    }
}
