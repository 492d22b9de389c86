//! CTAP2 status codes (CTAP 2.1 §8.2), each with a message an operator can act on.

use std::fmt;

macro_rules! statuses {
    ($($name:ident = $code:literal, $msg:literal;)*) => {
        /// A CTAP2 status byte. Unknown values are kept as `Unknown(byte)`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Status {
            $($name,)*
            Unknown(u8),
        }

        impl Status {
            pub fn from_byte(b: u8) -> Status {
                match b {
                    $($code => Status::$name,)*
                    other => Status::Unknown(other),
                }
            }

            pub fn code(self) -> u8 {
                match self {
                    $(Status::$name => $code,)*
                    Status::Unknown(b) => b,
                }
            }

            /// The spec's name, e.g. `CTAP2_ERR_PIN_INVALID`.
            pub fn spec_name(self) -> &'static str {
                match self {
                    $(Status::$name => stringify!($name),)*
                    Status::Unknown(_) => "UNKNOWN",
                }
            }

            /// What happened and what to do, for an operator.
            pub fn message(self) -> &'static str {
                match self {
                    $(Status::$name => $msg,)*
                    Status::Unknown(_) => "the key returned a status code glasskey does not know; update glasskey or the key's firmware",
                }
            }
        }
    };
}

statuses! {
    Ok = 0x00, "success";
    InvalidCommand = 0x01, "the key does not support this command; it may be an older (CTAP 2.0) model";
    InvalidParameter = 0x02, "the key rejected a parameter of the request";
    InvalidLength = 0x03, "the key rejected the length of the request";
    InvalidSeq = 0x04, "the USB transfer got out of order; re-plug the key and retry";
    Timeout = 0x05, "the USB transfer timed out; re-plug the key and retry";
    ChannelBusy = 0x06, "the key is busy with another program; close browsers and other FIDO tools and retry";
    LockRequired = 0x0a, "the key is locked by another program; close it and retry";
    InvalidChannel = 0x0b, "the key forgot this session; re-plug the key and retry";
    CborUnexpectedType = 0x11, "the key rejected the request encoding (unexpected CBOR type)";
    InvalidCbor = 0x12, "the key could not decode the request (invalid CBOR)";
    MissingParameter = 0x14, "the request lacked a parameter the key requires";
    LimitExceeded = 0x15, "a limit on the key was exceeded (too many items in a list)";
    FpDatabaseFull = 0x17, "the key's fingerprint store is full";
    LargeBlobStorageFull = 0x18, "the key's large-blob storage is full";
    CredentialExcluded = 0x19, "this key already holds a credential for this account (excluded); use a different key or retire the old credential first";
    Processing = 0x21, "the key is still processing";
    InvalidCredential = 0x22, "the key rejected the credential as invalid";
    UserActionPending = 0x23, "the key is waiting for the user; touch it";
    OperationPending = 0x24, "another operation is pending on the key; wait and retry";
    NoOperations = 0x25, "the key has no pending operation";
    UnsupportedAlgorithm = 0x26, "the key supports none of the requested algorithms (Entra needs ES256 or RS256)";
    OperationDenied = 0x27, "the key refused the operation";
    KeyStoreFull = 0x28, "the key has no room for another discoverable credential; delete an unused one or reset the key";
    UnsupportedOption = 0x2b, "the key does not support a requested option (rk or uv); this model is not fit for Entra";
    InvalidOption = 0x2c, "the key rejected an option of the request";
    KeepaliveCancel = 0x2d, "the operation was cancelled";
    NoCredentials = 0x2e, "the key holds no credential for this account: it was reset or is the wrong key";
    UserActionTimeout = 0x2f, "nobody touched the key in time; run the command again and touch the key as soon as it blinks";
    NotAllowed = 0x30, "the key does not allow this operation now (for a reset: it must come within 10 seconds of plugging in)";
    PinInvalid = 0x31, "the PIN is wrong";
    PinBlocked = 0x32, "the PIN is blocked after too many wrong attempts; the key must be factory-reset and re-enrolled";
    PinAuthInvalid = 0x33, "the key rejected the PIN authentication; retry, and if it persists re-plug the key";
    PinAuthBlocked = 0x34, "too many wrong PINs in a row: re-plug the key (remove and insert it) before trying again";
    PinNotSet = 0x35, "the key has no PIN yet; set one with `glasskey keys set-pin`";
    PuatRequired = 0x36, "the key requires a PIN for this operation";
    PinPolicyViolation = 0x37, "the PIN does not meet the key's policy (too short, too long, or a forced PIN change is pending)";
    RequestTooLarge = 0x39, "the request is too large for the key";
    ActionTimeout = 0x3a, "the key timed out waiting for an action; retry";
    UpRequired = 0x3b, "the key requires a touch for this operation";
    UvBlocked = 0x3c, "built-in user verification is blocked; use the PIN";
    IntegrityFailure = 0x3d, "the key reported an integrity failure; it may be faulty — replace it";
    InvalidSubcommand = 0x3e, "the key does not support this subcommand";
    UvInvalid = 0x3f, "built-in user verification failed";
    UnauthorizedPermission = 0x40, "the PIN token lacks the permission for this operation";
    Other = 0x7f, "the key reported an unspecified error";
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (0x{:02x}): {}",
            self.spec_name(),
            self.code(),
            self.message()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_maps_and_round_trips() {
        for b in 0..=255u8 {
            let s = Status::from_byte(b);
            assert_eq!(s.code(), b);
            assert!(!s.message().is_empty());
        }
        assert_eq!(Status::from_byte(0x31), Status::PinInvalid);
        assert!(Status::PinBlocked.message().contains("reset"));
    }
}
