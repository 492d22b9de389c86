//! Public keys and signature checks: the three families FIDO attestation uses.
//!
//! ECDSA P-256 / P-384 (authenticator keys, most attestation CAs) and RSA
//! PKCS#1 v1.5 (Yubico's roots). Each key is read from a SubjectPublicKeyInfo,
//! and each signature names its hash explicitly so a caller can never verify
//! with a hash the signer did not use.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384};

use super::AttestError;

/// Smallest RSA modulus accepted, in bits (NIST and FIDO MDS minimum).
const MIN_RSA_BITS: usize = 2048;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// A signature algorithm: key family plus hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    EcdsaSha256,
    EcdsaSha384,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
}

impl SigAlg {
    /// From an X.509 signatureAlgorithm OID (certificate signatures).
    pub fn from_x509_oid(oid: &str) -> Option<SigAlg> {
        match oid {
            "1.2.840.10045.4.3.2" => Some(SigAlg::EcdsaSha256),
            "1.2.840.10045.4.3.3" => Some(SigAlg::EcdsaSha384),
            "1.2.840.113549.1.1.11" => Some(SigAlg::RsaPkcs1Sha256),
            "1.2.840.113549.1.1.12" => Some(SigAlg::RsaPkcs1Sha384),
            _ => None,
        }
    }
}

/// A COSE algorithm identifier glasskey can verify, with the curve it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoseAlg {
    /// -7: ECDSA P-256 with SHA-256.
    Es256,
    /// -35: ECDSA P-384 with SHA-384.
    Es384,
    /// -257: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl CoseAlg {
    pub fn from_cose(alg: i64) -> Option<CoseAlg> {
        match alg {
            -7 => Some(CoseAlg::Es256),
            -35 => Some(CoseAlg::Es384),
            -257 => Some(CoseAlg::Rs256),
            _ => None,
        }
    }

    pub fn sig_alg(self) -> SigAlg {
        match self {
            CoseAlg::Es256 => SigAlg::EcdsaSha256,
            CoseAlg::Es384 => SigAlg::EcdsaSha384,
            CoseAlg::Rs256 => SigAlg::RsaPkcs1Sha256,
        }
    }

    /// Does this algorithm fit that key? (ES256 needs P-256, ES384 P-384, RS256 RSA.)
    pub fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (CoseAlg::Es256, PublicKey::P256(_))
                | (CoseAlg::Es384, PublicKey::P384(_))
                | (CoseAlg::Rs256, PublicKey::Rsa(_))
        )
    }
}

/// Name of a COSE algorithm number, for messages.
pub fn cose_alg_name(alg: i64) -> String {
    match alg {
        -7 => "ES256".into(),
        -8 => "EdDSA".into(),
        -35 => "ES384".into(),
        -36 => "ES512".into(),
        -37 => "PS256".into(),
        -257 => "RS256".into(),
        -65535 => "RS1".into(),
        other => format!("COSE algorithm {other}"),
    }
}

/// A public key glasskey can verify signatures with.
#[derive(Debug, Clone)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    /// The PKCS#1 RSAPublicKey DER (modulus and exponent), as ring verifies with it.
    Rsa(RsaPublicKeyDer),
}

/// An RSA public key as DER `RSAPublicKey` (RFC 8017 A.1.1), with its modulus size.
#[derive(Debug, Clone)]
pub struct RsaPublicKeyDer {
    pkcs1: Vec<u8>,
    bits: usize,
}

impl RsaPublicKeyDer {
    /// Take the RSAPublicKey out of a SubjectPublicKeyInfo and measure its modulus.
    fn from_spki_der(spki_der: &[u8]) -> Result<RsaPublicKeyDer, String> {
        use der::Decode;
        let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| e.to_string())?;
        let pkcs1 = spki
            .subject_public_key
            .as_bytes()
            .ok_or("the RSA key's bit string has unused bits")?;
        let (modulus, exponent) = der::asn1::AnyRef::from_der(pkcs1)
            .and_then(|seq| {
                seq.sequence(|r| {
                    let modulus = der::asn1::UintRef::decode(r)?;
                    let exponent = der::asn1::UintRef::decode(r)?;
                    Ok::<_, der::Error>((modulus, exponent))
                })
            })
            .map_err(|e| format!("not an RSAPublicKey: {e}"))?;
        if exponent.as_bytes().is_empty() {
            return Err("the RSA public exponent is zero".into());
        }
        let m = modulus.as_bytes();
        let bits = match m.first() {
            Some(top) => m.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        };
        Ok(RsaPublicKeyDer {
            pkcs1: pkcs1.to_vec(),
            bits,
        })
    }
}

impl PublicKey {
    /// Read a DER SubjectPublicKeyInfo. `alg_oid` and `curve_oid` come from its
    /// AlgorithmIdentifier (the caller has them decoded already).
    pub fn from_spki_der(
        spki_der: &[u8],
        alg_oid: &str,
        curve_oid: Option<&str>,
    ) -> Result<PublicKey, AttestError> {
        let bad = |e: &dyn std::fmt::Display| {
            AttestError::BadCertificate(format!("unreadable public key: {e}"))
        };
        match (alg_oid, curve_oid) {
            (OID_EC_PUBLIC_KEY, Some(OID_P256)) => {
                p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                    .map(PublicKey::P256)
                    .map_err(|e| bad(&e))
            }
            (OID_EC_PUBLIC_KEY, Some(OID_P384)) => {
                p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                    .map(PublicKey::P384)
                    .map_err(|e| bad(&e))
            }
            (OID_RSA_ENCRYPTION, _) => {
                let key = RsaPublicKeyDer::from_spki_der(spki_der).map_err(|e| bad(&e))?;
                if key.bits < MIN_RSA_BITS {
                    return Err(AttestError::UnsupportedAlgorithm(format!(
                        "RSA key of {} bits is below the {MIN_RSA_BITS}-bit minimum",
                        key.bits
                    )));
                }
                Ok(PublicKey::Rsa(key))
            }
            (OID_EC_PUBLIC_KEY, curve) => Err(AttestError::UnsupportedAlgorithm(format!(
                "elliptic curve {} is not supported (P-256 and P-384 are)",
                curve.unwrap_or("(none named)")
            ))),
            (other, _) => Err(AttestError::UnsupportedAlgorithm(format!(
                "public key algorithm {other} is not supported (EC P-256/P-384 and RSA are)"
            ))),
        }
    }

    /// A P-256 key from raw affine coordinates (a COSE EC2 key).
    pub fn p256_from_xy(x: &[u8], y: &[u8]) -> Result<PublicKey, AttestError> {
        if x.len() != 32 || y.len() != 32 {
            return Err(AttestError::Malformed(
                "a P-256 key needs 32-byte x and y".into(),
            ));
        }
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(x);
        sec1[33..].copy_from_slice(y);
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map(PublicKey::P256)
            .map_err(|_| AttestError::Malformed("the P-256 point is not on the curve".into()))
    }

    /// Short name for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "EC P-256",
            PublicKey::P384(_) => "EC P-384",
            PublicKey::Rsa(_) => "RSA",
        }
    }

    /// Verify `sig` over `msg`. ECDSA signatures are DER (as in X.509 and WebAuthn).
    /// Returns a one-line reason when the signature does not verify.
    pub fn verify(&self, alg: SigAlg, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        match (self, alg) {
            (PublicKey::P256(k), SigAlg::EcdsaSha256 | SigAlg::EcdsaSha384) => {
                let s = p256::ecdsa::Signature::from_der(sig)
                    .map_err(|_| "the ECDSA signature is not valid DER".to_string())?;
                k.verify_prehash(&ec_digest(alg, msg), &s)
                    .map_err(|_| "the ECDSA P-256 signature does not verify".to_string())
            }
            (PublicKey::P384(k), SigAlg::EcdsaSha256 | SigAlg::EcdsaSha384) => {
                let s = p384::ecdsa::Signature::from_der(sig)
                    .map_err(|_| "the ECDSA signature is not valid DER".to_string())?;
                k.verify_prehash(&ec_digest(alg, msg), &s)
                    .map_err(|_| "the ECDSA P-384 signature does not verify".to_string())
            }
            (PublicKey::Rsa(k), SigAlg::RsaPkcs1Sha256) => {
                rsa_verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, k, msg, sig)
            }
            (PublicKey::Rsa(k), SigAlg::RsaPkcs1Sha384) => {
                rsa_verify(&ring::signature::RSA_PKCS1_2048_8192_SHA384, k, msg, sig)
            }
            (key, alg) => Err(format!(
                "a {} key cannot make a {alg:?} signature",
                key.describe()
            )),
        }
    }
}

fn ec_digest(alg: SigAlg, msg: &[u8]) -> Vec<u8> {
    match alg {
        SigAlg::EcdsaSha384 | SigAlg::RsaPkcs1Sha384 => Sha384::digest(msg).to_vec(),
        SigAlg::EcdsaSha256 | SigAlg::RsaPkcs1Sha256 => Sha256::digest(msg).to_vec(),
    }
}

fn rsa_verify(
    alg: &'static ring::signature::RsaParameters,
    key: &RsaPublicKeyDer,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    ring::signature::UnparsedPublicKey::new(alg, &key.pkcs1)
        .verify(msg, sig)
        .map_err(|_| "the RSA PKCS#1 v1.5 signature does not verify".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cose_algs_map_to_their_curves() {
        assert_eq!(CoseAlg::from_cose(-7), Some(CoseAlg::Es256));
        assert_eq!(CoseAlg::from_cose(-8), None, "EdDSA is not verified here");
        assert_eq!(
            CoseAlg::from_cose(-257).map(CoseAlg::sig_alg),
            Some(SigAlg::RsaPkcs1Sha256)
        );
        assert_eq!(cose_alg_name(-8), "EdDSA");
    }

    #[test]
    fn off_curve_point_is_refused() {
        assert!(PublicKey::p256_from_xy(&[1; 32], &[2; 32]).is_err());
        assert!(PublicKey::p256_from_xy(&[1; 31], &[2; 32]).is_err());
    }
}
