//! Real keys through hidapi (pure-Rust Linux hidraw backend): enumeration of
//! FIDO interfaces by HID usage page, and a [`Transport`] over one of them.

use std::ffi::CString;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::transport::{Report, Transport, TransportError, REPORT_LEN};

/// The FIDO Alliance HID usage page and the CTAPHID usage on it.
pub const FIDO_USAGE_PAGE: u16 = 0xf1d0;
pub const FIDO_USAGE_CTAPHID: u16 = 0x01;

/// One FIDO interface found on the USB bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HidDeviceInfo {
    pub path: String,
    pub vendor_id: u16,
    pub product_id: u16,
    pub product: Option<String>,
    pub serial: Option<String>,
}

/// hidapi keeps process-global state: one instance, refreshed on each listing.
static API: Mutex<Option<hidapi::HidApi>> = Mutex::new(None);

fn with_api<T>(f: impl FnOnce(&mut hidapi::HidApi) -> T) -> Result<Option<T>, TransportError> {
    let mut guard = API
        .lock()
        .map_err(|_| TransportError::Io("hidapi state poisoned".into()))?;
    if guard.is_none() {
        // basic-udev errors when /sys/class/hidraw is absent (containers, no USB): no keys.
        match hidapi::HidApi::new() {
            Ok(api) => *guard = Some(api),
            Err(_) => return Ok(None),
        }
    } else if let Some(api) = guard.as_mut() {
        let _ = api.refresh_devices();
    }
    Ok(guard.as_mut().map(f))
}

/// Is this (usage page, usage) pair a CTAPHID interface?
pub fn is_fido_usage(usage_page: u16, usage: u16) -> bool {
    usage_page == FIDO_USAGE_PAGE && usage == FIDO_USAGE_CTAPHID
}

/// Every FIDO HID interface plugged in. No hidraw support at all means no keys.
pub fn list_fido() -> Result<Vec<HidDeviceInfo>, TransportError> {
    let found = with_api(|api| {
        let mut out: Vec<HidDeviceInfo> = api
            .device_list()
            .filter(|d| is_fido_usage(d.usage_page(), d.usage()))
            .map(|d| HidDeviceInfo {
                path: d.path().to_string_lossy().into_owned(),
                vendor_id: d.vendor_id(),
                product_id: d.product_id(),
                product: d.product_string().map(str::to_owned),
                serial: d.serial_number().map(str::to_owned),
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.dedup_by(|a, b| a.path == b.path);
        out
    })?;
    Ok(found.unwrap_or_default())
}

/// An opened hidraw FIDO interface.
pub struct HidTransport {
    device: hidapi::HidDevice,
    path: String,
}

impl HidTransport {
    pub fn open(path: &str) -> Result<HidTransport, TransportError> {
        let c_path =
            CString::new(path).map_err(|_| TransportError::Io(format!("bad path {path:?}")))?;
        let opened = with_api(|api| api.open_path(&c_path))?
            .ok_or_else(|| TransportError::NotFound(path.to_string()))?;
        let device = opened.map_err(|e| {
            let text = e.to_string();
            if text.contains("Permission denied") || text.contains("os error 13") {
                TransportError::PermissionDenied(path.to_string())
            } else if text.contains("No such file") || text.contains("os error 2") {
                TransportError::NotFound(path.to_string())
            } else {
                TransportError::Io(format!("{path}: {text}"))
            }
        })?;
        Ok(HidTransport {
            device,
            path: path.to_string(),
        })
    }
}

impl Transport for HidTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        // hidapi wants the report id first; FIDO devices use none (0).
        let mut buf = [0u8; REPORT_LEN + 1];
        buf[1..].copy_from_slice(report);
        match self.device.write(&buf) {
            Ok(n) if n >= REPORT_LEN => Ok(()),
            Ok(n) => Err(TransportError::Io(format!(
                "{}: short write of {n} bytes",
                self.path
            ))),
            Err(_) => Err(TransportError::Disconnected(self.path.clone())),
        }
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let ms = i32::try_from(timeout.as_millis())
            .unwrap_or(i32::MAX)
            .max(1);
        let mut buf = [0u8; REPORT_LEN];
        match self.device.read_timeout(&mut buf, ms) {
            Ok(0) => Ok(None),
            Ok(n) if n == REPORT_LEN => Ok(Some(buf)),
            Ok(n) => Err(TransportError::Io(format!(
                "{}: short report of {n} bytes",
                self.path
            ))),
            Err(_) => Err(TransportError::Disconnected(self.path.clone())),
        }
    }

    fn describe(&self) -> String {
        self.path.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_without_keys_or_hidraw_is_empty_not_an_error() {
        // This machine has no USB keys; a real machine may. Either way: no error.
        assert!(list_fido().is_ok());
    }

    #[test]
    fn only_the_ctaphid_usage_counts() {
        assert!(is_fido_usage(0xf1d0, 1));
        assert!(!is_fido_usage(0xf1d0, 2));
        assert!(!is_fido_usage(0x0001, 6)); // keyboard
    }
}
