//! One authenticator over one CTAPHID channel: sends CTAP2 commands, turns
//! statuses into errors, and keeps the getInfo answer every command consults.

use ciborium::Value;

use super::cbor;
use super::command::{ClientPinSub, CtapCommand};
use super::error::CtapError;
use super::info::Info;
use super::status::Status;
use crate::hid::{CancelToken, Channel, HidError, KeepaliveStatus, Transport};

/// Told what the key is doing while a request waits (e.g. to say "touch the key now").
pub type KeepaliveHandler = Box<dyn FnMut(KeepaliveStatus) + Send>;

pub struct Device {
    channel: Channel,
    info: Info,
    on_keepalive: KeepaliveHandler,
}

impl Device {
    /// Allocate a channel and read getInfo.
    pub fn open(transport: Box<dyn Transport>) -> Result<Device, CtapError> {
        Self::from_channel(Channel::open(transport)?)
    }

    pub fn from_channel(mut channel: Channel) -> Result<Device, CtapError> {
        if !channel.info().supports_cbor() {
            return Err(CtapError::Unsupported(
                "CTAP2 (it is a U2F-only key, not FIDO2)".into(),
            ));
        }
        let body = call_on(&mut channel, CtapCommand::GetInfo, None, &mut |_| {})?;
        let info = Info::from_cbor(&body)?;
        // CTAP 2.1 §6.4: without maxMsgSize in getInfo, a request may be at most
        // 1024 bytes.
        channel
            .set_max_request(usize::try_from(info.effective_max_msg_size()).unwrap_or(usize::MAX));
        Ok(Device {
            channel,
            info,
            on_keepalive: Box::new(|_| {}),
        })
    }

    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Re-read getInfo (after setPIN, setMinPINLength or reset the answer changes).
    pub fn refresh_info(&mut self) -> Result<&Info, CtapError> {
        let body = self.call_raw(CtapCommand::GetInfo, None)?;
        self.info = Info::from_cbor(&body)?;
        Ok(&self.info)
    }

    pub fn channel(&mut self) -> &mut Channel {
        &mut self.channel
    }

    pub fn describe(&self) -> String {
        self.channel.describe()
    }

    pub fn set_keepalive_handler(&mut self, handler: KeepaliveHandler) {
        self.on_keepalive = handler;
    }

    pub fn set_cancel_token(&mut self, token: CancelToken) {
        self.channel.set_cancel_token(token);
    }

    /// Send a command; the response body without the status byte (empty when none).
    pub fn call_raw(
        &mut self,
        command: CtapCommand,
        params: Option<&Value>,
    ) -> Result<Vec<u8>, CtapError> {
        call_on(&mut self.channel, command, params, &mut *self.on_keepalive)
    }

    /// Send a command and decode its response map (`None` when the key sent only a status).
    pub fn call(
        &mut self,
        name: &'static str,
        command: CtapCommand,
        params: Option<&Value>,
    ) -> Result<Option<Value>, CtapError> {
        let body = self.call_raw(command, params)?;
        if body.is_empty() {
            return Ok(None);
        }
        cbor::decode(name, &body).map(Some)
    }
}

fn call_on(
    channel: &mut Channel,
    command: CtapCommand,
    params: Option<&Value>,
    on_keepalive: &mut dyn FnMut(KeepaliveStatus),
) -> Result<Vec<u8>, CtapError> {
    let mut request = vec![command as u8];
    if let Some(p) = params {
        request.extend(cbor::encode(p));
    }
    let touch = needs_touch(command, params);
    let mut answer = match channel.cbor_within(&request, touch, on_keepalive) {
        Ok(a) => a,
        Err(HidError::Cancelled) => return Err(CtapError::Status(Status::KeepaliveCancel)),
        Err(e) => return Err(e.into()),
    };
    let Some(&status) = answer.first() else {
        return Err(CtapError::malformed(
            "CTAP2",
            "empty answer without a status byte",
        ));
    };
    match Status::from_byte(status) {
        Status::Ok => {
            answer.remove(0);
            Ok(answer)
        }
        other => Err(CtapError::Status(other)),
    }
}

/// Whether a request may wait for the operator (touch or fingerprint), which
/// decides its deadline: the key's own touch timeout plus a margin, or a short
/// one for requests the key answers by itself however many keepalives it sends.
pub fn needs_touch(command: CtapCommand, params: Option<&Value>) -> bool {
    match command {
        CtapCommand::MakeCredential
        | CtapCommand::GetAssertion
        | CtapCommand::Reset
        | CtapCommand::Selection
        | CtapCommand::BioEnrollment => true,
        // A fingerprint is a touch: getPinUvAuthTokenUsingUvWithPermissions waits for it.
        CtapCommand::ClientPin => {
            sub_command(params) == Some(ClientPinSub::GetPinUvAuthTokenUsingUvWithPermissions as u8)
        }
        CtapCommand::GetInfo
        | CtapCommand::GetNextAssertion
        | CtapCommand::CredentialManagement
        | CtapCommand::CredentialManagementPreview
        | CtapCommand::LargeBlobs
        | CtapCommand::Config => false,
    }
}

/// clientPin's subCommand (key 0x02).
fn sub_command(params: Option<&Value>) -> Option<u8> {
    let Some(Value::Map(entries)) = params else {
        return None;
    };
    entries.iter().find_map(|(k, v)| match (k, v) {
        (Value::Integer(k), Value::Integer(v)) if i128::from(*k) == 2 => {
            u8::try_from(i128::from(*v)).ok()
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin_sub(sub: ClientPinSub) -> Value {
        Value::Map(vec![
            (Value::Integer(1.into()), Value::Integer(2.into())),
            (Value::Integer(2.into()), Value::Integer((sub as u8).into())),
        ])
    }

    #[test]
    fn only_requests_that_wait_for_the_operator_get_the_touch_deadline() {
        for c in [
            CtapCommand::GetInfo,
            CtapCommand::CredentialManagement,
            CtapCommand::CredentialManagementPreview,
            CtapCommand::Config,
        ] {
            assert!(!needs_touch(c, None), "{c:?}");
        }
        for sub in [
            ClientPinSub::GetPinRetries,
            ClientPinSub::GetKeyAgreement,
            ClientPinSub::SetPin,
            ClientPinSub::GetPinUvAuthTokenUsingPinWithPermissions,
        ] {
            assert!(
                !needs_touch(CtapCommand::ClientPin, Some(&pin_sub(sub))),
                "{sub:?}"
            );
        }
        let uv = pin_sub(ClientPinSub::GetPinUvAuthTokenUsingUvWithPermissions);
        assert!(needs_touch(CtapCommand::ClientPin, Some(&uv)));
        for c in [
            CtapCommand::MakeCredential,
            CtapCommand::GetAssertion,
            CtapCommand::Reset,
            CtapCommand::Selection,
        ] {
            assert!(needs_touch(c, None), "{c:?}");
        }
    }
}
