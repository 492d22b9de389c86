//! Split (air-gapped) ceremony files (DESIGN "Split ceremony files"): the
//! request bundle `glasskey graph fetch-options` writes online, and the
//! response bundle `glasskey enroll --request` writes offline for
//! `glasskey graph register`. Both are validated on read: format, tenant,
//! accounts, and challenge expiry, before any key or Graph is touched.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::b64;
use super::endpoint::ApiVersion;
use super::types::{client_data_json, parse_time, registration_body, CreationOptions};
use super::GraphError;
use crate::aaguid::Aaguid;

pub const REQUEST_FORMAT: &str = "glasskey-request/1";
pub const RESPONSE_FORMAT: &str = "glasskey-response/1";
/// Largest bundle file read (a 30-day beta challenge is ~7 KB per item).
pub const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;
/// Display names Graph clients are known to accept (PSYK 3–30, DSI 1–30).
pub const MAX_DISPLAY_NAME: usize = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    #[serde(rename = "userPrincipalName")]
    pub user_principal_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestItem {
    pub account: Account,
    /// Graph's creationOptions answer, verbatim.
    #[serde(rename = "creationOptions")]
    pub creation_options: Value,
    /// The API version that issued the challenge ("v1.0" or "beta"); the
    /// registration goes back to the same version.
    #[serde(
        rename = "graphVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub graph_version: Option<String>,
}

impl RequestItem {
    /// The issuing API version: as recorded, else from `@odata.context`, else v1.0.
    pub fn version(&self) -> ApiVersion {
        version_of(self.graph_version.as_deref(), &self.creation_options)
    }

    /// The typed view of the creation options.
    pub fn options(&self) -> Result<CreationOptions, GraphError> {
        CreationOptions::from_value(self.creation_options.clone())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestBundle {
    pub format: String,
    pub tenant: String,
    pub items: Vec<RequestItem>,
}

/// What the offline side records about the key that made the credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyFacts {
    pub aaguid: Aaguid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Anything else the offline side wants to carry (firmware, PIN retries, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseItem {
    pub account: Account,
    /// The exact JSON body to POST to `/users/{id}/authentication/fido2Methods`.
    #[serde(rename = "fido2Method")]
    pub fido2_method: Value,
    pub key: KeyFacts,
    /// Copied from the request so expiry is checked before anything is sent.
    #[serde(rename = "challengeTimeoutDateTime")]
    pub challenge_timeout: String,
    /// Copied from the request: where to POST ("v1.0" or "beta").
    #[serde(
        rename = "graphVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub graph_version: Option<String>,
}

fn version_of(recorded: Option<&str>, options: &Value) -> ApiVersion {
    recorded
        .and_then(ApiVersion::parse)
        .or_else(|| {
            options["@odata.context"]
                .as_str()
                .filter(|c| c.contains("/beta/"))
                .map(|_| ApiVersion::Beta)
        })
        .unwrap_or(ApiVersion::V1)
}

impl ResponseItem {
    /// The API version to register with.
    pub fn version(&self) -> ApiVersion {
        version_of(self.graph_version.as_deref(), &Value::Null)
    }

    pub fn expires(&self) -> Option<OffsetDateTime> {
        parse_time(&self.challenge_timeout)
    }
    pub fn display_name(&self) -> &str {
        self.fido2_method["displayName"].as_str().unwrap_or("")
    }
    /// The credential id (decoded) the body registers.
    pub fn credential_id(&self) -> Option<Vec<u8>> {
        self.fido2_method["publicKeyCredential"]["id"]
            .as_str()
            .and_then(b64::decode_lenient)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseBundle {
    pub format: String,
    pub tenant: String,
    pub items: Vec<ResponseItem>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, GraphError> {
    let bad = |d: String| {
        GraphError::input(
            format!("{what} {}: {d}", path.display()),
            format!("give the {what} glasskey wrote, unmodified"),
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.len() > MAX_BUNDLE_BYTES {
        return Err(bad(format!("larger than {MAX_BUNDLE_BYTES} bytes")));
    }
    let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| bad(format!("not a valid bundle: {e}")))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), GraphError> {
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| GraphError::input(format!("cannot encode bundle: {e}"), ""))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("bundle")
    ));
    std::fs::write(&tmp, &text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            GraphError::input(
                format!("cannot write {}: {e}", path.display()),
                "check the path and free space",
            )
        })
}

fn check_tenant(found: &str, expected: Option<&str>, what: &str) -> Result<(), GraphError> {
    if found.trim().is_empty() {
        return Err(GraphError::input(
            format!("the {what} names no tenant"),
            "rebuild it with glasskey",
        ));
    }
    if let Some(t) = expected {
        if !t.eq_ignore_ascii_case(found) {
            return Err(GraphError::input(
                format!("the {what} is for tenant '{found}', not '{t}'"),
                "use the bundle made for this tenant, or correct --tenant",
            ));
        }
    }
    Ok(())
}

fn check_account(a: &Account, what: &str) -> Result<(), GraphError> {
    if a.id.trim().is_empty() || !a.user_principal_name.contains('@') {
        return Err(GraphError::input(
            format!(
                "a {what} item has an incomplete account ({:?})",
                a.user_principal_name
            ),
            "rebuild the bundle with glasskey",
        ));
    }
    Ok(())
}

fn expired_error(upn: &str, at: &str) -> GraphError {
    GraphError::input(
        format!("the challenge for {upn} expired at {at}"),
        "run `glasskey graph fetch-options` again for this account (a longer --challenge-timeout gives more time), then enroll again",
    )
}

impl RequestBundle {
    pub fn new(tenant: &str, items: Vec<RequestItem>) -> RequestBundle {
        RequestBundle {
            format: REQUEST_FORMAT.into(),
            tenant: tenant.into(),
            items,
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), GraphError> {
        write_json(path, self)
    }

    /// Read and validate; `now` is compared with each challenge's expiry.
    pub fn read(
        path: &Path,
        tenant: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<RequestBundle, GraphError> {
        let b: RequestBundle = read_json(path, "request bundle")?;
        b.validate(tenant, now)?;
        Ok(b)
    }

    pub fn validate(&self, tenant: Option<&str>, now: OffsetDateTime) -> Result<(), GraphError> {
        if self.format != REQUEST_FORMAT {
            return Err(GraphError::input(
                format!("format '{}' is not {REQUEST_FORMAT}", self.format),
                "give a request bundle written by `glasskey graph fetch-options`",
            ));
        }
        check_tenant(&self.tenant, tenant, "request bundle")?;
        if self.items.is_empty() {
            return Err(GraphError::input(
                "the request bundle has no items",
                "fetch options for at least one account",
            ));
        }
        for item in &self.items {
            check_account(&item.account, "request")?;
            let o = item.options().map_err(|e| {
                GraphError::input(
                    format!(
                        "the creationOptions for {} are not usable: {e}",
                        item.account.user_principal_name
                    ),
                    "fetch the options again",
                )
            })?;
            if !o.user_name.is_empty()
                && !o
                    .user_name
                    .eq_ignore_ascii_case(&item.account.user_principal_name)
            {
                return Err(GraphError::input(
                    format!(
                        "creationOptions for {} name a different user ({})",
                        item.account.user_principal_name, o.user_name
                    ),
                    "the bundle was edited or mixed up: fetch the options again",
                ));
            }
            if o.is_expired(now) {
                return Err(expired_error(
                    &item.account.user_principal_name,
                    &super::types::format_time(o.expires),
                ));
            }
        }
        Ok(())
    }
}

impl ResponseBundle {
    pub fn new(tenant: &str, items: Vec<ResponseItem>) -> ResponseBundle {
        ResponseBundle {
            format: RESPONSE_FORMAT.into(),
            tenant: tenant.into(),
            items,
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), GraphError> {
        write_json(path, self)
    }

    /// Read and check format, tenant and item shape. Expiry is judged per item
    /// by [`ResponseBundle::expired_items`], so a re-run can still report items
    /// that were registered before their challenge ran out.
    pub fn read(path: &Path, tenant: Option<&str>) -> Result<ResponseBundle, GraphError> {
        let b: ResponseBundle = read_json(path, "response bundle")?;
        b.validate(tenant)?;
        Ok(b)
    }

    pub fn validate(&self, tenant: Option<&str>) -> Result<(), GraphError> {
        if self.format != RESPONSE_FORMAT {
            return Err(GraphError::input(
                format!("format '{}' is not {RESPONSE_FORMAT}", self.format),
                "give a response bundle written by `glasskey enroll --request`",
            ));
        }
        check_tenant(&self.tenant, tenant, "response bundle")?;
        if self.items.is_empty() {
            return Err(GraphError::input(
                "the response bundle has no items",
                "enroll at least one key",
            ));
        }
        for item in &self.items {
            check_account(&item.account, "response")?;
            let upn = &item.account.user_principal_name;
            let bad = |d: &str| {
                GraphError::input(
                    format!("the response for {upn} is not usable: {d}"),
                    "enroll this key again from the request bundle",
                )
            };
            if item.expires().is_none() {
                return Err(bad("challengeTimeoutDateTime is missing or not a date"));
            }
            let r = &item.fido2_method["publicKeyCredential"]["response"];
            for field in ["clientDataJSON", "attestationObject"] {
                if r[field].as_str().and_then(b64::decode_strict).is_none() {
                    return Err(bad(&format!("{field} is not base64url without padding")));
                }
            }
            if item.credential_id().is_none() {
                return Err(bad("publicKeyCredential.id is missing"));
            }
            let body_aaguid = super::client::body_aaguid(&item.fido2_method)
                .map_err(|_| bad("no AAGUID in the attestation"))?;
            if body_aaguid != item.key.aaguid {
                return Err(bad(
                    "the key facts name a different AAGUID than the attestation",
                ));
            }
        }
        Ok(())
    }

    /// Items whose challenge has expired at `now`, as errors naming them.
    pub fn expired_items(&self, now: OffsetDateTime) -> Vec<(usize, GraphError)> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.expires().is_none_or(|t| now >= t))
            .map(|(n, i)| {
                (
                    n,
                    expired_error(&i.account.user_principal_name, &i.challenge_timeout),
                )
            })
            .collect()
    }
}

/// Build a response item from what the key produced (`glasskey enroll
/// --request` calls this once per request item). `attestation_object` is the
/// WebAuthn-shaped object (`{"fmt","attStmt","authData"}`, e.g.
/// `webauthn::AttestationObject::to_webauthn_bytes`), `client_data_json` the
/// exact bytes whose hash the key signed (`types::client_data_json`).
pub fn response_item(
    request: &RequestItem,
    attestation_object: &[u8],
    credential_id: &[u8],
    client_data_json_bytes: &[u8],
    display_name: &str,
    key: KeyFacts,
) -> Result<ResponseItem, GraphError> {
    let o = request.options()?;
    let upn = &request.account.user_principal_name;
    if client_data_json_bytes != client_data_json(&o.challenge, &o.rp_id).as_slice() {
        return Err(GraphError::input(
            format!("the clientDataJSON for {upn} is not the one Entra expects for this challenge"),
            "build it with graph::types::client_data_json from the request item",
        ));
    }
    let chars = display_name.chars().count();
    if chars == 0 || chars > MAX_DISPLAY_NAME {
        return Err(GraphError::input(
            format!("display name '{display_name}' must be 1..{MAX_DISPLAY_NAME} characters"),
            "choose a shorter label",
        ));
    }
    if credential_id.is_empty() || credential_id.len() > 1023 {
        return Err(GraphError::input(
            "the credential id is empty or too long",
            "enroll the key again",
        ));
    }
    match super::client::attestation_aaguid(attestation_object) {
        Some(a) if a == key.aaguid => {}
        _ => {
            return Err(GraphError::input(
                format!(
                    "the attestation for {upn} does not carry the key's AAGUID {}",
                    key.aaguid
                ),
                "enroll the key again",
            ))
        }
    }
    Ok(ResponseItem {
        account: request.account.clone(),
        fido2_method: registration_body(
            display_name,
            credential_id,
            client_data_json_bytes,
            attestation_object,
        ),
        key,
        challenge_timeout: super::types::format_time(o.expires),
        graph_version: Some(request.version().as_str().to_string()),
    })
}
