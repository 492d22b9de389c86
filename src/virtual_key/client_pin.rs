//! authenticatorClientPIN (CTAP 2.1 §6.5) on the device side: key agreement,
//! setPIN, changePIN, tokens, and the retry counters that block a key.

use ciborium::Value;
use zeroize::Zeroizing;

use super::authenticator::{Authenticator, TokenGrant, UserPresence, WRONG_PINS_PER_POWER_UP};
use super::cbor::{self, int, CtapResult};
use super::state::{PinRecord, PIN_RETRIES_MAX};
use crate::ctap::command::{permission, ClientPinSub};
use crate::ctap::pin_protocol::{KeyAgreementKey, PinProtocol, SharedSecret};
use crate::ctap::Status;
use crate::webauthn::cose::CoseKey;

/// Permissions this key can grant (no bio enrollment, no large blobs).
const GRANTABLE: u8 = permission::MAKE_CREDENTIAL
    | permission::GET_ASSERTION
    | permission::CREDENTIAL_MANAGEMENT
    | permission::AUTHENTICATOR_CONFIG;

/// Built-in UV attempts a bio key reports (getUVRetries).
const UV_RETRIES: u8 = 3;

/// Permissions (9) and rpId (10) of a token request with permissions.
fn requested_grant(map: &[(Value, Value)]) -> CtapResult<TokenGrant> {
    let permissions = cbor::as_u64(cbor::need(map, 9)?)?;
    if permissions == 0 || permissions > 0xff {
        return Err(Status::InvalidParameter);
    }
    let permissions = permissions as u8;
    if permissions & !GRANTABLE != 0 {
        return Err(Status::UnauthorizedPermission);
    }
    let rp_id = cbor::get(map, 10)
        .map(cbor::as_text)
        .transpose()?
        .map(str::to_string);
    Ok(TokenGrant { permissions, rp_id })
}

impl Authenticator {
    pub(super) fn client_pin(
        &mut self,
        params: &[u8],
        up: &mut dyn UserPresence,
    ) -> CtapResult<Vec<u8>> {
        let map = cbor::decode_map(params)?;
        let sub = cbor::as_u64(cbor::need(&map, 2)?)?;
        if sub == ClientPinSub::GetUvRetries as u64 && self.profile.builtin_uv() {
            return Ok(cbor::ok_response(Some(Value::Map(vec![(
                int(5),
                int(i64::from(UV_RETRIES)),
            )]))));
        }
        if sub == ClientPinSub::GetPinRetries as u64 {
            return Ok(cbor::ok_response(Some(Value::Map(vec![(
                int(3),
                int(i64::from(self.state.pin_retries)),
            )]))));
        }
        let protocol = self.supported_protocol(cbor::need(&map, 1)?)?;
        match sub {
            s if s == ClientPinSub::GetKeyAgreement as u64 => {
                let cose = self.key_agreement.public_cose().to_cbor();
                let value: Value =
                    ciborium::de::from_reader(cose.as_slice()).map_err(|_| Status::Other)?;
                Ok(cbor::ok_response(Some(Value::Map(vec![(int(1), value)]))))
            }
            s if s == ClientPinSub::SetPin as u64 => self.set_pin(protocol, &map),
            s if s == ClientPinSub::ChangePin as u64 => self.change_pin(protocol, &map),
            s if s == ClientPinSub::GetPinToken as u64 => {
                if cbor::get(&map, 9).is_some() || cbor::get(&map, 10).is_some() {
                    return Err(Status::InvalidParameter);
                }
                // 2.1-PRE keys gate their prototype credMgmt with this token too.
                let pre = !self.profile.ctap21()
                    && self
                        .profile
                        .accepts(crate::ctap::CtapCommand::CredentialManagementPreview);
                let extra = if pre {
                    permission::CREDENTIAL_MANAGEMENT
                } else {
                    0
                };
                let grant = TokenGrant {
                    permissions: permission::MAKE_CREDENTIAL | permission::GET_ASSERTION | extra,
                    rp_id: None,
                };
                self.issue_token(protocol, &map, grant)
            }
            s if s == ClientPinSub::GetPinUvAuthTokenUsingPinWithPermissions as u64
                && self.profile.ctap21() =>
            {
                let grant = requested_grant(&map)?;
                self.issue_token(protocol, &map, grant)
            }
            s if s == ClientPinSub::GetPinUvAuthTokenUsingUvWithPermissions as u64
                && self.profile.builtin_uv() =>
            {
                let grant = requested_grant(&map)?;
                self.issue_uv_token(protocol, &map, grant, up)
            }
            _ => Err(Status::InvalidSubcommand),
        }
    }

    /// ECDH with the platform's key-agreement key (parameter 3).
    fn shared_secret(
        &self,
        protocol: PinProtocol,
        map: &[(Value, Value)],
    ) -> CtapResult<SharedSecret> {
        let peer =
            CoseKey::from_value(cbor::need(map, 3)?).map_err(|_| Status::InvalidParameter)?;
        self.key_agreement
            .shared_secret(protocol, &peer)
            .map_err(|_| Status::InvalidParameter)
    }

    fn set_pin(&mut self, protocol: PinProtocol, map: &[(Value, Value)]) -> CtapResult<Vec<u8>> {
        let auth = cbor::as_bytes(cbor::need(map, 4)?)?;
        let new_pin_enc = cbor::as_bytes(cbor::need(map, 5)?)?;
        let shared = self.shared_secret(protocol, map)?;
        if self.state.pin.is_some() {
            return Err(Status::NotAllowed);
        }
        if !shared.verify(new_pin_enc, auth) {
            return Err(Status::PinAuthInvalid);
        }
        let record = self.new_pin(&shared, new_pin_enc)?;
        self.state.pin = Some(record);
        self.state.pin_retries = PIN_RETRIES_MAX;
        self.dirty = true;
        Ok(cbor::ok_response(None))
    }

    fn change_pin(&mut self, protocol: PinProtocol, map: &[(Value, Value)]) -> CtapResult<Vec<u8>> {
        let auth = cbor::as_bytes(cbor::need(map, 4)?)?;
        let new_pin_enc = cbor::as_bytes(cbor::need(map, 5)?)?;
        let pin_hash_enc = cbor::as_bytes(cbor::need(map, 6)?)?;
        let shared = self.shared_secret(protocol, map)?;
        if self.state.pin.is_none() {
            return Err(Status::PinNotSet);
        }
        self.check_retries()?;
        if !shared.verify(&[new_pin_enc, pin_hash_enc].concat(), auth) {
            return Err(Status::PinAuthInvalid);
        }
        self.check_pin_hash(&shared, pin_hash_enc)?;
        let record = self.new_pin(&shared, new_pin_enc)?;
        let same = self
            .state
            .pin
            .as_ref()
            .is_some_and(|old| old.hash == record.hash);
        if self.state.force_pin_change && same {
            return Err(Status::PinPolicyViolation);
        }
        self.state.pin = Some(record);
        self.state.force_pin_change = false;
        self.rotate_token();
        self.dirty = true;
        Ok(cbor::ok_response(None))
    }

    /// getPinUvAuthTokenUsingUvWithPermissions: the finger (here: the touch)
    /// stands in for the PIN.
    fn issue_uv_token(
        &mut self,
        protocol: PinProtocol,
        map: &[(Value, Value)],
        grant: TokenGrant,
        up: &mut dyn UserPresence,
    ) -> CtapResult<Vec<u8>> {
        let shared = self.shared_secret(protocol, map)?;
        if self.state.pin.is_none() {
            return Err(Status::PinNotSet);
        }
        up.wait_for_touch().map_err(|e| match e {
            Status::KeepaliveCancel => e,
            _ => Status::UvInvalid,
        })?;
        self.rotate_token();
        self.grant = Some(grant);
        let encrypted = shared.encrypt(&self.token);
        Ok(cbor::ok_response(Some(Value::Map(vec![(
            int(2),
            Value::Bytes(encrypted),
        )]))))
    }

    fn issue_token(
        &mut self,
        protocol: PinProtocol,
        map: &[(Value, Value)],
        grant: TokenGrant,
    ) -> CtapResult<Vec<u8>> {
        let pin_hash_enc = cbor::as_bytes(cbor::need(map, 6)?)?;
        let shared = self.shared_secret(protocol, map)?;
        if self.state.pin.is_none() {
            return Err(Status::PinNotSet);
        }
        self.check_retries()?;
        self.check_pin_hash(&shared, pin_hash_enc)?;
        if self.state.force_pin_change {
            return Err(Status::PinPolicyViolation);
        }
        self.rotate_token();
        self.grant = Some(grant);
        let encrypted = shared.encrypt(&self.token);
        Ok(cbor::ok_response(Some(Value::Map(vec![(
            int(2),
            Value::Bytes(encrypted),
        )]))))
    }

    fn check_retries(&self) -> CtapResult<()> {
        if self.state.pin_retries == 0 {
            return Err(Status::PinBlocked);
        }
        if self.wrong_pins_in_a_row >= WRONG_PINS_PER_POWER_UP {
            return Err(Status::PinAuthBlocked);
        }
        Ok(())
    }

    /// Compare the platform's encrypted LEFT(SHA-256(PIN),16) with ours. The
    /// retry counter goes down before the comparison (and is saved), so pulling
    /// the key mid-attempt cannot earn free guesses.
    fn check_pin_hash(&mut self, shared: &SharedSecret, pin_hash_enc: &[u8]) -> CtapResult<()> {
        self.state.pin_retries = self.state.pin_retries.saturating_sub(1);
        self.dirty = true;
        let given = shared
            .decrypt(pin_hash_enc)
            .map_err(|_| Status::InvalidParameter)?;
        let stored = self.state.pin.as_ref().ok_or(Status::PinNotSet)?;
        let matches = given.len() == 16
            && given
                .iter()
                .zip(&stored.hash)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !matches {
            self.key_agreement = KeyAgreementKey::generate();
            self.wrong_pins_in_a_row = self.wrong_pins_in_a_row.saturating_add(1);
            return Err(if self.state.pin_retries == 0 {
                Status::PinBlocked
            } else if self.wrong_pins_in_a_row >= WRONG_PINS_PER_POWER_UP {
                Status::PinAuthBlocked
            } else {
                Status::PinInvalid
            });
        }
        self.state.pin_retries = PIN_RETRIES_MAX;
        self.wrong_pins_in_a_row = 0;
        Ok(())
    }

    /// Decrypt newPinEnc (64 bytes, zero padded) and apply the PIN policy.
    fn new_pin(&self, shared: &SharedSecret, new_pin_enc: &[u8]) -> CtapResult<PinRecord> {
        let padded = shared
            .decrypt(new_pin_enc)
            .map_err(|_| Status::InvalidParameter)?;
        if padded.len() != 64 {
            return Err(Status::InvalidParameter);
        }
        let len = padded.iter().position(|b| *b == 0).unwrap_or(64);
        if len > 63 {
            return Err(Status::PinPolicyViolation);
        }
        let pin = Zeroizing::new(padded[..len].to_vec());
        let code_points = std::str::from_utf8(&pin)
            .map_err(|_| Status::PinPolicyViolation)?
            .chars()
            .count();
        if code_points < usize::from(self.state.min_pin_length) {
            return Err(Status::PinPolicyViolation);
        }
        if let Some(rules) = self
            .profile
            .pin_rules(usize::from(self.state.min_pin_length))
        {
            let text = std::str::from_utf8(&pin).map_err(|_| Status::PinPolicyViolation)?;
            crate::ctap::pin_rules::check(text, &rules).map_err(|_| Status::PinPolicyViolation)?;
        }
        let hash = super::authenticator::sha256(&pin)[..16].to_vec();
        Ok(PinRecord { hash, code_points })
    }
}
