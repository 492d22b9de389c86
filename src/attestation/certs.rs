//! One X.509 certificate as glasskey needs it: the original DER (signatures are
//! over the exact bytes received, never a re-encoding), the decoded fields, and
//! the checks chain building and packed attestation ask of it.

use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::certificate::{CertificateInner, Raw, Version};
use x509_cert::ext::pkix::BasicConstraints;

use super::keys::{PublicKey, SigAlg};
use super::AttestError;

/// Largest certificate accepted (real attestation certificates are under 2 KiB).
pub const MAX_CERT_LEN: usize = 16 * 1024;

/// A parsed certificate plus its original encoding.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: CertificateInner<Raw>,
    /// Byte range of tbsCertificate inside `der`.
    tbs: std::ops::Range<usize>,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cert({})", self.subject())
    }
}

impl Cert {
    pub fn from_der(der: &[u8]) -> Result<Cert, AttestError> {
        if der.len() > MAX_CERT_LEN {
            return Err(AttestError::BadCertificate(format!(
                "certificate of {} bytes is larger than the {MAX_CERT_LEN}-byte limit",
                der.len()
            )));
        }
        // Lenient profile: real vendor certificates carry odd serials and time encodings.
        let cert = CertificateInner::<Raw>::from_der(der).map_err(|e| {
            AttestError::BadCertificate(format!("not a DER X.509 certificate: {e}"))
        })?;
        let tbs = tbs_range(der)
            .ok_or_else(|| AttestError::BadCertificate("certificate framing is not DER".into()))?;
        Ok(Cert {
            der: der.to_vec(),
            cert,
            tbs,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256())
    }

    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    pub fn issuer(&self) -> String {
        self.cert.tbs_certificate().issuer().to_string()
    }

    /// Encoded subject Name, for exact issuer/subject matching. None only if the
    /// decoded name cannot be re-encoded; such a name matches nothing.
    pub fn subject_der(&self) -> Option<Vec<u8>> {
        self.cert.tbs_certificate().subject().to_der().ok()
    }

    pub fn issuer_der(&self) -> Option<Vec<u8>> {
        self.cert.tbs_certificate().issuer().to_der().ok()
    }

    pub fn is_v3(&self) -> bool {
        self.cert.tbs_certificate().version() == Version::V3
    }

    /// First organizationalUnitName of the subject, if readable.
    pub fn subject_ou(&self) -> Option<String> {
        self.cert
            .tbs_certificate()
            .subject()
            .organization_unit()
            .ok()
            .flatten()
            .map(String::from)
    }

    /// basicConstraints: None when absent, Err when present twice or unreadable.
    pub fn basic_constraints(&self) -> Result<Option<BasicConstraints>, AttestError> {
        self.cert
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
            .map(|o| o.map(|(_, bc)| bc))
            .map_err(|e| {
                AttestError::BadCertificate(format!(
                    "unreadable basicConstraints in '{}': {e}",
                    self.subject()
                ))
            })
    }

    /// An extension by OID: (critical, extnValue contents). Err if it appears twice.
    pub fn extension(&self, oid: &str) -> Result<Option<(bool, Vec<u8>)>, AttestError> {
        let mut found = None;
        for ext in self
            .cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
        {
            if ext.extn_id.to_string() == oid {
                if found.is_some() {
                    return Err(AttestError::BadCertificate(format!(
                        "extension {oid} appears twice"
                    )));
                }
                found = Some((ext.critical, ext.extn_value.as_bytes().to_vec()));
            }
        }
        Ok(found)
    }

    /// Is `now` inside notBefore..=notAfter?
    pub fn valid_at(&self, now: SystemTime) -> bool {
        let v = self.cert.tbs_certificate().validity();
        let t = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        v.not_before.to_unix_duration() <= t && t <= v.not_after.to_unix_duration()
    }

    pub fn validity_text(&self) -> String {
        let v = self.cert.tbs_certificate().validity();
        format!("{} .. {}", v.not_before, v.not_after)
    }

    pub fn public_key(&self) -> Result<PublicKey, AttestError> {
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let alg = spki.algorithm.oid.to_string();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok())
            .map(|o| o.to_string());
        let der = spki.to_der().map_err(|e| {
            AttestError::BadCertificate(format!("public key could not be re-encoded: {e}"))
        })?;
        PublicKey::from_spki_der(&der, &alg, curve.as_deref())
    }

    /// Does `issuer_key` verify this certificate's signature?
    pub fn verify_signed_by(&self, issuer_key: &PublicKey) -> Result<(), String> {
        // RFC 5280 §4.1.1.2: the unsigned outer algorithm must equal the signed inner one,
        // or a tampered outer field (e.g. its parameters) would go unnoticed.
        if self.cert.signature_algorithm() != self.cert.tbs_certificate().signature() {
            return Err(
                "certificate signatureAlgorithm differs from its tbsCertificate.signature".into(),
            );
        }
        let oid = self.cert.signature_algorithm().oid.to_string();
        let alg = SigAlg::from_x509_oid(&oid)
            .ok_or_else(|| format!("certificate signature algorithm {oid} is not supported"))?;
        let sig =
            self.cert.signature().as_bytes().ok_or_else(|| {
                "certificate signature is not a whole number of bytes".to_string()
            })?;
        issuer_key.verify(alg, &self.der[self.tbs.clone()], sig)
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where tbsCertificate sits in a Certificate's DER: the first element of the
/// outer SEQUENCE, taken byte for byte.
fn tbs_range(der: &[u8]) -> Option<std::ops::Range<usize>> {
    let (outer_hdr, outer_len) = tlv_header(der)?;
    if der.first() != Some(&0x30) || outer_hdr + outer_len != der.len() {
        return None;
    }
    let inner = &der[outer_hdr..];
    let (hdr, len) = tlv_header(inner)?;
    if inner.first() != Some(&0x30) || hdr + len > inner.len() {
        return None;
    }
    Some(outer_hdr..outer_hdr + hdr + len)
}

/// (header length, content length) of the DER TLV at the start of `b`.
fn tlv_header(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || b.len() < 2 + n {
        return None;
    }
    let len = b[2..2 + n]
        .iter()
        .fold(0usize, |acc, x| (acc << 8) | *x as usize);
    Some((2 + n, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_framing_is_bounded() {
        assert_eq!(tlv_header(&[0x30, 0x03, 1, 2, 3]), Some((2, 3)));
        assert_eq!(tlv_header(&[0x30, 0x82, 0x01, 0x00]), Some((4, 256)));
        assert_eq!(tlv_header(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv_header(&[0x30]), None);
        assert_eq!(tbs_range(&[0x30, 0x05, 0x30, 0x09, 0, 0, 0]), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Cert::from_der(&[]).is_err());
        assert!(Cert::from_der(&[0x30, 0x82, 0xff, 0xff]).is_err());
        assert!(Cert::from_der(&vec![0u8; MAX_CERT_LEN + 1]).is_err());
    }
}
