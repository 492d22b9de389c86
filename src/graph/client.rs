//! The Graph client: users, FIDO2 creationOptions / register / list / get /
//! delete, the FIDO2 policy and the posture reads, each one HTTP call through
//! [`HttpClient`] with retries and typed errors.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;

use super::auth::{AccessToken, TokenSource};
use super::b64;
use super::endpoint::{urlencode_segment, ApiVersion, Endpoints};
use super::http::{HttpClient, Method, Replay, Request, Response, RetryPolicy};
use super::permissions::{Call, TokenClaims};
use super::policy::Fido2Policy;
use super::types::{CreationOptions, Fido2Method, User, USER_SELECT};
use super::GraphError;
use crate::aaguid::Aaguid;

/// Path the emulator answers to identify itself.
pub const EMULATOR_ID_PATH: &str = "/.glasskey-emulator";
/// Allowed beta `challengeTimeoutInMinutes` (GRAPH.md §1.1).
pub const CHALLENGE_MINUTES: std::ops::RangeInclusive<u32> = 5..=43200;
/// Most items accepted from one list call, over all pages.
const MAX_LIST: usize = 10_000;
/// Most pages followed for one list call.
const MAX_PAGES: usize = 100;

/// A signed-in Graph client.
pub struct GraphClient {
    endpoints: Endpoints,
    http: HttpClient,
    token: Mutex<AccessToken>,
    /// Where a fresh token comes from when this one nears expiry.
    source: Option<TokenSource>,
    emulator: OnceLock<bool>,
}

impl GraphClient {
    pub fn new(endpoints: Endpoints, token: AccessToken) -> GraphClient {
        let http = HttpClient::new(Duration::from_secs(60), endpoints.is_loopback());
        GraphClient {
            endpoints,
            http,
            token: Mutex::new(token),
            source: None,
            emulator: OnceLock::new(),
        }
    }

    /// Refresh the token from `source` whenever less than a minute of it is
    /// left, so a long ceremony (many keys, a slow sign-in-log wait) does not
    /// fail halfway with 401.
    pub fn with_token_source(mut self, source: TokenSource) -> GraphClient {
        self.source = Some(source);
        self
    }

    /// The bearer to send now, refreshed first when it is about to expire.
    fn bearer(&self) -> Result<zeroize::Zeroizing<String>, GraphError> {
        let mut token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let (false, Some(source)) = (token.is_fresh(), &self.source) {
            *token = source.refresh(&token)?;
        }
        Ok(zeroize::Zeroizing::new(token.expose().to_string()))
    }

    /// Change the retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> GraphClient {
        self.http.retry = retry;
        self
    }

    /// Change the per-request timeout (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> GraphClient {
        let retry = self.http.retry.clone();
        self.http = HttpClient::new(timeout, self.endpoints.is_loopback());
        self.http.retry = retry;
        self
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The permissions the access token carries (None: an opaque token).
    pub fn claims(&self) -> Option<TokenClaims> {
        let token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        TokenClaims::from_jwt(token.expose())
    }

    /// Refuse up front when the token lacks a permission one of `calls`
    /// needs, naming it (see [`super::permissions`]). An opaque token cannot
    /// be checked here; Graph then answers 403 itself.
    pub fn require_permissions(&self, calls: &[Call]) -> Result<(), GraphError> {
        match self.claims() {
            Some(c) => super::permissions::check(&c, calls),
            None => Ok(()),
        }
    }

    fn call(
        &self,
        op: &str,
        method: Method,
        url: String,
        body: Option<&Value>,
        replay: Replay,
    ) -> Result<Response, GraphError> {
        let req = Request {
            method,
            url,
            bearer: Some(self.bearer()?),
            body: body.map(|b| (b.to_string().into_bytes(), "application/json")),
        };
        self.http.send(op, &req, replay)
    }

    pub(super) fn get_json(
        &self,
        op: &str,
        version: ApiVersion,
        path: &str,
    ) -> Result<Value, GraphError> {
        let url = self.endpoints.graph_url(version, path);
        self.call(op, Method::Get, url, None, Replay::Safe)?
            .json(op)
    }

    /// Any Graph GET, answered as raw JSON (diagnostics and shape tests).
    pub fn raw_get(&self, version: ApiVersion, path: &str) -> Result<Value, GraphError> {
        self.get_json(&format!("GET {path}"), version, path)
    }

    /// A collection, following `@odata.nextLink` (only to the same Graph host,
    /// so the token never goes elsewhere), bounded in pages and items.
    pub(super) fn list<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        version: ApiVersion,
        path: &str,
    ) -> Result<Vec<T>, GraphError> {
        let mut url = self.endpoints.graph_url(version, path);
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let v: Value = self
                .call(op, Method::Get, url.clone(), None, Replay::Safe)?
                .json(op)?;
            let items = v["value"]
                .as_array()
                .ok_or_else(|| GraphError::bad_response(op, "no `value` array"))?;
            if out.len() + items.len() > MAX_LIST {
                return Err(GraphError::bad_response(op, "the list is implausibly long"));
            }
            for i in items {
                out.push(serde_json::from_value(i.clone()).map_err(|e| {
                    GraphError::bad_response(op, format!("an item does not fit: {e}"))
                })?);
            }
            match v["@odata.nextLink"].as_str() {
                None => return Ok(out),
                Some(next) if self.endpoints.is_graph_link(next) => {
                    url = next.to_string();
                }
                Some(next) => {
                    return Err(GraphError::bad_response(
                        op,
                        format!("@odata.nextLink points outside Graph: {next}"),
                    ))
                }
            }
        }
        Err(GraphError::bad_response(
            op,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// True when Graph is a loopback glasskey emulator (asked once, then remembered).
    pub fn is_emulator(&self) -> bool {
        *self.emulator.get_or_init(|| {
            if !self.endpoints.is_loopback() {
                return false;
            }
            let url = format!(
                "{}{}",
                self.endpoints.graph.as_str().trim_end_matches('/'),
                EMULATOR_ID_PATH
            );
            let req = Request {
                method: Method::Get,
                url,
                bearer: None,
                body: None,
            };
            match self.http.send_once(&req, &super::http::new_guid(), 0) {
                Ok(r) => {
                    r.status == 200
                        && r.from_emulator
                        && serde_json::from_slice::<Value>(&r.body)
                            .map(|v| v["emulator"] == "glasskey")
                            .unwrap_or(false)
                }
                Err(_) => false,
            }
        })
    }

    /// A user by UPN or object id, with the `$select`-only properties.
    pub fn user(&self, id_or_upn: &str) -> Result<User, GraphError> {
        let op = format!("read user {id_or_upn}");
        let path = format!(
            "/users/{}?$select={USER_SELECT}",
            urlencode_segment(id_or_upn)
        );
        let v = self.get_json(&op, ApiVersion::V1, &path)?;
        serde_json::from_value(v).map_err(|e| GraphError::bad_response(op, e.to_string()))
    }

    /// creationOptions for a user: v1.0 (fixed 5 minutes) when `minutes` is None,
    /// otherwise beta with `challengeTimeoutInMinutes` (5..=43200).
    pub fn creation_options(
        &self,
        user_id: &str,
        minutes: Option<u32>,
    ) -> Result<CreationOptions, GraphError> {
        let op = format!("read creationOptions for {user_id}");
        let base = format!(
            "/users/{}/authentication/fido2Methods/creationOptions",
            urlencode_segment(user_id)
        );
        let v = match minutes {
            None => self.get_json(&op, ApiVersion::V1, &base)?,
            Some(m) => {
                if !CHALLENGE_MINUTES.contains(&m) {
                    return Err(GraphError::input(
                        format!("challenge timeout {m} minutes is outside 5..43200"),
                        "give --challenge-timeout between 5 and 43200 minutes (30 days)",
                    ));
                }
                let function_form = format!("{base}(challengeTimeoutInMinutes={m})");
                match self.get_json(&op, ApiVersion::Beta, &function_form) {
                    // Known issue (GRAPH.md C14): 405 on one syntax; try the other once.
                    Err(GraphError::Api(a)) if a.status == 405 => self.get_json(
                        &op,
                        ApiVersion::Beta,
                        &format!("{base}?challengeTimeoutInMinutes={m}"),
                    )?,
                    other => other?,
                }
            }
        };
        CreationOptions::from_value(v)
    }

    /// POST a registration body. Refuses virtual-key credentials unless Graph is
    /// the loopback emulator. A lost answer is OutcomeUnknown (reconcile by listing).
    pub fn register(&self, user_id: &str, body: &Value) -> Result<Fido2Method, GraphError> {
        self.register_in(ApiVersion::V1, user_id, body)
    }

    /// [`GraphClient::register`] on a given API version (a beta challenge goes back to beta).
    pub fn register_in(
        &self,
        version: ApiVersion,
        user_id: &str,
        body: &Value,
    ) -> Result<Fido2Method, GraphError> {
        let aaguid = body_aaguid(body)?;
        if aaguid.is_virtual() && !self.is_emulator() {
            return Err(GraphError::refused(
                format!(
                    "refusing to register a virtual key (AAGUID {aaguid}) with {}: virtual keys may only go to the local glasskey emulator",
                    self.endpoints.graph
                ),
                "use a real security key, or point --graph-url at `glasskey graph emulator`",
            ));
        }
        let op = format!("register a FIDO2 method for {user_id}");
        let url = self.endpoints.graph_url(
            version,
            &format!(
                "/users/{}/authentication/fido2Methods",
                urlencode_segment(user_id)
            ),
        );
        self.call(&op, Method::Post, url, Some(body), Replay::Once)?
            .json(&op)
    }

    pub fn list_methods(&self, user_id: &str) -> Result<Vec<Fido2Method>, GraphError> {
        self.list(
            &format!("list FIDO2 methods of {user_id}"),
            ApiVersion::V1,
            &format!(
                "/users/{}/authentication/fido2Methods",
                urlencode_segment(user_id)
            ),
        )
    }

    pub fn get_method(&self, user_id: &str, method_id: &str) -> Result<Fido2Method, GraphError> {
        let op = format!("read FIDO2 method {method_id} of {user_id}");
        let v = self.get_json(
            &op,
            ApiVersion::V1,
            &format!(
                "/users/{}/authentication/fido2Methods/{}",
                urlencode_segment(user_id),
                urlencode_segment(method_id)
            ),
        )?;
        // The v1.0 get example wraps the entity in `value` (GRAPH.md C9); accept both.
        let v = match v.get("value") {
            Some(inner) if inner.is_object() && v.get("id").is_none() => inner.clone(),
            _ => v,
        };
        serde_json::from_value(v).map_err(|e| GraphError::bad_response(op, e.to_string()))
    }

    pub fn delete_method(&self, user_id: &str, method_id: &str) -> Result<(), GraphError> {
        let op = format!("delete FIDO2 method {method_id} of {user_id}");
        let url = self.endpoints.graph_url(
            ApiVersion::V1,
            &format!(
                "/users/{}/authentication/fido2Methods/{}",
                urlencode_segment(user_id),
                urlencode_segment(method_id)
            ),
        );
        self.call(&op, Method::Delete, url, None, Replay::Safe)?;
        Ok(())
    }

    /// The tenant's FIDO2 authentication-method policy.
    pub fn fido2_policy(&self) -> Result<Fido2Policy, GraphError> {
        let op = "read the FIDO2 authentication method policy";
        let v = self.get_json(
            op,
            ApiVersion::V1,
            "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
        )?;
        serde_json::from_value(v).map_err(|e| GraphError::bad_response(op, e.to_string()))
    }

    /// Ids of the groups a user belongs to, directly or transitively.
    pub fn group_ids(&self, user_id: &str) -> Result<Vec<String>, GraphError> {
        Ok(self
            .groups(user_id)?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The user's groups, direct and transitive, each with whether it is
    /// role-assignable (`isAssignableToRole`: only such groups can hold
    /// Entra roles; group.md). Directory roles and administrative units in
    /// `transitiveMemberOf` are skipped.
    pub fn groups(&self, user_id: &str) -> Result<Vec<(String, bool)>, GraphError> {
        let v: Vec<Value> = self.list(
            &format!("list group memberships of {user_id}"),
            ApiVersion::V1,
            &format!(
                "/users/{}/transitiveMemberOf?$select=id,isAssignableToRole",
                urlencode_segment(user_id)
            ),
        )?;
        Ok(v.iter()
            .filter(|g| {
                g["@odata.type"]
                    .as_str()
                    .is_none_or(|t| t == "#microsoft.graph.group")
            })
            .filter_map(|g| {
                let id = g["id"].as_str()?.to_string();
                Some((id, g["isAssignableToRole"] == true))
            })
            .collect())
    }

    /// Raw role-management list (`roleAssignments`, `roleAssignmentSchedules`,
    /// `roleEligibilitySchedules`, ...) filtered on one principal.
    pub fn role_list(
        &self,
        collection: &str,
        principal_id: &str,
    ) -> Result<Vec<Value>, GraphError> {
        let filter = format!("principalId eq '{}'", principal_id.replace('\'', "''"));
        self.list(
            &format!("read {collection} of {principal_id}"),
            ApiVersion::V1,
            &format!(
                "/roleManagement/directory/{collection}?$filter={}",
                urlencode_segment(&filter)
            ),
        )
    }

    /// Every Conditional Access policy in the tenant.
    pub fn conditional_access_policies(&self) -> Result<Vec<Value>, GraphError> {
        self.list(
            "read Conditional Access policies",
            ApiVersion::V1,
            "/identity/conditionalAccess/policies",
        )
    }
}

/// The AAGUID inside a registration body's attestationObject.
pub fn body_aaguid(body: &Value) -> Result<Aaguid, GraphError> {
    let bad = |d: &str| {
        GraphError::input(
            format!("the fido2Method body is not usable: {d}"),
            "rebuild the response bundle with `glasskey enroll --request`",
        )
    };
    let ao = body["publicKeyCredential"]["response"]["attestationObject"]
        .as_str()
        .ok_or_else(|| bad("no attestationObject"))?;
    let bytes = b64::decode_lenient(ao).ok_or_else(|| bad("attestationObject is not base64url"))?;
    attestation_aaguid(&bytes)
        .ok_or_else(|| bad("attestationObject has no attested credential data"))
}

/// The AAGUID in an attestationObject's attested credential data.
pub fn attestation_aaguid(attestation_object: &[u8]) -> Option<Aaguid> {
    crate::webauthn::AttestationObject::parse(attestation_object)
        .ok()?
        .auth_data
        .attested
        .map(|a| a.aaguid)
}
