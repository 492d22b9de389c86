//! authenticatorGetAssertion and getNextAssertion (CTAP 2.1 §6.2, §6.3).

use ciborium::Value;

use super::cbor::{self, bytes, int, map, text, Fields};
use super::command::CtapCommand;
use super::device::Device;
use super::error::CtapError;
use super::pin::PinToken;
use crate::webauthn::AuthenticatorData;

const NAME: &str = "getAssertion";

#[derive(Debug, Clone, Default)]
pub struct GetAssertionRequest {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    /// Empty: discoverable credentials of this RP.
    pub allow_list: Vec<Vec<u8>>,
    /// `Some(false)` asks for no touch (silent probe); `None` leaves the default (true).
    pub up: Option<bool>,
    /// Built-in user verification (fingerprint keys); PIN-based uv goes through the token.
    pub uv: Option<bool>,
}

/// One assertion, with authData kept exactly as signed.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub credential_id: Option<Vec<u8>>,
    pub auth_data_raw: Vec<u8>,
    pub auth_data: AuthenticatorData,
    pub signature: Vec<u8>,
    pub user_id: Option<Vec<u8>>,
    pub user_name: Option<String>,
    pub number_of_credentials: Option<u64>,
}

impl Assertion {
    pub fn parse(body: &[u8]) -> Result<Assertion, CtapError> {
        let value = cbor::decode(NAME, body)?;
        let f = Fields::new(NAME, &value)?;
        let credential_id = match f.map(1)? {
            Some(m) => match cbor::text_key(m, "id") {
                Some(Value::Bytes(id)) => Some(id.clone()),
                _ => return Err(f.err("credential descriptor lacks an id")),
            },
            None => None,
        };
        let auth_data_raw = f
            .bytes(2)?
            .ok_or_else(|| f.err("authData (field 2) missing"))?
            .to_vec();
        let auth_data =
            AuthenticatorData::parse(&auth_data_raw).map_err(|e| f.err(e.to_string()))?;
        let signature = f
            .bytes(3)?
            .ok_or_else(|| f.err("signature (field 3) missing"))?
            .to_vec();
        let (user_id, user_name) = match f.map(4)? {
            Some(m) => (
                cbor::text_key(m, "id").and_then(|v| v.as_bytes().cloned()),
                cbor::text_key(m, "name").and_then(|v| v.as_text().map(str::to_owned)),
            ),
            None => (None, None),
        };
        Ok(Assertion {
            credential_id,
            auth_data_raw,
            auth_data,
            signature,
            user_id,
            user_name,
            number_of_credentials: f.uint(5)?,
        })
    }

    /// The bytes the signature covers: authData || clientDataHash.
    pub fn signed_message(&self, client_data_hash: &[u8; 32]) -> Vec<u8> {
        let mut m = self.auth_data_raw.clone();
        m.extend_from_slice(client_data_hash);
        m
    }
}

impl GetAssertionRequest {
    pub fn to_cbor(&self, token: Option<&PinToken>) -> Value {
        let mut m = vec![
            (int(1), text(&self.rp_id)),
            (int(2), bytes(&self.client_data_hash)),
        ];
        if !self.allow_list.is_empty() {
            m.push((
                int(3),
                Value::Array(
                    self.allow_list
                        .iter()
                        .map(|id| {
                            map(vec![
                                (text("id"), bytes(id)),
                                (text("type"), text("public-key")),
                            ])
                        })
                        .collect(),
                ),
            ));
        }
        let mut options = Vec::new();
        if let Some(up) = self.up {
            options.push((text("up"), Value::Bool(up)));
        }
        if let Some(uv) = self.uv {
            options.push((text("uv"), Value::Bool(uv)));
        }
        if !options.is_empty() {
            m.push((int(5), map(options)));
        }
        if let Some(t) = token {
            m.push((int(6), bytes(&t.authenticate(&self.client_data_hash))));
            m.push((int(7), int(i64::from(t.protocol().number()))));
        }
        map(m)
    }
}

/// Get the first assertion; further ones (discoverable, several accounts) via
/// [`get_next_assertion`] up to `number_of_credentials`.
pub fn get_assertion(
    dev: &mut Device,
    req: &GetAssertionRequest,
    token: Option<&PinToken>,
) -> Result<Assertion, CtapError> {
    let body = dev.call_raw(CtapCommand::GetAssertion, Some(&req.to_cbor(token)))?;
    Assertion::parse(&body)
}

pub fn get_next_assertion(dev: &mut Device) -> Result<Assertion, CtapError> {
    let body = dev.call_raw(CtapCommand::GetNextAssertion, None)?;
    Assertion::parse(&body)
}

/// Every assertion the key offers for the request (bounded by the key's count, at most 64).
pub fn get_all_assertions(
    dev: &mut Device,
    req: &GetAssertionRequest,
    token: Option<&PinToken>,
) -> Result<Vec<Assertion>, CtapError> {
    let first = get_assertion(dev, req, token)?;
    let total = first.number_of_credentials.unwrap_or(1).clamp(1, 64);
    let mut all = vec![first];
    for _ in 1..total {
        all.push(get_next_assertion(dev)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_options_and_token_fields_only_when_asked() {
        let req = GetAssertionRequest {
            rp_id: "login.microsoft.com".into(),
            client_data_hash: [1; 32],
            allow_list: vec![vec![9; 16]],
            up: Some(false),
            uv: None,
        };
        let v = req.to_cbor(None);
        let f = Fields::new("t", &v).unwrap();
        assert!(f.get(3).is_some());
        assert_eq!(f.map(5).unwrap().map(<[_]>::len), Some(1));
        assert!(f.get(6).is_none());
        let bare = GetAssertionRequest::default().to_cbor(None);
        assert!(Fields::new("t", &bare).unwrap().get(5).is_none());
    }
}
