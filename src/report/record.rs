//! The compact envelope record carried by each QR code on a custody sheet, and the
//! ledger-head marker embedded in every sheet (format in docs/ledger.md).
//!
//! `GK1;S=<seal>;K=<key label>;L=<location>;A=<account>;M=<aaguid>;C=<cred fp>;N=<serial>;H=<seq>:<hash16>`
//! Fields are `;`-separated `X=value`; `%`, `;` and `=` inside values are written
//! `%25`, `%3B`, `%3D`. Optional fields (`A`, `C`, `N`) are omitted when unknown.

use sha2::{Digest, Sha256};

use crate::ledger::{Hash, Head};

pub const RECORD_PREFIX: &str = "GK1";
/// Marker in the PDF Info dictionary: `glasskey-head:<seq>:<64 hex>`.
pub const HEAD_MARKER: &str = "glasskey-head:";

/// What one sealed envelope contains, as printed and as encoded in its QR code.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EnvelopeRecord {
    pub seal: String,
    pub key: String,
    pub location: String,
    pub account: Option<String>,
    pub aaguid: String,
    pub credential_fp: Option<String>,
    pub serial: Option<String>,
    pub head_seq: u64,
    /// First 16 hex digits of the ledger head hash.
    pub head_hash16: String,
}

/// Short fingerprint of a credential id: the first 16 hex digits of its SHA-256.
pub fn credential_fingerprint(credential_id: &[u8]) -> String {
    Sha256::digest(credential_id)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn escape(v: &str) -> String {
    v.replace('%', "%25")
        .replace(';', "%3B")
        .replace('=', "%3D")
}

fn unescape(v: &str) -> String {
    v.replace("%3B", ";")
        .replace("%3D", "=")
        .replace("%25", "%")
}

impl EnvelopeRecord {
    pub fn encode(&self) -> String {
        let mut out = format!(
            "{RECORD_PREFIX};S={};K={};L={}",
            escape(&self.seal),
            escape(&self.key),
            escape(&self.location)
        );
        if let Some(a) = &self.account {
            out += &format!(";A={}", escape(a));
        }
        out += &format!(";M={}", escape(&self.aaguid));
        if let Some(c) = &self.credential_fp {
            out += &format!(";C={}", escape(c));
        }
        if let Some(n) = &self.serial {
            out += &format!(";N={}", escape(n));
        }
        out += &format!(";H={}:{}", self.head_seq, self.head_hash16);
        out
    }

    pub fn decode(text: &str) -> Result<EnvelopeRecord, String> {
        let mut parts = text.trim().split(';');
        if parts.next() != Some(RECORD_PREFIX) {
            return Err(format!(
                "not a glasskey envelope record (must start {RECORD_PREFIX};)"
            ));
        }
        let mut r = EnvelopeRecord::default();
        let mut head = None;
        for part in parts {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("field '{part}' has no '='"))?;
            let v = unescape(v);
            match k {
                "S" => r.seal = v,
                "K" => r.key = v,
                "L" => r.location = v,
                "A" => r.account = Some(v),
                "M" => r.aaguid = v,
                "C" => r.credential_fp = Some(v),
                "N" => r.serial = Some(v),
                "H" => head = Some(v),
                _ => {} // later versions may add fields; readers skip them
            }
        }
        let head = head.ok_or("field H (ledger head) is missing")?;
        let (seq, hash) = head
            .split_once(':')
            .ok_or("field H must be <seq>:<hash16>")?;
        r.head_seq = seq
            .parse()
            .map_err(|_| format!("'{seq}' is not an event number"))?;
        r.head_hash16 = hash.to_string();
        if r.seal.is_empty() || r.key.is_empty() {
            return Err("fields S (seal) and K (key) are required".into());
        }
        Ok(r)
    }
}

/// The marker text for a ledger head.
pub fn head_marker(head: Option<Head>) -> String {
    let h = head.unwrap_or(Head {
        seq: 0,
        hash: Hash::GENESIS,
    });
    format!("{HEAD_MARKER}{}:{}", h.seq, h.hash)
}

/// Find the ledger head glasskey embedded in a sheet's PDF bytes.
pub fn head_in_pdf(pdf: &[u8]) -> Option<Head> {
    let marker = HEAD_MARKER.as_bytes();
    let at = pdf.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let rest = &pdf[at..pdf.len().min(at + 90)];
    let text = std::str::from_utf8(rest.split(|&b| b == b')').next()?).ok()?;
    let (seq, hash) = text.split_once(':')?;
    Some(Head {
        seq: seq.parse().ok()?,
        hash: Hash::from_hex(hash.get(..64)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_awkward_values() {
        let r = EnvelopeRecord {
            seal: "A-100;2".into(),
            key: "bg1=vault%A".into(),
            location: "vault".into(),
            account: Some("bg1@contoso.onmicrosoft.com".into()),
            aaguid: "2fc0579f-8113-47ea-b116-bb5a8db9202a".into(),
            credential_fp: Some(credential_fingerprint(b"cred")),
            serial: None,
            head_seq: 42,
            head_hash16: "0123456789abcdef".into(),
        };
        let text = r.encode();
        assert!(
            text.starts_with("GK1;S=A-100%3B2;K=bg1%3Dvault%25A;"),
            "{text}"
        );
        assert_eq!(EnvelopeRecord::decode(&text).unwrap(), r);
        assert!(EnvelopeRecord::decode("GK2;S=1").is_err());
        assert!(EnvelopeRecord::decode("GK1;S=1;K=k").is_err());
    }

    #[test]
    fn fingerprint_is_16_hex_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(credential_fingerprint(b"abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn head_marker_is_found_in_bytes() {
        let h = Head {
            seq: 7,
            hash: Hash::of(b"x"),
        };
        let pdf = format!("%PDF junk /Identifier ({}) more", head_marker(Some(h)));
        assert_eq!(head_in_pdf(pdf.as_bytes()), Some(h));
        assert_eq!(head_in_pdf(b"%PDF nothing"), None);
    }
}
