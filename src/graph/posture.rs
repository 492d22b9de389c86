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
#[serde(rename_all = "camelCase")]
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
    /// Whether the policy's other conditions reach a break-glass sign-in:
    /// a browser at the Entra admin center with a FIDO2 key.
    pub reach: Reach,
}

/// How far a policy's conditions (client app types, applications,
/// platforms, locations) reach the break-glass sign-in. Fields and values:
/// `api-reference/v1.0/resources/conditionalaccessconditionset.md`,
/// `conditionalaccessapplications.md` (`All`, `Office365`,
/// `MicrosoftAdminPortals`, app ids), `conditionalaccessplatforms.md`
/// (`all`, `android`, `iOS`, `windows`, `macOS`, `linux`, …),
/// `conditionalaccesslocations.md` (`All`, `AllTrusted`, location ids),
/// client app types `all`, `browser`, `mobileAppsAndDesktopClients`,
/// `exchangeActiveSync`, `other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "reach", content = "detail")]
pub enum Reach {
    /// Every condition matches a browser sign-in to the admin portals.
    Always,
    /// Client app types are only legacy ones (`exchangeActiveSync`, `other`):
    /// a browser sign-in with a FIDO2 key is never in scope. Microsoft's
    /// "Block legacy authentication" template is this.
    LegacyClientsOnly,
    /// Applies only under conditions that may or may not hold (named
    /// apps, platforms, locations); the text says which.
    Sometimes(String),
}

/// Entra admin center / Azure portal application ids a break-glass sign-in
/// reaches: Azure Service Management API and the Microsoft Admin Portals set.
const ADMIN_APPS: &[&str] = &[
    "All",
    "MicrosoftAdminPortals",
    "797f4846-ba00-4fd7-ba43-dac1f8f63013",
];

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Evaluate client app types, applications, platforms and locations.
pub fn reach(conditions: &Value) -> Reach {
    let has = |list: &[String], x: &str| list.iter().any(|v| v.eq_ignore_ascii_case(x));
    let apps_types = strings(&conditions["clientAppTypes"]);
    if !apps_types.is_empty()
        && !has(&apps_types, "all")
        && !has(&apps_types, "browser")
        && !has(&apps_types, "mobileAppsAndDesktopClients")
    {
        return Reach::LegacyClientsOnly;
    }
    let mut limits = Vec::new();
    if !apps_types.is_empty() && !has(&apps_types, "all") && !has(&apps_types, "browser") {
        limits.push("desktop and mobile clients only".to_string());
    }
    let include_apps = strings(&conditions["applications"]["includeApplications"]);
    let exclude_apps = strings(&conditions["applications"]["excludeApplications"]);
    let user_actions = strings(&conditions["applications"]["includeUserActions"]);
    if !user_actions.is_empty() {
        limits.push(format!("user actions only ({})", user_actions.join(", ")));
    } else if !include_apps.is_empty() && !ADMIN_APPS.iter().any(|a| has(&include_apps, a)) {
        limits.push(format!(
            "selected applications only ({})",
            include_apps.join(", ")
        ));
    }
    if exclude_apps
        .iter()
        .any(|a| ADMIN_APPS[1..].iter().any(|x| a.eq_ignore_ascii_case(x)))
    {
        limits.push("the admin portals are excluded".into());
    }
    let platforms = strings(&conditions["platforms"]["includePlatforms"]);
    if !platforms.is_empty() && !has(&platforms, "all") {
        limits.push(format!("platforms {} only", platforms.join(", ")));
    }
    if !strings(&conditions["platforms"]["excludePlatforms"]).is_empty() {
        limits.push("some platforms excluded".into());
    }
    let locations = strings(&conditions["locations"]["includeLocations"]);
    if !locations.is_empty() && !has(&locations, "All") {
        limits.push(format!("locations {} only", locations.join(", ")));
    }
    if !strings(&conditions["locations"]["excludeLocations"]).is_empty() {
        limits.push("some locations excluded".into());
    }
    if limits.is_empty() {
        Reach::Always
    } else {
        Reach::Sometimes(limits.join("; "))
    }
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
    /// Role-assignable groups through which the role is held (active).
    pub active_groups: Vec<String>,
    /// Role-assignable groups through which the role is only PIM-eligible.
    pub eligible_groups: Vec<String>,
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
    /// Passed, but worth a look (the audit shows it as a warning).
    pub warning: bool,
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
    let memberships = client.groups(&user.id)?;
    let groups: Vec<String> = memberships.iter().map(|(id, _)| id.clone()).collect();
    let is_ga = |v: &Value| v["roleDefinitionId"].as_str() == Some(GLOBAL_ADMIN_ROLE);
    let tenant_wide = |v: &Value| v["directoryScopeId"].as_str().unwrap_or("/") == "/";
    let assignments = client.role_list("roleAssignments", &user.id)?;
    let mut ga = RoleFacts {
        active: assignments.iter().any(|a| is_ga(a) && tenant_wide(a)),
        ..Default::default()
    };
    // roleAssignments filtered by principalId are direct only: a role held
    // through a role-assignable group is assigned to the group's id
    // (rbacapplication-list-roleassignments.md; groups-concept-overview
    // "role-assignable groups"). Only role-assignable groups can hold roles,
    // so only those are asked, one query each.
    for (group, _) in memberships.iter().filter(|(_, assignable)| *assignable) {
        let held = client.role_list("roleAssignments", group)?;
        if held.iter().any(|a| is_ga(a) && tenant_wide(a)) {
            ga.active = true;
            ga.via_group = true;
            ga.active_groups.push(group.clone());
        }
    }
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
            for (group, _) in memberships.iter().filter(|(_, assignable)| *assignable) {
                let e = client.role_list("roleEligibilitySchedules", group)?;
                if e.iter().any(is_ga) {
                    ga.eligible = true;
                    ga.eligible_groups.push(group.clone());
                }
                if !ga.permanent && ga.active_groups.contains(group) {
                    let s = client.role_list("roleAssignmentSchedules", group)?;
                    ga.permanent |= s.iter().any(|s| {
                        is_ga(s)
                            && s["scheduleInfo"]["expiration"]["type"] == "noExpiration"
                            && s["assignmentType"] == "Assigned"
                    });
                }
            }
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
        reach: reach(&p["conditions"]),
    }
}

/// Turn facts into audit findings (Microsoft's emergency-access guidance).
pub fn evaluate(f: &PostureFacts) -> Vec<Finding> {
    let u = &f.user;
    let mut out = vec![
        Finding {
            warning: false,
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
            warning: false,
            check: "account enabled",
            ok: u.account_enabled == Some(true),
            detail: match u.account_enabled {
                Some(true) => "enabled".into(),
                Some(false) => "DISABLED: enable it in Entra".into(),
                None => "Graph did not say (accountEnabled missing)".into(),
            },
        },
        Finding {
            warning: false,
            check: "member (not guest)",
            ok: u.user_type.as_deref() == Some("Member"),
            detail: format!(
                "userType {}",
                u.user_type.as_deref().unwrap_or("not reported")
            ),
        },
    ];
    let ga = &f.global_admin;
    let groups_text = |g: &[String]| g.join(", ");
    out.push(Finding {
        check: "Global Administrator, permanent and active",
        ok: ga.active && (ga.permanent || !ga.schedules_read) && !ga.eligible,
        warning: ga.via_group,
        detail: if !ga.active && ga.eligible {
            if ga.eligible_groups.is_empty() {
                "only PIM-eligible: activation needs MFA and approval the break-glass account may not have".into()
            } else {
                format!(
                    "only PIM-eligible, through role-assignable group(s) {}: activation needs MFA and approval the break-glass account may not have",
                    groups_text(&ga.eligible_groups)
                )
            }
        } else if !ga.active {
            "no active Global Administrator assignment (direct or through a role-assignable group)".into()
        } else if !ga.schedules_read {
            "active; PIM schedules could not be read, so permanence is unconfirmed".into()
        } else if !ga.permanent {
            "active but time-bound or PIM-activated".into()
        } else if ga.eligible {
            "permanent active, but a PIM eligibility also exists".into()
        } else if ga.via_group {
            format!(
                "permanent active through role-assignable group(s) {} (a direct assignment has fewer dependencies: a group change removes the role)",
                groups_text(&ga.active_groups)
            )
        } else {
            "permanent active, direct".into()
        },
    });
    let applies = |c: &&&CaFact| c.scope == CaScope::Applies;
    let enforced: Vec<&CaFact> = f
        .conditional_access
        .iter()
        .filter(|c| c.state == "enabled")
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
    let blocking: Vec<&str> = enforced
        .iter()
        .filter(applies)
        .filter(|c| c.blocks && c.reach == Reach::Always)
        .map(|c| c.display_name.as_str())
        .collect();
    out.push(Finding {
        check: "no Conditional Access policy blocks the account",
        ok: blocking.is_empty(),
        warning: false,
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
    // Warnings: what does not block today but deserves a decision.
    for c in enforced.iter().filter(applies).filter(|c| c.blocks) {
        match &c.reach {
            Reach::LegacyClientsOnly => out.push(Finding {
                check: "Conditional Access block not excluded",
                ok: true,
                warning: true,
                detail: format!(
                    "'{}' is not excluded — applies only to legacy clients, so it cannot block a browser sign-in with the key; the guidance still says to exclude emergency accounts from every policy",
                    c.display_name
                ),
            }),
            Reach::Sometimes(when) => out.push(Finding {
                check: "Conditional Access block not excluded",
                ok: true,
                warning: true,
                detail: format!(
                    "'{}' blocks the account under some conditions ({when}): exclude the account or make sure the break-glass sign-in never meets them",
                    c.display_name
                ),
            }),
            Reach::Always => {}
        }
    }
    for c in &enforced {
        if let CaScope::ExcludedByGroup(g) = &c.scope {
            if c.blocks || c.phishing_resistant || c.reach != Reach::LegacyClientsOnly {
                out.push(Finding {
                    check: "Conditional Access exclusion is direct",
                    ok: true,
                    warning: true,
                    detail: format!(
                        "excluded from '{}' only through group {g}: a change to that group silently puts the account back in scope; exclude the account directly too",
                        c.display_name
                    ),
                });
            }
        }
    }
    for c in f
        .conditional_access
        .iter()
        .filter(|c| c.state == "enabledForReportingButNotEnforced")
        .filter(|c| c.scope == CaScope::Applies && c.blocks && c.reach != Reach::LegacyClientsOnly)
    {
        out.push(Finding {
            check: "report-only Conditional Access policy",
            ok: true,
            warning: true,
            detail: format!(
                "'{}' is report-only now and would block the account once enabled: exclude the account before anyone turns it on",
                c.display_name
            ),
        });
    }
    let pr: Vec<&str> = enforced
        .iter()
        .filter(applies)
        .filter(|c| c.phishing_resistant)
        .map(|c| c.display_name.as_str())
        .collect();
    out.push(Finding {
        check: "a phishing-resistant MFA policy covers the account",
        ok: !pr.is_empty(),
        warning: false,
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

    fn facts(policies: &[Value], groups: &[&str]) -> PostureFacts {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        PostureFacts {
            user: User {
                id: "u".into(),
                user_principal_name: "bg@x.onmicrosoft.com".into(),
                account_enabled: Some(true),
                user_type: Some("Member".into()),
                ..Default::default()
            },
            conditional_access: policies
                .iter()
                .map(|p| ca_fact(p, "u", &groups, true))
                .collect(),
            groups,
            global_admin: RoleFacts {
                active: true,
                schedules_read: true,
                permanent: true,
                ..Default::default()
            },
        }
    }

    /// Microsoft's "Block legacy authentication" template (ENTRA
    /// docs/identity/conditional-access/policy-block-legacy-authentication.md):
    /// all users, all resources, client apps Exchange ActiveSync and other, block.
    fn legacy_block(state: &str) -> Value {
        serde_json::json!({"id": "t1", "displayName": "Block legacy authentication", "state": state,
            "conditions": {"users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["All"]},
                "clientAppTypes": ["exchangeActiveSync", "other"]},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    }

    #[test]
    fn the_legacy_auth_template_is_a_warning_not_a_block() {
        let f = evaluate(&facts(&[legacy_block("enabled")], &[]));
        let block = f
            .iter()
            .find(|x| x.check.starts_with("no Conditional Access"))
            .unwrap();
        assert!(block.ok, "{block:?}");
        let warn = f.iter().find(|x| x.warning).unwrap();
        assert!(
            warn.detail
                .contains("not excluded — applies only to legacy clients"),
            "{warn:?}"
        );
        // The same block for every client app type is a real block.
        let mut all = legacy_block("enabled");
        all["conditions"]["clientAppTypes"] = serde_json::json!(["all"]);
        let f = evaluate(&facts(&[all.clone()], &[]));
        assert!(
            !f.iter()
                .find(|x| x.check.starts_with("no Conditional Access"))
                .unwrap()
                .ok
        );
        // Limited to a platform or location: a warning naming the condition.
        all["conditions"]["platforms"] = serde_json::json!({"includePlatforms": ["android"]});
        let f = evaluate(&facts(&[all], &[]));
        assert!(f
            .iter()
            .any(|x| x.warning && x.detail.contains("platforms android only")));
    }

    #[test]
    fn report_only_blocks_and_group_only_exclusions_warn() {
        let mut all = legacy_block("enabledForReportingButNotEnforced");
        all["conditions"]["clientAppTypes"] = serde_json::json!(["all"]);
        let f = evaluate(&facts(&[all.clone()], &[]));
        assert!(f.iter().all(|x| x.ok || x.check.contains("phishing")));
        assert!(f
            .iter()
            .any(|x| x.warning && x.detail.contains("report-only")));
        all["state"] = "enabled".into();
        all["conditions"]["users"]["excludeGroups"] = serde_json::json!(["g-bg"]);
        let f = evaluate(&facts(&[all.clone()], &["g-bg"]));
        assert!(f
            .iter()
            .any(|x| x.warning && x.detail.contains("only through group g-bg")));
        all["conditions"]["users"]["excludeUsers"] = serde_json::json!(["u"]);
        let f = evaluate(&facts(&[all], &["g-bg"]));
        assert!(!f.iter().any(|x| x.detail.contains("only through group")));
    }
}
