//! Split (air-gapped) ceremony files (DESIGN "Split ceremony files"): the
//! request bundle `glasskey graph fetch-options` writes online, and the
//! response bundle `glasskey enroll --request` writes offline for
//! `glasskey graph register`. Both are validated on read: format, tenant,
//! accounts, and challenge expiry, before any key or Graph is touched.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use sha2::{Digest, Sha256};

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
/// Entra's WebAuthn relying party id (GRAPH.md §1, C1: every live tool and
/// Entra's own resource docs). creationOptions, and so every split ceremony, is
/// served in the global cloud only (Graph docs: "national cloud deployments"
/// lists no US Government or China support for it).
pub const ENTRA_RP_ID: &str = "login.microsoft.com";
/// The only COSE algorithm glasskey creates credentials with (ES256).
pub const ES256: i64 = -7;

/// The relying party id a request bundle must name for `cloud` (`--cloud`,
/// default global).
pub fn entra_rp_id(cloud: Option<&str>) -> Result<&'static str, GraphError> {
    match cloud.unwrap_or("global") {
        c if c.eq_ignore_ascii_case("global") => Ok(ENTRA_RP_ID),
        other => Err(GraphError::input(
            format!("the split ceremony needs Graph's creationOptions, which the {other} cloud does not serve"),
            "register keys in this cloud with the interactive flow Entra offers there (My Security Info)",
        )),
    }
}

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

    /// SHA-256 (hex) of this item as JSON: what a response item names as the
    /// request it answers. serde_json writes object keys sorted, so the value
    /// does not depend on how the file was laid out.
    pub fn sha256(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Everything the offline half checks before a key is touched: the relying
    /// party is Entra's (`rp_id`), the account is one of the kit's
    /// (`kit_accounts`, UPNs), the creationOptions' user is that account (name =
    /// UPN; a user handle that embeds an object id must embed this one), ES256
    /// is offered, and the challenge has not expired.
    pub fn check_before_key(
        &self,
        rp_id: &str,
        kit_accounts: &[&str],
        now: OffsetDateTime,
    ) -> Result<CreationOptions, GraphError> {
        let upn = &self.account.user_principal_name;
        let refuse = |what: String| {
            GraphError::input(
                format!("the request for {upn} is refused before any key is touched: {what}"),
                "fetch the options again with `glasskey graph fetch-options` on the online machine and carry that file unmodified",
            )
        };
        let o = self.options()?;
        if o.rp_id != rp_id {
            return Err(refuse(format!(
                "its relying party is '{}', not Entra's '{rp_id}'",
                o.rp_id
            )));
        }
        if !kit_accounts.iter().any(|a| a.eq_ignore_ascii_case(upn)) {
            return Err(refuse(format!(
                "{upn} is not a break-glass account of this kit ({})",
                kit_accounts.join(", ")
            )));
        }
        if !o.user_name.eq_ignore_ascii_case(upn) {
            return Err(refuse(format!(
                "creationOptions are for user '{}', not {upn}",
                o.user_name
            )));
        }
        let id = uuid::Uuid::parse_str(&self.account.id).map_err(|_| {
            refuse(format!(
                "the account id '{}' is not an object id",
                self.account.id
            ))
        })?;
        if let Some(embedded) = handle_object_id(&o.user_handle) {
            if embedded != id {
                return Err(refuse(format!(
                    "creationOptions' user handle belongs to object {embedded}, not to {upn}'s id {id}"
                )));
            }
        }
        if !o.algorithms.contains(&ES256) {
            return Err(refuse(format!(
                "ES256 (-7) is not among the offered algorithms {:?}",
                o.algorithms
            )));
        }
        if o.is_expired(now) {
            return Err(expired_error(upn, &super::types::format_time(o.expires)));
        }
        Ok(o)
    }
}

/// The object id a user handle embeds, when it has the `OF:<32 hex>` form the
/// emulator (and, by its prefix, Entra) uses. Entra's live handles are longer
/// and opaque (GRAPH.md §1: 51 bytes starting `OF:`): then nothing can be
/// checked offline, and the online half checks the account mapping instead.
fn handle_object_id(handle: &[u8]) -> Option<uuid::Uuid> {
    let hex = handle.strip_prefix(b"OF:")?;
    if hex.len() != 32 {
        return None;
    }
    uuid::Uuid::try_parse_ascii(hex).ok()
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
    /// The request item this answers, verbatim, so the online half re-checks
    /// the challenge, relying party and account against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestItem>,
    /// [`RequestItem::sha256`] of `request`.
    #[serde(
        rename = "requestSha256",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_sha256: Option<String>,
}

/// What the online half re-derived from a response before sending it.
#[derive(Debug, Clone)]
pub struct CheckedAnswer {
    pub attestation: crate::webauthn::AttestationObject,
    pub client_data_hash: [u8; 32],
    pub credential_id: Vec<u8>,
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

    /// Re-check the answer against the request it names, before anything is
    /// sent: the request is the one hashed, for the same account, for Entra's
    /// relying party; clientDataJSON is exactly the one for that challenge; the
    /// attestation's authData is for `rp_id`, user-present and verified, and
    /// attests the credential the body registers, from the key model named.
    /// The attestation statement itself is judged by the caller (kit policy).
    pub fn check_answer(&self, rp_id: &str) -> Result<CheckedAnswer, GraphError> {
        let upn = &self.account.user_principal_name;
        let refuse = |what: &str| {
            GraphError::input(
                format!("the response for {upn} is refused, nothing was sent: {what}"),
                "enroll the key again from a fresh request bundle (`glasskey graph fetch-options`), and carry the files unmodified",
            )
        };
        let request = self.request.as_ref().ok_or_else(|| {
            refuse("it does not carry the request it answers (made by an older glasskey?)")
        })?;
        if self.request_sha256.as_deref() != Some(request.sha256().as_str()) {
            return Err(refuse(
                "the request it carries is not the one its hash names",
            ));
        }
        if request.account != self.account {
            return Err(refuse("it is for a different account than its request"));
        }
        let o = request.options()?;
        if o.rp_id != rp_id {
            return Err(refuse(&format!(
                "its request names relying party '{}', not '{rp_id}'",
                o.rp_id
            )));
        }
        if !o.user_name.eq_ignore_ascii_case(upn) {
            return Err(refuse("its request's creationOptions are for another user"));
        }
        if self.challenge_timeout != super::types::format_time(o.expires) {
            return Err(refuse("its challenge expiry differs from the request's"));
        }
        let r = &self.fido2_method["publicKeyCredential"]["response"];
        let field = |name: &str| {
            r[name]
                .as_str()
                .and_then(b64::decode_strict)
                .ok_or_else(|| refuse(&format!("{name} is not base64url")))
        };
        let client_data = field("clientDataJSON")?;
        if client_data != client_data_json(&o.challenge, &o.rp_id) {
            return Err(refuse(
                "clientDataJSON is not webauthn.create for the request's challenge and origin",
            ));
        }
        let attestation =
            crate::webauthn::AttestationObject::parse(&field("attestationObject")?)
                .map_err(|e| refuse(&format!("the attestation object does not parse: {e}")))?;
        let ad = &attestation.auth_data;
        let want: [u8; 32] = Sha256::digest(rp_id.as_bytes()).into();
        if ad.rp_id_hash != want {
            return Err(refuse(&format!(
                "the credential was made for another relying party than {rp_id} (rpIdHash)"
            )));
        }
        if !ad.flags.user_present() || !ad.flags.user_verified() {
            return Err(refuse(
                "the key did not report user presence and verification",
            ));
        }
        let attested = ad
            .attested
            .as_ref()
            .ok_or_else(|| refuse("the attestation carries no credential"))?;
        let credential_id = self
            .credential_id()
            .ok_or_else(|| refuse("publicKeyCredential.id is missing"))?;
        if attested.credential_id != credential_id {
            return Err(refuse(
                "publicKeyCredential.id is not the attested credential",
            ));
        }
        if attested.aaguid != self.key.aaguid {
            return Err(refuse(
                "the key facts name a different model than the attestation",
            ));
        }
        Ok(CheckedAnswer {
            client_data_hash: Sha256::digest(&client_data).into(),
            attestation,
            credential_id,
        })
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
    let text =
        crate::fsutil::read_regular(path, MAX_BUNDLE_BYTES).map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&text).map_err(|e| bad(format!("not a valid bundle: {e}")))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), GraphError> {
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| GraphError::input(format!("cannot encode bundle: {e}"), ""))?;
    crate::fsutil::write_atomic(path, &text).map_err(|e| {
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
        request: Some(request.clone()),
        request_sha256: Some(request.sha256()),
    })
}
