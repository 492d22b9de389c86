//! The CTAP layer's error: what the key said (a status), what broke underneath
//! (CTAPHID), or what the key sent that made no sense.

use std::fmt;

use super::status::Status;
use crate::hid::HidError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtapError {
    /// CTAPHID failed (I/O, timeout, busy, cancelled).
    Hid(HidError),
    /// The key answered with a non-zero CTAP2 status.
    Status(Status),
    /// The key rejected the PIN; `retries` left when the key told us.
    PinInvalid { retries: Option<u64> },
    /// The key's answer could not be decoded.
    Malformed { command: &'static str, why: String },
    /// The key lacks a feature the operation needs.
    Unsupported(String),
    /// A PIN glasskey refuses before sending it (too short or too long).
    PinPolicy(String),
}

impl CtapError {
    pub fn malformed(command: &'static str, why: impl Into<String>) -> Self {
        CtapError::Malformed {
            command,
            why: why.into(),
        }
    }

    /// The CTAP status, when the key gave one.
    pub fn status(&self) -> Option<Status> {
        match self {
            CtapError::Status(s) => Some(*s),
            CtapError::PinInvalid { .. } => Some(Status::PinInvalid),
            _ => None,
        }
    }
}

impl From<HidError> for CtapError {
    fn from(e: HidError) -> Self {
        CtapError::Hid(e)
    }
}

impl fmt::Display for CtapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtapError::Hid(e) => write!(f, "{e}"),
            CtapError::Status(s) => write!(f, "{s}"),
            CtapError::PinInvalid { retries: Some(n) } => write!(
                f,
                "the PIN is wrong; {n} attempt{} left before the key blocks its PIN and must be reset",
                if *n == 1 { "" } else { "s" }
            ),
            CtapError::PinInvalid { retries: None } => f.write_str("the PIN is wrong"),
            CtapError::Malformed { command, why } => {
                write!(f, "the key sent a malformed {command} answer: {why}")
            }
            CtapError::Unsupported(what) => write!(f, "the key does not support {what}"),
            CtapError::PinPolicy(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for CtapError {}

impl From<CtapError> for crate::Error {
    fn from(e: CtapError) -> Self {
        match e {
            CtapError::Hid(h) => h.into(),
            CtapError::PinInvalid { .. } => crate::Error::input(
                e.to_string(),
                "enter the key's PIN again carefully; after 3 wrong PINs in a row re-plug the key",
            ),
            CtapError::PinPolicy(_) => crate::Error::input(
                e.to_string(),
                "choose a PIN within the key's limits (see `glasskey keys info`)",
            ),
            CtapError::Status(Status::PinNotSet | Status::PinPolicyViolation) => {
                crate::Error::input(
                    e.to_string(),
                    "see `glasskey keys info` for the key's PIN rules",
                )
            }
            CtapError::Status(s) => crate::Error::device(
                e.to_string(),
                match s {
                    Status::UserActionTimeout => {
                        "touch the key within a few seconds of being asked"
                    }
                    Status::PinBlocked => {
                        "factory-reset the key (`glasskey keys reset`) and enroll it again"
                    }
                    Status::KeepaliveCancel => "run the command again when ready",
                    _ => "re-plug the key and run the command again",
                },
            ),
            CtapError::Malformed { .. } => crate::Error::device(
                e.to_string(),
                "re-plug the key and retry; if it persists the key or its firmware is faulty",
            ),
            CtapError::Unsupported(_) => crate::Error::device(
                e.to_string(),
                "use a key model that supports it (FIDO2 / CTAP 2.1)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;

    #[test]
    fn operator_messages_name_the_problem_and_the_next_step() {
        let wrong: crate::Error = CtapError::PinInvalid { retries: Some(1) }.into();
        assert!(wrong.what.contains("1 attempt left"), "{wrong}");
        assert_eq!(wrong.class, ExitClass::Input);
        let blocked: crate::Error = CtapError::Status(Status::PinBlocked).into();
        assert!(
            blocked.what.contains("reset") && blocked.next.contains("reset"),
            "{blocked}"
        );
        assert_eq!(blocked.class, ExitClass::DeviceOrNetwork);
        let slow: crate::Error = CtapError::Status(Status::UserActionTimeout).into();
        assert!(slow.next.contains("touch"), "{slow}");
        let bad: crate::Error = CtapError::malformed("getInfo", "x").into();
        assert!(bad.what.contains("getInfo"));
    }
}
