//! authenticatorCredentialManagement (CTAP 2.1 §6.8) and authenticatorConfig
//! setMinPINLength (§6.11.4): the admin side of a key, both gated by a
//! pinUvAuthToken with the matching permission.

use ciborium::Value;

use super::authenticator::{sha256, Authenticator};
use super::cbor::{self, bytes, int, text, CtapResult};
use super::state::StoredCredential;
use crate::ctap::command::{permission, ConfigSub, CredMgmtSub};
use crate::ctap::Status;

const CM_METADATA: u64 = CredMgmtSub::GetCredsMetadata as u64;
const CM_RPS_BEGIN: u64 = CredMgmtSub::EnumerateRpsBegin as u64;
const CM_RPS_NEXT: u64 = CredMgmtSub::EnumerateRpsGetNextRp as u64;
const CM_CREDS_BEGIN: u64 = CredMgmtSub::EnumerateCredentialsBegin as u64;
const CM_CREDS_NEXT: u64 = CredMgmtSub::EnumerateCredentialsGetNextCredential as u64;
const CM_DELETE: u64 = CredMgmtSub::DeleteCredential as u64;
const CM_UPDATE_USER: u64 = CredMgmtSub::UpdateUserInformation as u64;

fn descriptor_id(v: &Value) -> CtapResult<Vec<u8>> {
    let m = cbor::as_map(v)?;
    Ok(cbor::as_bytes(cbor::get_text(m, "id").ok_or(Status::MissingParameter)?)?.to_vec())
}

impl Authenticator {
    /// Verify the token over `message` (subcommand and parameters as the spec builds them).
    fn admin_auth(
        &mut self,
        map: &[(Value, Value)],
        message: &[u8],
        permission: u8,
    ) -> CtapResult<()> {
        let param = cbor::as_bytes(cbor::get(map, 4).ok_or(Status::PuatRequired)?)?;
        let protocol = self.supported_protocol(cbor::need(map, 3)?)?;
        self.verify_token(protocol, message, param, permission, None)
    }

    pub(super) fn cred_mgmt(&mut self, params: &[u8]) -> CtapResult<Vec<u8>> {
        let map = cbor::decode_map(params)?;
        let sub = cbor::as_u64(cbor::need(&map, 1)?)?;
        let sub_params = cbor::get(&map, 2);
        if !matches!(sub, CM_RPS_NEXT | CM_CREDS_NEXT) {
            let mut message = vec![sub as u8];
            if let Some(p) = sub_params {
                message.extend_from_slice(&cbor::encode(p));
            }
            self.admin_auth(&map, &message, permission::CREDENTIAL_MANAGEMENT)?;
        }
        let sub_map = || -> CtapResult<&[(Value, Value)]> {
            cbor::as_map(sub_params.ok_or(Status::MissingParameter)?)
        };
        match sub {
            CM_METADATA => Ok(cbor::ok_response(Some(Value::Map(vec![
                (int(1), int(self.resident_count() as i64)),
                (int(2), int(self.remaining_resident_slots() as i64)),
            ])))),
            CM_RPS_BEGIN => {
                let mut rps: Vec<String> = Vec::new();
                for c in self.state.credentials.iter().filter(|c| c.discoverable) {
                    if !rps.contains(&c.rp_id) {
                        rps.push(c.rp_id.clone());
                    }
                }
                if rps.is_empty() {
                    return Err(Status::NoCredentials);
                }
                let total = rps.len();
                self.pending_rps = rps;
                self.next_rp(Some(total))
            }
            CM_RPS_NEXT => self.next_rp(None),
            CM_CREDS_BEGIN => {
                let hash = cbor::as_bytes(cbor::need(sub_map()?, 1)?)?;
                let mut creds: Vec<&StoredCredential> = self
                    .state
                    .credentials
                    .iter()
                    .filter(|c| c.discoverable && sha256(c.rp_id.as_bytes()) == hash)
                    .collect();
                if creds.is_empty() {
                    return Err(Status::NoCredentials);
                }
                creds.sort_by_key(|c| std::cmp::Reverse(c.created));
                let total = creds.len();
                self.pending_creds = creds.iter().map(|c| c.id.clone()).collect();
                self.next_cred(Some(total))
            }
            CM_CREDS_NEXT => self.next_cred(None),
            CM_DELETE => {
                let id = descriptor_id(cbor::need(sub_map()?, 2)?)?;
                let i = self
                    .state
                    .credentials
                    .iter()
                    .position(|c| c.id == id && c.discoverable)
                    .ok_or(Status::NoCredentials)?;
                self.state.credentials.remove(i);
                self.dirty = true;
                Ok(cbor::ok_response(None))
            }
            CM_UPDATE_USER => {
                let m = sub_map()?;
                let id = descriptor_id(cbor::need(m, 2)?)?;
                let user = cbor::as_map(cbor::need(m, 3)?)?;
                let user_id =
                    cbor::as_bytes(cbor::get_text(user, "id").ok_or(Status::MissingParameter)?)?;
                let name = cbor::get_text(user, "name")
                    .map(cbor::as_text)
                    .transpose()?;
                let display = cbor::get_text(user, "displayName")
                    .map(cbor::as_text)
                    .transpose()?;
                let cred = self
                    .state
                    .credentials
                    .iter_mut()
                    .find(|c| c.id == id && c.discoverable)
                    .ok_or(Status::NoCredentials)?;
                if cred.user_id != user_id {
                    return Err(Status::InvalidParameter);
                }
                cred.user_name = name.map(str::to_string);
                cred.user_display_name = display.map(str::to_string);
                self.dirty = true;
                Ok(cbor::ok_response(None))
            }
            _ => Err(Status::InvalidSubcommand),
        }
    }

    fn next_rp(&mut self, total: Option<usize>) -> CtapResult<Vec<u8>> {
        if self.pending_rps.is_empty() {
            return Err(Status::NotAllowed);
        }
        let rp_id = self.pending_rps.remove(0);
        let name = self
            .state
            .credentials
            .iter()
            .find(|c| c.rp_id == rp_id)
            .and_then(|c| c.rp_name.clone());
        let mut rp = vec![(text("id"), text(&rp_id))];
        if let Some(n) = name {
            rp.push((text("name"), text(&n)));
        }
        let mut body = vec![
            (int(3), Value::Map(rp)),
            (int(4), bytes(&sha256(rp_id.as_bytes()))),
        ];
        if let Some(t) = total {
            body.push((int(5), int(t as i64)));
        }
        Ok(cbor::ok_response(Some(Value::Map(body))))
    }

    fn next_cred(&mut self, total: Option<usize>) -> CtapResult<Vec<u8>> {
        if self.pending_creds.is_empty() {
            return Err(Status::NotAllowed);
        }
        let id = self.pending_creds.remove(0);
        let cred = self.find_credential(&id).ok_or(Status::NoCredentials)?;
        let key =
            p256::ecdsa::SigningKey::from_slice(&cred.private_key).map_err(|_| Status::Other)?;
        let cose = super::credential::cose_public_key(&key);
        let cose: Value = ciborium::de::from_reader(cose.as_slice()).map_err(|_| Status::Other)?;
        let mut user = vec![(text("id"), bytes(&cred.user_id))];
        if let Some(n) = &cred.user_name {
            user.push((text("name"), text(n)));
        }
        if let Some(n) = &cred.user_display_name {
            user.push((text("displayName"), text(n)));
        }
        let mut body = vec![
            (int(6), Value::Map(user)),
            (
                int(7),
                Value::Map(vec![
                    (text("id"), bytes(&cred.id)),
                    (text("type"), text("public-key")),
                ]),
            ),
            (int(8), cose),
        ];
        if let Some(t) = total {
            body.push((int(9), int(t as i64)));
        }
        body.push((int(10), int(i64::from(cred.cred_protect))));
        Ok(cbor::ok_response(Some(Value::Map(body))))
    }

    pub(super) fn config(&mut self, params: &[u8]) -> CtapResult<Vec<u8>> {
        let map = cbor::decode_map(params)?;
        let sub = cbor::as_u64(cbor::need(&map, 1)?)?;
        let sub_params = cbor::get(&map, 2);
        if self.state.pin.is_some() || cbor::get(&map, 4).is_some() {
            let mut message = vec![0xff; 32];
            message.push(crate::ctap::CtapCommand::Config as u8);
            message.push(sub as u8);
            if let Some(p) = sub_params {
                message.extend_from_slice(&cbor::encode(p));
            }
            self.admin_auth(&map, &message, permission::AUTHENTICATOR_CONFIG)?;
        }
        if sub != ConfigSub::SetMinPinLength as u64 {
            return Err(Status::InvalidSubcommand);
        }
        let empty = Vec::new();
        let m = match sub_params {
            Some(p) => cbor::as_map(p)?,
            None => &empty,
        };
        let new_min = match cbor::get(m, 1) {
            Some(v) => u8::try_from(cbor::as_u64(v)?).map_err(|_| Status::PinPolicyViolation)?,
            None => self.state.min_pin_length,
        };
        let rp_ids = match cbor::get(m, 2) {
            Some(v) => cbor::as_array(v)?
                .iter()
                .map(|r| cbor::as_text(r).map(str::to_string))
                .collect::<CtapResult<Vec<_>>>()?,
            None => self.state.min_pin_length_rp_ids.clone(),
        };
        let force = match cbor::get(m, 3) {
            Some(v) => cbor::as_bool(v)?,
            None => false,
        };
        if new_min < self.state.min_pin_length || new_min > 63 {
            return Err(Status::PinPolicyViolation);
        }
        if rp_ids.len() > 8 {
            return Err(Status::LimitExceeded);
        }
        if force && self.state.pin.is_none() {
            return Err(Status::PinNotSet);
        }
        self.state.min_pin_length = new_min;
        self.state.min_pin_length_rp_ids = rp_ids;
        let too_short = self
            .state
            .pin
            .as_ref()
            .is_some_and(|p| p.code_points < usize::from(new_min));
        if force || too_short {
            self.state.force_pin_change = true;
        }
        self.dirty = true;
        Ok(cbor::ok_response(None))
    }
}
