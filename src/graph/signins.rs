//! Sign-in evidence: the `auditLogs/signIns` entries of a break-glass account
//! and its `signInActivity`, read tolerantly (every property may be null or
//! missing; unknown ones are ignored).
//!
//! Sources (Graph docs repo, microsoftgraph/microsoft-graph-docs-contrib):
//! - `api-reference/beta/api/signin-list.md`: `GET /auditLogs/signIns`,
//!   `$filter`/`$top`/`$skiptoken`, newest first, page size up to 1,000;
//!   permissions AuditLog.Read.All **and** Directory.Read.All (known issue);
//!   delegated callers also need Reports Reader, Security Reader, Global Reader
//!   or another listed role. `authenticationDetails` is a beta property.
//! - `api-reference/v1.0/api/signin-list.md`: the same list in v1.0 (no
//!   `authenticationDetails`).
//! - `api-reference/v1.0/resources/signinactivity.md`: `lastSignInDateTime`,
//!   `lastSuccessfulSignInDateTime`, request ids; read with
//!   `$select=signInActivity` (needs AuditLog.Read.All and Entra ID P1/P2).
//! - Method names in `authenticationDetails`: "FIDO2 security key" (a public
//!   sign-in capture, tests/fixtures/graph/signin.fido2-authdetails-capture.json);
//!   Entra now also says "Passkey (device-bound)". Both are accepted.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::client::GraphClient;
use super::endpoint::{urlencode_segment, ApiVersion};
use super::types::{format_time, null_as_default, parse_time};
use super::GraphError;

/// One sign-in log entry (the properties glasskey reads).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SignIn {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub created_date_time: String,
    pub user_principal_name: Option<String>,
    pub user_id: Option<String>,
    pub app_display_name: Option<String>,
    pub ip_address: Option<String>,
    pub client_app_used: Option<String>,
    pub correlation_id: Option<String>,
    pub is_interactive: Option<bool>,
    pub status: Option<SignInStatus>,
    #[serde(deserialize_with = "null_as_default")]
    pub authentication_details: Vec<AuthenticationDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SignInStatus {
    /// 0 means success.
    pub error_code: Option<i64>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationDetail {
    pub authentication_step_date_time: Option<String>,
    pub authentication_method: Option<String>,
    pub authentication_method_detail: Option<String>,
    pub succeeded: Option<bool>,
}

impl SignIn {
    /// The sign-in succeeded (`status.errorCode` 0).
    pub fn succeeded(&self) -> bool {
        self.status.as_ref().and_then(|s| s.error_code) == Some(0)
    }

    /// The step that names a FIDO2 security key or passkey and succeeded.
    pub fn fido2_step(&self) -> Option<&AuthenticationDetail> {
        self.authentication_details.iter().find(|d| {
            d.succeeded == Some(true)
                && d.authentication_method
                    .as_deref()
                    .is_some_and(is_fido2_method)
        })
    }

    /// A successful sign-in proved with a FIDO2 key / passkey.
    pub fn is_fido2_proof(&self) -> bool {
        self.succeeded() && self.fido2_step().is_some()
    }

    pub fn time(&self) -> Option<OffsetDateTime> {
        parse_time(&self.created_date_time)
    }
}

/// An `authenticationMethod` value that means a FIDO2 key or passkey.
pub fn is_fido2_method(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("fido2") || n.contains("passkey")
}

/// `signInActivity` of a user (v1.0 resource; every property nullable).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SignInActivity {
    pub last_sign_in_date_time: Option<String>,
    pub last_sign_in_request_id: Option<String>,
    pub last_non_interactive_sign_in_date_time: Option<String>,
    pub last_successful_sign_in_date_time: Option<String>,
    pub last_successful_sign_in_request_id: Option<String>,
}

/// The `$filter` for one account's sign-ins since an instant. UPN quotes are
/// doubled (OData string literal); times are `...Z` literals, unquoted.
pub fn sign_in_filter(upn: &str, since: OffsetDateTime) -> String {
    format!(
        "userPrincipalName eq '{}' and createdDateTime ge {}",
        upn.replace('\'', "''"),
        format_time(since)
    )
}

impl GraphClient {
    /// Sign-ins of `upn` since `since`, newest first (beta, which carries
    /// `authenticationDetails`).
    pub fn sign_ins(&self, upn: &str, since: OffsetDateTime) -> Result<Vec<SignIn>, GraphError> {
        self.list(
            &format!("read sign-ins of {upn}"),
            ApiVersion::Beta,
            &format!(
                "/auditLogs/signIns?$filter={}",
                urlencode_segment(&sign_in_filter(upn, since))
            ),
        )
    }

    /// The user's `signInActivity` (v1.0 `$select`).
    pub fn sign_in_activity(&self, user: &str) -> Result<SignInActivity, GraphError> {
        let op = format!("read signInActivity of {user}");
        let v = self.get_json(
            &op,
            ApiVersion::V1,
            &format!(
                "/users/{}?$select=id,signInActivity",
                urlencode_segment(user)
            ),
        )?;
        match v.get("signInActivity") {
            None | Some(serde_json::Value::Null) => Ok(SignInActivity::default()),
            Some(a) => serde_json::from_value(a.clone())
                .map_err(|e| GraphError::bad_response(op, e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fido2_proof_needs_success_and_a_key_step() {
        let mut s: SignIn = serde_json::from_value(serde_json::json!({
            "id": "1", "createdDateTime": "2026-01-01T00:00:00Z", "status": {"errorCode": 0},
            "authenticationDetails": [{"authenticationMethod": "Password", "succeeded": true},
                {"authenticationMethod": "FIDO2 security key", "succeeded": true}]}))
        .unwrap();
        assert!(s.is_fido2_proof());
        s.status = Some(SignInStatus {
            error_code: Some(50126),
            failure_reason: None,
        });
        assert!(!s.is_fido2_proof());
        assert!(is_fido2_method("Passkey (device-bound)"));
        assert!(!is_fido2_method("Password"));
        let t = parse_time("2026-03-01T10:00:00Z").unwrap();
        assert_eq!(
            sign_in_filter("o'brien@x", t),
            "userPrincipalName eq 'o''brien@x' and createdDateTime ge 2026-03-01T10:00:00Z"
        );
    }
}
