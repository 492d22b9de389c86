//! Attestation objects, in both shapes they travel in: the CTAP2 makeCredential
//! response map `{1: fmt, 2: authData, 3: attStmt}` and the WebAuthn
//! attestationObject `{"fmt", "attStmt", "authData"}` that Graph takes.
//! The authenticator data and attestation statement are kept byte-exact.

use ciborium::Value;

use super::{auth_data::AuthenticatorData, cbor_raw, ParseError};

#[derive(Debug, Clone)]
pub struct AttestationObject {
    pub fmt: String,
    /// authData exactly as signed.
    pub auth_data_raw: Vec<u8>,
    pub auth_data: AuthenticatorData,
    /// attStmt exactly as the authenticator encoded it (a CBOR map).
    pub att_stmt_raw: Vec<u8>,
    pub att_stmt: Value,
}

fn err(why: impl Into<String>) -> ParseError {
    ParseError::new("attestation object", why)
}

/// Bound on any attestation object glasskey reads (the largest CTAPHID message is 7609 bytes;
/// files may carry a TPM statement, which is larger, so allow more).
pub const MAX_LEN: usize = 64 * 1024;

enum Field {
    Fmt,
    AuthData,
    AttStmt,
    Other,
}

impl AttestationObject {
    /// Parse either shape. Unknown keys (CTAP's epAtt, largeBlobKey, …) are ignored.
    pub fn parse(bytes: &[u8]) -> Result<AttestationObject, ParseError> {
        if bytes.len() > MAX_LEN {
            return Err(err(format!(
                "{} bytes is larger than any attestation",
                bytes.len()
            )));
        }
        let total = cbor_raw::item_len(bytes)?;
        if total != bytes.len() {
            return Err(err("trailing bytes after the CBOR map"));
        }
        let (mut fmt, mut auth_data_raw, mut att_stmt_raw) = (None, None, None);
        for (key_raw, value_raw) in cbor_raw::map_entries(bytes)? {
            let key: Value = ciborium::de::from_reader(key_raw).map_err(|e| err(e.to_string()))?;
            let field = match (&key, key.as_integer().and_then(|i| i64::try_from(i).ok())) {
                (_, Some(1)) => Field::Fmt,
                (_, Some(2)) => Field::AuthData,
                (_, Some(3)) => Field::AttStmt,
                (Value::Text(t), _) if t == "fmt" => Field::Fmt,
                (Value::Text(t), _) if t == "authData" => Field::AuthData,
                (Value::Text(t), _) if t == "attStmt" => Field::AttStmt,
                _ => Field::Other,
            };
            match field {
                Field::Fmt => {
                    let v: Value =
                        ciborium::de::from_reader(value_raw).map_err(|e| err(e.to_string()))?;
                    fmt = Some(v.into_text().map_err(|_| err("fmt is not text"))?);
                }
                Field::AuthData => {
                    auth_data_raw = Some(cbor_raw::bytes_content(value_raw)?.to_vec())
                }
                Field::AttStmt => att_stmt_raw = Some(value_raw.to_vec()),
                Field::Other => {}
            }
        }
        let fmt = fmt.ok_or_else(|| err("fmt is missing"))?;
        let auth_data_raw = auth_data_raw.ok_or_else(|| err("authData is missing"))?;
        let att_stmt_raw = att_stmt_raw.ok_or_else(|| err("attStmt is missing"))?;
        let att_stmt: Value =
            ciborium::de::from_reader(att_stmt_raw.as_slice()).map_err(|e| err(e.to_string()))?;
        if att_stmt.as_map().is_none() {
            return Err(err("attStmt is not a map"));
        }
        let auth_data = AuthenticatorData::parse(&auth_data_raw)?;
        Ok(AttestationObject {
            fmt,
            auth_data_raw,
            auth_data,
            att_stmt_raw,
            att_stmt,
        })
    }

    /// The WebAuthn attestationObject bytes: `{"fmt", "attStmt", "authData"}` in
    /// CTAP2 canonical key order, with authData and attStmt byte-exact.
    pub fn to_webauthn_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.auth_data_raw.len() + self.att_stmt_raw.len() + 32);
        cbor_raw::encode_head(5, 3, &mut out);
        let text = |s: &str, out: &mut Vec<u8>| {
            cbor_raw::encode_head(3, s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        };
        text("fmt", &mut out);
        text(&self.fmt, &mut out);
        text("attStmt", &mut out);
        out.extend_from_slice(&self.att_stmt_raw);
        text("authData", &mut out);
        cbor_raw::encode_head(2, self.auth_data_raw.len() as u64, &mut out);
        out.extend_from_slice(&self.auth_data_raw);
        out
    }

    fn stmt_field(&self, name: &str) -> Option<&Value> {
        self.att_stmt
            .as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
    }

    /// attStmt.alg (packed).
    pub fn alg(&self) -> Option<i64> {
        self.stmt_field("alg")?
            .as_integer()
            .and_then(|i| i64::try_from(i).ok())
    }

    /// attStmt.sig.
    pub fn sig(&self) -> Option<&[u8]> {
        self.stmt_field("sig")?.as_bytes().map(Vec::as_slice)
    }

    /// attStmt.x5c, leaf first; empty for self attestation. Non-bytes entries are an error.
    pub fn x5c(&self) -> Result<Vec<&[u8]>, ParseError> {
        match self.stmt_field("x5c") {
            None => Ok(vec![]),
            Some(v) => v
                .as_array()
                .ok_or_else(|| err("x5c is not an array"))?
                .iter()
                .map(|c| {
                    c.as_bytes()
                        .map(Vec::as_slice)
                        .ok_or_else(|| err("x5c entry is not bytes"))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_hex(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/vectors/attestation/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let hex = json["attestationObject_hex"].as_str().unwrap();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn real_yubikey_object_round_trips_byte_exact() {
        let bytes = vector_hex("webauthn-rs-packed-yubikey5-nfc.json");
        let obj = AttestationObject::parse(&bytes).unwrap();
        assert_eq!(obj.fmt, "packed");
        assert_eq!(obj.alg(), Some(-7));
        assert_eq!(obj.x5c().unwrap().len(), 1);
        let att = obj.auth_data.attested.as_ref().unwrap();
        assert_eq!(
            att.aaguid.to_string(),
            "2fc0579f-8113-47ea-b116-bb5a8db9202a"
        );
        let again = AttestationObject::parse(&obj.to_webauthn_bytes()).unwrap();
        assert_eq!(again.auth_data_raw, obj.auth_data_raw);
        assert_eq!(again.att_stmt_raw, obj.att_stmt_raw);
    }

    #[test]
    fn truncations_are_typed_errors() {
        let bytes = vector_hex("webauthn-rs-packed-yubikey5-nfc.json");
        for cut in 0..bytes.len() {
            assert!(AttestationObject::parse(&bytes[..cut]).is_err());
        }
    }
}
