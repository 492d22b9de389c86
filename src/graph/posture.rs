//! Break-glass posture reads for `glasskey audit --online` (GRAPH.md §5): the
//! account's properties, its Global Administrator assignment (permanent and
//! active, not merely PIM-eligible) and how Conditional Access treats it.
//! [`read_posture`] gathers typed facts; [`evaluate`] turns them into findings
//! the audit ceremony prints.

use serde::Serialize;
use serde_json::Value;

use super::client::GraphClient;
use super::types::User;
use super::GraphError;

/// Role template id of Global Administrator.
pub const GLOBAL_ADMIN_ROLE: &str = "62e90394-69f5-4237-9190-012177145e10";
/// Built-in "Phishing-resistant MFA" authentication strength.
pub const PHISHING_RESISTANT_STRENGTH: &str = "00000000-0000-0000-0000-000000000004";

/// How one Conditional Access policy treats the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaScope {
    /// The policy applies to the account.
    Applies,
    ExcludedDirectly,
    ExcludedByGroup(String),
    ExcludedByRole,
    /// The policy's include conditions do not reach the account.
    NotIncluded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaFact {
    pub id: String,
    pub display_name: String,
    pub state: String,
    pub scope: CaScope,
    /// Grant requires the phishing-resistant authentication strength.
    pub phishing_resistant: bool,
    /// Grant blocks access.
    pub blocks: bool,
}

/// Global Administrator facts for the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RoleFacts {
    /// A tenant-wide active assignment exists.
    pub active: bool,
    /// The PIM schedule APIs answered (they need P2/Governance licences).
    pub schedules_read: bool,
    /// An active schedule with `noExpiration` and `assignmentType` Assigned.
    pub permanent: bool,
    /// Assigned through a group rather than directly.
    pub via_group: bool,
    /// A PIM eligibility exists (should not, for break-glass).
    pub eligible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostureFacts {
    pub user: User,
    pub groups: Vec<String>,
    pub global_admin: RoleFacts,
    pub conditional_access: Vec<CaFact>,
}

/// One line of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Read every posture fact for one account.
pub fn read_posture(client: &GraphClient, account: &str) -> Result<PostureFacts, GraphError> {
    let policies = client.conditional_access_policies()?;
    read_posture_with_policies(client, account, &policies)
}

/// [`read_posture`] with the tenant's Conditional Access policies already read:
/// the service allows one such read per second per tenant, so an audit of
/// several accounts reads them once.
pub fn read_posture_with_policies(
    client: &GraphClient,
    account: &str,
    policies: &[Value],
) -> Result<PostureFacts, GraphError> {
    let user = client.user(account)?;
    let groups = client.group_ids(&user.id)?;
    let is_ga = |v: &Value| v["roleDefinitionId"].as_str() == Some(GLOBAL_ADMIN_ROLE);
    let assignments = client.role_list("roleAssignments", &user.id)?;
    let mut ga = RoleFacts {
        active: assignments
            .iter()
            .any(|a| is_ga(a) && a["directoryScopeId"].as_str().unwrap_or("/") == "/"),
        ..Default::default()
    };
    // PIM schedules need licences; without them fall back to assignments (GRAPH.md C20).
    match client.role_list("roleAssignmentSchedules", &user.id) {
        Ok(schedules) => {
            ga.schedules_read = true;
            for s in schedules.iter().filter(|s| is_ga(s)) {
                let permanent = s["scheduleInfo"]["expiration"]["type"] == "noExpiration"
                    && s["assignmentType"] == "Assigned";
                ga.permanent |= permanent;
                ga.via_group |= s["memberType"] == "Group";
            }
            let eligible = client.role_list("roleEligibilitySchedules", &user.id)?;
            ga.eligible = eligible.iter().any(is_ga);
        }
        Err(GraphError::Api(a)) if matches!(a.status, 400 | 403 | 404) => {}
        Err(e) => return Err(e),
    }
    let conditional_access = policies
        .iter()
        .map(|p| ca_fact(p, &user.id, &groups, ga.active))
        .collect();
    Ok(PostureFacts {
        user,
        groups,
        global_admin: ga,
        conditional_access,
    })
}

/// How policy `p` treats a user with `groups` (and GA when `is_ga`).
pub fn ca_fact(p: &Value, user_id: &str, groups: &[String], is_ga: bool) -> CaFact {
    let users = &p["conditions"]["users"];
    let list = |k: &str| -> Vec<String> {
        users[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let has = |k: &str, x: &str| list(k).iter().any(|v| v.eq_ignore_ascii_case(x));
    let group_hit = |k: &str| {
        list(k)
            .into_iter()
            .find(|g| groups.iter().any(|m| m.eq_ignore_ascii_case(g)))
    };
    let included = has("includeUsers", "All")
        || has("includeUsers", user_id)
        || group_hit("includeGroups").is_some()
        || (is_ga && has("includeRoles", super::posture::GLOBAL_ADMIN_ROLE));
    let scope = if has("excludeUsers", user_id) {
        CaScope::ExcludedDirectly
    } else if let Some(g) = group_hit("excludeGroups") {
        CaScope::ExcludedByGroup(g)
    } else if is_ga && has("excludeRoles", GLOBAL_ADMIN_ROLE) {
        CaScope::ExcludedByRole
    } else if included {
        CaScope::Applies
    } else {
        CaScope::NotIncluded
    };
    let grant = &p["grantControls"];
    let strength = &grant["authenticationStrength"];
    let phishing_resistant = strength["id"] == PHISHING_RESISTANT_STRENGTH
        || strength["displayName"]
            .as_str()
            .is_some_and(|n| n.to_ascii_lowercase().contains("phishing-resistant"));
    let blocks = grant["builtInControls"]
        .as_array()
        .is_some_and(|c| c.iter().any(|v| v == "block"));
    CaFact {
        id: p["id"].as_str().unwrap_or("").to_string(),
        display_name: p["displayName"].as_str().unwrap_or("").to_string(),
        state: p["state"].as_str().unwrap_or("").to_string(),
        scope,
        phishing_resistant,
        blocks,
    }
}

/// Turn facts into audit findings (Microsoft's emergency-access guidance).
pub fn evaluate(f: &PostureFacts) -> Vec<Finding> {
    let u = &f.user;
    let mut out = vec![
        Finding {
            check: "cloud-only account on *.onmicrosoft.com",
            ok: u
                .user_principal_name
                .to_ascii_lowercase()
                .ends_with(".onmicrosoft.com")
                && u.on_premises_sync_enabled != Some(true),
            detail: format!(
                "{} ({})",
                u.user_principal_name,
                match u.on_premises_sync_enabled {
                    Some(true) => "synced from on-premises AD",
                    Some(false) | None => "not synced from on-premises",
                }
            ),
        },
        Finding {
            check: "account enabled",
            ok: u.account_enabled == Some(true),
            detail: match u.account_enabled {
                Some(true) => "enabled".into(),
                Some(false) => "DISABLED: enable it in Entra".into(),
                None => "Graph did not say (accountEnabled missing)".into(),
            },
        },
        Finding {
            check: "member (not guest)",
            ok: u.user_type.as_deref() == Some("Member"),
            detail: format!(
                "userType {}",
                u.user_type.as_deref().unwrap_or("not reported")
            ),
        },
    ];
    let ga = &f.global_admin;
    out.push(Finding {
        check: "Global Administrator, permanent and active",
        ok: ga.active && (ga.permanent || !ga.schedules_read) && !ga.eligible,
        detail: if !ga.active && ga.eligible {
            "only PIM-eligible: activation needs MFA and approval the break-glass account may not have".into()
        } else if !ga.active {
            "no active Global Administrator assignment".into()
        } else if !ga.schedules_read {
            "active; PIM schedules could not be read, so permanence is unconfirmed".into()
        } else if !ga.permanent {
            "active but time-bound or PIM-activated".into()
        } else if ga.eligible {
            "permanent active, but a PIM eligibility also exists".into()
        } else if ga.via_group {
            "permanent active through a group (a direct assignment has fewer dependencies)".into()
        } else {
            "permanent active, direct".into()
        },
    });
    let enforced: Vec<&CaFact> = f
        .conditional_access
        .iter()
        .filter(|c| c.state == "enabled")
        .collect();
    let applying: Vec<&CaFact> = enforced
        .iter()
        .copied()
        .filter(|c| c.scope == CaScope::Applies)
        .collect();
    let excluded: Vec<String> = enforced
        .iter()
        .filter_map(|c| match &c.scope {
            CaScope::ExcludedDirectly => Some(format!("{} (directly)", c.display_name)),
            CaScope::ExcludedByGroup(g) => Some(format!("{} (via group {g})", c.display_name)),
            CaScope::ExcludedByRole => Some(format!("{} (via role)", c.display_name)),
            _ => None,
        })
        .collect();
    let blocking: Vec<&str> = applying
        .iter()
        .filter(|c| c.blocks)
        .map(|c| c.display_name.as_str())
        .collect();
    out.push(Finding {
        check: "no Conditional Access policy blocks the account",
        ok: blocking.is_empty(),
        detail: if blocking.is_empty() {
            format!(
                "excluded from: {}",
                if excluded.is_empty() {
                    "none".into()
                } else {
                    excluded.join(", ")
                }
            )
        } else {
            format!("blocked by: {}", blocking.join(", "))
        },
    });
    let pr: Vec<&str> = applying
        .iter()
        .filter(|c| c.phishing_resistant)
        .map(|c| c.display_name.as_str())
        .collect();
    out.push(Finding {
        check: "a phishing-resistant MFA policy covers the account",
        ok: !pr.is_empty(),
        detail: if pr.is_empty() {
            "no enabled policy requiring the phishing-resistant strength applies (guidance differs: report, decide)".into()
        } else {
            pr.join(", ")
        },
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_scope_and_strength() {
        let p = serde_json::json!({"id": "1", "displayName": "MFA all", "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"], "excludeGroups": ["g-bg"]}},
            "grantControls": {"builtInControls": ["mfa"]}});
        assert_eq!(
            ca_fact(&p, "u", &["g-bg".into()], true).scope,
            CaScope::ExcludedByGroup("g-bg".into())
        );
        assert_eq!(ca_fact(&p, "u", &[], true).scope, CaScope::Applies);
        let q = serde_json::json!({"id": "2", "displayName": "PR admins", "state": "enabled",
            "conditions": {"users": {"includeRoles": [GLOBAL_ADMIN_ROLE]}},
            "grantControls": {"authenticationStrength": {"id": PHISHING_RESISTANT_STRENGTH}}});
        let f = ca_fact(&q, "u", &[], true);
        assert!(f.phishing_resistant && f.scope == CaScope::Applies);
        assert_eq!(ca_fact(&q, "u", &[], false).scope, CaScope::NotIncluded);
    }

    #[test]
    fn eligible_only_fails() {
        let facts = PostureFacts {
            user: User {
                user_principal_name: "bg@x.onmicrosoft.com".into(),
                account_enabled: Some(true),
                user_type: Some("Member".into()),
                ..Default::default()
            },
            groups: vec![],
            global_admin: RoleFacts {
                active: false,
                schedules_read: true,
                eligible: true,
                ..Default::default()
            },
            conditional_access: vec![],
        };
        let f = evaluate(&facts);
        assert!(f[0].ok && f[1].ok && f[2].ok);
        assert!(!f[3].ok && f[3].detail.contains("PIM-eligible"));
        assert!(!f[5].ok);
    }
}
