//! The canonical encoding of one ledger record and its hash (docs/ledger.md).
//!
//! A record is one line of UTF-8 JSON:
//! `{"v":1,"seq":N,"time":"…Z","operators":[…],"prev":"<64 hex>","event":{…},"hash":"<64 hex>"}`.
//! The *body* is the same text without `,"hash":"…"` (so it ends `…}}`); `hash` is the
//! SHA-256 of the body bytes. A line is accepted only if re-encoding its parsed body
//! gives back exactly the same bytes, so every byte of the line is covered by the hash.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::{Event, Timestamp};

/// The record format version written in every line.
pub const RECORD_VERSION: u32 = 1;

/// Longest line accepted (bytes, newline excluded). Bounds memory on hostile files.
pub const MAX_LINE: usize = 64 * 1024;

/// A SHA-256 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev` of the first event.
    pub const GENESIS: Hash = Hash([0; 32]);

    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    pub fn from_hex(s: &str) -> Option<Hash> {
        if s.len() != 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Hash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("not 64 lowercase hex digits"))
    }
}

/// One committed ledger event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub time: Timestamp,
    pub operators: Vec<String>,
    pub prev: Hash,
    pub hash: Hash,
    pub event: Event,
}

/// The hashed part of a line, in canonical field order.
#[derive(Serialize, Deserialize)]
struct Body {
    v: u32,
    seq: u64,
    time: Timestamp,
    operators: Vec<String>,
    prev: Hash,
    event: Event,
}

const HASH_FIELD: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex + `"}`
const HASH_SUFFIX_LEN: usize = HASH_FIELD.len() + 64 + 2;

/// Why a line is not a valid record (before chain checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFault {
    TooLong,
    NoHashField,
    NotJson(String),
    NotCanonical,
    HashMismatch,
}

impl fmt::Display for LineFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineFault::TooLong => write!(f, "the line is longer than {MAX_LINE} bytes"),
            LineFault::NoHashField => f.write_str("the line does not end with its hash field"),
            LineFault::NotJson(e) => write!(f, "the line is not a ledger event ({e})"),
            LineFault::NotCanonical => {
                f.write_str("the line is not in canonical form (bytes were changed)")
            }
            LineFault::HashMismatch => {
                f.write_str("the event's content does not match its hash (bytes were changed)")
            }
        }
    }
}

/// Encode a new record; returns the line (without newline) and the record.
pub fn encode(
    seq: u64,
    time: Timestamp,
    operators: Vec<String>,
    prev: Hash,
    event: Event,
) -> Result<(Vec<u8>, Record), String> {
    let body = Body {
        v: RECORD_VERSION,
        seq,
        time,
        operators,
        prev,
        event,
    };
    let mut line = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let hash = Hash::of(&line);
    line.pop(); // the closing brace of the body object
    line.extend_from_slice(HASH_FIELD);
    line.extend_from_slice(hash.to_hex().as_bytes());
    line.extend_from_slice(b"\"}");
    if line.len() > MAX_LINE {
        return Err(format!(
            "the event encodes to {} bytes, more than {MAX_LINE}",
            line.len()
        ));
    }
    let record = Record {
        seq,
        time,
        operators: body.operators,
        prev,
        hash,
        event: body.event,
    };
    Ok((line, record))
}

/// Decode one line (without its newline), checking canonical form and self-hash.
/// Chain links (seq, prev) are the caller's job.
pub fn decode(line: &[u8]) -> Result<Record, LineFault> {
    if line.len() > MAX_LINE {
        return Err(LineFault::TooLong);
    }
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return Err(LineFault::NoHashField);
    }
    let split = line.len() - HASH_SUFFIX_LEN;
    let suffix = &line[split..];
    if !suffix.starts_with(HASH_FIELD) || !suffix.ends_with(b"\"}") {
        return Err(LineFault::NoHashField);
    }
    let hex = std::str::from_utf8(&suffix[HASH_FIELD.len()..HASH_FIELD.len() + 64])
        .map_err(|_| LineFault::NoHashField)?;
    let stored = Hash::from_hex(hex).ok_or(LineFault::NoHashField)?;
    let mut body_bytes = Vec::with_capacity(split + 1);
    body_bytes.extend_from_slice(&line[..split]);
    body_bytes.push(b'}');
    let body: Body =
        serde_json::from_slice(&body_bytes).map_err(|e| LineFault::NotJson(e.to_string()))?;
    if body.v != RECORD_VERSION {
        return Err(LineFault::NotJson(format!(
            "unknown record version {}",
            body.v
        )));
    }
    let again = serde_json::to_vec(&body).map_err(|e| LineFault::NotJson(e.to_string()))?;
    if again != body_bytes {
        return Err(LineFault::NotCanonical);
    }
    if Hash::of(&body_bytes) != stored {
        return Err(LineFault::HashMismatch);
    }
    Ok(Record {
        seq: body.seq,
        time: body.time,
        operators: body.operators,
        prev: body.prev,
        hash: stored,
        event: body.event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        Event::KeyRetired {
            key: "bg1-vault-A".into(),
            reason: "lost \"quote\" ü".into(),
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let t: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let (line, rec) = encode(7, t, vec!["alice".into()], Hash::GENESIS, sample()).unwrap();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.starts_with("{\"v\":1,\"seq\":7,\"time\":\"2026-01-02T03:04:05Z\""));
        assert!(text.ends_with(&format!(",\"hash\":\"{}\"}}", rec.hash)));
        assert_eq!(decode(&line).unwrap(), rec);
    }

    #[test]
    fn any_change_is_refused() {
        let t: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        let (line, _) = encode(1, t, vec!["alice".into()], Hash::GENESIS, sample()).unwrap();
        // A semantically equal but differently written line is not canonical.
        let spaced = String::from_utf8(line.clone())
            .unwrap()
            .replacen(':', ": ", 1);
        assert_eq!(decode(spaced.as_bytes()), Err(LineFault::NotCanonical));
        let mut changed = line.clone();
        let i = changed.iter().position(|&b| b == b'A').unwrap();
        changed[i] = b'B';
        assert_eq!(decode(&changed), Err(LineFault::HashMismatch));
        assert_eq!(decode(&line[..line.len() - 1]), Err(LineFault::NoHashField));
    }
}
