//! USB HID transport for FIDO authenticators: enumeration with hidapi, the
//! 64-byte report [`Transport`] trait, and CTAPHID framing on top of it.
//!
//! Everything above this layer speaks whole CTAPHID messages; everything below
//! moves 64-byte reports. The same code drives a real key (hidraw), a socket peer
//! (`unix:PATH`, `tcp:127.0.0.1:PORT`) and the in-process virtual key.

pub mod cancel;
pub mod channel;
pub mod hidraw;
pub mod packet;
pub mod replay;
pub mod socket;
pub mod transport;

pub use cancel::CancelToken;
pub use channel::{Channel, Deadlines, HidError, InitInfo, KeepaliveStatus};
pub use hidraw::{list_fido, HidDeviceInfo, HidTransport};
pub use socket::{SocketAddress, SocketTransport};
pub use transport::{Transport, TransportError, REPORT_LEN};

/// Open `--device` text: a socket address (`unix:`, `tcp:`) or a hidraw path.
pub fn open_device(address: &str) -> crate::Result<Box<dyn Transport>> {
    match SocketAddress::parse(address) {
        Ok(Some(socket)) => Ok(Box::new(SocketTransport::connect(&socket)?)),
        Ok(None) => Ok(Box::new(HidTransport::open(address)?)),
        Err(why) => Err(crate::Error::input(
            format!("--device {address}: {why}"),
            "give a hidraw path (/dev/hidrawN), unix:PATH or tcp:127.0.0.1:PORT",
        )),
    }
}
