//! Which Graph permissions each call needs, per API version, exactly as the
//! Graph docs list them, and the up-front check of an access token's `roles`
//! (application permissions) or `scp` (delegated scopes) against a planned
//! command — so a missing permission is named before anything is read,
//! fetched or written, and never discovered after a key was changed.
//!
//! Tables: docs/graph.md "Permissions" carries the same table with the doc
//! pages. Where the docs contradict practice, the rule and the reason are
//! written beside the entry.

use serde_json::Value;

use super::b64;
use super::GraphError;

/// One Graph call glasskey makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `GET /users/{id}?$select=...`
    ReadUser,
    /// `GET /users/{id}/transitiveMemberOf`
    ReadGroups,
    /// `GET /roleManagement/directory/roleAssignments` (and PIM schedules, which
    /// fall back to it without licences)
    ReadRoles,
    /// `GET /identity/conditionalAccess/policies`
    ReadConditionalAccess,
    /// `GET /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2`
    ReadFido2Policy,
    /// `GET /users/{id}/authentication/fido2Methods[/{id}]`
    ListMethods,
    /// `GET /v1.0/.../fido2Methods/creationOptions`
    CreationOptionsV1,
    /// `GET /beta/.../fido2Methods/creationOptions(challengeTimeoutInMinutes=n)`
    CreationOptionsBeta,
    /// `POST /v1.0/users/{id}/authentication/fido2Methods`
    RegisterV1,
    /// `POST /beta/users/{id}/authentication/fido2methods`
    RegisterBeta,
    /// `DELETE /v1.0/users/{id}/authentication/fido2Methods/{id}`
    DeleteMethod,
    /// `GET /auditLogs/signIns`
    ReadSignIns,
    /// `GET /users/{id}?$select=signInActivity`
    ReadSignInActivity,
}

/// The calls each command makes, checked against the token before it starts.
pub mod plans {
    use super::Call::{self, *};

    pub const ENROLL_ONLINE: &[Call] = &[
        ReadUser,
        ReadGroups,
        ReadFido2Policy,
        CreationOptionsV1,
        RegisterV1,
        ListMethods,
    ];
    pub const FETCH_OPTIONS_V1: &[Call] =
        &[ReadUser, ReadGroups, ReadFido2Policy, CreationOptionsV1];
    pub const FETCH_OPTIONS_BETA: &[Call] =
        &[ReadUser, ReadGroups, ReadFido2Policy, CreationOptionsBeta];
    pub const REGISTER_V1: &[Call] = &[ReadUser, ListMethods, RegisterV1];
    pub const REGISTER_BETA: &[Call] = &[ReadUser, ListMethods, RegisterBeta];
    pub const METHODS: &[Call] = &[ListMethods];
    pub const PREFLIGHT: &[Call] = &[ReadUser, ReadGroups, ReadFido2Policy];
    pub const POSTURE: &[Call] = &[ReadUser, ReadGroups, ReadRoles, ReadConditionalAccess];
    pub const CHECK_ONLINE: &[Call] = &[ReadUser, ListMethods, ReadGroups, ReadFido2Policy];
    pub const AUDIT_ONLINE: &[Call] = &[
        ReadFido2Policy,
        ReadConditionalAccess,
        ReadUser,
        ReadGroups,
        ReadRoles,
        ListMethods,
    ];
    /// Sign-in evidence (check --signin, the sign-in part of audit --online).
    pub const SIGN_IN_EVIDENCE: &[Call] = &[ReadUser, ReadSignIns, ReadSignInActivity];
}

/// What a call needs: every group must be satisfied, by any one member of it
/// (the first member is the least privileged the docs name).
pub struct Need {
    pub all_of: &'static [&'static [&'static str]],
    /// The doc page (microsoftgraph/microsoft-graph-docs-contrib path).
    pub doc: &'static str,
}

const PASSKEY_WRITE: &[&str] = &[
    "UserAuthMethod-Passkey.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
];

impl Call {
    /// The permissions the docs list for this call (the same for delegated
    /// and application unless noted).
    pub fn need(self) -> Need {
        match self {
            Call::ReadUser => Need {
                all_of: &[&["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]],
                doc: "api-reference/v1.0/api/user-get.md (User.ReadBasic.All does not return $select-only properties)",
            },
            Call::ReadGroups => Need {
                all_of: &[&["User.Read.All", "GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"]],
                doc: "api-reference/v1.0/includes/permissions/user-list-transitivememberof-permissions.md @93ab45de",
            },
            Call::ReadRoles => Need {
                all_of: &[&["RoleManagement.Read.Directory", "RoleManagement.Read.All", "Directory.Read.All", "RoleManagement.ReadWrite.Directory"]],
                doc: "api-reference/v1.0/api/rbacapplication-list-roleassignments.md",
            },
            Call::ReadConditionalAccess => Need {
                all_of: &[&["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"]],
                doc: "api-reference/v1.0/api/conditionalaccessroot-list-policies.md",
            },
            Call::ReadFido2Policy => Need {
                all_of: &[&["Policy.Read.AuthenticationMethod", "Policy.ReadWrite.AuthenticationMethod", "Policy.Read.All"]],
                doc: "api-reference/v1.0/api/fido2authenticationmethodconfiguration-get.md",
            },
            Call::ListMethods => Need {
                all_of: &[&[
                    "UserAuthMethod-Passkey.Read.All",
                    "UserAuthMethod-Passkey.ReadWrite.All",
                    "UserAuthenticationMethod.Read.All",
                    "UserAuthenticationMethod.ReadWrite.All",
                ]],
                doc: "api-reference/v1.0/api/fido2authenticationmethod-list.md",
            },
            Call::CreationOptionsV1 => Need {
                all_of: &[PASSKEY_WRITE],
                doc: "api-reference/v1.0/api/fido2authenticationmethod-creationoptions.md",
            },
            // The beta include lists only UserAuthenticationMethod.ReadWrite.All
            // (application; delegated "Not supported", which working delegated
            // scripts contradict — GRAPH.md C4). The passkey-specific permission
            // is not listed for beta, so it is not accepted here.
            Call::CreationOptionsBeta => Need {
                all_of: &[&["UserAuthenticationMethod.ReadWrite.All"]],
                doc: "api-reference/beta/includes/permissions/fido2authenticationmethod-creationoptions-permissions.md",
            },
            Call::RegisterV1 => Need {
                all_of: &[PASSKEY_WRITE],
                doc: "api-reference/v1.0/includes/permissions/authentication-post-fido2methods-permissions.md",
            },
            Call::RegisterBeta => Need {
                all_of: &[&["UserAuthenticationMethod.ReadWrite.All"]],
                doc: "api-reference/beta/api/authentication-post-fido2methods.md (permissions include @ce93c333)",
            },
            Call::DeleteMethod => Need {
                all_of: &[PASSKEY_WRITE],
                doc: "api-reference/v1.0/api/fido2authenticationmethod-delete.md",
            },
            Call::ReadSignIns => Need {
                all_of: &[&["AuditLog.Read.All"], &["Directory.Read.All"]],
                doc: "api-reference/beta/api/signin-list.md (known issue: AuditLog.Read.All and Directory.Read.All are both required)",
            },
            Call::ReadSignInActivity => Need {
                all_of: &[&["AuditLog.Read.All"], &["User.Read.All", "Directory.Read.All"]],
                doc: "api-reference/v1.0/resources/signinactivity.md and api-reference/v1.0/api/user-get.md",
            },
        }
    }
}

/// What the access token says about the caller. Graph's access tokens are
/// JWTs whose payload glasskey reads but cannot verify (their signature is
/// for Graph); the check here only predicts Graph's own refusal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    /// Application permissions (client credentials).
    pub roles: Vec<String>,
    /// Delegated scopes (device code), split from the space-separated `scp`.
    pub scopes: Vec<String>,
    /// Directory role template ids of the signed-in user (delegated).
    pub wids: Vec<String>,
}

impl TokenClaims {
    /// Read the payload of a JWT access token; None for an opaque token.
    pub fn from_jwt(token: &str) -> Option<TokenClaims> {
        let mut parts = token.split('.');
        let (_, payload) = (parts.next()?, parts.next()?);
        parts.next()?;
        let v: Value = serde_json::from_slice(&b64::decode_lenient(payload)?).ok()?;
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        };
        Some(TokenClaims {
            roles: strings("roles"),
            scopes: v["scp"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            wids: strings("wids"),
        })
    }

    pub fn delegated(&self) -> bool {
        !self.scopes.is_empty()
    }

    fn holds(&self, name: &str) -> bool {
        let have = if self.delegated() {
            &self.scopes
        } else {
            &self.roles
        };
        have.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// The first permission group of `call` the token satisfies none of.
    pub fn missing(&self, call: Call) -> Option<&'static [&'static str]> {
        call.need()
            .all_of
            .iter()
            .copied()
            .find(|group| !group.iter().any(|p| self.holds(p)))
    }
}

/// Check `claims` against every call of a planned command; the error names
/// each missing permission (least privileged first), the call and the doc.
pub fn check(claims: &TokenClaims, calls: &[Call]) -> Result<(), GraphError> {
    let mut lines = Vec::new();
    for &call in calls {
        if let Some(group) = claims.missing(call) {
            let line = format!(
                "{call:?} needs {} (docs: {})",
                if group.len() == 1 {
                    group[0].to_string()
                } else {
                    format!("{} (or one of: {})", group[0], group[1..].join(", "))
                },
                call.need().doc
            );
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    let kind = if claims.delegated() {
        "delegated permission (scp)"
    } else {
        "application permission (roles)"
    };
    Err(GraphError::refused(
        format!(
            "the access token lacks a {kind} this command needs, so nothing was done: {}",
            lines.join("; ")
        ),
        "grant the named permission to the app registration, give admin consent, sign in again, and run the command again (docs/graph.md lists every call's permissions)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: Value) -> String {
        format!(
            "{}.{}.{}",
            b64::encode(br#"{"typ":"JWT","alg":"RS256"}"#),
            b64::encode(payload.to_string().as_bytes()),
            b64::encode(b"sig")
        )
    }

    #[test]
    fn app_roles_are_checked_per_call_and_version() {
        let t = jwt(
            serde_json::json!({"roles": ["UserAuthMethod-Passkey.ReadWrite.All", "User.Read.All"]}),
        );
        let c = TokenClaims::from_jwt(&t).unwrap();
        assert!(!c.delegated());
        assert!(check(
            &c,
            &[Call::ReadUser, Call::CreationOptionsV1, Call::RegisterV1]
        )
        .is_ok());
        // beta lists only UserAuthenticationMethod.ReadWrite.All
        let e = check(&c, &[Call::CreationOptionsBeta])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("UserAuthenticationMethod.ReadWrite.All") && e.contains("beta"),
            "{e}"
        );
        let e = check(&c, &[Call::ReadSignIns]).unwrap_err().to_string();
        assert!(e.contains("AuditLog.Read.All"), "{e}");
    }

    #[test]
    fn delegated_scopes_and_both_required_permissions() {
        let t = jwt(
            serde_json::json!({"scp": "AuditLog.Read.All User.Read.All", "roles": ["ignored"]}),
        );
        let c = TokenClaims::from_jwt(&t).unwrap();
        assert!(c.delegated());
        let e = check(&c, &[Call::ReadSignIns]).unwrap_err().to_string();
        assert!(
            e.contains("Directory.Read.All") && e.contains("delegated"),
            "{e}"
        );
        assert!(check(&c, &[Call::ReadSignInActivity]).is_ok());
        assert!(TokenClaims::from_jwt("opaque-token").is_none());
        assert!(TokenClaims::from_jwt("a.%%%.c").is_none());
    }
}
