//! Which keys a command talks to: every FIDO key on USB, the one `--device`
//! names (hidraw path or socket), or the virtual keys of `--virtual DIR`.
//! Opening a key allocates a CTAPHID channel, reads getInfo, tells the operator
//! when to touch it and lets Ctrl-C cancel the request in flight.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ctap::Device;
use crate::error::{Error, Result};
use crate::hid::{self, CancelToken, HidDeviceInfo, KeepaliveStatus, Transport};

/// Where a key was found.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KeySource {
    Usb(HidDeviceInfo),
    Socket { address: String },
    Virtual { name: String, path: PathBuf },
}

/// A key found but not yet opened (virtual keys come opened).
pub struct FoundKey {
    /// How the operator names it: hidraw path, socket address or virtual key name.
    pub label: String,
    pub source: KeySource,
    transport: Option<Box<dyn Transport>>,
}

impl FoundKey {
    /// INIT + getInfo; prints "touch the key now" while the key waits for a touch.
    pub fn open(self) -> Result<Device> {
        let transport = match self.transport {
            Some(t) => t,
            None => hid::open_device(&self.label)?,
        };
        let mut dev = Device::open(transport)?;
        dev.set_keepalive_handler(touch_prompt());
        dev.set_cancel_token(CancelToken::ctrl_c());
        Ok(dev)
    }
}

/// A keepalive handler that tells the operator once per wait to touch the key.
pub fn touch_prompt() -> crate::ctap::device::KeepaliveHandler {
    let mut last_up: Option<Instant> = None;
    Box::new(move |status| {
        if status != KeepaliveStatus::UpNeeded {
            return;
        }
        let now = Instant::now();
        // Keys repeat UPNEEDED every ~100 ms; a gap means a new wait for a new touch.
        if last_up.is_none_or(|t| now.duration_since(t) > Duration::from_secs(1))
            && !super::operator::spinner_active()
        {
            eprintln!("touch the key now");
        }
        last_up = Some(now);
    })
}

/// Every key the options select: the virtual keys of `virtual_dir` (only the one
/// named by `device`, when given), else the `device` address, else every FIDO key
/// on USB. An empty list is not an error.
pub fn discover(device: Option<&str>, virtual_dir: Option<&Path>) -> Result<Vec<FoundKey>> {
    #[cfg(not(feature = "rehearsal"))]
    if virtual_dir.is_some() {
        return Err(Error::without_rehearsal("--virtual"));
    }
    #[cfg(feature = "rehearsal")]
    if let Some(dir) = virtual_dir {
        // With --virtual, --device names one virtual key (its file stem).
        let keys: Vec<FoundKey> = crate::virtual_key::open_dir(dir)?
            .into_iter()
            .filter(|v| device.is_none_or(|d| d == v.name))
            .map(|v| FoundKey {
                label: v.name.clone(),
                source: KeySource::Virtual {
                    name: v.name,
                    path: v.path,
                },
                transport: Some(v.transport),
            })
            .collect();
        if let (Some(name), true) = (device, keys.is_empty()) {
            // Unplugged (`keys virtual-unplug`): absent like a USB key out of its port.
            let unplugged = dir
                .join(crate::virtual_key::UNPLUGGED_DIR)
                .join(format!("{name}.json"));
            if unplugged.is_file() {
                return Err(Error::device(
                    format!("virtual key '{name}' is not plugged in"),
                    format!("plug it in (`glasskey keys virtual-insert {name}`) and run the command again"),
                ));
            }
            return Err(Error::input(
                format!("no virtual key named '{name}' in {}", dir.display()),
                "give --device the file stem of a key in the --virtual folder",
            ));
        }
        return Ok(keys);
    }
    if let Some(address) = device {
        let source = match hid::SocketAddress::parse(address) {
            Ok(Some(_)) => KeySource::Socket {
                address: address.to_string(),
            },
            Ok(None) => KeySource::Usb(HidDeviceInfo {
                path: address.to_string(),
                vendor_id: 0,
                product_id: 0,
                product: None,
                serial: None,
            }),
            Err(why) => {
                return Err(Error::input(
                    format!("--device {address}: {why}"),
                    "give a hidraw path (/dev/hidrawN), unix:PATH or tcp:127.0.0.1:PORT",
                ))
            }
        };
        return Ok(vec![FoundKey {
            label: address.to_string(),
            source,
            transport: None,
        }]);
    }
    Ok(hid::list_fido()?
        .into_iter()
        .map(|info| FoundKey {
            label: info.path.clone(),
            source: KeySource::Usb(info),
            transport: None,
        })
        .collect())
}

/// The name and origin of an opened key.
#[derive(Debug, Clone)]
pub struct KeyRef {
    pub label: String,
    pub source: KeySource,
}

/// The single key a command acts on; zero or several is an error naming the fix.
pub fn open_one(device: Option<&str>, virtual_dir: Option<&Path>) -> Result<(KeyRef, Device)> {
    let mut found = discover(device, virtual_dir)?;
    match found.len() {
        0 => Err(Error::device(
            "no FIDO security key found",
            "plug in the key (or pass --device / --virtual) and run the command again",
        )),
        1 => {
            let key = found.remove(0);
            let key_ref = KeyRef {
                label: key.label.clone(),
                source: key.source.clone(),
            };
            Ok((key_ref, key.open()?))
        }
        n => Err(Error::input(
            format!(
                "{n} keys found ({}); glasskey acts on one key at a time",
                found
                    .iter()
                    .map(|k| k.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "unplug the others, or name one with --device",
        )),
    }
}

/// The single selected key if it is plugged in (`Ok(None)` when absent), opened
/// fresh. For the waits of a re-plug; several keys is an error.
pub fn find_one(device: Option<&str>, virtual_dir: Option<&Path>) -> Result<Option<Device>> {
    let mut found = match discover(device, virtual_dir) {
        Ok(f) => f,
        // A named virtual key whose file is gone, or a device path that vanished: absent.
        Err(_) if device.is_some() => return Ok(None),
        Err(e) => return Err(e),
    };
    match found.len() {
        0 => Ok(None),
        1 => match found.remove(0).open() {
            Ok(dev) => Ok(Some(dev)),
            // Half-enumerated while being plugged: look again next time.
            Err(_) => Ok(None),
        },
        n => Err(Error::input(
            format!("{n} keys found; glasskey acts on one key at a time"),
            "unplug the others, or name one with --device",
        )),
    }
}
