//! Real keys on Linux: enumeration of FIDO interfaces with hidapi (by HID usage
//! page), and a [`Transport`] that talks to the hidraw node directly.
//!
//! The I/O is our own (poll/read/write on the hidraw fd) rather than hidapi's
//! because three things a real key needs are not expressible through hidapi:
//! - an interrupted `poll` (EINTR, e.g. Ctrl-C) means "no report yet", so the
//!   channel gets to send CTAPHID_CANCEL; hidapi reports it as an error;
//! - the device lock other FIDO programs honour: libfido2 (and so pam_u2f,
//!   ssh-sk, systemd-cryptenroll) take `flock(LOCK_EX|LOCK_NB)` on the node;
//! - telling "removed" (POLLHUP/ENODEV/EIO) apart from other failures.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::transport::{Report, Transport, TransportError, REPORT_LEN};

/// The FIDO Alliance HID usage page and the CTAPHID usage on it.
pub const FIDO_USAGE_PAGE: u16 = 0xf1d0;
pub const FIDO_USAGE_CTAPHID: u16 = 0x01;

/// How long a write may keep meeting EAGAIN/EINTR before the key counts as stuck.
const WRITE_RETRY_FOR: Duration = Duration::from_secs(2);

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

/// An opened hidraw FIDO interface, holding the device lock until dropped.
pub struct HidTransport {
    fd: OwnedFd,
    path: String,
}

impl HidTransport {
    /// Open the hidraw node and take its lock, as libfido2 does. A lock held by
    /// another process, or a node the kernel reports busy, is [`TransportError::InUse`].
    pub fn open(path: &str) -> Result<HidTransport, TransportError> {
        let c_path =
            CString::new(path).map_err(|_| TransportError::Io(format!("bad path {path:?}")))?;
        // SAFETY: c_path is a valid NUL-terminated string; open has no other preconditions.
        let raw = unsafe {
            libc::open(
                c_path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(open_error(path, last_errno()));
        }
        // SAFETY: open just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: fd is open for the duration of the call.
        if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let errno = last_errno();
            return Err(match errno {
                libc::EWOULDBLOCK => TransportError::InUse(path.to_string()),
                _ => TransportError::Io(format!("{path}: cannot lock: {}", os_text(errno))),
            });
        }
        Ok(HidTransport::from_fd(fd, path))
    }

    /// Drive an already opened descriptor that behaves like a hidraw node: one
    /// input report per read, report id + report per write (a SOCK_SEQPACKET
    /// socket does too, which is how the tests interrupt the real read loop).
    pub fn from_fd(fd: OwnedFd, path: &str) -> HidTransport {
        HidTransport {
            fd,
            path: path.to_string(),
        }
    }

    fn removed(&self) -> TransportError {
        TransportError::Disconnected(self.path.clone())
    }

    /// An errno from read/write on the node as a transport error.
    fn io_error(&self, op: &str, errno: i32) -> TransportError {
        match errno {
            // hidraw answers ENODEV (write) or EIO (read) once the device is gone.
            libc::ENODEV | libc::EIO | libc::EPIPE | libc::ECONNRESET | libc::ENXIO => {
                self.removed()
            }
            _ => TransportError::Io(format!("{}: {op} failed: {}", self.path, os_text(errno))),
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn os_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

fn open_error(path: &str, errno: i32) -> TransportError {
    match errno {
        libc::EACCES | libc::EPERM => TransportError::PermissionDenied(path.to_string()),
        libc::ENOENT | libc::ENODEV | libc::ENXIO => TransportError::NotFound(path.to_string()),
        libc::EBUSY => TransportError::InUse(path.to_string()),
        _ => TransportError::Io(format!("{path}: {}", os_text(errno))),
    }
}

impl Transport for HidTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        // hidraw wants the report id first; FIDO devices use none (0).
        let mut buf = [0u8; REPORT_LEN + 1];
        buf[1..].copy_from_slice(report);
        let give_up = Instant::now() + WRITE_RETRY_FOR;
        loop {
            // SAFETY: buf is valid for buf.len() bytes; fd is open.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
            if n >= 0 {
                return match usize::try_from(n) {
                    Ok(n) if n >= REPORT_LEN => Ok(()),
                    _ => Err(TransportError::Io(format!(
                        "{}: short write of {n} bytes",
                        self.path
                    ))),
                };
            }
            let errno = last_errno();
            match errno {
                libc::EINTR => continue,
                libc::EAGAIN if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => return Err(self.io_error("write", errno)),
            }
        }
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let ms = libc::c_int::try_from(timeout.as_millis())
            .unwrap_or(libc::c_int::MAX)
            .max(1);
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            let errno = last_errno();
            // A signal (Ctrl-C) interrupted the wait: no report yet. The channel
            // checks its cancel token before reading again and sends CANCEL.
            if errno == libc::EINTR {
                return Ok(None);
            }
            return Err(self.io_error("poll", errno));
        }
        if ready == 0 {
            return Ok(None);
        }
        if pfd.revents & libc::POLLIN == 0
            && pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
        {
            return Err(self.removed());
        }
        let mut buf = [0u8; REPORT_LEN];
        // SAFETY: buf is valid for REPORT_LEN bytes; fd is open.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let errno = last_errno();
            return match errno {
                libc::EINTR | libc::EAGAIN => Ok(None),
                _ => Err(self.io_error("read", errno)),
            };
        }
        match usize::try_from(n) {
            Ok(REPORT_LEN) => Ok(Some(buf)),
            // End of file on a socket stand-in: the other side went away.
            Ok(0) => Err(self.removed()),
            _ => Err(TransportError::Io(format!(
                "{}: short report of {n} bytes",
                self.path
            ))),
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

    #[test]
    fn a_missing_node_is_not_found_and_a_locked_one_is_in_use() {
        assert!(matches!(
            HidTransport::open("/nonexistent/hidraw9"),
            Err(TransportError::NotFound(_))
        ));
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap().to_string();
        let first = HidTransport::open(&path).unwrap();
        // flock locks belong to the open file description: a second open conflicts,
        // exactly as another program's open of the same node would.
        match HidTransport::open(&path) {
            Err(e @ TransportError::InUse(_)) => {
                assert!(e.to_string().contains("in use by another program"), "{e}")
            }
            other => panic!("expected InUse, got {:?}", other.map(|t| t.describe())),
        }
        drop(first);
        assert!(
            HidTransport::open(&path).is_ok(),
            "the lock goes with the transport"
        );
    }

    #[test]
    fn errno_after_removal_reads_as_removed() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let t = HidTransport::from_fd(a.into(), "/dev/hidraw7");
        for errno in [libc::ENODEV, libc::EIO] {
            assert_eq!(
                t.io_error("read", errno),
                TransportError::Disconnected("/dev/hidraw7".into())
            );
        }
        assert!(matches!(
            t.io_error("read", libc::EINVAL),
            TransportError::Io(_)
        ));
    }
}
