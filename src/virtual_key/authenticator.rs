//! The CTAP2 authenticator: request bytes in, response bytes out. Transport-free
//! so the same logic serves the in-process key, the socket server and the unit
//! tests. Command families live in sibling files (`client_pin`, `credential`,
//! `cred_mgmt`, `config`) as `impl Authenticator` blocks.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ciborium::Value;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use rand::Rng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cbor::{self, bytes, int, text, CtapResult};
use super::model::Model;
use super::profile::Profile;
use super::signer::SignerCache;
use super::state::{KeyState, StoredCredential, PIN_RETRIES_MAX};
use crate::ctap::pin_protocol::{KeyAgreementKey, PinProtocol};
use crate::ctap::{CtapCommand, Status};

/// Reset is allowed only this soon after power-up, as on real keys (YubiKey: 5 s).
pub const RESET_WINDOW: Duration = Duration::from_secs(5);
/// Wrong PINs in a row before the key wants a power cycle.
pub const WRONG_PINS_PER_POWER_UP: u8 = 3;

/// Asks the simulated user for a touch. The CTAPHID layer implements it with
/// keepalives and CANCEL handling; tests implement it directly.
pub trait UserPresence {
    /// Ok when the user touched; Err(UserActionTimeout / KeepaliveCancel) otherwise.
    fn wait_for_touch(&mut self) -> Result<(), Status>;
}

/// A presence source that answers at once (tests, benchmarks).
pub struct Immediate(pub Result<(), Status>);

impl UserPresence for Immediate {
    fn wait_for_touch(&mut self) -> Result<(), Status> {
        self.0
    }
}

/// The current pinUvAuthToken's grant.
pub(super) struct TokenGrant {
    pub permissions: u8,
    pub rp_id: Option<String>,
}

/// Remaining credentials of a getAssertion, for getNextAssertion.
pub(super) struct PendingAssertions {
    pub credentials: Vec<Vec<u8>>,
    pub request: super::credential::AssertionRequest,
    pub started: Instant,
}

pub struct Authenticator {
    pub(super) state: KeyState,
    path: Option<PathBuf>,
    pub(super) model: &'static Model,
    pub(super) profile: Profile,
    pub(super) powered_up: Instant,
    pub(super) attestation_key: SigningKey,
    pub(super) key_agreement: KeyAgreementKey,
    pub(super) token: Zeroizing<Vec<u8>>,
    pub(super) grant: Option<TokenGrant>,
    pub(super) wrong_pins_in_a_row: u8,
    pub(super) pending_assertions: Option<PendingAssertions>,
    pub(super) pending_rps: Vec<String>,
    pub(super) pending_creds: Vec<Vec<u8>>,
    pub(super) dirty: bool,
    pub(super) signers: SignerCache,
}

impl Authenticator {
    /// Power up a key from its state; `path` is where changes are saved (None: memory only).
    /// Signature counters are saved only every `COUNTER_SAVE_EVERY` assertions, so
    /// each power-up skips them ahead by that much: a counter never repeats.
    pub fn new(mut state: KeyState, path: Option<PathBuf>) -> crate::Result<Authenticator> {
        for c in &mut state.credentials {
            c.sign_count = c
                .sign_count
                .saturating_add(super::credential::COUNTER_SAVE_EVERY);
        }
        let attestation_key =
            SigningKey::from_pkcs8_der(&state.attestation.key_pkcs8).map_err(|e| {
                crate::Error::input(
                    format!("the virtual key's attestation key is unreadable: {e}"),
                    "create a new virtual key with `glasskey keys virtual-create`",
                )
            })?;
        Ok(Authenticator {
            model: state.model.model(),
            profile: state.profile,
            state,
            path,
            powered_up: Instant::now(),
            attestation_key,
            key_agreement: KeyAgreementKey::generate(),
            token: Zeroizing::new(random_bytes(32)),
            grant: None,
            wrong_pins_in_a_row: 0,
            pending_assertions: None,
            pending_rps: Vec::new(),
            pending_creds: Vec::new(),
            dirty: false,
            signers: SignerCache::new(),
        })
    }

    pub fn state(&self) -> &KeyState {
        &self.state
    }

    /// The key was powered up (inserted) `ago` before now, not when this object
    /// was made: the reset window runs from the key's own insertion.
    pub fn powered_up_ago(&mut self, ago: Duration) {
        self.powered_up = Instant::now().checked_sub(ago).unwrap_or(self.powered_up);
    }

    /// Handle one CTAPHID_CBOR message: command byte + parameters -> status + response.
    pub fn handle(&mut self, request: &[u8], up: &mut dyn UserPresence) -> Vec<u8> {
        let Some((&cmd, params)) = request.split_first() else {
            return vec![Status::InvalidLength.code()];
        };
        if request.len() > self.profile.max_msg_size(self.model) {
            return vec![Status::RequestTooLarge.code()];
        }
        let command = CtapCommand::from_byte(cmd).filter(|c| self.profile.accepts(*c));
        if command != Some(CtapCommand::GetNextAssertion) {
            self.pending_assertions = None;
        }
        if !matches!(
            command,
            Some(CtapCommand::CredentialManagement | CtapCommand::CredentialManagementPreview)
        ) {
            self.pending_rps.clear();
            self.pending_creds.clear();
        }
        let result = match command {
            Some(CtapCommand::GetInfo) => Ok(cbor::ok_response(Some(self.get_info()))),
            Some(CtapCommand::MakeCredential) => self.make_credential(params, up),
            Some(CtapCommand::GetAssertion) => self.get_assertion(params, up),
            Some(CtapCommand::GetNextAssertion) => self.get_next_assertion(),
            Some(CtapCommand::ClientPin) => self.client_pin(params, up),
            Some(CtapCommand::Reset) => self.reset(up),
            Some(CtapCommand::CredentialManagement)
            | Some(CtapCommand::CredentialManagementPreview) => self.cred_mgmt(params),
            Some(CtapCommand::Selection) => up.wait_for_touch().map(|()| cbor::ok_response(None)),
            Some(CtapCommand::Config) => self.config(params),
            _ => Err(Status::InvalidCommand),
        };
        if self.dirty {
            self.dirty = false;
            if let Some(path) = &self.path {
                // Unplugged mid-command (`keys virtual-unplug` moved the state file): the
                // change is lost, as it may be on a real key pulled out while working, and
                // the moved file stays the key's one state.
                if !path.exists() {
                    return vec![Status::Other.code()];
                }
                if let Err(e) = self.state.save(path) {
                    eprintln!("virtual key: {e}");
                    return vec![Status::Other.code()];
                }
            }
        }
        match result {
            Ok(response) => response,
            Err(status) => vec![status.code()],
        }
    }

    /// getInfo as the profile's kind of key reports it: a CTAP 2.0 key says
    /// nothing after pinUvAuthProtocols, a 2.1-PRE key nothing after algorithms.
    fn get_info(&self) -> Value {
        let m = self.model;
        let p = self.profile;
        let mut extensions = vec![text("hmac-secret")];
        if p.cred_protect() {
            extensions.insert(0, text("credProtect"));
        }
        let mut info = vec![
            (
                int(1),
                Value::Array(p.versions(m).iter().map(|v| text(v)).collect()),
            ),
            (int(2), Value::Array(extensions)),
            (int(3), bytes(&m.aaguid.0)),
            (int(4), Value::Map(p.options(self.state.pin.is_some()))),
        ];
        if p != Profile::SmallLimits {
            info.push((int(5), int(p.max_msg_size(m) as i64)));
        }
        info.push((
            int(6),
            Value::Array(
                p.pin_protocols(m)
                    .iter()
                    .map(|n| int(i64::from(*n)))
                    .collect(),
            ),
        ));
        if p == Profile::Ctap20 {
            return Value::Map(info);
        }
        info.extend([
            (int(7), int(p.max_creds_in_list(m) as i64)),
            (int(8), int(p.max_credential_id_length() as i64)),
            (int(9), Value::Array(vec![text("usb")])),
            (
                int(10),
                Value::Array(vec![Value::Map(vec![
                    (text("alg"), int(-7)),
                    (text("type"), text("public-key")),
                ])]),
            ),
        ]);
        if p == Profile::Ctap21Pre {
            return Value::Map(info);
        }
        info.extend([
            (int(12), Value::Bool(self.state.force_pin_change)),
            (int(13), int(i64::from(self.state.min_pin_length))),
            (int(14), int(m.firmware_version as i64)),
            (int(20), int(self.remaining_resident_slots() as i64)),
        ]);
        info.extend(p.extra_info());
        Value::Map(info)
    }

    pub(super) fn resident_count(&self) -> usize {
        self.state
            .credentials
            .iter()
            .filter(|c| c.discoverable)
            .count()
    }

    pub(super) fn remaining_resident_slots(&self) -> usize {
        self.model
            .max_resident_credentials
            .saturating_sub(self.resident_count())
    }

    fn reset(&mut self, up: &mut dyn UserPresence) -> CtapResult<Vec<u8>> {
        if self.powered_up.elapsed() > RESET_WINDOW {
            return Err(Status::NotAllowed);
        }
        up.wait_for_touch()?;
        self.state.credentials.clear();
        self.state.pin = None;
        self.state.pin_retries = PIN_RETRIES_MAX;
        self.state.force_pin_change = false;
        self.state.min_pin_length = self.model.default_min_pin_length;
        self.state.min_pin_length_rp_ids.clear();
        self.key_agreement = KeyAgreementKey::generate();
        self.rotate_token();
        self.wrong_pins_in_a_row = 0;
        self.dirty = true;
        Ok(cbor::ok_response(None))
    }

    /// A fresh pinUvAuthToken: every earlier token stops working.
    pub(super) fn rotate_token(&mut self) {
        self.token = Zeroizing::new(random_bytes(32));
        self.grant = None;
    }

    pub(super) fn supported_protocol(&self, v: &Value) -> CtapResult<PinProtocol> {
        let n = cbor::as_u64(v)?;
        if !self
            .profile
            .pin_protocols(self.model)
            .iter()
            .any(|p| u64::from(*p) == n)
        {
            return Err(Status::InvalidParameter);
        }
        PinProtocol::from_number(n).ok_or(Status::InvalidParameter)
    }

    /// Check a pinUvAuthParam made with the current token over `message`, and
    /// that the token carries `permission` (binding it to `rp_id` on first use).
    pub(super) fn verify_token(
        &mut self,
        protocol: PinProtocol,
        message: &[u8],
        param: &[u8],
        permission: u8,
        rp_id: Option<&str>,
    ) -> CtapResult<()> {
        if !protocol.verify(&self.token, message, param) {
            return Err(Status::PinAuthInvalid);
        }
        let grant = self.grant.as_mut().ok_or(Status::PinAuthInvalid)?;
        if grant.permissions & permission == 0 {
            return Err(Status::PinAuthInvalid);
        }
        if let Some(rp) = rp_id {
            match &grant.rp_id {
                Some(bound) if bound != rp => return Err(Status::PinAuthInvalid),
                Some(_) => {}
                None => grant.rp_id = Some(rp.to_string()),
            }
        }
        Ok(())
    }

    pub(super) fn find_credential(&self, id: &[u8]) -> Option<&StoredCredential> {
        self.state.credentials.iter().find(|c| c.id == id)
    }
}

pub(super) fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b
}

pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
