//! The report-level transport every CTAPHID channel runs over.

use std::fmt;
use std::time::Duration;

/// FIDO HID reports are 64 bytes (without the report-id byte).
pub const REPORT_LEN: usize = 64;

/// One 64-byte HID report.
pub type Report = [u8; REPORT_LEN];

/// Moves raw 64-byte CTAPHID reports to and from one authenticator.
///
/// Implementations: a hidapi device, a socket carrying bare reports (the format of the
/// test peers), and the in-process virtual key. A transport never interprets reports.
pub trait Transport: Send {
    /// Send one output report.
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError>;
    /// Wait up to `timeout` for one input report; `Ok(None)` when none arrived in time.
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError>;
    /// A short human description of the device ("/dev/hidraw3", "unix:/tmp/k.sock").
    fn describe(&self) -> String;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        (**self).write_report(report)
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        (**self).read_report(timeout)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A transport that stopped working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The device went away (unplugged, socket closed).
    Disconnected(String),
    /// Nothing at that path or address (typo, key not plugged in, peer not running).
    NotFound(String),
    /// The OS refused access (permissions on /dev/hidraw*).
    PermissionDenied(String),
    /// Another program holds the key's lock (libfido2's flock) or the kernel says busy.
    InUse(String),
    /// Any other I/O failure.
    Io(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Disconnected(d) => {
                write!(f, "the key at {d} was removed (unplugged or disconnected)")
            }
            TransportError::NotFound(d) => write!(f, "there is no key at {d}"),
            TransportError::PermissionDenied(d) => write!(f, "no permission to open {d}"),
            TransportError::InUse(d) => write!(
                f,
                "the key at {d} is in use by another program (it holds the device lock: a browser, \
                 pam_u2f, ssh, systemd-cryptenroll or another FIDO tool)"
            ),
            TransportError::Io(e) => write!(f, "device I/O failed: {e}"),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<TransportError> for crate::Error {
    fn from(e: TransportError) -> Self {
        let next = match &e {
            TransportError::Disconnected(_) => {
                "plug the key back in (firmly, directly into the computer) and run the command again"
            }
            TransportError::NotFound(_) => {
                "check the path or address (`glasskey keys list` shows the keys plugged in)"
            }
            TransportError::PermissionDenied(_) => {
                "install glasskey's udev rules (udev/70-glasskey-fido.rules into /etc/udev/rules.d, see its header) and re-plug the key, or join the glasskey group"
            }
            TransportError::InUse(_) => {
                "finish or close the other program using the key, then run the command again"
            }
            TransportError::Io(_) => "re-plug the key and try again; if it persists, try another USB port",
        };
        crate::Error::device(e.to_string(), next)
    }
}
