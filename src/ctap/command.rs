//! authenticator* command bytes (CTAP 2.1 §6) and the clientPin, credentialManagement
//! and authenticatorConfig subcommands.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CtapCommand {
    MakeCredential = 0x01,
    GetAssertion = 0x02,
    GetInfo = 0x04,
    ClientPin = 0x06,
    Reset = 0x07,
    GetNextAssertion = 0x08,
    BioEnrollment = 0x09,
    CredentialManagement = 0x0a,
    Selection = 0x0b,
    LargeBlobs = 0x0c,
    Config = 0x0d,
    /// credentialManagement as FIDO_2_1_PRE authenticators know it.
    CredentialManagementPreview = 0x41,
}

impl CtapCommand {
    pub fn from_byte(b: u8) -> Option<CtapCommand> {
        use CtapCommand::*;
        Some(match b {
            0x01 => MakeCredential,
            0x02 => GetAssertion,
            0x04 => GetInfo,
            0x06 => ClientPin,
            0x07 => Reset,
            0x08 => GetNextAssertion,
            0x09 => BioEnrollment,
            0x0a => CredentialManagement,
            0x0b => Selection,
            0x0c => LargeBlobs,
            0x0d => Config,
            0x41 => CredentialManagementPreview,
            _ => return None,
        })
    }
}

/// clientPin subCommand values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientPinSub {
    GetPinRetries = 0x01,
    GetKeyAgreement = 0x02,
    SetPin = 0x03,
    ChangePin = 0x04,
    GetPinToken = 0x05,
    GetPinUvAuthTokenUsingUvWithPermissions = 0x06,
    GetUvRetries = 0x07,
    GetPinUvAuthTokenUsingPinWithPermissions = 0x09,
}

/// credentialManagement subCommand values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CredMgmtSub {
    GetCredsMetadata = 0x01,
    EnumerateRpsBegin = 0x02,
    EnumerateRpsGetNextRp = 0x03,
    EnumerateCredentialsBegin = 0x04,
    EnumerateCredentialsGetNextCredential = 0x05,
    DeleteCredential = 0x06,
    UpdateUserInformation = 0x07,
}

/// authenticatorConfig subCommand values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConfigSub {
    EnableEnterpriseAttestation = 0x01,
    ToggleAlwaysUv = 0x02,
    SetMinPinLength = 0x03,
}

/// pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7).
pub mod permission {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x04;
    pub const BIO_ENROLLMENT: u8 = 0x08;
    pub const LARGE_BLOB_WRITE: u8 = 0x10;
    pub const AUTHENTICATOR_CONFIG: u8 = 0x20;
}
