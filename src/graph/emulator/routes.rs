//! The emulator's behaviour: one [`World`] (tenant state plus runtime state:
//! challenges, registered methods, tokens, device codes) and a handler per
//! route, answering in Graph's and Entra's shapes (GRAPH.md §8).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::login::oauth_error;
use super::state::{Fault, State, UserEntry};
use super::verify;
use super::wire::{percent_decode, HttpRequest, HttpResponse};
use crate::aaguid::Aaguid;
use crate::graph::b64;
use crate::graph::client::EMULATOR_ID_PATH;
use crate::graph::http::{new_guid, EMULATOR_HEADER};
use crate::graph::types::format_time;

const WRITE_METHODS: &[&str] = &[
    "UserAuthMethod-Passkey.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const WRITE_METHODS_BETA: &[&str] = &["UserAuthenticationMethod.ReadWrite.All"];
const READ_METHODS: &[&str] = &[
    "UserAuthMethod-Passkey.Read.All",
    "UserAuthMethod-Passkey.ReadWrite.All",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const READ_POLICY: &[&str] = &[
    "Policy.Read.AuthenticationMethod",
    "Policy.ReadWrite.AuthenticationMethod",
    "Policy.Read.All",
];
const READ_USERS: &[&str] = &["User.Read.All", "Directory.Read.All"];
/// user-list-transitivememberof-permissions.md: least User.Read.All (app).
const READ_GROUPS: &[&str] = &[
    "User.Read.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
];
const READ_ROLES: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "Directory.Read.All",
];
const READ_CA: &[&str] = &["Policy.Read.All"];
/// Properties the role-management collections can be filtered on.
const ROLE_FILTER_FIELDS: &[&str] = &["principalId", "roleDefinitionId", "directoryScopeId"];
const PAA: &str = "Privileged Authentication Administrator";
const AUTH_ADMIN: &str = "Authentication Administrator";
const GLOBAL_ADMIN: &str = "Global Administrator";

/// What the connection should do.
pub enum Reply {
    Respond(HttpResponse),
    /// Close without answering (a lost response).
    Drop,
}

#[derive(Debug, Clone)]
struct Challenge {
    user_id: String,
    expires: OffsetDateTime,
    used: bool,
}

#[derive(Debug, Clone)]
pub(super) enum Principal {
    App {
        permissions: Vec<String>,
    },
    Delegated {
        user: String,
        roles: Vec<String>,
        permissions: Vec<String>,
    },
}

impl Principal {
    fn permissions(&self) -> &[String] {
        match self {
            Principal::App { permissions } | Principal::Delegated { permissions, .. } => {
                permissions
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct DeviceFlow {
    pub(super) client_id: String,
    pub(super) polls: u32,
}

/// A registered method and the credential it holds.
#[derive(Debug, Clone)]
pub struct StoredMethod {
    pub json: Value,
    pub credential_id: Vec<u8>,
}

/// The emulated tenant, live.
pub struct World {
    pub state: State,
    pub(super) base_url: String,
    /// Seconds added to the real clock (tests move time forward to expire challenges).
    pub clock_offset: i64,
    challenges: HashMap<String, Challenge>,
    pub methods: HashMap<String, Vec<StoredMethod>>,
    pub(super) tokens: HashMap<String, Principal>,
    /// Refresh tokens of delegated sign-ins that asked for `offline_access`.
    pub(super) refresh_tokens: HashMap<String, Principal>,
    /// Access tokens issued, per grant type (tests check refreshes).
    pub tokens_issued: HashMap<String, u32>,
    pub(super) device_codes: HashMap<String, DeviceFlow>,
    last_ca_read: Option<Instant>,
    /// Requests served, per route name (tests check retries and reconciliation).
    pub hits: HashMap<String, u32>,
}

pub(super) type Handled = Result<HttpResponse, HttpResponse>;

pub(super) fn graph_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let rid = new_guid();
    HttpResponse::json(
        status,
        &json!({"error": {"code": code, "message": message, "innerError": {
            "date": format_time(OffsetDateTime::now_utc()).trim_end_matches('Z'),
            "request-id": rid, "client-request-id": ""}}}),
    )
    .with_header("request-id", &rid)
}

fn not_found(what: &str) -> HttpResponse {
    graph_error(404, "Request_ResourceNotFound", &format!("Resource '{what}' does not exist or one of its queried reference-property objects are not present."))
}

pub(super) fn bad(message: &str) -> HttpResponse {
    graph_error(400, "invalidRequest", message)
}

pub(super) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    b64::encode(&b)
}

impl World {
    pub fn new(state: State, base_url: String) -> World {
        World {
            state,
            base_url,
            clock_offset: 0,
            challenges: HashMap::new(),
            methods: HashMap::new(),
            tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            tokens_issued: HashMap::new(),
            device_codes: HashMap::new(),
            last_ca_read: None,
            hits: HashMap::new(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_offset)
    }

    /// Trust an attestation root and, with `enforce`, require attestation.
    pub fn trust_root(&mut self, pem: &str, enforce: bool) {
        self.state.trusted_roots.push(pem.to_string());
        if enforce {
            self.state.fido2_policy["isAttestationEnforced"] = true.into();
        }
    }

    /// Handle one request; returns an optional delay (injected slowness) and the reply.
    pub fn handle(&mut self, req: &HttpRequest) -> (Option<Duration>, Reply) {
        let route = self.route_name(req);
        *self.hits.entry(route.to_string()).or_default() += 1;
        let crid = req.header("client-request-id").unwrap_or("").to_string();
        let mut delay = None;
        let mut drop_after = false;
        if let Some(f) = self.take_fault(route) {
            if f.delay_ms > 0 {
                delay = Some(Duration::from_millis(f.delay_ms.min(120_000)));
            }
            if f.status != 0 {
                let code = f
                    .code
                    .clone()
                    .unwrap_or_else(|| default_code(f.status).to_string());
                let mut resp = if route == "token" || route == "devicecode" {
                    oauth_error(&code, 50000 + u32::from(f.status), "injected fault")
                } else {
                    graph_error(f.status, &code, "Injected fault.")
                };
                if f.status == 429 {
                    resp = graph_error(429, "TooManyRequests", "Too many requests.");
                }
                resp.status = f.status;
                if let Some(ra) = f.retry_after {
                    resp = resp.with_header("Retry-After", &format!("{ra}"));
                }
                return (delay, Reply::Respond(self.finish(resp, &crid)));
            }
            drop_after = f.drop_after_apply;
        }
        let resp = match self.dispatch(req, route) {
            Ok(r) | Err(r) => r,
        };
        if drop_after && resp.status < 300 {
            return (delay, Reply::Drop);
        }
        (delay, Reply::Respond(self.finish(resp, &crid)))
    }

    fn finish(&self, mut resp: HttpResponse, crid: &str) -> HttpResponse {
        // Graph repeats the caller's client-request-id inside error bodies.
        if resp.status >= 400 {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&resp.body) {
                if v["error"]["innerError"].is_object() {
                    v["error"]["innerError"]["client-request-id"] = crid.into();
                    resp.body = v.to_string().into_bytes();
                }
            }
        }
        if !resp.headers.iter().any(|(k, _)| k == "request-id") {
            resp = resp.with_header("request-id", &new_guid());
        }
        let date = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        resp.with_header("client-request-id", crid)
            .with_header("Date", &date)
            .with_header(EMULATOR_HEADER, "1")
    }

    fn take_fault(&mut self, route: &str) -> Option<Fault> {
        let i = self
            .state
            .faults
            .iter()
            .position(|f| f.times > 0 && (f.route == route || f.route == "any"))?;
        let f = self.state.faults[i].clone();
        self.state.faults[i].times -= 1;
        if self.state.faults[i].times == 0 {
            self.state.faults.remove(i);
        }
        Some(f)
    }

    fn route_name(&self, req: &HttpRequest) -> &'static str {
        let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let method = req.method.as_str();
        match segs.as_slice() {
            [_, "oauth2", "v2.0", "token"] => "token",
            [_, "oauth2", "v2.0", "devicecode"] => "devicecode",
            [v, rest @ ..] if *v == "v1.0" || *v == "beta" => match rest {
                ["users", _] => "user",
                ["users", _, "transitiveMemberOf"] => "groups",
                ["users", _, "authentication", m] if m.eq_ignore_ascii_case("fido2Methods") => {
                    if method == "POST" {
                        "register"
                    } else {
                        "listMethods"
                    }
                }
                // Exactly `fido2Methods/creationOptions` or the OData function
                // call `creationOptions(...)`; nothing else under another
                // collection or with a longer name.
                ["users", _, "authentication", m, leaf]
                    if m.eq_ignore_ascii_case("fido2Methods")
                        && (*leaf == "creationOptions"
                            || (leaf.starts_with("creationOptions(") && leaf.ends_with(')'))) =>
                {
                    "creationOptions"
                }
                ["users", _, "authentication", _, _] => {
                    if method == "DELETE" {
                        "deleteMethod"
                    } else {
                        "getMethod"
                    }
                }
                ["policies", ..] => "policy",
                ["roleManagement", ..] => "roles",
                ["identity", "conditionalAccess", ..] => "conditionalAccess",
                ["auditLogs", leaf] if leaf.eq_ignore_ascii_case("signIns") => "signIns",
                _ => "unknown",
            },
            _ if req.path.starts_with(EMULATOR_ID_PATH) => "control",
            _ => "unknown",
        }
    }

    fn dispatch(&mut self, req: &HttpRequest, route: &str) -> Handled {
        let segs: Vec<String> = req
            .path
            .trim_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        let m = req.method.as_str();
        match (route, m) {
            ("control", "GET") => Ok(HttpResponse::json(
                200,
                &json!({"emulator": "glasskey", "tenant": self.state.tenant.domain}),
            )),
            ("control", "POST") => self.control(req),
            ("token", "POST") => self.token(req, &segs[0]),
            ("devicecode", "POST") => self.devicecode(req, &segs[0]),
            ("unknown", _) | ("token", _) | ("devicecode", _) | ("control", _) => Err(graph_error(
                405,
                "methodNotAllowed",
                "The method is not supported for this URL.",
            )),
            _ => {
                let principal = self.principal(req)?;
                let beta = segs[0] == "beta";
                self.graph(req, route, &segs[1..], &principal, beta)
            }
        }
    }

    fn control(&mut self, req: &HttpRequest) -> Handled {
        let v: Value =
            serde_json::from_slice(&req.body).map_err(|e| bad(&format!("control body: {e}")))?;
        if let Some(faults) = v.get("faults") {
            let list: Vec<Fault> =
                serde_json::from_value(faults.clone()).map_err(|e| bad(&e.to_string()))?;
            self.state.faults.extend(list);
        }
        for pem in v["trustedRoots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            self.state.trusted_roots.push(pem.to_string());
        }
        if let Some(b) = v["enforceAttestation"].as_bool() {
            self.state.fido2_policy["isAttestationEnforced"] = b.into();
        }
        if let Some(s) = v["advanceClockSeconds"].as_i64() {
            self.clock_offset = self.clock_offset.saturating_add(s);
        }
        if let Some(p) = v.get("fido2Policy") {
            self.state.fido2_policy = p.clone();
        }
        if let Some(s) = v.get("addSignIn") {
            self.add_sign_in(s).map_err(|e| bad(&e))?;
        }
        Ok(HttpResponse::empty(204))
    }

    fn principal(&self, req: &HttpRequest) -> Result<Principal, HttpResponse> {
        let token = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            })?;
        self.tokens.get(token).cloned().ok_or_else(|| {
            graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            )
        })
    }

    pub(super) fn find_user(&self, key: &str) -> Option<&UserEntry> {
        self.state.users.iter().find(|u| {
            u.id.eq_ignore_ascii_case(key) || u.user_principal_name.eq_ignore_ascii_case(key)
        })
    }

    pub(super) fn require(p: &Principal, any_of: &[&str]) -> Result<(), HttpResponse> {
        if p.permissions()
            .iter()
            .any(|h| any_of.iter().any(|n| n.eq_ignore_ascii_case(h)))
        {
            Ok(())
        } else {
            Err(graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ))
        }
    }

    /// Delegated callers acting on someone's methods need a supporting role;
    /// on a Global Administrator only Privileged Authentication Administrator will do.
    /// The user `key` names, when `p` may write authentication methods on them
    /// (the permission, then the directory role a delegated caller needs).
    fn user_for_write(
        &self,
        p: &Principal,
        key: &str,
        beta: bool,
    ) -> Result<UserEntry, HttpResponse> {
        // The beta creationOptions and POST pages list only
        // UserAuthenticationMethod.ReadWrite.All (permissions includes
        // fido2authenticationmethod-creationoptions-permissions.md @482b5fb9,
        // authentication-post-fido2methods-permissions.md @ce93c333).
        Self::require(
            p,
            if beta {
                WRITE_METHODS_BETA
            } else {
                WRITE_METHODS
            },
        )?;
        let user = self.find_user(key).cloned().ok_or_else(|| not_found(key))?;
        Self::require_role(p, &user, true)?;
        Ok(user)
    }

    fn require_role(p: &Principal, target: &UserEntry, write: bool) -> Result<(), HttpResponse> {
        let Principal::Delegated { user, roles, .. } = p else {
            return Ok(());
        };
        if user == &target.id {
            return Ok(());
        }
        let has = |r: &str| roles.iter().any(|x| x.eq_ignore_ascii_case(r));
        let target_admin = target
            .directory_roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(GLOBAL_ADMIN));
        let ok = has(PAA) || (!target_admin && has(AUTH_ADMIN)) || (!write && has("Global Reader"));
        if ok {
            Ok(())
        } else {
            Err(graph_error(403, "accessDenied", "The signed-in user lacks the role needed to manage this user's authentication methods (Privileged Authentication Administrator for administrators)."))
        }
    }

    fn graph(
        &mut self,
        req: &HttpRequest,
        route: &str,
        segs: &[String],
        p: &Principal,
        beta: bool,
    ) -> Handled {
        let method = req.method.as_str();
        match (route, method) {
            ("user", "GET") => {
                Self::require(p, READ_USERS)?;
                let u = self
                    .find_user(&segs[1])
                    .ok_or_else(|| not_found(&segs[1]))?;
                let select = req.query_param("$select");
                let wants_activity = select
                    .as_deref()
                    .is_some_and(|s| s.split(',').any(|k| k.trim() == "signInActivity"));
                let mut body = user_json(u, select.as_deref())
                    .map_err(|e| graph_error(400, "Request_BadRequest", &e))?;
                if wants_activity {
                    // user.md: signInActivity needs AuditLog.Read.All and a P1/P2 licence.
                    Self::require(p, super::audit::READ_AUDIT)?;
                    self.require_premium()?;
                    body["signInActivity"] = self.sign_in_activity(&u.clone());
                }
                Ok(HttpResponse::json(200, &body))
            }
            ("groups", "GET") => {
                Self::require(p, READ_GROUPS)?;
                let u = self
                    .find_user(&segs[1])
                    .ok_or_else(|| not_found(&segs[1]))?;
                let v: Vec<Value> = u
                    .groups
                    .iter()
                    .map(|g| {
                        json!({"@odata.type": "#microsoft.graph.group", "id": g,
                            "isAssignableToRole": self.state.role_assignable_groups.iter().any(|r| r.eq_ignore_ascii_case(g))})
                    })
                    .collect();
                Ok(page(&self.base_url, req, &v, self.state.page_size))
            }
            ("creationOptions", "GET") => self.creation_options(req, segs, p, beta),
            ("register", "POST") => self.register(req, segs, p, beta),
            ("listMethods", "GET") => {
                Self::require(p, READ_METHODS)?;
                let u = self
                    .find_user(&segs[1])
                    .cloned()
                    .ok_or_else(|| not_found(&segs[1]))?;
                Self::require_role(p, &u, false)?;
                let v: Vec<Value> = self
                    .methods
                    .get(&u.id)
                    .into_iter()
                    .flatten()
                    .map(|m| super::shapes::method_for_version(&m.json, beta))
                    .collect();
                Ok(HttpResponse::json(200, &json!({"value": v})))
            }
            ("getMethod", "GET") | ("deleteMethod", "DELETE") => {
                Self::require(
                    p,
                    if method == "GET" {
                        READ_METHODS
                    } else {
                        WRITE_METHODS
                    },
                )?;
                let u = self
                    .find_user(&segs[1])
                    .cloned()
                    .ok_or_else(|| not_found(&segs[1]))?;
                Self::require_role(p, &u, method == "DELETE")?;
                let list = self.methods.entry(u.id.clone()).or_default();
                let i = list
                    .iter()
                    .position(|m| m.json["id"] == segs[4].as_str())
                    .ok_or_else(|| {
                        graph_error(
                            404,
                            "itemNotFound",
                            "The requested authentication method was not found.",
                        )
                    })?;
                if method == "GET" {
                    Ok(HttpResponse::json(
                        200,
                        &super::shapes::method_for_version(&list[i].json, beta),
                    ))
                } else {
                    list.remove(i);
                    Ok(HttpResponse::empty(204))
                }
            }
            ("policy", "GET") => {
                Self::require(p, READ_POLICY)?;
                if is_fido2_policy_path(segs) {
                    Ok(HttpResponse::json(200, &self.served_fido2_policy(beta)))
                } else {
                    Err(not_found(&segs.join("/")))
                }
            }
            ("roles", "GET") => {
                Self::require(p, READ_ROLES)?;
                let list = match segs.get(2).map(String::as_str) {
                    Some("roleAssignments") => &self.state.role_assignments,
                    Some("roleAssignmentSchedules") => &self.state.role_assignment_schedules,
                    Some("roleAssignmentScheduleInstances") => {
                        &self.state.role_assignment_schedule_instances
                    }
                    Some("roleEligibilitySchedules") => &self.state.role_eligibility_schedules,
                    _ => return Err(not_found(&segs.join("/"))),
                };
                let filter = req.query_param("$filter").unwrap_or_default();
                let v =
                    super::filter::apply(list, &filter, ROLE_FILTER_FIELDS).map_err(|e| bad(&e))?;
                Ok(page(&self.base_url, req, &v, self.state.page_size))
            }
            ("signIns", "GET") => self.list_sign_ins(req, p, beta),
            ("conditionalAccess", "GET") => {
                Self::require(p, READ_CA)?;
                if self.state.ca_rate_limit {
                    if let Some(t) = self.last_ca_read {
                        if t.elapsed() < Duration::from_secs(1) {
                            // Documented: 1 request/s per tenant, no Retry-After.
                            return Err(graph_error(429, "TooManyRequests", "Too many requests."));
                        }
                    }
                    self.last_ca_read = Some(Instant::now());
                }
                Ok(page(
                    &self.base_url,
                    req,
                    &self.state.conditional_access_policies,
                    self.state.page_size,
                ))
            }
            _ => Err(graph_error(
                405,
                "methodNotAllowed",
                "The method is not supported for this URL.",
            )),
        }
    }

    /// Why the FIDO2 policy refuses provisioning for `user`, if it does.
    fn policy_refusal(&self, user: &UserEntry) -> Option<String> {
        let p = &self.state.fido2_policy;
        if p["state"] != "enabled" {
            return Some("The FIDO2 authentication method is disabled for this tenant.".into());
        }
        if p["isSelfServiceRegistrationAllowed"] != true {
            return Some("FIDO2 provisioning requires self-service setup to be allowed in the authentication method policy.".into());
        }
        let ids = |k: &str| -> Vec<String> {
            p[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        };
        let member = |id: &String| {
            id == "all_users" || user.groups.iter().any(|g| g.eq_ignore_ascii_case(id))
        };
        if !ids("includeTargets").iter().any(member) || ids("excludeTargets").iter().any(member) {
            return Some("The user is not enabled for the FIDO2 authentication method.".into());
        }
        None
    }

    /// Key restrictions and attestation enforcement for `user` (legacy fields,
    /// or the passkey profiles the user's targets allow).
    fn effective_rules(&self, user: &UserEntry) -> Vec<(bool, Option<Value>)> {
        let p = &self.state.fido2_policy;
        let profiles = p["passkeyProfiles"].as_array().cloned().unwrap_or_default();
        if profiles.is_empty() {
            let enforced = p["isAttestationEnforced"] == true;
            return vec![(enforced, p.get("keyRestrictions").cloned())];
        }
        let mut allowed: Vec<String> = p["includeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["id"] == "all_users" || user.groups.iter().any(|g| t["id"] == g.as_str()))
            .flat_map(|t| {
                t["allowedPasskeyProfiles"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if allowed.is_empty() {
            allowed.extend(p["defaultPasskeyProfile"].as_str().map(str::to_string));
        }
        profiles
            .iter()
            .filter(|pr| allowed.iter().any(|a| pr["id"] == a.as_str()))
            .filter(|pr| {
                pr["passkeyTypes"]
                    .as_str()
                    .unwrap_or("")
                    .contains("deviceBound")
            })
            .map(|pr| {
                (
                    pr["attestationEnforcement"] == "registrationOnly",
                    pr.get("keyRestrictions").cloned(),
                )
            })
            .collect()
    }

    fn creation_options(
        &mut self,
        req: &HttpRequest,
        segs: &[String],
        p: &Principal,
        beta: bool,
    ) -> Handled {
        let user = self.user_for_write(p, &segs[1], beta)?;
        if let Some(why) = self.policy_refusal(&user) {
            return Err(graph_error(403, "accessDenied", &why));
        }
        let leaf = segs[4].clone();
        let function_form = leaf.starts_with("creationOptions(");
        let query_form = req.query_param("challengeTimeoutInMinutes").is_some();
        if !beta && (function_form || query_form) {
            // v1.0 page: a fixed 5-minute lifetime, custom timeouts not supported.
            return Err(bad(
                "challengeTimeoutInMinutes is not supported on v1.0; the challenge lifetime is fixed at 5 minutes.",
            ));
        }
        if function_form && !leaf.starts_with("creationOptions(challengeTimeoutInMinutes=") {
            return Err(bad(&format!(
                "'{leaf}' is not a parameter of creationOptions."
            )));
        }
        let minutes: i64 = if beta {
            let leaf = &segs[4];
            let from_fn = leaf
                .strip_prefix("creationOptions(challengeTimeoutInMinutes=")
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_string);
            match from_fn.or_else(|| req.query_param("challengeTimeoutInMinutes")) {
                Some(t) => t
                    .parse()
                    .map_err(|_| bad("challengeTimeoutInMinutes must be an integer."))?,
                None => 5,
            }
        } else {
            5
        };
        if !(5..=43200).contains(&minutes) {
            return Err(bad(
                "challengeTimeoutInMinutes must be between 5 and 43200.",
            ));
        }
        let expires = (self.now() + time::Duration::minutes(minutes))
            .replace_nanosecond(0)
            .unwrap_or_else(|_| self.now());
        // An opaque challenge as long as Entra's (~7 KB); bound to user and expiry here.
        let challenge = random_token(5 * 1024);
        self.challenges.insert(
            challenge.clone(),
            Challenge {
                user_id: user.id.clone(),
                expires,
                used: false,
            },
        );
        let exclude: Vec<Value> = self
            .methods
            .get(&user.id)
            .into_iter()
            .flatten()
            .map(|m| {
                // The beta page's note: ids are base64url plus a digit giving the
                // number of stripped '=' (.NET UrlTokenEncode; a 32-byte id ends
                // in '1'). v1.0: base64url without padding (GRAPH.md C3).
                let id = if beta {
                    b64::encode_url_token(&m.credential_id)
                } else {
                    b64::encode(&m.credential_id)
                };
                json!({"type": "public-key", "id": id, "transports": ["usb"]})
            })
            .collect();
        let handle = format!("OF:{}", user.id.replace('-', ""));
        let version = if beta { "beta" } else { "v1.0" };
        Ok(HttpResponse::json(
            200,
            &json!({
                "@odata.context": format!("{}/{version}/$metadata#microsoft.graph.webauthnCredentialCreationOptions", self.base_url),
                "challengeTimeoutDateTime": format_time(expires),
                "publicKey": {
                    "rp": {"id": verify::RP_ID, "name": "Microsoft"},
                    "user": {"id": b64::encode(handle.as_bytes()), "name": user.user_principal_name, "displayName": user.display_name},
                    "challenge": challenge,
                    "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
                    "timeout": 60000,
                    "excludeCredentials": exclude,
                    "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"},
                    "attestation": "direct",
                    "extensions": {"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": true, "credentialProtectionPolicy": "userVerificationOptional"}
                }
            }),
        ))
    }

    fn register(
        &mut self,
        req: &HttpRequest,
        segs: &[String],
        p: &Principal,
        beta: bool,
    ) -> Handled {
        let user = self.user_for_write(p, &segs[1], beta)?;
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return Err(graph_error(
                415,
                "UnsupportedMediaType",
                "Content-Type must be application/json.",
            ));
        }
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|e| bad(&format!("Invalid request body: {e}")))?;
        super::strict::check_body(&body, beta)?;
        let resp = &body["publicKeyCredential"]["response"];
        // v1.0 requires base64url without padding; beta has accepted standard base64.
        let decode = |field: &str| -> Result<Vec<u8>, HttpResponse> {
            let text = resp[field].as_str().ok_or_else(|| {
                bad(&format!(
                    "publicKeyCredential.response.{field} is required."
                ))
            })?;
            let bytes = if beta {
                b64::decode_lenient(text)
            } else {
                b64::decode_strict(text)
            };
            bytes.ok_or_else(|| bad(&format!("{field} is not valid base64url.")))
        };
        let cdj = decode("clientDataJSON")?;
        let ao = decode("attestationObject")?;
        let client: Value =
            serde_json::from_slice(&cdj).map_err(|_| bad("clientDataJSON is not JSON."))?;
        let challenge_text = client["challenge"]
            .as_str()
            .ok_or_else(|| bad("clientDataJSON has no challenge."))?;
        let now = self.now();
        let ch = self
            .challenges
            .get(challenge_text)
            .cloned()
            .ok_or_else(|| bad("The challenge is not valid."))?;
        if ch.user_id != user.id {
            return Err(bad("The challenge was issued for a different user."));
        }
        if ch.used {
            return Err(bad("The challenge has already been used."));
        }
        if now >= ch.expires {
            return Err(bad("The challenge has expired."));
        }
        if let Some(why) = self.policy_refusal(&user) {
            return Err(graph_error(403, "accessDenied", &why));
        }
        let rules = self.effective_rules(&user);
        if rules.is_empty() {
            return Err(bad(
                "No passkey profile allows device-bound passkeys for this user.",
            ));
        }
        let enforce = rules.iter().all(|(e, _)| *e);
        let challenge_bytes =
            b64::decode_strict(challenge_text).ok_or_else(|| bad("The challenge is not valid."))?;
        let parsed = crate::webauthn::AttestationObject::parse(&ao)
            .map_err(|e| bad(&format!("The attestation object is not valid: {e}")))?;
        super::strict::check_format(&parsed.fmt)?;
        let given_id = body["publicKeyCredential"]["id"].as_str().and_then(|t| {
            if beta {
                b64::decode_lenient(t)
            } else {
                b64::decode_strict(t)
            }
        });
        let attested_id = parsed
            .auth_data
            .attested
            .as_ref()
            .map(|a| a.credential_id.as_slice())
            .unwrap_or_default();
        super::strict::check_credential_id(given_id.as_deref().unwrap_or_default(), attested_id)?;
        let v = verify::verify_registration(
            &challenge_bytes,
            &cdj,
            &ao,
            &self.state.trusted_roots,
            enforce,
        )
        .map_err(|e| bad(&format!("The attestation could not be verified: {e}")))?;
        let aaguid = v.aaguid.to_string();
        let admitted = rules
            .iter()
            .any(|(_, kr)| restriction_allows(kr.as_ref(), &aaguid));
        if !admitted {
            return Err(bad(&format!("The authenticator with AAGUID {aaguid} is not allowed by the key restrictions policy.")));
        }
        if self
            .methods
            .values()
            .flatten()
            .any(|m| m.credential_id == v.credential_id)
        {
            return Err(graph_error(
                409,
                "conflict",
                "The credential is already registered.",
            ));
        }
        self.challenges
            .entry(challenge_text.to_string())
            .and_modify(|c| c.used = true);
        // Method ids in the list examples are UrlTokenEncode strings (GRAPH.md C8).
        let id = b64::encode_url_token(&v.credential_id);
        let model = self.state.models.get(&aaguid).cloned().unwrap_or_else(|| {
            if Aaguid::ZERO == v.aaguid {
                "Unknown".into()
            } else {
                format!("Authenticator {aaguid}")
            }
        });
        let json = json!({
            "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
            "id": id,
            "displayName": body["displayName"].as_str().unwrap_or(""),
            "createdDateTime": format_time(now),
            "aaGuid": aaguid,
            "model": model,
            "attestationCertificates": v.thumbprints,
            "attestationLevel": if v.attested { "attested" } else { "notAttested" },
            "passkeyType": "deviceBound",
        });
        self.methods
            .entry(user.id.clone())
            .or_default()
            .push(StoredMethod {
                json: json.clone(),
                credential_id: v.credential_id,
            });
        Ok(HttpResponse::json(201, &json))
    }
}

/// One page of a collection: `{"value": [...], "@odata.nextLink"?}`.
pub(super) fn page(base: &str, req: &HttpRequest, all: &[Value], size: usize) -> HttpResponse {
    let size = size.max(1);
    let skip: usize = req
        .query_param("$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = all.iter().skip(skip).take(size).cloned().collect();
    let mut body = json!({ "value": items });
    if skip + size < all.len() {
        let others: Vec<&str> = req
            .query
            .split('&')
            .filter(|kv| {
                !kv.is_empty() && !kv.starts_with("%24skiptoken") && !kv.starts_with("$skiptoken")
            })
            .collect();
        let mut q = others.join("&");
        if !q.is_empty() {
            q.push('&');
        }
        body["@odata.nextLink"] =
            format!("{base}{}?{q}$skiptoken={}", req.path, skip + size).into();
    }
    HttpResponse::json(200, &body)
}

/// The FIDO2 configuration's two documented addressings
/// (`.../authenticationMethodConfigurations/fido2` in the get page,
/// `.../authenticationMethodConfigurations('Fido2')` as OData key syntax and
/// in the service's own `@odata.context`); the id compares case-insensitively.
/// Anything else under /policies is not this route.
fn is_fido2_policy_path(segs: &[String]) -> bool {
    let id_ok = |id: &str| id.eq_ignore_ascii_case("fido2");
    match segs {
        [p, a, c, id] => {
            p == "policies"
                && a.eq_ignore_ascii_case("authenticationMethodsPolicy")
                && c.eq_ignore_ascii_case("authenticationMethodConfigurations")
                && id_ok(id)
        }
        [p, a, keyed] => {
            p == "policies"
                && a.eq_ignore_ascii_case("authenticationMethodsPolicy")
                && keyed
                    .strip_prefix("authenticationMethodConfigurations('")
                    .and_then(|r| r.strip_suffix("')"))
                    .is_some_and(id_ok)
        }
        _ => false,
    }
}

fn restriction_allows(kr: Option<&Value>, aaguid: &str) -> bool {
    let Some(kr) = kr.filter(|k| k["isEnforced"] == true) else {
        return true;
    };
    let listed = kr["aaGuids"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a.as_str().is_some_and(|s| s.eq_ignore_ascii_case(aaguid)));
    if kr["enforcementType"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("block"))
    {
        !listed
    } else {
        listed
    }
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "invalidRequest",
        401 => "InvalidAuthenticationToken",
        403 => "Authorization_RequestDenied",
        404 => "itemNotFound",
        405 => "methodNotAllowed",
        409 => "conflict",
        429 => "TooManyRequests",
        503 => "serviceNotAvailable",
        504 => "gatewayTimeout",
        _ => "generalException",
    }
}

/// User properties the emulator knows (user.md property table, the subset
/// glasskey and common tools select); any other `$select` name is refused
/// the way the directory refuses it.
const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "accountEnabled",
    "onPremisesSyncEnabled",
    "passwordPolicies",
    "userType",
    "signInActivity",
    "mail",
    "givenName",
    "surname",
    "jobTitle",
    "createdDateTime",
    "onPremisesImmutableId",
    "usageLocation",
];

/// A user as Graph returns it: default properties, or exactly the `$select`ed
/// ones (known but unset properties come back as null). An unknown property
/// is a 400, as Graph answers (docs are silent on the text; the stricter
/// behaviour is chosen).
fn user_json(u: &UserEntry, select: Option<&str>) -> Result<Value, String> {
    let all = json!({
        "id": u.id, "userPrincipalName": u.user_principal_name, "displayName": u.display_name,
        "accountEnabled": u.account_enabled, "onPremisesSyncEnabled": u.on_premises_sync_enabled,
        "passwordPolicies": u.password_policies, "userType": u.user_type,
    });
    let keys: Vec<&str> = match select {
        Some(s) => s
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect(),
        None => vec!["id", "userPrincipalName", "displayName"],
    };
    let mut out = serde_json::Map::new();
    for k in keys {
        if !USER_PROPERTIES.contains(&k) {
            return Err(format!(
                "Could not find a property named '{k}' on type 'Microsoft.DirectoryServices.User'."
            ));
        }
        if k != "signInActivity" {
            out.insert(k.to_string(), all.get(k).cloned().unwrap_or(Value::Null));
        }
    }
    out.insert("id".into(), all["id"].clone());
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_and_restrictions() {
        let u = UserEntry {
            id: "i".into(),
            user_principal_name: "p".into(),
            account_enabled: true,
            ..Default::default()
        };
        let plain = user_json(&u, None).unwrap();
        assert!(
            plain.get("accountEnabled").is_none(),
            "$select-only properties absent by default"
        );
        assert!(user_json(&u, Some("accountEnabled,nonsense"))
            .unwrap_err()
            .contains("'nonsense'"));
        let sel = user_json(&u, Some("accountEnabled,mail")).unwrap();
        assert_eq!(
            sel,
            json!({"id": "i", "accountEnabled": true, "mail": null})
        );

        let allow = json!({"isEnforced": true, "enforcementType": "allow", "aaGuids": ["AB"]});
        assert!(restriction_allows(Some(&allow), "ab") && !restriction_allows(Some(&allow), "cd"));
        let block = json!({"isEnforced": true, "enforcementType": "block", "aaGuids": ["ab"]});
        assert!(!restriction_allows(Some(&block), "ab") && restriction_allows(Some(&block), "cd"));
        assert!(restriction_allows(None, "x"));
    }
}
