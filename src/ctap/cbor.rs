//! CBOR for CTAP2: requests in CTAP2 canonical form, responses decoded only
//! after a bounds-checked walk so a hostile key cannot make us allocate or
//! recurse without limit, and typed field access that fails with an error.

use ciborium::Value;

use super::error::CtapError;
use crate::hid::packet::MAX_MESSAGE_LEN;
use crate::webauthn::cbor_raw;

/// An integer CBOR value.
pub fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A map from (key, value) pairs; `encode` puts keys in canonical order.
pub fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

/// Encode in CTAP2 canonical form (RFC 7049 §3.9: map keys sorted by the length
/// of their encoding, then bytewise). ciborium keeps insertion order, so we sort.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and canonical() leaves only encodable values.
    let _ = ciborium::ser::into_writer(&canonical(value), &mut out);
    out
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut sorted: Vec<(Vec<u8>, Value, Value)> = entries
                .iter()
                .map(|(k, v)| {
                    let k = canonical(k);
                    let mut key_bytes = Vec::new();
                    let _ = ciborium::ser::into_writer(&k, &mut key_bytes);
                    (key_bytes, k, canonical(v))
                })
                .collect();
            sorted.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            Value::Map(sorted.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Decode one CBOR item that must fill `bytes` exactly.
pub fn decode(command: &'static str, bytes: &[u8]) -> Result<Value, CtapError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(CtapError::malformed(
            command,
            "answer longer than CTAPHID allows",
        ));
    }
    let len = cbor_raw::item_len(bytes).map_err(|e| CtapError::malformed(command, e.why))?;
    if len != bytes.len() {
        return Err(CtapError::malformed(
            command,
            "trailing bytes after the CBOR item",
        ));
    }
    ciborium::de::from_reader(bytes).map_err(|e| CtapError::malformed(command, e.to_string()))
}

/// A response map with integer keys, read field by field.
pub struct Fields<'a> {
    command: &'static str,
    entries: &'a [(Value, Value)],
}

impl<'a> Fields<'a> {
    pub fn new(command: &'static str, value: &'a Value) -> Result<Fields<'a>, CtapError> {
        match value {
            Value::Map(entries) => Ok(Fields { command, entries }),
            _ => Err(CtapError::malformed(command, "answer is not a CBOR map")),
        }
    }

    pub fn err(&self, why: impl Into<String>) -> CtapError {
        CtapError::malformed(self.command, why)
    }

    pub fn get(&self, key: i64) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(k, _)| as_i64(k) == Some(key))
            .map(|(_, v)| v)
    }

    pub fn require(&self, key: i64) -> Result<&'a Value, CtapError> {
        self.get(key)
            .ok_or_else(|| self.err(format!("required field {key} is missing")))
    }

    pub fn bytes(&self, key: i64) -> Result<Option<&'a [u8]>, CtapError> {
        self.get(key)
            .map(|v| match v {
                Value::Bytes(b) => Ok(b.as_slice()),
                _ => Err(self.err(format!("field {key} is not a byte string"))),
            })
            .transpose()
    }

    pub fn uint(&self, key: i64) -> Result<Option<u64>, CtapError> {
        self.get(key)
            .map(|v| {
                as_u64(v).ok_or_else(|| self.err(format!("field {key} is not an unsigned integer")))
            })
            .transpose()
    }

    pub fn bool(&self, key: i64) -> Result<Option<bool>, CtapError> {
        self.get(key)
            .map(|v| match v {
                Value::Bool(b) => Ok(*b),
                _ => Err(self.err(format!("field {key} is not a boolean"))),
            })
            .transpose()
    }

    pub fn text(&self, key: i64) -> Result<Option<&'a str>, CtapError> {
        self.get(key)
            .map(|v| match v {
                Value::Text(t) => Ok(t.as_str()),
                _ => Err(self.err(format!("field {key} is not a text string"))),
            })
            .transpose()
    }

    pub fn array(&self, key: i64) -> Result<Option<&'a [Value]>, CtapError> {
        self.get(key)
            .map(|v| match v {
                Value::Array(a) => Ok(a.as_slice()),
                _ => Err(self.err(format!("field {key} is not an array"))),
            })
            .transpose()
    }

    pub fn map(&self, key: i64) -> Result<Option<&'a [(Value, Value)]>, CtapError> {
        self.get(key)
            .map(|v| match v {
                Value::Map(m) => Ok(m.as_slice()),
                _ => Err(self.err(format!("field {key} is not a map"))),
            })
            .transpose()
    }
}

pub fn as_i64(v: &Value) -> Option<i64> {
    v.as_integer().and_then(|i| i64::try_from(i).ok())
}

pub fn as_u64(v: &Value) -> Option<u64> {
    v.as_integer().and_then(|i| u64::try_from(i).ok())
}

/// Look up a text key in a map (PublicKeyCredential entities, options).
pub fn text_key<'a>(entries: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_canonical_whatever_the_insertion_order() {
        let v = map(vec![
            (text("rk"), Value::Bool(true)),
            (int(-1), int(0)),
            (int(10), int(0)),
            (
                int(2),
                map(vec![(text("name"), text("x")), (text("id"), text("y"))]),
            ),
            (text("up"), Value::Bool(false)),
        ]);
        let bytes = encode(&v);
        // 2 < 10 < -1 (0x20) < "rk" == "up" length, bytewise "rk" < "up"
        let Value::Map(back) = decode("test", &bytes).unwrap() else {
            panic!("not a map")
        };
        let keys: Vec<String> = back.iter().map(|(k, _)| format!("{k:?}")).collect();
        assert_eq!(
            keys,
            vec![
                format!("{:?}", int(2)),
                format!("{:?}", int(10)),
                format!("{:?}", int(-1)),
                format!("{:?}", text("rk")),
                format!("{:?}", text("up")),
            ]
        );
        let Value::Map(inner) = &back[0].1 else {
            panic!()
        };
        assert_eq!(inner[0].0, text("id"));
    }

    #[test]
    fn lying_lengths_and_trailing_bytes_are_rejected() {
        // array claiming 2^32 items in 6 bytes
        assert!(decode("t", &[0x9a, 0xff, 0xff, 0xff, 0xff, 0x00]).is_err());
        // byte string claiming 2^63 bytes
        assert!(decode("t", &[0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode("t", &[0xa0, 0x00]).is_err());
        assert!(decode("t", &[]).is_err());
        assert!(decode("t", &[0xa0]).is_ok());
    }
}
