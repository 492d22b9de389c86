//! A software FIDO2 authenticator for tests, rehearsals and the demo.
//! (Being written: this file states the interface the rest of glasskey uses.)

use std::path::{Path, PathBuf};

use crate::hid::Transport;

/// One virtual key found in a `--virtual DIR`, opened ("plugged in").
pub struct VirtualDevice {
    /// The state file's stem, e.g. "vk-a1".
    pub name: String,
    /// The state file.
    pub path: PathBuf,
    /// 64-byte CTAPHID reports to and from the key.
    pub transport: Box<dyn Transport>,
}

/// Open every virtual key whose state file lives in `dir`.
pub fn open_dir(dir: &Path) -> crate::Result<Vec<VirtualDevice>> {
    Err(crate::Error::input(
        format!("virtual keys in {} cannot be opened yet", dir.display()),
        "use a real key or a socket peer with --device",
    ))
}
