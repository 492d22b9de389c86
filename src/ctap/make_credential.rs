//! authenticatorMakeCredential (CTAP 2.1 §6.1). The key's answer is kept
//! byte-exact: Graph verifies the attestation over the bytes the key signed.

use ciborium::Value;

use super::cbor::{bytes, int, map, text};
use super::command::CtapCommand;
use super::device::Device;
use super::error::CtapError;
use super::pin::PinToken;
use crate::webauthn::{AttestationObject, CoseKey};

const NAME: &str = "makeCredential";

/// A relying party or user entity as WebAuthn names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Vec<u8>,
    pub name: Option<String>,
    pub display_name: Option<String>,
}

/// credProtect policy (CTAP 2.1 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredProtect {
    UserVerificationOptional = 1,
    UserVerificationOptionalWithCredentialIdList = 2,
    UserVerificationRequired = 3,
}

#[derive(Debug, Clone, Default)]
pub struct MakeCredentialRequest {
    pub client_data_hash: [u8; 32],
    pub rp: Option<RelyingParty>,
    pub user: Option<User>,
    /// COSE algorithm ids in preference order (ES256 = -7, RS256 = -257).
    pub algorithms: Vec<i64>,
    /// Credential ids this key must not already hold.
    pub exclude_list: Vec<Vec<u8>>,
    pub resident_key: bool,
    pub cred_protect: Option<CredProtect>,
    pub hmac_secret: bool,
}

/// What the key returned, raw and parsed.
#[derive(Debug, Clone)]
pub struct MakeCredentialResponse {
    /// The CTAP2 response map exactly as the key sent it (without status byte).
    pub raw: Vec<u8>,
    pub attestation: AttestationObject,
    pub credential_id: Vec<u8>,
    pub public_key: CoseKey,
}

impl MakeCredentialResponse {
    /// Parse the response body; every failure is a typed error.
    pub fn parse(raw: &[u8]) -> Result<MakeCredentialResponse, CtapError> {
        let attestation =
            AttestationObject::parse(raw).map_err(|e| CtapError::malformed(NAME, e.to_string()))?;
        let cred =
            attestation.auth_data.attested.as_ref().ok_or_else(|| {
                CtapError::malformed(NAME, "authData carries no attested credential")
            })?;
        Ok(MakeCredentialResponse {
            raw: raw.to_vec(),
            credential_id: cred.credential_id.clone(),
            public_key: cred.public_key.clone(),
            attestation,
        })
    }

    /// The WebAuthn attestationObject (what Graph's fido2Methods takes).
    pub fn attestation_object(&self) -> Vec<u8> {
        self.attestation.to_webauthn_bytes()
    }
}

fn descriptor(id: &[u8]) -> Value {
    map(vec![
        (text("id"), bytes(id)),
        (text("type"), text("public-key")),
    ])
}

impl MakeCredentialRequest {
    /// The CTAP2 parameter map; `token` adds pinUvAuthParam over the clientDataHash.
    pub fn to_cbor(&self, token: Option<&PinToken>) -> Result<Value, CtapError> {
        let rp = self
            .rp
            .as_ref()
            .ok_or_else(|| CtapError::PinPolicy("makeCredential needs a relying party".into()))?;
        let user = self
            .user
            .as_ref()
            .ok_or_else(|| CtapError::PinPolicy("makeCredential needs a user".into()))?;
        let mut rp_map = vec![(text("id"), text(&rp.id))];
        if let Some(n) = &rp.name {
            rp_map.push((text("name"), text(n)));
        }
        let mut user_map = vec![(text("id"), bytes(&user.id))];
        if let Some(n) = &user.name {
            user_map.push((text("name"), text(n)));
        }
        if let Some(n) = &user.display_name {
            user_map.push((text("displayName"), text(n)));
        }
        let algs = if self.algorithms.is_empty() {
            vec![crate::webauthn::cose::ALG_ES256]
        } else {
            self.algorithms.clone()
        };
        let mut m = vec![
            (int(1), bytes(&self.client_data_hash)),
            (int(2), map(rp_map)),
            (int(3), map(user_map)),
            (
                int(4),
                Value::Array(
                    algs.iter()
                        .map(|a| {
                            map(vec![
                                (text("alg"), int(*a)),
                                (text("type"), text("public-key")),
                            ])
                        })
                        .collect(),
                ),
            ),
        ];
        if !self.exclude_list.is_empty() {
            m.push((
                int(5),
                Value::Array(self.exclude_list.iter().map(|id| descriptor(id)).collect()),
            ));
        }
        let mut ext = Vec::new();
        if let Some(cp) = self.cred_protect {
            ext.push((text("credProtect"), int(cp as i64)));
        }
        if self.hmac_secret {
            ext.push((text("hmac-secret"), Value::Bool(true)));
        }
        if !ext.is_empty() {
            m.push((int(6), map(ext)));
        }
        if self.resident_key {
            m.push((int(7), map(vec![(text("rk"), Value::Bool(true))])));
        }
        if let Some(t) = token {
            m.push((int(8), bytes(&t.authenticate(&self.client_data_hash))));
            m.push((int(9), int(i64::from(t.protocol().number()))));
        }
        Ok(map(m))
    }
}

/// Create a credential; with `token` the key verifies the user by PIN (uv).
pub fn make_credential(
    dev: &mut Device,
    req: &MakeCredentialRequest,
    token: Option<&PinToken>,
) -> Result<MakeCredentialResponse, CtapError> {
    let params = req.to_cbor(token)?;
    let raw = dev.call_raw(CtapCommand::MakeCredential, Some(&params))?;
    MakeCredentialResponse::parse(&raw)
}
