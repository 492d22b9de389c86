//! CTAP2 over a CTAPHID channel: typed requests, responses and status codes,
//! one module per command family (as python-fido2 and libfido2 arrange them).

pub mod cbor;
pub mod command;
pub mod config;
pub mod credman;
pub mod device;
pub mod error;
pub mod exclude;
pub mod get_assertion;
pub mod info;
pub mod make_credential;
pub mod pin;
pub mod pin_protocol;
pub mod pin_rules;
pub mod reset;
pub mod status;

pub use command::CtapCommand;
pub use device::Device;
pub use error::CtapError;
pub use info::Info;
pub use status::Status;
