//! The emulator's tenant, read from a JSON state file (format in docs/graph.md)
//! or the built-in demo tenant DESIGN fixes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aaguid::Aaguid;
use crate::graph::posture::{GLOBAL_ADMIN_ROLE, PHISHING_RESISTANT_STRENGTH};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub domain: String,
}

/// An app registration: client credentials and granted permissions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub client_id: String,
    #[serde(default)]
    pub secret: Option<String>,
    /// PEM certificate accepted for JWT client assertions (RSA).
    #[serde(default)]
    pub certificate_pem: Option<String>,
    /// Application permissions (app-only) and delegated permissions (device code).
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UserEntry {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub account_enabled: bool,
    pub on_premises_sync_enabled: Option<bool>,
    pub password_policies: Option<String>,
    pub user_type: String,
    /// Group ids the user belongs to (transitively).
    pub groups: Vec<String>,
    /// Entra role names held, for delegated sign-in (e.g. "Privileged Authentication Administrator").
    pub directory_roles: Vec<String>,
}

/// Ids of role-assignable groups (`isAssignableToRole: true`).
pub type RoleAssignableGroups = Vec<String>;

/// How the device-code sign-in goes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceCodeScript {
    /// UPN of the person who signs in.
    pub sign_in_as: String,
    /// Polls answered `authorization_pending` before the outcome.
    pub pending_polls: u32,
    /// Polls answered `slow_down` (before the pending ones).
    pub slow_down_polls: u32,
    /// `approve` | `decline` | `expire`.
    pub outcome: String,
    pub interval: u64,
}

impl Default for DeviceCodeScript {
    fn default() -> Self {
        DeviceCodeScript {
            sign_in_as: "admin@contoso.onmicrosoft.com".into(),
            pending_polls: 1,
            slow_down_polls: 0,
            outcome: "approve".into(),
            interval: 1,
        }
    }
}

/// One injected fault. Matches a route (or "any"); fires `times` times.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// token, devicecode, user, creationOptions, register, listMethods, getMethod,
    /// deleteMethod, policy, groups, roles, conditionalAccess, any.
    pub route: String,
    /// HTTP status to answer with (0: no error answer, only delay/drop).
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub code: Option<String>,
    /// Seconds for a Retry-After header (omitted when None).
    #[serde(default)]
    pub retry_after: Option<f64>,
    #[serde(default = "one")]
    pub times: u32,
    /// Wait before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// register only: apply the registration, then drop the connection unanswered.
    #[serde(default)]
    pub drop_after_apply: bool,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub tenant: Tenant,
    pub apps: Vec<App>,
    pub users: Vec<UserEntry>,
    /// The FIDO2 method configuration, as Graph returns it.
    pub fido2_policy: Value,
    /// Attestation roots (PEM) trusted when attestation is enforced.
    #[serde(default)]
    pub trusted_roots: Vec<String>,
    /// AAGUID -> model name shown on registered methods.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    #[serde(default)]
    pub role_assignments: Vec<Value>,
    #[serde(default)]
    pub role_assignment_schedules: Vec<Value>,
    #[serde(default)]
    pub role_assignment_schedule_instances: Vec<Value>,
    #[serde(default)]
    pub role_eligibility_schedules: Vec<Value>,
    #[serde(default)]
    pub conditional_access_policies: Vec<Value>,
    /// Groups created role-assignable; they can hold role assignments.
    #[serde(default)]
    pub role_assignable_groups: RoleAssignableGroups,
    /// Sign-in log entries (`auditLogs/signIns`, beta shape), newest last;
    /// the control endpoint's `addSignIn` appends (docs/graph.md).
    #[serde(default)]
    pub sign_ins: Vec<Value>,
    /// The tenant has Entra ID P1/P2: sign-in logs and signInActivity need it.
    #[serde(default = "yes")]
    pub premium_licence: bool,
    #[serde(default)]
    pub device_code: DeviceCodeScript,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Enforce Graph's 1 request/second limit on Conditional Access reads.
    #[serde(default = "yes")]
    pub ca_rate_limit: bool,
    /// Lifetime of issued access tokens (`expires_in`), seconds.
    #[serde(default = "token_lifetime")]
    pub token_lifetime_seconds: u64,
    /// Items per page of collections (Graph pages with `@odata.nextLink`).
    #[serde(default = "page_size")]
    pub page_size: usize,
}

fn token_lifetime() -> u64 {
    3599
}

fn page_size() -> usize {
    100
}

fn yes() -> bool {
    true
}

pub const DEMO_CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
pub const DEMO_CLIENT_SECRET: &str = "emulator-secret";
pub const TRUSSED_AAGUID: &str = "8bc54968-07b1-4d5f-b249-607f5d527da2";

/// Every permission glasskey needs (docs/graph.md).
pub const ALL_PERMISSIONS: &[&str] = &[
    "UserAuthMethod-Passkey.ReadWrite.All",
    // beta creationOptions/POST (--challenge-timeout) list only this one.
    "UserAuthenticationMethod.ReadWrite.All",
    "Policy.Read.AuthenticationMethod",
    "User.Read.All",
    "GroupMember.Read.All",
    "RoleManagement.Read.Directory",
    "Policy.Read.All",
    "AuditLog.Read.All",
    "Directory.Read.All",
];

impl State {
    pub fn from_json(text: &str) -> Result<State, String> {
        serde_json::from_str(text).map_err(|e| format!("emulator state is not valid: {e}"))
    }

    /// The built-in demo tenant (DESIGN "Graph emulator").
    pub fn demo() -> State {
        let bg = |n: u32| UserEntry {
            id: format!("00000000-0000-4000-8000-00000000000{n}"),
            user_principal_name: format!("bg{n}@contoso.onmicrosoft.com"),
            display_name: format!("Break Glass {n}"),
            account_enabled: true,
            on_premises_sync_enabled: None,
            password_policies: Some("DisablePasswordExpiration".into()),
            user_type: "Member".into(),
            groups: vec!["aaaaaaaa-0000-4000-8000-00000000b9b9".into()],
            directory_roles: vec!["Global Administrator".into()],
        };
        let admin = UserEntry {
            id: "00000000-0000-4000-8000-0000000000ad".into(),
            user_principal_name: "admin@contoso.onmicrosoft.com".into(),
            display_name: "Identity Admin".into(),
            account_enabled: true,
            user_type: "Member".into(),
            directory_roles: vec!["Privileged Authentication Administrator".into()],
            ..Default::default()
        };
        let users = vec![bg(1), bg(2), admin];
        let mut assignments = Vec::new();
        let mut schedules = Vec::new();
        for u in &users[..2] {
            assignments.push(json!({"id": format!("ra-{}", u.id), "principalId": u.id,
                "roleDefinitionId": GLOBAL_ADMIN_ROLE, "directoryScopeId": "/"}));
            schedules.push(json!({"id": format!("rs-{}", u.id), "principalId": u.id,
                "roleDefinitionId": GLOBAL_ADMIN_ROLE, "directoryScopeId": "/", "memberType": "Direct",
                "assignmentType": "Assigned", "status": "Provisioned",
                "scheduleInfo": {"startDateTime": "2025-01-01T00:00:00Z", "expiration": {"type": "noExpiration"}}}));
        }
        let mut models = BTreeMap::new();
        models.insert(
            Aaguid::virtual_model(1).to_string(),
            "glasskey virtual key, model 1".into(),
        );
        models.insert(
            Aaguid::virtual_model(2).to_string(),
            "glasskey virtual key, model 2".into(),
        );
        models.insert(
            TRUSSED_AAGUID.into(),
            "Trussed FIDO authenticator (test peer)".into(),
        );
        models.insert(Aaguid::ZERO.to_string(), "OpenSK (test peer)".into());
        let allowed: Vec<String> = models.keys().cloned().collect();
        State {
            tenant: Tenant {
                id: "c0c0c0c0-0000-4000-8000-000000000001".into(),
                domain: "contoso.onmicrosoft.com".into(),
            },
            apps: vec![App {
                client_id: DEMO_CLIENT_ID.into(),
                secret: Some(DEMO_CLIENT_SECRET.into()),
                certificate_pem: None,
                permissions: ALL_PERMISSIONS.iter().map(|s| s.to_string()).collect(),
            }],
            users,
            fido2_policy: json!({
                "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
                "id": "Fido2", "state": "enabled",
                "isSelfServiceRegistrationAllowed": true,
                "isAttestationEnforced": false,
                "keyRestrictions": {"isEnforced": true, "enforcementType": "allow", "aaGuids": allowed},
                "includeTargets": [{"targetType": "group", "id": "all_users", "isRegistrationRequired": false}],
                "excludeTargets": []
            }),
            trusted_roots: vec![],
            models,
            role_assignments: assignments,
            role_assignment_schedules: schedules,
            role_assignment_schedule_instances: vec![],
            role_eligibility_schedules: vec![],
            role_assignable_groups: vec![],
            conditional_access_policies: vec![
                json!({"id": "ca-mfa-all", "displayName": "Require MFA for all users", "state": "enabled",
                    "conditions": {"users": {"includeUsers": ["All"], "excludeGroups": ["aaaaaaaa-0000-4000-8000-00000000b9b9"]}},
                    "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
                json!({"id": "ca-pr-admins", "displayName": "Phishing-resistant MFA for admins", "state": "enabled",
                    "conditions": {"users": {"includeRoles": [GLOBAL_ADMIN_ROLE]}},
                    "grantControls": {"operator": "OR", "builtInControls": [],
                        "authenticationStrength": {"id": PHISHING_RESISTANT_STRENGTH, "displayName": "Phishing-resistant MFA"}}}),
            ],
            sign_ins: vec![],
            premium_licence: true,
            device_code: DeviceCodeScript::default(),
            faults: vec![],
            ca_rate_limit: true,
            token_lifetime_seconds: token_lifetime(),
            page_size: page_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_state_round_trips_through_json() {
        let s = State::demo();
        let text = serde_json::to_string(&s).unwrap();
        let back = State::from_json(&text).unwrap();
        assert_eq!(back.users.len(), 3);
        assert!(State::from_json("{}").is_err());
        let p: crate::graph::policy::Fido2Policy =
            serde_json::from_value(back.fido2_policy).unwrap();
        assert!(p
            .key_restrictions
            .unwrap()
            .aa_guids
            .contains(&Aaguid::virtual_model(2).to_string()));
    }
}
