//! Small CBOR helpers for the device side: reading request maps with typed
//! errors (a malformed request becomes a CTAP status, never a panic) and
//! writing responses in CTAP2 canonical order.

use ciborium::Value;

use crate::ctap::Status;

pub type CtapResult<T> = Result<T, Status>;

/// Decode one request parameter map. The bytes are measured first with the
/// byte-exact walker, so a header claiming a huge length is refused before any
/// allocation, and trailing bytes are an error.
pub fn decode_map(bytes: &[u8]) -> CtapResult<Vec<(Value, Value)>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let len = crate::webauthn::cbor_raw::item_len(bytes).map_err(|_| Status::InvalidCbor)?;
    if len != bytes.len() {
        return Err(Status::InvalidCbor);
    }
    let value: Value = ciborium::de::from_reader(bytes).map_err(|_| Status::InvalidCbor)?;
    match value {
        Value::Map(m) => Ok(m),
        _ => Err(Status::CborUnexpectedType),
    }
}

/// Look up an integer key.
pub fn get(map: &[(Value, Value)], key: i64) -> Option<&Value> {
    map.iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
        .map(|(_, v)| v)
}

/// Look up a text key.
pub fn get_text<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

pub fn as_bytes(v: &Value) -> CtapResult<&[u8]> {
    v.as_bytes()
        .map(|b| b.as_slice())
        .ok_or(Status::CborUnexpectedType)
}

pub fn as_text(v: &Value) -> CtapResult<&str> {
    v.as_text().ok_or(Status::CborUnexpectedType)
}

pub fn as_map(v: &Value) -> CtapResult<&[(Value, Value)]> {
    v.as_map()
        .map(|m| m.as_slice())
        .ok_or(Status::CborUnexpectedType)
}

pub fn as_array(v: &Value) -> CtapResult<&[Value]> {
    v.as_array()
        .map(|a| a.as_slice())
        .ok_or(Status::CborUnexpectedType)
}

pub fn as_u64(v: &Value) -> CtapResult<u64> {
    v.as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(Status::CborUnexpectedType)
}

pub fn as_i64(v: &Value) -> CtapResult<i64> {
    v.as_integer()
        .and_then(|i| i64::try_from(i).ok())
        .ok_or(Status::CborUnexpectedType)
}

pub fn as_bool(v: &Value) -> CtapResult<bool> {
    v.as_bool().ok_or(Status::CborUnexpectedType)
}

/// A required parameter.
pub fn need(map: &[(Value, Value)], key: i64) -> CtapResult<&Value> {
    get(map, key).ok_or(Status::MissingParameter)
}

pub fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// Encode with every map in CTAP2 canonical order (shorter encoded keys
/// first, then bytewise), which orders integers before negatives and text keys
/// by length — what strict platforms expect.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&canonical(value.clone()), &mut out);
    out
}

fn canonical(value: Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut keyed: Vec<(Vec<u8>, Value, Value)> = entries
                .into_iter()
                .map(|(k, v)| {
                    let mut kb = Vec::new();
                    let _ = ciborium::ser::into_writer(&k, &mut kb);
                    (kb, k, canonical(v))
                })
                .collect();
            keyed.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A successful response: status 0 followed by the encoded map (or nothing).
pub fn ok_response(body: Option<Value>) -> Vec<u8> {
    let mut out = vec![Status::Ok.code()];
    if let Some(v) = body {
        out.extend_from_slice(&encode(&v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_orders_ints_then_negatives_and_text_by_length() {
        let v = Value::Map(vec![
            (int(-1), int(0)),
            (text("hmac-secret"), int(0)),
            (int(3), int(0)),
            (text("up"), int(0)),
            (int(1), int(0)),
        ]);
        let enc = encode(&v);
        let back: Value = ciborium::de::from_reader(enc.as_slice()).unwrap();
        let keys: Vec<String> = back
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| format!("{k:?}"))
            .collect();
        assert_eq!(
            keys,
            vec![
                format!("{:?}", int(1)),
                format!("{:?}", int(3)),
                format!("{:?}", int(-1)),
                format!("{:?}", text("up")),
                format!("{:?}", text("hmac-secret")),
            ]
        );
    }

    #[test]
    fn malformed_requests_are_typed_errors() {
        assert_eq!(decode_map(&[0xa1]), Err(Status::InvalidCbor));
        assert_eq!(decode_map(&[0x01]), Err(Status::CborUnexpectedType));
        // a byte string claiming 4 GiB must not allocate
        assert_eq!(
            decode_map(&[0xa1, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff]),
            Err(Status::InvalidCbor)
        );
        assert_eq!(decode_map(&[0xa0, 0x00]), Err(Status::InvalidCbor));
        assert!(decode_map(&[0xa1, 0x01, 0x02]).is_ok());
    }
}
