//! USB HID transport for FIDO authenticators: enumeration with hidapi, the
//! 64-byte report [`Transport`] trait, and CTAPHID framing on top of it.
//!
//! Everything above this layer speaks whole CTAPHID messages; everything below
//! moves 64-byte reports. The same code drives a real key (hidraw), a socket peer
//! (`unix:PATH`, `tcp:127.0.0.1:PORT`) and the in-process virtual key.

pub mod packet;
pub mod transport;

pub use transport::{Transport, TransportError, REPORT_LEN};
