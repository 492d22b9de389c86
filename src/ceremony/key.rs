//! One plugged-in key as the ceremonies use it: identity, fitness for Entra,
//! PIN provisioning, and the two WebAuthn operations, each mapped onto the
//! CTAP2 commands in `crate::ctap`.

use crate::aaguid::Aaguid;
use crate::ctap::command::permission;
use crate::ctap::device::Device;
use crate::ctap::get_assertion::{self, GetAssertionRequest};
use crate::ctap::make_credential::{self, MakeCredentialRequest, RelyingParty, User};
use crate::ctap::reset::ResetHints;
use crate::ctap::{config, exclude, pin, CtapError, Status};
use crate::error::{Error, Result};
use crate::graph::types::CreationOptions;
use crate::secret::Pin;
use crate::webauthn::AttestationObject;

/// Entra asks for ES256 or RS256; glasskey insists on ES256 (offline verification).
const ES256: i64 = crate::webauthn::cose::ALG_ES256;

/// Looks for the key again (after a re-plug): `Ok(None)` while it is absent.
pub type Finder = Box<dyn FnMut() -> Result<Option<Device>>>;

pub struct KeySession {
    name: String,
    dev: Device,
    finder: Option<Finder>,
}

/// How long glasskey waits for the operator to remove or insert a key.
pub const PLUG_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// A credential the key just made, with what the ledger and Graph need.
pub struct MadeCredential {
    pub aaguid: Aaguid,
    pub attestation_object: AttestationObject,
    /// The WebAuthn attestationObject for Graph (authData and attStmt byte-exact).
    pub attestation_object_webauthn: Vec<u8>,
    pub credential_id: Vec<u8>,
    pub public_key_cbor: Vec<u8>,
    pub sign_count: u32,
    pub cred_protect: Option<u8>,
    pub client_data_json: Vec<u8>,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub attestation_summary: String,
    pub attestation_fingerprint: Option<String>,
    /// What Entra asked for that this key could not apply (and Entra does not enforce).
    pub not_applied: Vec<String>,
}

/// An assertion as the liveness check verifies it.
pub struct AssertionOut {
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub credential_id: Option<Vec<u8>>,
}

impl KeySession {
    pub fn new(name: impl Into<String>, dev: Device) -> KeySession {
        KeySession {
            name: name.into(),
            dev,
            finder: None,
        }
    }

    /// Let the session find the key again after it is unplugged and plugged back.
    pub fn with_finder(mut self, finder: Finder) -> KeySession {
        self.finder = Some(finder);
        self
    }

    fn find(&mut self) -> Result<Option<Device>> {
        match &mut self.finder {
            Some(f) => f(),
            None => Err(Error::device(
                format!(
                    "glasskey cannot look for key {} again in this session",
                    self.name
                ),
                "run the command again with the key plugged in",
            )),
        }
    }

    /// Wait until the key is unplugged (polling), up to [`PLUG_WAIT`].
    pub fn wait_removed(&mut self) -> Result<()> {
        let start = std::time::Instant::now();
        while self.find()?.is_some() {
            if start.elapsed() > PLUG_WAIT {
                return Err(Error::device(
                    format!(
                        "key {} was not removed within {} s",
                        self.name,
                        PLUG_WAIT.as_secs()
                    ),
                    "run the command again and remove the key when asked",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(())
    }

    /// Wait until the key is plugged in again and open it fresh (a new power-up).
    pub fn wait_inserted(&mut self) -> Result<()> {
        let start = std::time::Instant::now();
        loop {
            if let Some(dev) = self.find()? {
                self.dev = dev;
                return Ok(());
            }
            if start.elapsed() > PLUG_WAIT {
                return Err(Error::device(
                    format!(
                        "key {} was not inserted within {} s",
                        self.name,
                        PLUG_WAIT.as_secs()
                    ),
                    "run the command again and insert the key when asked",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// After the operator re-plugged the key: open it fresh.
    pub fn reopen(&mut self) -> Result<()> {
        self.wait_inserted()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the key said in getInfo.
    pub fn device_info(&self) -> &crate::ctap::Info {
        self.dev.info()
    }

    pub fn device(&mut self) -> &mut Device {
        &mut self.dev
    }

    /// What the key said in getInfo.
    pub fn info(&self) -> &crate::ctap::Info {
        self.dev.info()
    }

    /// Whether the key still answers (a fresh getInfo): after a failed command,
    /// tells "the key refused" from "the key is gone".
    pub fn answers(&mut self) -> bool {
        self.dev.refresh_info().is_ok()
    }

    pub fn aaguid(&self) -> Aaguid {
        self.dev.info().aaguid
    }

    pub fn model_name(&self) -> String {
        let aaguid = self.aaguid();
        super::keys::model_name(&aaguid).unwrap_or_else(|| format!("unknown model {aaguid}"))
    }

    /// firmwareVersion as the vendor prints it (YubiKey 0x050403 is 5.4.3).
    pub fn firmware(&self) -> Option<String> {
        let vendor =
            crate::attestation::catalogue::lookup(&self.aaguid()).map(|m| m.vendor.as_str());
        self.dev
            .info()
            .firmware_version
            .map(|v| crate::ctap::info::firmware_display(v, vendor))
    }

    pub fn has_pin(&self) -> bool {
        self.dev.info().pin_set() == Some(true)
    }

    pub fn min_pin_length(&self) -> usize {
        usize::try_from(self.dev.info().min_pin_len()).unwrap_or(usize::MAX)
    }

    pub fn supports_min_pin_length(&self) -> bool {
        self.dev.info().option("setMinPINLength") == Some(true)
    }

    /// Everything that makes this key unfit for a break-glass account in Entra
    /// (see [`super::key_fit::assess`]).
    pub fn fitness_problems(&self) -> Vec<String> {
        super::key_fit::assess(self.dev.info()).problems
    }

    /// Fitness with the notes worth telling the operator.
    pub fn fitness(&self) -> super::key_fit::Fitness {
        super::key_fit::assess(self.dev.info())
    }

    /// authenticatorReset on the key as it is now, then re-read getInfo.
    fn reset_now(&mut self) -> std::result::Result<(), CtapError> {
        crate::ctap::reset::reset(&mut self.dev)
    }

    /// How the confirmation names this key.
    pub fn naming(&self, label: Option<&str>, serial: Option<&str>) -> String {
        let mut s = match label {
            Some(l) => format!("key {l} ({}", self.model_name()),
            None => format!("the key at {} ({}", self.name, self.model_name()),
        };
        if let Some(serial) = serial {
            s.push_str(&format!(", serial {serial}"));
        }
        s.push(')');
        s
    }

    pub fn set_pin(&mut self, new_pin: &Pin) -> Result<()> {
        super::keys::set_pin(&mut self.dev, new_pin)?;
        self.dev.refresh_info()?;
        Ok(())
    }

    /// Raise the key's minimum PIN length (CTAP 2.1 authenticatorConfig).
    pub fn set_min_pin_length(&mut self, current: &Pin, length: usize) -> Result<()> {
        if length <= self.min_pin_length() {
            return Ok(());
        }
        let token = pin::get_token(
            &mut self.dev,
            current,
            permission::AUTHENTICATOR_CONFIG,
            None,
        )?;
        config::set_min_pin_length(&mut self.dev, &token, Some(length as u64), &[], false)?;
        self.dev.refresh_info()?;
        Ok(())
    }

    pub fn pin_retries(&mut self) -> Result<u32> {
        let r = pin::get_retries(&mut self.dev)?;
        Ok(u32::try_from(r.retries).unwrap_or(u32::MAX))
    }

    /// makeCredential as Entra's creationOptions ask, as far as the key goes
    /// (see [`super::key_fit::plan_creation`]): discoverable, UV by PIN, ES256,
    /// the exclude list filtered as python-fido2 does, credProtect and
    /// hmac-secret where the key has them. What was not applied is in
    /// `MadeCredential::not_applied`.
    pub fn make_credential(
        &mut self,
        current: &Pin,
        options: &CreationOptions,
        client_data_hash: &[u8; 32],
    ) -> Result<MadeCredential> {
        let plan = super::key_fit::plan_creation(self.dev.info(), options)?;
        let excluding = !options.exclude_credentials.is_empty();
        // The getAssertion permission lets the exclude-list probes see credProtect-3 credentials.
        let permissions = permission::MAKE_CREDENTIAL
            | if excluding {
                permission::GET_ASSERTION
            } else {
                0
            };
        let token = pin::get_token(&mut self.dev, current, permissions, Some(&options.rp_id))?;
        let exclude = if excluding {
            exclude::filter(
                &mut self.dev,
                &options.rp_id,
                &options.exclude_credentials,
                Some(&token),
            )?
            .exclude_list()
        } else {
            Vec::new()
        };
        let req = MakeCredentialRequest {
            client_data_hash: *client_data_hash,
            rp: Some(RelyingParty {
                id: options.rp_id.clone(),
                name: Some(options.rp_name.clone()),
            }),
            user: Some(User {
                id: options.user_handle.clone(),
                name: Some(options.user_name.clone()),
                display_name: Some(options.user_display_name.clone()),
            }),
            algorithms: vec![ES256],
            exclude_list: exclude,
            resident_key: true,
            cred_protect: plan.cred_protect,
            hmac_secret: plan.hmac_secret,
        };
        let resp = make_credential::make_credential(&mut self.dev, &req, Some(&token))?;
        let auth = &resp.attestation.auth_data;
        let attested = auth.attested.as_ref().ok_or_else(|| {
            Error::device(
                "the key's makeCredential response carries no credential",
                "the key is faulty or not FIDO2-compliant; use another key",
            )
        })?;
        let reported = auth.cred_protect();
        super::key_fit::check_applied(&plan, reported)?;
        Ok(MadeCredential {
            aaguid: attested.aaguid,
            attestation_object_webauthn: resp.attestation.to_webauthn_bytes(),
            credential_id: resp.credential_id.clone(),
            public_key_cbor: attested.public_key_cbor.clone(),
            sign_count: auth.sign_count,
            cred_protect: reported,
            client_data_json: Vec::new(),
            firmware: self.firmware(),
            serial: None,
            attestation_summary: String::new(),
            attestation_fingerprint: None,
            not_applied: plan.not_applied,
            attestation_object: resp.attestation,
        })
    }

    /// Whether the key holds `credential_id` for `rp_id`, asked without a PIN and
    /// without a touch: getAssertion with up=false (CTAP 2.1 §6.2.2 allows a
    /// silent assertion; credProtect levels 1 and 2 release a credential named in
    /// the allow list without UV). No PIN retry can be spent. `Ok(false)`: the key
    /// answered NO_CREDENTIALS.
    pub fn holds_credential(
        &mut self,
        rp_id: &str,
        credential_id: &[u8],
    ) -> std::result::Result<bool, CtapError> {
        let mut probe = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut probe);
        let req = GetAssertionRequest {
            rp_id: rp_id.to_string(),
            client_data_hash: probe,
            allow_list: vec![credential_id.to_vec()],
            up: Some(false),
            uv: None,
        };
        match get_assertion::get_assertion(&mut self.dev, &req, None) {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(Status::NoCredentials) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// getAssertion for one recorded credential; UV by `current` PIN unless `None`.
    /// Keeps the key's typed answer so the check can tell a wrong PIN from a
    /// missing credential (see [`explain_assertion_failure`]).
    pub fn get_assertion(
        &mut self,
        current: Option<&Pin>,
        rp_id: &str,
        credential_id: &[u8],
        client_data_hash: &[u8; 32],
    ) -> std::result::Result<AssertionOut, CtapError> {
        let token = match current {
            Some(p) => Some(pin::get_token(
                &mut self.dev,
                p,
                permission::GET_ASSERTION,
                Some(rp_id),
            )?),
            None => None,
        };
        let req = GetAssertionRequest {
            rp_id: rp_id.to_string(),
            client_data_hash: *client_data_hash,
            allow_list: vec![credential_id.to_vec()],
            up: Some(true),
            uv: None,
        };
        let a = get_assertion::get_assertion(&mut self.dev, &req, token.as_ref())?;
        Ok(AssertionOut {
            auth_data: a.auth_data_raw,
            signature: a.signature,
            credential_id: a.credential_id,
        })
    }
}

/// Which check an assertion failure counts against, and what to do about it.
/// Decided on the key's status, not on message text: a wrong PIN arrives as
/// `CtapError::PinInvalid`, whose message names no status.
pub fn explain_assertion_failure(e: &CtapError) -> (&'static str, &'static str) {
    let has = |s: Status| e.status() == Some(s);
    if has(Status::PinInvalid) {
        ("pin", "the key refused the PIN: check it against the slip and run the check again (a typo is the likely cause until it repeats)")
    } else if has(Status::PinAuthBlocked) {
        (
            "pin",
            "the key paused PIN entry after 3 wrong PINs in a row: re-plug it, then run the check again",
        )
    } else if has(Status::PinBlocked) {
        (
            "pin",
            "the PIN is blocked (no retries left): re-enroll the key (reset, new PIN, new slip)",
        )
    } else if has(Status::NoCredentials) {
        ("credential", "the key no longer holds the enrolled credential (reset or swapped): re-enroll it and investigate")
    } else if has(Status::UserActionTimeout) {
        (
            "user_present",
            "nobody touched the key in time: run the check again and touch the key when it blinks",
        )
    } else {
        ("assertion", "the key failed the assertion: re-plug it and run the check again; if it fails again, replace the key")
    }
}

/// Factory-reset the way real keys allow it (ykman's flow): confirm naming the
/// key, "remove the key", wait for removal, "insert it", open it fresh and send
/// the reset at once — keys accept a reset only within a few seconds of power-up
/// (YubiKey: 5 s). `naming` says which key this is (label, model, serial).
/// NOT_ALLOWED or PIN_AUTH_BLOCKED from the reset mean "too late after power-up".
/// A key that cannot be re-plugged in this session (a socket peer) is reset as is.
pub fn confirm_and_reset(
    key: &mut KeySession,
    op: &mut dyn super::operator::Operator,
    assume_yes: bool,
    naming: &str,
) -> Result<()> {
    let hints = ResetHints::of(key.device_info());
    let question = format!(
        "factory-reset {naming}? This erases every credential and the PIN on it. \
         Most keys accept a reset only within 5 to 10 seconds of being plugged in, then {}",
        hints.touch_instruction()
    );
    if !assume_yes && !op.confirm(&question)? {
        return Err(Error::input(
            format!("reset of {naming} cancelled"),
            "nothing was changed; run the command again when ready",
        ));
    }
    let touch = if hints.long_touch {
        "press and hold its button"
    } else {
        "touch it"
    };
    let replug = key.finder.is_some();
    for attempt in 1..=3 {
        if replug {
            op.say(&format!("remove {naming} now"));
            key.wait_removed()?;
            op.say(&format!("insert it again now, then {touch} when it blinks"));
            key.wait_inserted()?;
        } else {
            op.say(&format!("resetting {naming}: {touch} now"));
        }
        match key.reset_now() {
            Ok(()) => return Ok(()),
            Err(e) if too_late(&e) && replug && attempt < 3 => {
                op.say("too late after power-up: remove and insert the key again, and touch it at once");
            }
            Err(e) if too_late(&e) => {
                return Err(Error::device(
                    format!("{naming} refused the reset: too late after power-up"),
                    "remove and insert the key again, then run the command again and touch the key within a few seconds",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::device(
        format!("{naming} refused the reset three times"),
        "remove and insert the key, then run the command again and touch the key at once",
    ))
}

fn too_late(e: &CtapError) -> bool {
    matches!(
        e.status(),
        Some(Status::NotAllowed) | Some(Status::PinAuthBlocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_failures_count_against_the_right_check() {
        let wrong_pin = CtapError::PinInvalid { retries: Some(7) };
        assert_eq!(explain_assertion_failure(&wrong_pin).0, "pin");
        assert_eq!(
            explain_assertion_failure(&CtapError::PinInvalid { retries: None }).0,
            "pin"
        );
        for blocked in [Status::PinBlocked, Status::PinAuthBlocked] {
            assert_eq!(
                explain_assertion_failure(&CtapError::Status(blocked)).0,
                "pin"
            );
        }
        let (_, hint) = explain_assertion_failure(&CtapError::Status(Status::PinAuthBlocked));
        assert!(hint.contains("re-plug") && !hint.contains("re-enroll"));
        let (_, hint) = explain_assertion_failure(&wrong_pin);
        assert!(
            !hint.contains("re-enroll"),
            "one refused PIN is no evidence: {hint}"
        );
        let (name, hint) = explain_assertion_failure(&CtapError::Status(Status::NoCredentials));
        assert_eq!(name, "credential");
        assert!(hint.contains("re-enroll"));
        assert_eq!(
            explain_assertion_failure(&CtapError::Status(Status::UserActionTimeout)).0,
            "user_present"
        );
        assert_eq!(
            explain_assertion_failure(&CtapError::malformed("getAssertion", "junk")).0,
            "assertion"
        );
    }
}
