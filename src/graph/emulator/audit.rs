//! The emulator's sign-in evidence: `auditLogs/signIns` and `signInActivity`,
//! in the documented shapes, and the control-endpoint action that adds a
//! sign-in (how a test or rehearsal "signs in at the admin center").
//!
//! Docs (microsoftgraph/microsoft-graph-docs-contrib):
//! - `api-reference/beta/api/signin-list.md`: AuditLog.Read.All **and**
//!   Directory.Read.All (known issue: both are required), newest first,
//!   `$filter`, `$top` (max 1,000), `$skiptoken`.
//! - `concepts/known-issues.md` "License check errors for Microsoft Entra
//!   activity reports": without Entra ID P1/P2 the reports answer 403
//!   `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
//! - `api-reference/v1.0/resources/signinactivity.md`: the per-user summary.

use serde_json::{json, Value};

use super::filter;
use super::routes::{graph_error, page, Handled, Principal, World};
use super::state::UserEntry;
use super::wire::{HttpRequest, HttpResponse};
use crate::graph::http::new_guid;
use crate::graph::types::{format_time, parse_time};

/// Permissions that read sign-in logs (both are needed for the list).
pub(super) const READ_AUDIT: &[&str] = &["AuditLog.Read.All"];
const READ_DIRECTORY: &[&str] = &["Directory.Read.All"];
/// Properties `$filter` may use on sign-ins (signin-list.md examples and the
/// filter table of the sign-in resource).
const SIGNIN_FILTER_FIELDS: &[&str] = &[
    "userPrincipalName",
    "userId",
    "createdDateTime",
    "appDisplayName",
    "ipAddress",
    "correlationId",
    "id",
];

impl World {
    /// 403 the way activity reports answer a tenant without P1/P2.
    pub(super) fn require_premium(&self) -> Result<(), HttpResponse> {
        if self.state.premium_licence {
            Ok(())
        } else {
            Err(graph_error(
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Neither tenant is B2C or tenant doesn't have premium license",
            ))
        }
    }

    pub(super) fn list_sign_ins(
        &mut self,
        req: &HttpRequest,
        p: &Principal,
        beta: bool,
    ) -> Handled {
        Self::require(p, READ_AUDIT)?;
        Self::require(p, READ_DIRECTORY)?;
        self.require_premium()?;
        let filter_text = req.query_param("$filter").unwrap_or_default();
        let mut items = filter::apply(&self.state.sign_ins, &filter_text, SIGNIN_FILTER_FIELDS)
            .map_err(|e| super::routes::bad(&e))?;
        // Documented order: descending createdDateTime.
        items
            .sort_by_key(|s| std::cmp::Reverse(s["createdDateTime"].as_str().and_then(parse_time)));
        if !beta {
            // v1.0's signIn resource does not list authenticationDetails.
            for s in &mut items {
                if let Some(o) = s.as_object_mut() {
                    o.remove("authenticationDetails");
                }
            }
        }
        let version = if beta { "beta" } else { "v1.0" };
        let mut resp = page(&self.base_url, req, &items, self.state.page_size);
        if let Ok(mut v) = serde_json::from_slice::<Value>(&resp.body) {
            v["@odata.context"] =
                format!("{}/{version}/$metadata#auditLogs/signIns", self.base_url).into();
            resp = HttpResponse::json(200, &v);
        }
        Ok(resp)
    }

    /// The user's signInActivity computed from the sign-in log.
    pub(super) fn sign_in_activity(&self, u: &UserEntry) -> Value {
        let mine: Vec<&Value> = self
            .state
            .sign_ins
            .iter()
            .filter(|s| s["userId"] == u.id.as_str())
            .collect();
        let latest = |ok_only: bool| {
            mine.iter()
                .filter(|s| !ok_only || s["status"]["errorCode"] == 0)
                .max_by_key(|s| s["createdDateTime"].as_str().and_then(parse_time))
                .copied()
        };
        let last = latest(false);
        let ok = latest(true);
        json!({
            "lastSignInDateTime": last.map(|s| s["createdDateTime"].clone()),
            "lastSignInRequestId": last.map(|s| s["id"].clone()),
            "lastNonInteractiveSignInDateTime": null,
            "lastNonInteractiveSignInRequestId": null,
            "lastSuccessfulSignInDateTime": ok.map(|s| s["createdDateTime"].clone()),
            "lastSuccessfulSignInRequestId": ok.map(|s| s["id"].clone()),
        })
    }

    /// Control action `addSignIn`: `{"userPrincipalName": ..., "method"?:
    /// "FIDO2 security key", "succeeded"?: true, "ipAddress"?, "appDisplayName"?,
    /// "createdDateTime"? (default now), "secondsAgo"?}`. Returns the new id.
    pub(super) fn add_sign_in(&mut self, spec: &Value) -> Result<String, String> {
        let upn = spec["userPrincipalName"]
            .as_str()
            .ok_or("addSignIn needs userPrincipalName")?;
        let user = self
            .find_user(upn)
            .cloned()
            .ok_or_else(|| format!("addSignIn: no user {upn}"))?;
        let method = spec["method"].as_str().unwrap_or("FIDO2 security key");
        let succeeded = spec["succeeded"].as_bool().unwrap_or(true);
        let when = match spec["createdDateTime"].as_str() {
            Some(t) => parse_time(t).ok_or("addSignIn: createdDateTime is not a date")?,
            None => self.now() - time::Duration::seconds(spec["secondsAgo"].as_i64().unwrap_or(0)),
        };
        let when = format_time(when);
        let id = new_guid();
        let (code, reason): (i64, Value) = if succeeded {
            (0, Value::Null)
        } else {
            (
                50126,
                "Error validating credentials due to invalid username or password.".into(),
            )
        };
        self.state.sign_ins.push(json!({
            "id": id,
            "createdDateTime": when,
            "userDisplayName": user.display_name,
            "userPrincipalName": user.user_principal_name,
            "userId": user.id,
            "appId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
            "appDisplayName": spec["appDisplayName"].as_str().unwrap_or("Azure Portal"),
            "ipAddress": spec["ipAddress"].as_str().unwrap_or("203.0.113.10"),
            "clientAppUsed": "Browser",
            "correlationId": new_guid(),
            "conditionalAccessStatus": "success",
            "isInteractive": true,
            "status": {"errorCode": code, "failureReason": reason, "additionalDetails": null},
            "authenticationDetails": [{
                "authenticationStepDateTime": when,
                "authenticationMethod": method,
                "authenticationMethodDetail": null,
                "succeeded": succeeded,
                "authenticationStepResultDetail": if succeeded { "MFA successfully completed" } else { "Authentication failed" },
                "authenticationStepRequirement": "Primary authentication"
            }],
        }));
        Ok(id)
    }
}
