//! The key's persistent storage: one JSON file per virtual key. It holds the
//! private keys of every credential and of the attestation leaf — the file IS
//! the key's secret storage (like the secure element of a real key), so it is
//! written with mode 0600, atomically (temp file + rename) after every
//! state-changing command. The PIN itself is never stored, only
//! LEFT(SHA-256(PIN), 16) as real keys keep it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::ModelId;
use crate::aaguid::Aaguid;

pub const STATE_FORMAT: &str = "glasskey-virtual-key/1";
/// State files larger than this are refused (a full key is a few tens of KB).
const MAX_STATE_BYTES: u64 = 4 << 20;
pub const PIN_RETRIES_MAX: u8 = 8;

/// How the simulated user answers a request for presence (a touch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceMode {
    /// Touch at once.
    Approve,
    /// Nobody touches: after `wait_ms` of keepalives, USER_ACTION_TIMEOUT.
    Deny { wait_ms: u64 },
    /// Touch after `ms` of keepalives (UPNEEDED every 100 ms).
    Delay { ms: u64 },
}

/// Default wait before a denied touch times out (short: it is a simulation).
pub const DEFAULT_DENY_WAIT_MS: u64 = 1000;

impl fmt::Display for PresenceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresenceMode::Approve => f.write_str("approve"),
            PresenceMode::Deny { wait_ms } if *wait_ms == DEFAULT_DENY_WAIT_MS => {
                f.write_str("deny")
            }
            PresenceMode::Deny { wait_ms } => write!(f, "deny:{wait_ms}"),
            PresenceMode::Delay { ms } => write!(f, "delay:{ms}"),
        }
    }
}

impl FromStr for PresenceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{s}' is not a presence mode (approve, deny, deny:MS or delay:MS)");
        let ms = |v: &str| v.parse::<u64>().ok().filter(|n| *n <= 600_000);
        match s.trim().split_once(':') {
            None if s.trim() == "approve" => Ok(PresenceMode::Approve),
            None if s.trim() == "deny" => Ok(PresenceMode::Deny {
                wait_ms: DEFAULT_DENY_WAIT_MS,
            }),
            Some(("deny", v)) => ms(v)
                .map(|wait_ms| PresenceMode::Deny { wait_ms })
                .ok_or_else(bad),
            Some(("delay", v)) => ms(v).map(|ms| PresenceMode::Delay { ms }).ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl Serialize for PresenceMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PresenceMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Binary fields are base64url in the file.
mod b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::webauthn::b64::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        crate::webauthn::b64::decode(&s).map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&crate::webauthn::b64::encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| crate::webauthn::b64::decode(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttestationKey {
    /// The leaf certificate (DER), chained to the model root in the key directory.
    #[serde(with = "b64")]
    pub cert_der: Vec<u8>,
    /// The leaf's PKCS#8 private key (DER).
    #[serde(with = "b64")]
    pub key_pkcs8: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinRecord {
    /// LEFT(SHA-256(PIN), 16).
    #[serde(with = "b64")]
    pub hash: Vec<u8>,
    /// Length in Unicode code points, to enforce a later setMinPINLength.
    pub code_points: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCredential {
    #[serde(with = "b64")]
    pub id: Vec<u8>,
    pub rp_id: String,
    #[serde(default)]
    pub rp_name: Option<String>,
    #[serde(with = "b64")]
    pub user_id: Vec<u8>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub user_display_name: Option<String>,
    /// A resident (discoverable) credential; others are found only by id.
    pub discoverable: bool,
    /// P-256 private scalar.
    #[serde(with = "b64")]
    pub private_key: Vec<u8>,
    /// credProtect level 1..=3.
    pub cred_protect: u8,
    /// hmac-secret CredRandomWithUV / CredRandomWithoutUV.
    #[serde(default, with = "b64_opt")]
    pub cred_random_uv: Option<Vec<u8>>,
    #[serde(default, with = "b64_opt")]
    pub cred_random_no_uv: Option<Vec<u8>>,
    pub sign_count: u32,
    /// Creation order, to list newest first.
    pub created: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyState {
    pub format: String,
    pub model: ModelId,
    /// How the key behaves (CTAP 2.0, 2.1-PRE, bio, ...); older files are standard.
    #[serde(default)]
    pub profile: super::profile::Profile,
    pub aaguid: Aaguid,
    pub serial: String,
    pub presence: PresenceMode,
    pub attestation: AttestationKey,
    pub pin: Option<PinRecord>,
    pub pin_retries: u8,
    pub force_pin_change: bool,
    pub min_pin_length: u8,
    #[serde(default)]
    pub min_pin_length_rp_ids: Vec<String>,
    pub credentials: Vec<StoredCredential>,
    pub next_created: u64,
}

/// Why a state file could not be read or written.
#[derive(Debug)]
pub enum StateError {
    Read(PathBuf, String),
    Parse(PathBuf, String),
    Write(PathBuf, String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Read(p, e) => write!(f, "cannot read virtual key {}: {e}", p.display()),
            StateError::Parse(p, e) => {
                write!(f, "virtual key file {} is not valid: {e}", p.display())
            }
            StateError::Write(p, e) => {
                write!(f, "cannot save virtual key {}: {e}", p.display())
            }
        }
    }
}

impl std::error::Error for StateError {}

impl From<StateError> for crate::Error {
    fn from(e: StateError) -> Self {
        let next = match &e {
            StateError::Read(..) => "check the path and its permissions",
            StateError::Parse(..) => {
                "restore the file from a backup or create a new key with `glasskey keys virtual-create`"
            }
            StateError::Write(..) => "check free space and permissions of the key directory",
        };
        match e {
            StateError::Write(..) => crate::Error::device(e.to_string(), next),
            _ => crate::Error::input(e.to_string(), next),
        }
    }
}

impl KeyState {
    pub fn load(path: &Path) -> Result<KeyState, StateError> {
        let file = crate::fsutil::open_regular(path)
            .map_err(|e| StateError::Read(path.into(), e.to_string()))?;
        let size = file
            .metadata()
            .map_err(|e| StateError::Read(path.into(), e.to_string()))?
            .len();
        if size > MAX_STATE_BYTES {
            return Err(StateError::Parse(
                path.into(),
                format!("{size} bytes is larger than any key state"),
            ));
        }
        let state: KeyState = serde_json::from_reader(std::io::BufReader::new(
            std::io::Read::take(file, MAX_STATE_BYTES + 1),
        ))
        .map_err(|e| StateError::Parse(path.into(), e.to_string()))?;
        if state.format != STATE_FORMAT {
            return Err(StateError::Parse(
                path.into(),
                format!("format '{}' (expected {STATE_FORMAT})", state.format),
            ));
        }
        if state.aaguid != state.model.model().aaguid {
            return Err(StateError::Parse(
                path.into(),
                "the AAGUID does not match the model".into(),
            ));
        }
        Ok(state)
    }

    /// Write atomically: a fresh exclusive temp file (mode 0600) in the same
    /// directory, fsync, then rename over (see [`crate::fsutil::write_atomic`]).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let werr = |e: std::io::Error| StateError::Write(path.into(), e.to_string());
        let json =
            serde_json::to_vec(self).map_err(|e| StateError::Write(path.into(), e.to_string()))?;
        crate::fsutil::write_atomic(path, &json).map_err(werr)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_modes_parse_and_print() {
        for s in ["approve", "deny", "deny:50", "delay:250"] {
            assert_eq!(s.parse::<PresenceMode>().unwrap().to_string(), s);
        }
        assert!("later".parse::<PresenceMode>().is_err());
        assert!("delay:x".parse::<PresenceMode>().is_err());
        assert!("delay:99999999".parse::<PresenceMode>().is_err());
    }
}
