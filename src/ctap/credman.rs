//! authenticatorCredentialManagement (CTAP 2.1 §6.8), also under the
//! FIDO_2_1_PRE command 0x41: metadata, enumerate RPs and credentials, delete.

use ciborium::Value;
use serde::Serialize;

use super::cbor::{self, bytes, int, map, text, Fields};
use super::command::{CredMgmtSub, CtapCommand};
use super::device::Device;
use super::error::CtapError;
use super::pin::PinToken;
use crate::webauthn::CoseKey;

const NAME: &str = "credentialManagement";
/// Enumerations stop here whatever total the key claims.
const MAX_ITEMS: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CredsMetadata {
    pub existing: u64,
    pub max_remaining: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpEntry {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(with = "hex_bytes")]
    pub rp_id_hash: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialEntry {
    #[serde(with = "hex_bytes")]
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    #[serde(with = "hex_bytes")]
    pub credential_id: Vec<u8>,
    #[serde(skip)]
    pub public_key: Option<CoseKey>,
    pub cred_protect: Option<u64>,
}

impl RpEntry {
    /// Parse an enumerateRPsBegin/GetNextRP answer body; also the total (Begin only).
    pub fn from_response(body: &[u8]) -> Result<(RpEntry, Option<u64>), CtapError> {
        let v = cbor::decode(NAME, body)?;
        let f = Fields::new(NAME, &v)?;
        Ok((rp_entry(&f)?, f.uint(5)?))
    }
}

impl CredentialEntry {
    /// Parse an enumerateCredentialsBegin/GetNextCredential answer body; also the total.
    pub fn from_response(body: &[u8]) -> Result<(CredentialEntry, Option<u64>), CtapError> {
        let v = cbor::decode(NAME, body)?;
        let f = Fields::new(NAME, &v)?;
        Ok((credential_entry(&f)?, f.uint(9)?))
    }
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
    }
}

/// A credentialManagement session: one token, the right command byte.
pub struct CredentialManagement<'a> {
    dev: &'a mut Device,
    token: &'a PinToken,
    command: CtapCommand,
}

impl<'a> CredentialManagement<'a> {
    /// `token` needs the `cm` permission (any token on 2.1-PRE keys).
    pub fn new(dev: &'a mut Device, token: &'a PinToken) -> Result<Self, CtapError> {
        let command = dev
            .info()
            .cred_mgmt_command()
            .ok_or_else(|| CtapError::Unsupported("credential management".into()))?;
        Ok(CredentialManagement {
            dev,
            token,
            command,
        })
    }

    fn call(
        &mut self,
        sub: CredMgmtSub,
        params: Option<Value>,
        authenticated: bool,
    ) -> Result<Option<Value>, CtapError> {
        let mut m = vec![(int(1), int(sub as i64))];
        if let Some(p) = &params {
            m.push((int(2), p.clone()));
        }
        if authenticated {
            let mut message = vec![sub as u8];
            if let Some(p) = &params {
                message.extend(cbor::encode(p));
            }
            m.push((int(3), int(i64::from(self.token.protocol().number()))));
            m.push((int(4), bytes(&self.token.authenticate(&message))));
        }
        self.dev.call(NAME, self.command, Some(&map(m)))
    }

    pub fn metadata(&mut self) -> Result<CredsMetadata, CtapError> {
        let v = self
            .call(CredMgmtSub::GetCredsMetadata, None, true)?
            .ok_or_else(|| CtapError::malformed(NAME, "empty metadata answer"))?;
        let f = Fields::new(NAME, &v)?;
        Ok(CredsMetadata {
            existing: f.uint(1)?.ok_or_else(|| f.err("existing count missing"))?,
            max_remaining: f.uint(2)?.ok_or_else(|| f.err("remaining count missing"))?,
        })
    }

    /// Every relying party with discoverable credentials on the key.
    pub fn rps(&mut self) -> Result<Vec<RpEntry>, CtapError> {
        let first = match self.call(CredMgmtSub::EnumerateRpsBegin, None, true) {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(Vec::new()),
            Err(CtapError::Status(super::Status::NoCredentials)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let f = Fields::new(NAME, &first)?;
        let total = f.uint(5)?.unwrap_or(1).min(MAX_ITEMS);
        let mut out = vec![rp_entry(&f)?];
        for _ in 1..total {
            let v = self
                .call(CredMgmtSub::EnumerateRpsGetNextRp, None, false)?
                .ok_or_else(|| CtapError::malformed(NAME, "empty next-RP answer"))?;
            out.push(rp_entry(&Fields::new(NAME, &v)?)?);
        }
        Ok(out)
    }

    /// Every discoverable credential of one RP (by its SHA-256 id hash).
    pub fn credentials(&mut self, rp_id_hash: &[u8]) -> Result<Vec<CredentialEntry>, CtapError> {
        let params = map(vec![(int(1), bytes(rp_id_hash))]);
        let first = match self.call(CredMgmtSub::EnumerateCredentialsBegin, Some(params), true) {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(Vec::new()),
            Err(CtapError::Status(super::Status::NoCredentials)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let f = Fields::new(NAME, &first)?;
        let total = f.uint(9)?.unwrap_or(1).min(MAX_ITEMS);
        let mut out = vec![credential_entry(&f)?];
        for _ in 1..total {
            let v = self
                .call(
                    CredMgmtSub::EnumerateCredentialsGetNextCredential,
                    None,
                    false,
                )?
                .ok_or_else(|| CtapError::malformed(NAME, "empty next-credential answer"))?;
            out.push(credential_entry(&Fields::new(NAME, &v)?)?);
        }
        Ok(out)
    }

    pub fn delete(&mut self, credential_id: &[u8]) -> Result<(), CtapError> {
        let params = map(vec![(
            int(2),
            map(vec![
                (text("id"), bytes(credential_id)),
                (text("type"), text("public-key")),
            ]),
        )]);
        self.call(CredMgmtSub::DeleteCredential, Some(params), true)
            .map(|_| ())
    }
}

fn rp_entry(f: &Fields) -> Result<RpEntry, CtapError> {
    let rp = f.map(3)?.ok_or_else(|| f.err("rp (field 3) missing"))?;
    let hash = f
        .bytes(4)?
        .ok_or_else(|| f.err("rpIDHash (field 4) missing"))?;
    if hash.len() != 32 {
        return Err(f.err("rpIDHash is not 32 bytes"));
    }
    Ok(RpEntry {
        id: cbor::text_key(rp, "id")
            .and_then(Value::as_text)
            .map(str::to_owned),
        name: cbor::text_key(rp, "name")
            .and_then(Value::as_text)
            .map(str::to_owned),
        rp_id_hash: hash.to_vec(),
    })
}

fn credential_entry(f: &Fields) -> Result<CredentialEntry, CtapError> {
    let user = f.map(6)?.ok_or_else(|| f.err("user (field 6) missing"))?;
    let cred = f
        .map(7)?
        .ok_or_else(|| f.err("credentialID (field 7) missing"))?;
    let Some(Value::Bytes(credential_id)) = cbor::text_key(cred, "id") else {
        return Err(f.err("credentialID lacks an id"));
    };
    let Some(Value::Bytes(user_id)) = cbor::text_key(user, "id") else {
        return Err(f.err("user lacks an id"));
    };
    let public_key = f
        .get(8)
        .map(CoseKey::from_value)
        .transpose()
        .map_err(|e| f.err(format!("publicKey: {}", e.why)))?;
    Ok(CredentialEntry {
        user_id: user_id.clone(),
        user_name: cbor::text_key(user, "name")
            .and_then(Value::as_text)
            .map(str::to_owned),
        user_display_name: cbor::text_key(user, "displayName")
            .and_then(Value::as_text)
            .map(str::to_owned),
        credential_id: credential_id.clone(),
        public_key,
        cred_protect: f.uint(10)?,
    })
}
