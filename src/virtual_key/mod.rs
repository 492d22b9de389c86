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
    // A new key is plugged in as it is made: its power-up is now.
    if let Some(stem) = path.file_stem() {
        mark_inserted(&dir, &stem.to_string_lossy())?;
    }
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

/// Where an unplugged key's state file waits, inside its `--virtual` folder.
pub const UNPLUGGED_DIR: &str = "unplugged";

/// The file holding when the key `name` in `dir` was last inserted (unix ms).
fn inserted_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.inserted"))
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Record that the key `name` in `dir` is inserted now (its power-up instant).
pub fn mark_inserted(dir: &Path, name: &str) -> crate::Result<()> {
    std::fs::write(inserted_file(dir, name), now_ms().to_string()).map_err(|e| {
        crate::Error::input(
            format!("cannot record the insertion of virtual key {name}: {e}"),
            "check the --virtual folder's permissions",
        )
    })
}

/// How long ago the key `name` in `dir` was inserted; a key with no record has
/// been plugged in "for ever" (its reset window is long closed).
fn inserted_ago(dir: &Path, name: &str) -> std::time::Duration {
    let at = std::fs::read_to_string(inserted_file(dir, name))
        .ok()
        .and_then(|t| t.trim().parse::<u128>().ok());
    match at {
        Some(at) => std::time::Duration::from_millis(
            u64::try_from(now_ms().saturating_sub(at)).unwrap_or(u64::MAX),
        ),
        None => std::time::Duration::from_secs(24 * 3600),
    }
}

/// "Unplug" the virtual key `name`: its state file moves to `dir/unplugged/`.
pub fn unplug(dir: &Path, name: &str) -> crate::Result<()> {
    let from = dir.join(format!("{name}.json"));
    let to_dir = dir.join(UNPLUGGED_DIR);
    let moved = std::fs::create_dir_all(&to_dir)
        .and_then(|()| std::fs::rename(&from, to_dir.join(format!("{name}.json"))));
    moved.map_err(|e| {
        crate::Error::input(
            format!("cannot unplug virtual key {name} ({}): {e}", from.display()),
            "name a key that is plugged in (a file in the --virtual folder)",
        )
    })
}

/// "Insert" the virtual key `name` again: back into `dir`, powered up now.
pub fn insert(dir: &Path, name: &str) -> crate::Result<()> {
    let from = dir.join(UNPLUGGED_DIR).join(format!("{name}.json"));
    std::fs::rename(&from, dir.join(format!("{name}.json"))).map_err(|e| {
        crate::Error::input(
            format!("cannot insert virtual key {name} ({}): {e}", from.display()),
            "name a key that was unplugged with `glasskey keys virtual-unplug`",
        )
    })?;
    mark_inserted(dir, name)
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
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut device = open_device(&path, None)?;
        device.auth.powered_up_ago(inserted_ago(dir, &name));
        out.push(VirtualDevice {
            transport: Box::new(
                InProcessTransport::spawn(device, format!("virtual:{name}"))
                    .unplugged_when_moved(path.clone()),
            ),
            name,
            path,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod insertion_tests {
    use super::*;
    use crate::ctap::{reset, Device as CtapDevice};

    fn reset_key_in(dir: &Path) -> std::result::Result<(), crate::ctap::CtapError> {
        let v = open_dir(dir).unwrap().pop().unwrap();
        let mut dev = CtapDevice::open(v.transport).unwrap();
        reset::reset(&mut dev)
    }

    #[test]
    fn the_reset_window_runs_five_seconds_from_the_keys_own_insertion() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        create_key(
            &dir.join("k.json"),
            ModelId::parse("a").unwrap(),
            PresenceMode::Approve,
        )
        .unwrap();
        // Inserted 6 s ago, opened (process start) now: too late.
        let six_ago = now_ms() - 6000;
        std::fs::write(inserted_file(dir, "k"), six_ago.to_string()).unwrap();
        let e = reset_key_in(dir).unwrap_err();
        assert_eq!(e.status(), Some(crate::ctap::Status::NotAllowed));
        // Removed and inserted again: the window is open.
        unplug(dir, "k").unwrap();
        assert!(
            open_dir(dir).unwrap().is_empty(),
            "an unplugged key is gone"
        );
        insert(dir, "k").unwrap();
        reset_key_in(dir).unwrap();
        // A key never recorded as inserted has been plugged in for ever.
        std::fs::remove_file(inserted_file(dir, "k")).unwrap();
        assert!(reset_key_in(dir).is_err());
    }
}
