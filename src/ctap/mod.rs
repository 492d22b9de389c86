//! CTAP2 over a CTAPHID channel: typed requests, responses and status codes,
//! one module per command family (as python-fido2 and libfido2 arrange them).

pub mod command;
pub mod pin_protocol;
pub mod status;

pub use command::CtapCommand;
pub use status::Status;
