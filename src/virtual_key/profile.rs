//! Behaviour profiles: the same virtual model made to behave like the kinds of
//! real keys glasskey meets — a CTAP 2.0 key, a 2.1-PRE YubiKey 5.2–5.4, a bio
//! key, a key with small limits, a key with a PIN complexity policy. A profile
//! changes what getInfo says and what the key accepts; the AAGUID and the
//! attestation chain stay the model's (so tenant policies keep allowing it).

use ciborium::Value;
use serde::{Deserialize, Serialize};

use super::cbor::{bytes, int, text};
use super::model::Model;
use crate::ctap::pin_rules::PinRules;
use crate::ctap::CtapCommand;

/// How a virtual key behaves. Names are a contract (`--profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Profile {
    /// CTAP 2.1 with everything glasskey uses.
    #[default]
    #[serde(rename = "standard")]
    Standard,
    /// CTAP 2.0 only: no credProtect, no credMgmt, PIN protocol 1, getPinToken.
    #[serde(rename = "ctap2.0")]
    Ctap20,
    /// FIDO_2_1_PRE: credential management only under the prototype command 0x41.
    #[serde(rename = "ctap2.1-pre")]
    Ctap21Pre,
    /// Built-in user verification (a fingerprint, simulated by the touch).
    #[serde(rename = "bio")]
    Bio,
    /// maxCredentialCountInList 8, maxCredentialIdLength 64, no maxMsgSize (1024).
    #[serde(rename = "small-limits")]
    SmallLimits,
    /// A PIN complexity policy (Token2 PIN+ style), announced in getInfo.
    #[serde(rename = "strict-pin")]
    StrictPin,
}

/// CTAP's default request size when getInfo names none.
const DEFAULT_MAX_MSG_SIZE: usize = 1024;

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::Standard,
        Profile::Ctap20,
        Profile::Ctap21Pre,
        Profile::Bio,
        Profile::SmallLimits,
        Profile::StrictPin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Ctap20 => "ctap2.0",
            Profile::Ctap21Pre => "ctap2.1-pre",
            Profile::Bio => "bio",
            Profile::SmallLimits => "small-limits",
            Profile::StrictPin => "strict-pin",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == s.trim())
    }

    /// CTAP 2.1 (final) features: pinUvAuthToken, authenticatorConfig, selection.
    pub fn ctap21(self) -> bool {
        !matches!(self, Profile::Ctap20 | Profile::Ctap21Pre)
    }

    pub fn versions(self, model: &Model) -> Vec<&'static str> {
        match self {
            Profile::Ctap20 => vec!["U2F_V2", "FIDO_2_0"],
            Profile::Ctap21Pre => vec!["U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE"],
            _ => model.versions.to_vec(),
        }
    }

    pub fn cred_protect(self) -> bool {
        self != Profile::Ctap20
    }

    pub fn pin_protocols(self, model: &Model) -> Vec<u8> {
        if self.ctap21() {
            model.pin_protocols.to_vec()
        } else {
            vec![1]
        }
    }

    /// Requests above this size get REQUEST_TOO_LARGE.
    pub fn max_msg_size(self, model: &Model) -> usize {
        match self {
            Profile::SmallLimits => DEFAULT_MAX_MSG_SIZE,
            _ => model.max_msg_size,
        }
    }

    /// Allow and exclude lists longer than this get LIMIT_EXCEEDED.
    pub fn max_creds_in_list(self, model: &Model) -> usize {
        match self {
            Profile::SmallLimits => 8,
            _ => model.max_creds_in_list,
        }
    }

    pub fn max_credential_id_length(self) -> usize {
        match self {
            Profile::SmallLimits => 64,
            _ => super::credential::CREDENTIAL_ID_LEN,
        }
    }

    /// Which credentialManagement command the key answers.
    pub fn accepts(self, command: CtapCommand) -> bool {
        match command {
            CtapCommand::CredentialManagement | CtapCommand::Config | CtapCommand::Selection => {
                self.ctap21()
            }
            CtapCommand::CredentialManagementPreview => self != Profile::Ctap20,
            _ => true,
        }
    }

    pub fn builtin_uv(self) -> bool {
        self == Profile::Bio
    }

    /// The complexity rules the key enforces on a new PIN, if any.
    pub fn pin_rules(self, min_len: usize) -> Option<PinRules> {
        (self == Profile::StrictPin).then(|| PinRules::complex(min_len, STRICT_MAX_PIN_LENGTH))
    }

    /// The getInfo options map.
    pub fn options(self, pin_set: bool) -> Vec<(Value, Value)> {
        let b = Value::Bool;
        let mut o = vec![
            (text("rk"), b(true)),
            (text("up"), b(true)),
            (text("plat"), b(false)),
            (text("clientPin"), b(pin_set)),
        ];
        match self {
            Profile::Ctap20 => {}
            Profile::Ctap21Pre => o.push((text("credentialMgmtPreview"), b(true))),
            _ => {
                o.extend([
                    (text("credMgmt"), b(true)),
                    (text("authnrCfg"), b(true)),
                    (text("setMinPINLength"), b(true)),
                    (text("makeCredUvNotRqd"), b(true)),
                    (text("pinUvAuthToken"), b(true)),
                ]);
                if self == Profile::Bio {
                    o.extend([
                        (text("uv"), b(true)),
                        (text("bioEnroll"), b(true)),
                        (text("uvBioEnroll"), b(true)),
                        (text("alwaysUv"), b(false)),
                        (text("noMcGaPermissionsWithClientPin"), b(false)),
                    ]);
                }
            }
        }
        o
    }

    /// getInfo fields this profile adds or leaves out, after the common ones.
    pub fn extra_info(self) -> Vec<(Value, Value)> {
        match self {
            Profile::Bio => vec![(int(0x12), int(UV_MODALITY_FINGERPRINT))],
            Profile::StrictPin => vec![
                (int(0x1b), Value::Bool(true)),
                (int(0x1c), bytes(STRICT_PIN_POLICY_URL.as_bytes())),
                (int(0x1d), int(STRICT_MAX_PIN_LENGTH as i64)),
            ],
            _ => Vec::new(),
        }
    }
}

/// uvModality USER_VERIFY_FINGERPRINT_INTERNAL (FIDO Registry §3.1).
const UV_MODALITY_FINGERPRINT: i64 = 0x02;
const STRICT_MAX_PIN_LENGTH: usize = 32;
const STRICT_PIN_POLICY_URL: &str = "https://glasskey.invalid/virtual-strict-pin-policy";

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serde_uses_them() {
        for p in Profile::ALL {
            assert_eq!(Profile::parse(p.name()), Some(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
        assert_eq!(Profile::parse("ctap9"), None);
    }
}
