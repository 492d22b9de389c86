//! authenticatorConfig (CTAP 2.1 §6.11): setMinPINLength with forceChangePin.

use super::cbor::{self, bytes, int, map, text};
use super::command::{ConfigSub, CtapCommand};
use super::device::Device;
use super::error::CtapError;
use super::pin::PinToken;

const NAME: &str = "authenticatorConfig";

/// Raise the key's minimum PIN length and/or force a PIN change; `rp_ids` may
/// read the minimum in makeCredential (minPinLength extension). Needs an `acfg` token.
pub fn set_min_pin_length(
    dev: &mut Device,
    token: &PinToken,
    new_min_length: Option<u64>,
    rp_ids: &[String],
    force_change_pin: bool,
) -> Result<(), CtapError> {
    if dev.info().option("setMinPINLength") != Some(true) {
        return Err(CtapError::Unsupported("setMinPINLength".into()));
    }
    let mut params = Vec::new();
    if let Some(n) = new_min_length {
        params.push((int(1), int(i64::try_from(n).unwrap_or(i64::MAX))));
    }
    if !rp_ids.is_empty() {
        params.push((
            int(2),
            ciborium::Value::Array(rp_ids.iter().map(|r| text(r)).collect()),
        ));
    }
    if force_change_pin {
        params.push((int(3), ciborium::Value::Bool(true)));
    }
    let params = map(params);
    let sub = ConfigSub::SetMinPinLength as u8;
    // authenticate(token, 32×0xff || 0x0d || subCommand || subCommandParams)
    let mut message = vec![0xff; 32];
    message.push(CtapCommand::Config as u8);
    message.push(sub);
    message.extend(cbor::encode(&params));
    let req = map(vec![
        (int(1), int(i64::from(sub))),
        (int(2), params),
        (int(3), int(i64::from(token.protocol().number()))),
        (int(4), bytes(&token.authenticate(&message))),
    ]);
    dev.call(NAME, CtapCommand::Config, Some(&req)).map(|_| ())
}
