//! authenticatorClientPIN (CTAP 2.1 §6.5): retries, key agreement, setPIN,
//! changePIN and PIN tokens, with PIN/UV auth protocols 1 and 2.

use ciborium::Value;
use zeroize::Zeroizing;

use super::cbor::{self, bytes, int, map, Fields};
use super::command::{ClientPinSub, CtapCommand};
use super::device::Device;
use super::error::CtapError;
use super::pin_protocol::{padded_pin, pin_hash, PinProtocol, SharedSecret};
use super::status::Status;
use crate::secret::Pin;
use crate::webauthn::CoseKey;

const NAME: &str = "clientPin";

/// A pinUvAuthToken; wiped on drop, never printed.
pub struct PinToken {
    protocol: PinProtocol,
    token: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinToken({:?}, <redacted>)", self.protocol)
    }
}

impl PinToken {
    pub fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// pinUvAuthParam over `message`.
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.token, message)
    }
}

/// The PIN retry counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PinRetries {
    pub retries: u64,
    /// True when the key must be re-plugged before another PIN attempt.
    pub power_cycle_required: Option<bool>,
}

fn request(protocol: Option<PinProtocol>, sub: ClientPinSub, rest: Vec<(Value, Value)>) -> Value {
    let mut entries = Vec::with_capacity(rest.len() + 2);
    if let Some(p) = protocol {
        entries.push((int(1), int(i64::from(p.number()))));
    }
    entries.push((int(2), int(sub as i64)));
    entries.extend(rest);
    map(entries)
}

fn require_pin_support(dev: &Device) -> Result<(), CtapError> {
    match dev.info().pin_set() {
        Some(_) => Ok(()),
        None => Err(CtapError::Unsupported("a PIN (clientPin)".into())),
    }
}

/// getPINRetries.
pub fn get_retries(dev: &mut Device) -> Result<PinRetries, CtapError> {
    require_pin_support(dev)?;
    let protocol = dev.info().preferred_pin_protocol();
    let resp = dev
        .call(
            NAME,
            CtapCommand::ClientPin,
            Some(&request(protocol, ClientPinSub::GetPinRetries, vec![])),
        )?
        .ok_or_else(|| CtapError::malformed(NAME, "empty getPINRetries answer"))?;
    let f = Fields::new(NAME, &resp)?;
    Ok(PinRetries {
        retries: f
            .uint(3)?
            .ok_or_else(|| f.err("pinRetries (field 3) missing"))?,
        power_cycle_required: f.bool(4)?,
    })
}

/// getKeyAgreement, then ECDH: our public key and the shared secret.
pub fn key_agreement(
    dev: &mut Device,
    protocol: PinProtocol,
) -> Result<(CoseKey, SharedSecret), CtapError> {
    let resp = dev
        .call(
            NAME,
            CtapCommand::ClientPin,
            Some(&request(
                Some(protocol),
                ClientPinSub::GetKeyAgreement,
                vec![],
            )),
        )?
        .ok_or_else(|| CtapError::malformed(NAME, "empty getKeyAgreement answer"))?;
    let f = Fields::new(NAME, &resp)?;
    let peer = CoseKey::from_value(f.require(1)?)
        .map_err(|e| f.err(format!("keyAgreement: {}", e.why)))?;
    protocol
        .encapsulate(&peer)
        .map_err(|e| f.err(e.to_string()))
}

fn check_new_pin(dev: &Device, pin: &Pin) -> Result<Zeroizing<Vec<u8>>, CtapError> {
    let min = dev.info().min_pin_len();
    if (pin.len_code_points() as u64) < min {
        return Err(CtapError::PinPolicy(format!(
            "the new PIN is shorter than this key's minimum of {min} characters"
        )));
    }
    padded_pin(pin.expose()).ok_or_else(|| {
        CtapError::PinPolicy("the new PIN is longer than 63 bytes, the most a key accepts".into())
    })
}

fn cose_value(key: &CoseKey) -> Result<Value, CtapError> {
    cbor::decode(NAME, &key.to_cbor())
}

/// setPIN on a key without a PIN.
pub fn set_pin(dev: &mut Device, protocol: PinProtocol, new_pin: &Pin) -> Result<(), CtapError> {
    require_pin_support(dev)?;
    let padded = check_new_pin(dev, new_pin)?;
    let (ours, shared) = key_agreement(dev, protocol)?;
    let new_pin_enc = shared.encrypt(&padded);
    let param = shared.authenticate(&new_pin_enc);
    let req = request(
        Some(protocol),
        ClientPinSub::SetPin,
        vec![
            (int(3), cose_value(&ours)?),
            (int(4), bytes(&param)),
            (int(5), bytes(&new_pin_enc)),
        ],
    );
    pin_call(dev, &req).map(|_| ())
}

/// changePIN: needs the current PIN.
pub fn change_pin(
    dev: &mut Device,
    protocol: PinProtocol,
    current: &Pin,
    new_pin: &Pin,
) -> Result<(), CtapError> {
    require_pin_support(dev)?;
    let padded = check_new_pin(dev, new_pin)?;
    let (ours, shared) = key_agreement(dev, protocol)?;
    let new_pin_enc = shared.encrypt(&padded);
    let pin_hash_enc = shared.encrypt(&pin_hash(current.expose()));
    let mut message = new_pin_enc.clone();
    message.extend_from_slice(&pin_hash_enc);
    let param = shared.authenticate(&message);
    let req = request(
        Some(protocol),
        ClientPinSub::ChangePin,
        vec![
            (int(3), cose_value(&ours)?),
            (int(4), bytes(&param)),
            (int(5), bytes(&new_pin_enc)),
            (int(6), bytes(&pin_hash_enc)),
        ],
    );
    pin_call(dev, &req).map(|_| ())
}

/// getPinToken (CTAP 2.0): a token with the default mc+ga permissions.
pub fn get_pin_token(
    dev: &mut Device,
    protocol: PinProtocol,
    pin: &Pin,
) -> Result<PinToken, CtapError> {
    token_request(dev, protocol, pin, ClientPinSub::GetPinToken, vec![])
}

/// getPinUvAuthTokenUsingPinWithPermissions (CTAP 2.1): a token limited to
/// `permissions` (see `command::permission`) and, for mc/ga, to `rp_id`.
pub fn get_pin_uv_auth_token(
    dev: &mut Device,
    protocol: PinProtocol,
    pin: &Pin,
    permissions: u8,
    rp_id: Option<&str>,
) -> Result<PinToken, CtapError> {
    let mut extra = vec![(int(9), int(i64::from(permissions)))];
    if let Some(rp) = rp_id {
        extra.push((int(10), cbor::text(rp)));
    }
    token_request(
        dev,
        protocol,
        pin,
        ClientPinSub::GetPinUvAuthTokenUsingPinWithPermissions,
        extra,
    )
}

/// How a key hands out a pinUvAuthToken for a set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRoute {
    /// CTAP 2.0: getPinToken, a token good for makeCredential and getAssertion.
    LegacyPin,
    /// CTAP 2.1: getPinUvAuthTokenUsingPinWithPermissions.
    PinWithPermissions,
    /// CTAP 2.1 bio keys: getPinUvAuthTokenUsingUvWithPermissions (a finger on
    /// the sensor), for keys that set `noMcGaPermissionsWithClientPin`.
    BuiltInUv,
}

/// The route for `permissions` on this key (CTAP 2.1 §6.5.5.7 and the
/// `noMcGaPermissionsWithClientPin` option of §6.4).
pub fn token_route(info: &super::Info, permissions: u8) -> Result<TokenRoute, CtapError> {
    use super::command::permission::{GET_ASSERTION, MAKE_CREDENTIAL};
    if info.option("pinUvAuthToken") != Some(true) {
        return Ok(TokenRoute::LegacyPin);
    }
    let mc_ga = permissions & (MAKE_CREDENTIAL | GET_ASSERTION) != 0;
    if mc_ga && info.option("noMcGaPermissionsWithClientPin") == Some(true) {
        return if info.has_builtin_uv() {
            Ok(TokenRoute::BuiltInUv)
        } else {
            Err(CtapError::Unsupported(
                "creating or using credentials with the PIN alone (this key grants them only after its built-in user verification, and no fingerprint is enrolled)".into(),
            ))
        };
    }
    Ok(TokenRoute::PinWithPermissions)
}

/// getPinUvAuthTokenUsingUvWithPermissions (CTAP 2.1 §6.5.5.7.3): the key
/// verifies the user itself (fingerprint) and grants `permissions`.
pub fn get_uv_token(
    dev: &mut Device,
    protocol: PinProtocol,
    permissions: u8,
    rp_id: Option<&str>,
) -> Result<PinToken, CtapError> {
    require_pin_support(dev)?;
    let (ours, shared) = key_agreement(dev, protocol)?;
    let mut rest = vec![
        (int(3), cose_value(&ours)?),
        (int(9), int(i64::from(permissions))),
    ];
    if let Some(rp) = rp_id {
        rest.push((int(10), cbor::text(rp)));
    }
    let req = request(
        Some(protocol),
        ClientPinSub::GetPinUvAuthTokenUsingUvWithPermissions,
        rest,
    );
    let resp = dev
        .call(NAME, CtapCommand::ClientPin, Some(&req))?
        .ok_or_else(|| CtapError::malformed(NAME, "empty token answer"))?;
    decrypt_token(&resp, protocol, &shared)
}

/// The right token call for this key: with permissions when it supports
/// pinUvAuthToken (2.1), the legacy getPinToken otherwise, and built-in user
/// verification where the key refuses mc/ga permissions to a PIN.
pub fn get_token(
    dev: &mut Device,
    pin: &Pin,
    permissions: u8,
    rp_id: Option<&str>,
) -> Result<PinToken, CtapError> {
    let protocol = dev
        .info()
        .preferred_pin_protocol()
        .ok_or_else(|| CtapError::Unsupported("a PIN/UV auth protocol glasskey knows".into()))?;
    match token_route(dev.info(), permissions)? {
        TokenRoute::PinWithPermissions => {
            get_pin_uv_auth_token(dev, protocol, pin, permissions, rp_id)
        }
        TokenRoute::LegacyPin => get_pin_token(dev, protocol, pin),
        TokenRoute::BuiltInUv => get_uv_token(dev, protocol, permissions, rp_id),
    }
}

fn token_request(
    dev: &mut Device,
    protocol: PinProtocol,
    pin: &Pin,
    sub: ClientPinSub,
    extra: Vec<(Value, Value)>,
) -> Result<PinToken, CtapError> {
    require_pin_support(dev)?;
    let (ours, shared) = key_agreement(dev, protocol)?;
    let pin_hash_enc = shared.encrypt(&pin_hash(pin.expose()));
    let mut rest = vec![(int(3), cose_value(&ours)?), (int(6), bytes(&pin_hash_enc))];
    rest.extend(extra);
    let resp = pin_call(dev, &request(Some(protocol), sub, rest))?
        .ok_or_else(|| CtapError::malformed(NAME, "empty token answer"))?;
    decrypt_token(&resp, protocol, &shared)
}

fn decrypt_token(
    resp: &Value,
    protocol: PinProtocol,
    shared: &SharedSecret,
) -> Result<PinToken, CtapError> {
    let f = Fields::new(NAME, resp)?;
    let enc = f
        .bytes(2)?
        .ok_or_else(|| f.err("pinUvAuthToken (field 2) missing"))?;
    let token = shared
        .decrypt(enc)
        .map_err(|e| f.err(format!("pinUvAuthToken: {e}")))?;
    if token.is_empty() {
        return Err(f.err("empty pinUvAuthToken"));
    }
    Ok(PinToken { protocol, token })
}

/// A clientPin call; a wrong PIN becomes `PinInvalid` with the retries left.
fn pin_call(dev: &mut Device, req: &Value) -> Result<Option<Value>, CtapError> {
    match dev.call(NAME, CtapCommand::ClientPin, Some(req)) {
        Err(CtapError::Status(Status::PinInvalid)) => {
            let retries = get_retries(dev).ok().map(|r| r.retries);
            Err(CtapError::PinInvalid { retries })
        }
        other => other,
    }
}
