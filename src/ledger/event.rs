//! The events of the custody ledger and the value types they carry.
//!
//! Field order in these types IS the canonical encoding (docs/ledger.md): serde
//! serializes struct fields in declaration order, so reordering a field changes
//! every hash. Add new fields only as new event types or a new record version.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::aaguid::Aaguid;

/// Bytes shown as base64url without padding (credential ids, COSE keys).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({self})")
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|e| serde::de::Error::custom(format!("not base64url without padding: {e}")))
    }
}

/// A UTC instant with whole seconds, written as RFC 3339 (`2026-11-22T04:43:13Z`).
/// Whole seconds keep the canonical text unique; the sequence number orders events.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(OffsetDateTime::now_utc())
    }
    /// Convert to UTC and drop sub-second precision.
    pub fn from_datetime(t: OffsetDateTime) -> Timestamp {
        let utc = t.to_offset(time::UtcOffset::UTC);
        Timestamp(utc.replace_nanosecond(0).unwrap_or(utc))
    }
    pub fn datetime(&self) -> OffsetDateTime {
        self.0
    }
    /// `YYYY-MM-DD`, for sheets.
    pub fn date(&self) -> String {
        let d = self.0.date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(Timestamp::from_datetime)
            .map_err(|e| format!("'{s}' is not an RFC 3339 time: {e}"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One named check within a liveness check (e.g. "assertion", "counter", "pin").
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CheckItem {
    pub name: String,
    pub passed: bool,
}

/// What happened. Secrets (PINs, tokens) have no field here on purpose.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A key was identified and taken into the program.
    KeyEnrolled {
        key: String,
        model: String,
        aaguid: Aaguid,
        firmware: Option<String>,
        /// Serial number or the vendor's printed label, when known.
        serial: Option<String>,
        /// SHA-256 (hex) of the attestation leaf certificate.
        attestation_fingerprint: Option<String>,
    },
    /// A discoverable credential was created on the key for an account.
    CredentialCreated {
        key: String,
        account: String,
        rp_id: String,
        credential_id: Bytes,
        cose_public_key: Bytes,
        sign_count: u32,
        cred_protect: Option<u8>,
    },
    /// Entra accepted the credential as a FIDO2 method; fields as Entra reported them.
    RegisteredInEntra {
        key: String,
        account: String,
        credential_id: Bytes,
        method_id: String,
        created_date_time: String,
        model: Option<String>,
        attestation_level: Option<String>,
    },
    /// The key went into a tamper-evident envelope at a location.
    EnvelopeSealed {
        key: String,
        location: String,
        seal: String,
        custodians: Vec<String>,
    },
    /// An envelope was opened (check, use, move, retirement).
    EnvelopeOpened {
        key: String,
        location: String,
        seal: String,
        reason: String,
    },
    /// A liveness check ran on the key.
    LivenessChecked {
        key: String,
        passed: bool,
        counter: Option<u32>,
        checks: Vec<CheckItem>,
    },
    /// The key (sealed or not) moved to another location.
    KeyMoved {
        key: String,
        from: String,
        to: String,
    },
    /// The key left the program.
    KeyRetired { key: String, reason: String },
    /// A retired key's envelope (and the key in it) was taken out and destroyed, in front
    /// of the operators named on the record; the custody sheet stops listing it.
    EnvelopeDestroyed { key: String, seal: Option<String> },
    /// An enrollment stopped after the key was changed (PIN set, perhaps a credential
    /// made): the key must be reset before it is used again.
    EnrollmentAbandoned {
        key: String,
        account: String,
        reason: String,
        next: String,
    },
    /// A key was factory-reset by glasskey (e.g. to clear an abandoned enrollment):
    /// its PIN and credentials are gone. The label may never have been enrolled.
    KeyReset { key: String, reason: String },
    /// Evidence from Entra's sign-in log (`check --signin`): the account signed
    /// in successfully with a FIDO2 key / passkey — or why that could not be
    /// established (`outcome` `verified` | `not_found` | `not_collected`).
    SignInEvidence {
        account: String,
        key: Option<String>,
        outcome: String,
        /// Entra's sign-in id, time, method, client IP and correlation id.
        sign_in_id: Option<String>,
        time: Option<String>,
        method: Option<String>,
        ip_address: Option<String>,
        correlation_id: Option<String>,
        detail: String,
    },
    /// `audit --online` reviewed the accounts' sign-ins up to `until`; the
    /// next review starts there.
    SignInsReviewed {
        accounts: Vec<String>,
        until: String,
        sign_ins: u32,
        unexpected: u32,
    },
    /// A sheet was printed showing the ledger as of `head_seq` / `head_hash`.
    SheetPrinted {
        sheet: String,
        location: Option<String>,
        head_seq: u64,
        head_hash: String,
    },
    /// The evidence of a credential's creation, kept so the enrollment can be
    /// re-verified offline for as long as the ledger lives: the WebAuthn
    /// attestation object and the exact clientDataJSON whose hash the key signed.
    CredentialAttested {
        key: String,
        credential_id: Bytes,
        attestation_object: Bytes,
        client_data_json: Bytes,
        /// What vouched for the attestation when it was verified at enrollment:
        /// the trust anchor reached (a shipped vendor root or the kit's MDS BLOB),
        /// self attestation, or why none was reached.
        trust: String,
    },
    /// A liveness check's assertion, made over a challenge derived from the
    /// ledger head before the check (`head_seq`, `head_hash`) and a fresh
    /// `nonce`: the key itself signed the ledger as it stood (docs/ledger.md
    /// "Witnessed by the keys").
    CheckWitnessed {
        key: String,
        credential_id: Bytes,
        head_seq: u64,
        head_hash: String,
        nonce: Bytes,
        client_data_json: Bytes,
        authenticator_data: Bytes,
        signature: Bytes,
    },
}

impl Event {
    /// The key label the event is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            Event::KeyEnrolled { key, .. }
            | Event::CredentialCreated { key, .. }
            | Event::RegisteredInEntra { key, .. }
            | Event::EnvelopeSealed { key, .. }
            | Event::EnvelopeOpened { key, .. }
            | Event::LivenessChecked { key, .. }
            | Event::KeyMoved { key, .. }
            | Event::KeyRetired { key, .. }
            | Event::EnvelopeDestroyed { key, .. }
            | Event::CredentialAttested { key, .. }
            | Event::CheckWitnessed { key, .. } => Some(key),
            Event::SignInEvidence { key, .. } => key.as_deref(),
            Event::SheetPrinted { .. }
            | Event::EnrollmentAbandoned { .. }
            | Event::KeyReset { .. }
            | Event::SignInsReviewed { .. } => None,
        }
    }

    /// The snake_case type name as written in the ledger.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::KeyEnrolled { .. } => "key_enrolled",
            Event::CredentialCreated { .. } => "credential_created",
            Event::RegisteredInEntra { .. } => "registered_in_entra",
            Event::EnvelopeSealed { .. } => "envelope_sealed",
            Event::EnvelopeOpened { .. } => "envelope_opened",
            Event::LivenessChecked { .. } => "liveness_checked",
            Event::KeyMoved { .. } => "key_moved",
            Event::KeyRetired { .. } => "key_retired",
            Event::EnvelopeDestroyed { .. } => "envelope_destroyed",
            Event::EnrollmentAbandoned { .. } => "enrollment_abandoned",
            Event::KeyReset { .. } => "key_reset",
            Event::SheetPrinted { .. } => "sheet_printed",
            Event::SignInEvidence { .. } => "sign_in_evidence",
            Event::SignInsReviewed { .. } => "sign_ins_reviewed",
            Event::CredentialAttested { .. } => "credential_attested",
            Event::CheckWitnessed { .. } => "check_witnessed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_utc_whole_seconds_and_round_trips() {
        let t: Timestamp = "2026-11-22T06:43:13.75+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-22T04:43:13Z");
        assert_eq!(t.date(), "2026-11-22");
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn bytes_are_base64url_without_padding() {
        let b = Bytes(vec![0xfb, 0xff, 0x01]);
        let j = serde_json::to_string(&b).unwrap();
        assert_eq!(j, "\"-_8B\"");
        assert_eq!(serde_json::from_str::<Bytes>(&j).unwrap(), b);
        assert!(serde_json::from_str::<Bytes>("\"+/8B\"").is_err());
    }
}
