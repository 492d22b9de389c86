//! A software FIDO2 authenticator for tests, rehearsals and the demo.
//!
//! It speaks real CTAPHID + CTAP2 (PIN protocols 1 and 2 with retries and
//! blocking, discoverable credentials, credProtect, hmac-secret, credential
//! management, setMinPINLength/forcePINChange, reset, signature counters) with
//! packed attestation chained to per-model roots minted at runtime. Each key
//! is one JSON state file — its secret storage — so a key survives being
//! "unplugged". Layers: `authenticator` (CTAP2, transport-free) under
//! `ctaphid` (device-side framing) under `transport` (in-process thread) and
//! `serve` (the socket format of the test peers).

use std::path::{Path, PathBuf};

use crate::hid::Transport;

mod attest;
mod authenticator;
mod cbor;
mod client_pin;
mod cred_mgmt;
mod credential;
pub mod ctaphid;
pub mod model;
pub mod profile;
pub mod serve;
mod signer;
pub mod state;
mod transport;

pub use authenticator::{Authenticator, Immediate, UserPresence, RESET_WINDOW};
pub use model::{Model, ModelId};
pub use profile::Profile;
pub use state::{KeyState, PresenceMode};
pub use transport::InProcessTransport;

/// Environment variable overriding every virtual key's presence mode (for tests).
pub const PRESENCE_ENV: &str = "GLASSKEY_VIRTUAL_UP";

/// One virtual key found in a `--virtual DIR`, opened ("plugged in").
pub struct VirtualDevice {
    /// The state file's stem, e.g. "vk-a1".
    pub name: String,
    /// The state file.
    pub path: PathBuf,
    /// 64-byte CTAPHID reports to and from the key.
    pub transport: Box<dyn Transport>,
}

/// The presence mode from GLASSKEY_VIRTUAL_UP, if set.
pub fn presence_from_env() -> crate::Result<Option<PresenceMode>> {
    match std::env::var(PRESENCE_ENV) {
        Ok(v) => v.parse().map(Some).map_err(|e: String| {
            crate::Error::input(
                format!("{PRESENCE_ENV}: {e}"),
                "set it to approve, deny, deny:MS or delay:MS, or unset it",
            )
        }),
        Err(_) => Ok(None),
    }
}

/// Create a new virtual key of `model` at `path` (a JSON file that must not
/// exist yet). The model's attestation root is minted in the same directory
/// the first time.
pub fn create_key(path: &Path, model: ModelId, presence: PresenceMode) -> crate::Result<KeyState> {
    create_key_with_profile(path, model, Profile::Standard, presence)
}

/// [`create_key`] with a behaviour profile (see [`Profile`]).
pub fn create_key_with_profile(
    path: &Path,
    model: ModelId,
    profile: Profile,
    presence: PresenceMode,
) -> crate::Result<KeyState> {
    if path.exists() {
        return Err(crate::Error::input(
            format!("{} already exists", path.display()),
            "choose another --out name; a virtual key's file is its storage and is never overwritten",
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        crate::Error::input(
            format!("cannot create {}: {e}", dir.display()),
            "check the path and its permissions",
        )
    })?;
    let m = model.model();
    let serial_bytes = authenticator::random_bytes(4);
    let serial = format!(
        "VK{}-{}",
        m.short.trim_start_matches("model-").to_ascii_uppercase(),
        serial_bytes
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    );
    let attestation = attest::mint_leaf(&dir, m, &serial)?;
    let state = KeyState {
        format: state::STATE_FORMAT.to_string(),
        model,
        profile,
        aaguid: m.aaguid,
        serial,
        presence,
        attestation,
        pin: None,
        pin_retries: state::PIN_RETRIES_MAX,
        force_pin_change: false,
        min_pin_length: m.default_min_pin_length,
        min_pin_length_rp_ids: Vec::new(),
        credentials: Vec::new(),
        next_created: 0,
    };
    state.save(path)?;
    Ok(state)
}

/// The PEMs of the attestation roots minted for virtual models in `dir`.
pub fn model_roots(dir: &Path) -> crate::Result<Vec<String>> {
    Ok(attest::model_roots(dir)?)
}

/// Power up the key stored at `path` as a CTAPHID device (presence: the
/// override, else GLASSKEY_VIRTUAL_UP, else the stored mode).
pub fn open_device(path: &Path, presence: Option<PresenceMode>) -> crate::Result<ctaphid::Device> {
    let state = KeyState::load(path)?;
    let presence = match presence {
        Some(p) => p,
        None => presence_from_env()?.unwrap_or(state.presence),
    };
    let auth = Authenticator::new(state, Some(path.to_path_buf()))?;
    Ok(ctaphid::Device::new(auth, presence))
}

/// The state files in `dir` (`*.json`, not hidden), sorted by name.
pub fn key_files(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        crate::Error::input(
            format!(
                "cannot read the virtual key directory {}: {e}",
                dir.display()
            ),
            "create keys with `glasskey keys virtual-create --model a --out DIR/NAME.json`",
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Open every virtual key whose state file lives in `dir`.
pub fn open_dir(dir: &Path) -> crate::Result<Vec<VirtualDevice>> {
    let mut out = Vec::new();
    for path in key_files(dir)? {
        let device = open_device(&path, None)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(VirtualDevice {
            transport: Box::new(InProcessTransport::spawn(device, format!("virtual:{name}"))),
            name,
            path,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
