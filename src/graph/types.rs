//! The Graph shapes glasskey reads and writes for FIDO2 registration
//! (GRAPH.md §1–§3), read leniently where the service is known to vary.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::b64;
use super::GraphError;

/// A typed view of a `webauthnCredentialCreationOptions` answer; `raw` keeps it verbatim.
#[derive(Debug, Clone)]
pub struct CreationOptions {
    pub raw: Value,
    pub expires: OffsetDateTime,
    pub rp_id: String,
    pub rp_name: String,
    /// The user handle bytes (decoded leniently).
    pub user_handle: Vec<u8>,
    pub user_name: String,
    pub user_display_name: String,
    /// The challenge string exactly as given (goes into clientDataJSON as is).
    pub challenge: String,
    /// COSE algorithm ids in preference order.
    pub algorithms: Vec<i64>,
    /// Credential ids already registered (decoded leniently).
    pub exclude_credentials: Vec<Vec<u8>>,
    pub extensions: Value,
}

impl CreationOptions {
    /// Read a creationOptions answer (top level; a `value` wrapper is also accepted, GRAPH.md C2).
    pub fn from_value(raw: Value) -> Result<CreationOptions, GraphError> {
        let op = "read creationOptions";
        let body = if raw.get("publicKey").is_none() && raw.get("value").is_some() {
            &raw["value"]
        } else {
            &raw
        };
        let pk = &body["publicKey"];
        let text = |v: &Value, what: &str| -> Result<String, GraphError> {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| GraphError::bad_response(op, format!("{what} is missing")))
        };
        let expires_text = text(
            &body["challengeTimeoutDateTime"],
            "challengeTimeoutDateTime",
        )?;
        let expires = parse_time(&expires_text).ok_or_else(|| {
            GraphError::bad_response(
                op,
                format!("challengeTimeoutDateTime '{expires_text}' is not a date"),
            )
        })?;
        let challenge = text(&pk["challenge"], "publicKey.challenge")?;
        if b64::decode_lenient(&challenge).is_none() {
            return Err(GraphError::bad_response(
                op,
                "publicKey.challenge is not base64url",
            ));
        }
        let user_handle = b64::decode_lenient(&text(&pk["user"]["id"], "publicKey.user.id")?)
            .ok_or_else(|| GraphError::bad_response(op, "publicKey.user.id is not base64"))?;
        let mut exclude_credentials = Vec::new();
        // `excludeCredentials` may be null or missing (no credentials yet).
        for d in pk["excludeCredentials"].as_array().into_iter().flatten() {
            let ids = d["id"]
                .as_str()
                .map(b64::decode_candidates)
                .unwrap_or_default();
            if ids.is_empty() {
                return Err(GraphError::bad_response(
                    op,
                    "an excludeCredentials id is not base64 in any known form",
                ));
            }
            // Both readings of an ambiguous UrlTokenEncode id (beta doc note).
            exclude_credentials.extend(ids);
        }
        let algorithms = pk["pubKeyCredParams"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["alg"].as_i64())
            .collect::<Vec<_>>();
        if algorithms.is_empty() {
            return Err(GraphError::bad_response(
                op,
                "publicKey.pubKeyCredParams lists no algorithm",
            ));
        }
        Ok(CreationOptions {
            expires,
            rp_id: text(&pk["rp"]["id"], "publicKey.rp.id")?,
            rp_name: pk["rp"]["name"].as_str().unwrap_or("").to_string(),
            user_handle,
            user_name: pk["user"]["name"].as_str().unwrap_or("").to_string(),
            user_display_name: pk["user"]["displayName"].as_str().unwrap_or("").to_string(),
            challenge,
            algorithms,
            exclude_credentials,
            extensions: pk["extensions"].clone(),
            raw,
        })
    }

    /// The origin Entra expects: `https://` + rp.id (GRAPH.md C1).
    pub fn origin(&self) -> String {
        format!("https://{}", self.rp_id)
    }

    /// clientDataJSON for this challenge, exactly as DESIGN fixes it.
    pub fn client_data_json(&self) -> Vec<u8> {
        client_data_json(&self.challenge, &self.rp_id)
    }

    /// True when the challenge has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires
    }
}

/// `{"type":"webauthn.create","challenge":<as given>,"origin":"https://"+rp_id,"crossOrigin":false}`.
pub fn client_data_json(challenge: &str, rp_id: &str) -> Vec<u8> {
    let q = |s: &str| Value::String(s.to_string()).to_string();
    format!(
        "{{\"type\":\"webauthn.create\",\"challenge\":{},\"origin\":{},\"crossOrigin\":false}}",
        q(challenge),
        q(&format!("https://{rp_id}"))
    )
    .into_bytes()
}

/// Longest FIDO2 method `displayName` Entra takes. The Graph pages do not
/// state a limit; the tools that register keys on behalf of users cap it at
/// 30 (DSInternals.Passkeys 1–30, powershellYK 3–30: GRAPH.md §2.1) and Entra
/// refuses longer names at POST — after the key was changed. So the limit is
/// checked before a key is touched, and the emulator enforces it.
pub const DISPLAY_NAME_MAX: usize = 30;

/// Check a method display name: 1..=30 characters (counted in UTF-16 code
/// units, as .NET strings count), no control characters.
pub fn check_display_name(name: &str) -> Result<(), GraphError> {
    let units = name.encode_utf16().count();
    let next = "choose a label of 1 to 30 characters (e.g. `BG1 key A SN 1234`)";
    if name.trim().is_empty() {
        return Err(GraphError::input(
            "the FIDO2 method display name is empty",
            next,
        ));
    }
    if units > DISPLAY_NAME_MAX {
        return Err(GraphError::input(
            format!(
                "the FIDO2 method display name '{name}' is {units} characters; Entra takes at most {DISPLAY_NAME_MAX}"
            ),
            next,
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(GraphError::input(
            "the FIDO2 method display name contains control characters",
            next,
        ));
    }
    Ok(())
}

/// The exact body to POST to `/users/{id}/authentication/fido2Methods`.
pub fn registration_body(
    display_name: &str,
    credential_id: &[u8],
    client_data_json: &[u8],
    attestation_object: &[u8],
) -> Value {
    serde_json::json!({
        "displayName": display_name,
        "publicKeyCredential": {
            "id": b64::encode(credential_id),
            "response": {
                "clientDataJSON": b64::encode(client_data_json),
                "attestationObject": b64::encode(attestation_object),
            },
            "clientExtensionResults": {},
        }
    })
}

/// Read `null` as the type's default: Graph documents most properties as
/// nullable, and a collection reverted by PATCH comes back as `null`
/// (e.g. `passkeyProfiles`, `aaGuids`). Use with `#[serde(default)]` so a
/// missing property reads the same way.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A registered FIDO2 method as Graph lists it (v1.0 and beta
/// `fido2AuthenticationMethod`; unknown properties are ignored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Fido2Method {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    pub display_name: Option<String>,
    /// `createdDateTime` (older docs: `creationDateTime`, GRAPH.md C9).
    #[serde(alias = "creationDateTime")]
    pub created_date_time: Option<String>,
    pub aa_guid: Option<String>,
    pub model: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub attestation_certificates: Vec<String>,
    pub attestation_level: Option<String>,
    pub passkey_type: Option<String>,
}

/// A directory user with the properties posture checks need (most are `$select`-only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub account_enabled: Option<bool>,
    pub on_premises_sync_enabled: Option<bool>,
    pub password_policies: Option<String>,
    pub user_type: Option<String>,
}

/// The `$select` list that brings every [`User`] property.
pub const USER_SELECT: &str =
    "id,userPrincipalName,displayName,accountEnabled,onPremisesSyncEnabled,passwordPolicies,userType";

/// RFC 3339 instant (Graph writes `Z`; some answers omit it, which means UTC).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339).ok())
}

/// Format an instant the way Graph does (`...Z`, whole seconds).
pub fn format_time(t: OffsetDateTime) -> String {
    use time::format_description::well_known::Rfc3339;
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_data_json_is_exact() {
        let c = client_data_json("abc_-1", "login.microsoft.com");
        assert_eq!(
            String::from_utf8(c).unwrap(),
            r#"{"type":"webauthn.create","challenge":"abc_-1","origin":"https://login.microsoft.com","crossOrigin":false}"#
        );
    }

    #[test]
    fn creation_options_read_leniently() {
        let v = serde_json::json!({"value": {
            "challengeTimeoutDateTime": "2026-05-01T09:35:00",
            "publicKey": {"rp": {"id": "login.microsoft.com", "name": "Microsoft"},
              "user": {"id": "T0Y6YWJj", "name": "bg1@x", "displayName": "BG 1"},
              "challenge": "Y2hhbGxlbmdl",
              "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
              "excludeCredentials": [{"type": "public-key", "id": "+/+/AA==", "transports": []},
                                     {"type": "public-key", "id": "-_-_AA2"}]}}});
        let o = CreationOptions::from_value(v).unwrap();
        assert_eq!(o.user_handle, b"OF:abc");
        assert_eq!(
            o.exclude_credentials,
            vec![vec![0xfb, 0xff, 0xbf, 0], vec![0xfb, 0xff, 0xbf, 0]]
        );
        assert_eq!(o.algorithms, vec![-7, -257]);
        assert!(o.is_expired(parse_time("2026-05-01T09:35:00Z").unwrap()));
        let bad = serde_json::json!({"publicKey": {}});
        assert!(CreationOptions::from_value(bad).is_err());
    }

    #[test]
    fn display_names_longer_than_30_are_refused() {
        assert!(check_display_name("BG1 key A (SN 12345678)").is_ok());
        assert!(check_display_name(&"x".repeat(30)).is_ok());
        let e = check_display_name(&"x".repeat(31)).unwrap_err().to_string();
        assert!(e.contains("31 characters") && e.contains("30"), "{e}");
        assert!(check_display_name("  ").is_err());
        assert!(check_display_name("a\nb").is_err());
        // 15 non-BMP characters are 30 UTF-16 units; 16 are too many.
        assert!(check_display_name(&"🔑".repeat(15)).is_ok());
        assert!(check_display_name(&"🔑".repeat(16)).is_err());
    }

    #[test]
    fn method_reads_old_field_name() {
        let m: Fido2Method =
            serde_json::from_str(r#"{"id":"x","creationDateTime":"t","extra":1}"#).unwrap();
        assert_eq!(m.created_date_time.as_deref(), Some("t"));
    }
}
