//! authenticatorGetInfo (CTAP 2.1 §6.4, 2.2/2.3 additions): every field typed,
//! unknown keys ignored so newer keys keep working.

use std::collections::BTreeMap;

use ciborium::Value;
use serde::Serialize;

use super::cbor::{self, as_i64, as_u64, Fields};
use super::error::CtapError;
use super::pin_protocol::PinProtocol;
use crate::aaguid::Aaguid;

const NAME: &str = "getInfo";

/// A public-key algorithm the key supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Algorithm {
    pub alg: i64,
    #[serde(rename = "type")]
    pub kind: String,
    /// The COSE name (ES256, EdDSA, ...), or the number when glasskey does not know it.
    pub name: String,
}

/// The IANA COSE name of a signature algorithm, as people read it.
pub fn algorithm_name(alg: i64) -> String {
    match alg {
        -7 => "ES256".into(),
        -8 => "EdDSA".into(),
        -9 => "ESP256".into(),
        -19 => "Ed25519".into(),
        -35 => "ES384".into(),
        -36 => "ES512".into(),
        -47 => "ES256K".into(),
        -257 => "RS256".into(),
        -65535 => "RS1".into(),
        other => format!("COSE algorithm {other}"),
    }
}

/// What a key asks for when the platform sends no maxMsgSize (CTAP 2.1 §6.4:
/// "if absent, 1024 bytes").
pub const DEFAULT_MAX_MSG_SIZE: u64 = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Info {
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    pub aaguid: Aaguid,
    pub options: BTreeMap<String, bool>,
    pub max_msg_size: Option<u64>,
    pub pin_uv_auth_protocols: Vec<u64>,
    pub max_credential_count_in_list: Option<u64>,
    pub max_credential_id_length: Option<u64>,
    pub transports: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub max_serialized_large_blob_array: Option<u64>,
    pub force_pin_change: bool,
    pub min_pin_length: Option<u64>,
    pub firmware_version: Option<u64>,
    pub max_cred_blob_length: Option<u64>,
    pub max_rp_ids_for_set_min_pin_length: Option<u64>,
    pub preferred_platform_uv_attempts: Option<u64>,
    pub uv_modality: Option<u64>,
    pub certifications: BTreeMap<String, u64>,
    pub remaining_discoverable_credentials: Option<u64>,
    pub vendor_prototype_config_commands: Vec<u64>,
    pub attestation_formats: Vec<String>,
    pub uv_count_since_last_pin_entry: Option<u64>,
    pub long_touch_for_reset: Option<bool>,
    /// Transports over which authenticatorReset works (CTAP 2.2 0x1a); empty: any.
    pub transports_for_reset: Vec<String>,
    /// The key enforces a PIN complexity policy beyond the length (CTAP 2.2 0x1b).
    pub pin_complexity_policy: Option<bool>,
    /// Where the vendor describes that policy (CTAP 2.2 0x1c).
    pub pin_complexity_policy_url: Option<String>,
    /// The longest PIN the key accepts, in code points (CTAP 2.2 0x1d; 63 when absent).
    pub max_pin_length: Option<u64>,
}

fn texts(f: &Fields, key: i64) -> Result<Vec<String>, CtapError> {
    f.array(key)?
        .unwrap_or_default()
        .iter()
        .map(|v| match v {
            Value::Text(t) => Ok(t.clone()),
            _ => Err(f.err(format!("field {key} holds a non-text entry"))),
        })
        .collect()
}

fn uints(f: &Fields, key: i64) -> Result<Vec<u64>, CtapError> {
    f.array(key)?
        .unwrap_or_default()
        .iter()
        .map(|v| as_u64(v).ok_or_else(|| f.err(format!("field {key} holds a non-integer entry"))))
        .collect()
}

impl Info {
    /// Parse the getInfo response body (without the status byte).
    pub fn from_cbor(body: &[u8]) -> Result<Info, CtapError> {
        let value = cbor::decode(NAME, body)?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Info, CtapError> {
        let f = Fields::new(NAME, value)?;
        let versions = texts(&f, 0x01)?;
        if versions.is_empty() {
            return Err(f.err("no versions listed"));
        }
        let aaguid_bytes = f
            .bytes(0x03)?
            .ok_or_else(|| f.err("the AAGUID (field 3) is missing"))?;
        let aaguid =
            Aaguid::from_slice(aaguid_bytes).ok_or_else(|| f.err("the AAGUID is not 16 bytes"))?;
        let mut options = BTreeMap::new();
        for (k, v) in f.map(0x04)?.unwrap_or_default() {
            match (k, v) {
                (Value::Text(k), Value::Bool(b)) => {
                    options.insert(k.clone(), *b);
                }
                _ => return Err(f.err("options must map text to booleans")),
            }
        }
        let mut algorithms = Vec::new();
        for entry in f.array(0x0a)?.unwrap_or_default() {
            let Value::Map(m) = entry else {
                return Err(f.err("an algorithm entry is not a map"));
            };
            let alg = cbor::text_key(m, "alg").and_then(as_i64);
            let kind = cbor::text_key(m, "type").and_then(Value::as_text);
            match (alg, kind) {
                (Some(alg), Some(kind)) => algorithms.push(Algorithm {
                    alg,
                    kind: kind.to_string(),
                    name: algorithm_name(alg),
                }),
                _ => return Err(f.err("an algorithm entry lacks alg or type")),
            }
        }
        let mut certifications = BTreeMap::new();
        for (k, v) in f.map(0x13)?.unwrap_or_default() {
            if let (Value::Text(k), Some(level)) = (k, as_u64(v)) {
                certifications.insert(k.clone(), level);
            }
        }
        Ok(Info {
            versions,
            extensions: texts(&f, 0x02)?,
            aaguid,
            options,
            max_msg_size: f.uint(0x05)?,
            pin_uv_auth_protocols: uints(&f, 0x06)?,
            max_credential_count_in_list: f.uint(0x07)?,
            max_credential_id_length: f.uint(0x08)?,
            transports: texts(&f, 0x09)?,
            algorithms,
            max_serialized_large_blob_array: f.uint(0x0b)?,
            force_pin_change: f.bool(0x0c)?.unwrap_or(false),
            min_pin_length: f.uint(0x0d)?,
            firmware_version: f.uint(0x0e)?,
            max_cred_blob_length: f.uint(0x0f)?,
            max_rp_ids_for_set_min_pin_length: f.uint(0x10)?,
            preferred_platform_uv_attempts: f.uint(0x11)?,
            uv_modality: f.uint(0x12)?,
            certifications,
            remaining_discoverable_credentials: f.uint(0x14)?,
            vendor_prototype_config_commands: uints(&f, 0x15)?,
            attestation_formats: texts(&f, 0x16)?,
            uv_count_since_last_pin_entry: f.uint(0x17)?,
            long_touch_for_reset: f.bool(0x18)?,
            transports_for_reset: texts(&f, 0x1a)?,
            pin_complexity_policy: f.bool(0x1b)?,
            // A byte string in CTAP 2.2; some keys may send text. Informative only, so never fatal.
            pin_complexity_policy_url: match f.get(0x1c) {
                Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            },
            max_pin_length: f.uint(0x1d)?,
        })
    }

    pub fn option(&self, name: &str) -> Option<bool> {
        self.options.get(name).copied()
    }

    /// clientPin option: `Some(true)` PIN set, `Some(false)` supported but unset, `None` no PIN support.
    pub fn pin_set(&self) -> Option<bool> {
        self.option("clientPin")
    }

    pub fn supports_version(&self, v: &str) -> bool {
        self.versions.iter().any(|x| x == v)
    }

    pub fn supports_extension(&self, e: &str) -> bool {
        self.extensions.iter().any(|x| x == e)
    }

    /// The PIN/UV auth protocol to use: the key's first listed one we implement
    /// (keys list their preference first); protocol 1 when a 2.0 key lists none.
    pub fn preferred_pin_protocol(&self) -> Option<PinProtocol> {
        if self.pin_uv_auth_protocols.is_empty() {
            return self.pin_set().map(|_| PinProtocol::V1);
        }
        self.pin_uv_auth_protocols
            .iter()
            .find_map(|n| PinProtocol::from_number(*n))
    }

    /// The shortest PIN the key accepts (4 unless it says otherwise).
    pub fn min_pin_len(&self) -> u64 {
        self.min_pin_length.unwrap_or(4)
    }

    /// The longest PIN the key takes, in code points (CTAP's 63 when it does not say).
    pub fn max_pin_len(&self) -> u64 {
        self.max_pin_length.unwrap_or(63).min(63)
    }

    /// The largest request the key takes: its maxMsgSize, else CTAP's default of 1024.
    pub fn effective_max_msg_size(&self) -> u64 {
        self.max_msg_size.unwrap_or(DEFAULT_MAX_MSG_SIZE)
    }

    /// Algorithms by name, in the key's order (ES256, EdDSA, ...).
    pub fn algorithm_names(&self) -> Vec<String> {
        self.algorithms.iter().map(|a| a.name.clone()).collect()
    }

    /// True when the key speaks CTAP 2.1 (final), not only 2.0 or the 2.1 preview.
    pub fn is_ctap21(&self) -> bool {
        self.versions
            .iter()
            .any(|v| v == "FIDO_2_1" || v.starts_with("FIDO_2_2") || v.starts_with("FIDO_2_3"))
    }

    /// Built-in user verification (a fingerprint reader) is present and enrolled.
    pub fn has_builtin_uv(&self) -> bool {
        self.option("uv") == Some(true)
    }

    /// credentialManagement under its 2.1 command (0x0a) or the 2.1-PRE one (0x41).
    pub fn cred_mgmt_command(&self) -> Option<super::CtapCommand> {
        if self.option("credMgmt") == Some(true) {
            Some(super::CtapCommand::CredentialManagement)
        } else if self.option("credentialMgmtPreview") == Some(true) {
            Some(super::CtapCommand::CredentialManagementPreview)
        } else {
            None
        }
    }
}

/// firmwareVersion as the vendor prints it. Yubico (and glasskey's virtual
/// models) pack major.minor.patch into three bytes (0x050403 is 5.4.3); other
/// vendors' encodings are not published, so their number is shown as sent.
pub fn firmware_display(firmware: u64, vendor: Option<&str>) -> String {
    let triplet = matches!(vendor, Some(v) if v.starts_with("Yubico") || v.starts_with("glasskey"));
    if triplet && firmware <= 0xff_ffff {
        format!(
            "{}.{}.{}",
            (firmware >> 16) & 0xff,
            (firmware >> 8) & 0xff,
            firmware & 0xff
        )
    } else {
        firmware.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cbor::{bytes, encode, int, map, text};

    fn info_with(extra: Vec<(Value, Value)>) -> Result<Info, CtapError> {
        let mut m = vec![
            (int(1), Value::Array(vec![text("FIDO_2_1")])),
            (int(3), bytes(&[7; 16])),
        ];
        m.extend(extra);
        Info::from_cbor(&encode(&map(m)))
    }

    #[test]
    fn pin_protocol_follows_the_keys_preference_and_skips_unknown_ones() {
        let i = info_with(vec![(int(6), Value::Array(vec![int(3), int(2), int(1)]))]).unwrap();
        assert_eq!(i.preferred_pin_protocol(), Some(PinProtocol::V2));
        let clientpin = map(vec![(text("clientPin"), Value::Bool(false))]);
        let i = info_with(vec![(int(4), clientpin)]).unwrap();
        assert_eq!(
            i.preferred_pin_protocol(),
            Some(PinProtocol::V1),
            "2.0 keys list none"
        );
        assert_eq!(info_with(vec![]).unwrap().preferred_pin_protocol(), None);
    }

    #[test]
    fn required_fields_and_wrong_types_are_errors() {
        assert!(Info::from_cbor(&encode(&map(vec![(int(3), bytes(&[7; 16]))]))).is_err());
        assert!(info_with(vec![(int(5), text("big"))]).is_err());
        assert!(info_with(vec![(int(4), map(vec![(text("rk"), int(1))]))]).is_err());
        let short_aaguid = map(vec![
            (int(1), Value::Array(vec![text("FIDO_2_0")])),
            (int(3), bytes(&[1; 15])),
        ]);
        assert!(Info::from_cbor(&encode(&short_aaguid)).is_err());
        assert_eq!(
            info_with(vec![(int(0x7f), text("future"))])
                .unwrap()
                .min_pin_len(),
            4
        );
    }
}
