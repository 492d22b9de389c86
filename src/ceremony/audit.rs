//! `glasskey audit`: is the break-glass program healthy?
//!
//! Offline: the ledger verifies, the kit policy holds across the whole set
//! (accounts, models, locations, seals), no key is overdue or failed, every
//! credential is registered. Online (facts in GRAPH.md §5): each account's
//! posture, and Entra's FIDO2 methods equal the ledger's — any extra method on a
//! break-glass account is a red alert.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::Result;
use crate::graph::{self, GraphClient};
use crate::ledger::{Kit, State, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warn,
    Fail,
    /// An extra FIDO2 method on a break-glass account: possible persistence by an attacker.
    Alert,
}

impl Severity {
    /// The tag shown in front of a finding, the same in every command's output.
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warn => "WARN",
            Severity::Fail => "FAIL",
            Severity::Alert => "ALERT",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// What the finding is about (an account, a key, "ledger", "policy").
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct AuditReport {
    pub findings: Vec<Finding>,
}

impl AuditReport {
    pub(crate) fn push(
        &mut self,
        severity: Severity,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// True when nothing failed or alerted (warnings allowed).
    pub fn healthy(&self) -> bool {
        !self
            .findings
            .iter()
            .any(|f| matches!(f.severity, Severity::Fail | Severity::Alert))
    }
}

/// The offline half: ledger integrity and policy over the ledger's state.
pub fn audit_offline(kit: &Kit, now: Timestamp) -> Result<AuditReport> {
    let mut report = AuditReport::default();
    let verify = kit.verify()?;
    match &verify.problem {
        None => report.push(
            Severity::Ok,
            "ledger",
            format!("{} events, hash chain intact", verify.events),
        ),
        Some(p) => report.push(
            Severity::Fail,
            "ledger",
            format!(
                "ledger does not verify at event {}: {} ({})",
                p.line, p.message, p.next
            ),
        ),
    }
    let state = kit.state()?;
    policy_findings(kit, &state, now, &mut report);
    for f in super::key_fit::mds_findings(kit.dir(), &state, now.datetime().date()) {
        let severity = if f.alert {
            Severity::Alert
        } else {
            Severity::Warn
        };
        report.push(severity, f.subject, f.message);
    }
    Ok(report)
}

fn policy_findings(kit: &Kit, state: &State, now: Timestamp, report: &mut AuditReport) {
    let policy = &kit.config().policy;
    let interval = policy.check_interval_days;
    let mut per_account: BTreeMap<&str, Vec<&crate::ledger::KeyState>> = BTreeMap::new();
    let mut seals: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for key in state.active_keys() {
        for cred in &key.credentials {
            per_account
                .entry(cred.account.as_str())
                .or_default()
                .push(key);
            if cred.entra.is_none() {
                report.push(
                    Severity::Fail,
                    &key.label,
                    format!("credential for {} is not registered in Entra", cred.account),
                );
            }
        }
        if let crate::ledger::Custody::Sealed { seal, .. } = &key.custody {
            seals.entry(seal.clone()).or_default().push(&key.label);
        } else {
            report.push(
                Severity::Warn,
                &key.label,
                "key is not sealed in an envelope",
            );
        }
        match key.last_check() {
            Some(c) if !c.passed => report.push(
                Severity::Fail,
                &key.label,
                format!("last liveness check ({}) FAILED", c.time.date()),
            ),
            _ => {}
        }
        if key.is_overdue(interval, now) {
            report.push(
                Severity::Fail,
                &key.label,
                format!(
                    "liveness check overdue since {}",
                    key.next_check_due(interval).date()
                ),
            );
        }
    }
    for (seal, keys) in &seals {
        if keys.len() > 1 {
            report.push(
                Severity::Fail,
                "policy",
                format!("seal {seal} is shared by keys {}", keys.join(", ")),
            );
        }
    }
    let configured: BTreeSet<&str> = kit
        .config()
        .accounts
        .iter()
        .map(|a| a.upn.as_str())
        .collect();
    let covered = configured
        .iter()
        .filter(|a| per_account.contains_key(*a))
        .count() as u32;
    let (severity, verdict) = if covered >= policy.min_accounts {
        (Severity::Ok, "meets")
    } else {
        (Severity::Fail, "is below")
    };
    report.push(
        severity,
        "policy",
        format!(
            "{covered} account(s) with keys; {verdict} the minimum of {}",
            policy.min_accounts
        ),
    );
    for account in &configured {
        let keys = per_account.get(account).cloned().unwrap_or_default();
        let models: BTreeSet<_> = keys.iter().map(|k| k.aaguid).collect();
        let locations: BTreeSet<_> = keys.iter().filter_map(|k| k.location.as_deref()).collect();
        let mut problems = Vec::new();
        if (keys.len() as u32) < policy.keys_per_account {
            problems.push(format!(
                "{} key(s), policy wants {}",
                keys.len(),
                policy.keys_per_account
            ));
        }
        if (models.len() as u32) < policy.distinct_models {
            problems.push(format!(
                "{} model(s), policy wants {}",
                models.len(),
                policy.distinct_models
            ));
        }
        if (locations.len() as u32) < policy.distinct_locations {
            problems.push(format!(
                "{} location(s), policy wants {}",
                locations.len(),
                policy.distinct_locations
            ));
        }
        if problems.is_empty() {
            report.push(
                Severity::Ok,
                *account,
                format!(
                    "{} keys, {} models, {} locations",
                    keys.len(),
                    models.len(),
                    locations.len()
                ),
            );
        } else {
            report.push(Severity::Fail, *account, problems.join("; "));
        }
    }
    let all_models: BTreeSet<_> = state.active_keys().map(|k| k.aaguid).collect();
    if (all_models.len() as u32) < policy.distinct_models {
        report.push(
            Severity::Fail,
            "policy",
            format!("only {} key model(s) across the program; a single hardware flaw could lock the tenant out", all_models.len()),
        );
    }
    for w in &state.warnings {
        report.push(Severity::Warn, "ledger", w.clone());
    }
    for k in state.active_keys() {
        if let crate::ledger::Custody::Opened {
            location,
            seal,
            reason,
            since,
        } = &k.custody
        {
            report.push(
                Severity::Fail,
                &k.label,
                format!("OPEN: envelope {seal} at {location} was opened ({reason}) at {since} and not resealed: reseal it and record the new seal (`glasskey resume`)"),
            );
        }
    }
    if let Ok(half) = super::resume::pending(kit) {
        for h in half {
            report.push(
                Severity::Warn,
                &h.label,
                format!("half done: {}; run `glasskey resume`", h.status),
            );
        }
    }
}

/// The online half: posture and methods for every configured account.
pub fn audit_online(kit: &Kit, graph: &GraphClient, report: &mut AuditReport) -> Result<()> {
    let state = kit.state()?;
    let policy = graph.fido2_policy()?;
    let conditional_access = graph.conditional_access_policies()?;
    for account in &kit.config().accounts {
        let upn = account.upn.as_str();
        let facts = graph::posture::read_posture_with_policies(graph, upn, &conditional_access)?;
        for f in graph::posture::evaluate(&facts) {
            let severity = match (f.ok, f.warning) {
                (false, _) => Severity::Fail,
                (true, true) => Severity::Warn,
                (true, false) => Severity::Ok,
            };
            report.push(severity, upn, format!("{}: {}", f.check, f.detail));
        }
        let methods = graph.list_methods(&facts.user.id)?;
        let known: BTreeSet<&str> = state
            .active_keys()
            .flat_map(|k| k.credentials.iter())
            .filter(|c| c.account == upn)
            .filter_map(|c| c.entra.as_ref().map(|e| e.method_id.as_str()))
            .collect();
        for m in &methods {
            if !known.contains(m.id.as_str()) {
                report.push(
                    Severity::Alert,
                    upn,
                    format!(
                        "RED ALERT: FIDO2 method {} ({}) registered in Entra is not in the ledger",
                        m.id,
                        m.display_name.as_deref().unwrap_or("no name")
                    ),
                );
            }
        }
        for id in &known {
            if !methods.iter().any(|m| m.id == *id) {
                report.push(
                    Severity::Fail,
                    upn,
                    format!("method {id} from the ledger is missing in Entra"),
                );
            }
        }
        for key in state
            .active_keys()
            .filter(|k| k.credentials.iter().any(|c| c.account == upn))
        {
            let pf = graph::policy::preflight(&policy, &facts.groups, key.aaguid, true);
            if !pf.allowed {
                let why: Vec<String> = pf.blockers.iter().map(|b| b.explain()).collect();
                report.push(
                    Severity::Fail,
                    &key.label,
                    format!(
                        "the tenant's FIDO2 policy no longer allows this model: {}",
                        why.join("; ")
                    ),
                );
            }
        }
    }
    Ok(())
}

// ---- Monitoring: KQL and importable alert rules (offline, from the kit alone) ----

/// The accounts to watch: UPN and, when the kit recorded it, the Entra object id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub upn: String,
    pub object_id: Option<String>,
}

/// The kit's break-glass accounts, as monitoring sees them (no network needed).
pub fn watched_accounts(kit: &Kit) -> Vec<Watched> {
    kit.config()
        .accounts
        .iter()
        .map(|a| Watched {
            upn: a.upn.clone(),
            object_id: a.object_id.clone(),
        })
        .collect()
}

fn kql_list(items: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = items
        .into_iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if quoted.is_empty() {
        "\"\"".into()
    } else {
        quoted.join(", ")
    }
}

/// One query, one row per event, with a `Reason` column: every sign-in of a
/// break-glass account (successful or failed) and every authentication-method,
/// role or Conditional Access change that touches one. Matches on object ids
/// when the kit has them, and always on UPNs.
pub fn alert_query(accounts: &[Watched]) -> String {
    let upns = kql_list(accounts.iter().map(|a| a.upn.to_lowercase()));
    let ids = kql_list(accounts.iter().filter_map(|a| a.object_id.clone()));
    format!(
        "let BreakGlassUpns = dynamic([{upns}]);\n\
         let BreakGlassIds = dynamic([{ids}]);\n\
         let SignIns = union isfuzzy=true SigninLogs, AADNonInteractiveUserSignInLogs\n\
         | where tolower(UserPrincipalName) in (BreakGlassUpns) or UserId in (BreakGlassIds)\n\
         | extend Reason = iff(ResultType == \"0\", \"break-glass sign-in succeeded\", \"break-glass sign-in failed\")\n\
         | project TimeGenerated, Reason, Account = UserPrincipalName, Detail = strcat(ResultType, \" \", ResultDescription), IPAddress, AppDisplayName;\n\
         let Touching = AuditLogs\n\
         | where TargetResources has_any (BreakGlassUpns) or TargetResources has_any (BreakGlassIds);\n\
         let MethodChanges = Touching\n\
         | where OperationName has_any (\"security info\", \"authentication method\", \"StrongAuthentication\", \"FIDO2\", \"passkey\")\n\
         | extend Reason = \"authentication method changed on a break-glass account\";\n\
         let RoleChanges = Touching\n\
         | where Category == \"RoleManagement\"\n\
         | extend Reason = \"role assignment changed for a break-glass account\";\n\
         let CaChanges = AuditLogs\n\
         | where Category == \"Policy\" and OperationName has \"conditional access policy\"\n\
         | where tostring(TargetResources) has_any (BreakGlassIds) or tostring(TargetResources) has_any (BreakGlassUpns)\n\
         | extend Reason = \"Conditional Access policy touching a break-glass account changed\";\n\
         union SignIns,\n\
           (union MethodChanges, RoleChanges, CaChanges\n\
            | project TimeGenerated, Reason, Account = tostring(TargetResources[0].userPrincipalName),\n\
              Detail = strcat(OperationName, \" by \", coalesce(tostring(InitiatedBy.user.userPrincipalName), tostring(InitiatedBy.app.displayName))),\n\
              IPAddress = tostring(InitiatedBy.user.ipAddress), AppDisplayName = \"\")\n\
         | sort by TimeGenerated desc\n"
    )
}

/// The queries for a person to read and paste into Log Analytics.
pub fn kql(accounts: &[Watched]) -> String {
    let names: Vec<&str> = accounts.iter().map(|a| a.upn.as_str()).collect();
    let missing: Vec<&str> = accounts
        .iter()
        .filter(|a| a.object_id.is_none())
        .map(|a| a.upn.as_str())
        .collect();
    let mut text = format!(
        "// Break-glass accounts: {}\n\
         // Alert on every row: sign-ins (successful and failed), and authentication-method,\n\
         // role and Conditional Access changes touching these accounts.\n",
        names.join(", ")
    );
    if !missing.is_empty() {
        text += &format!(
            "// No object id in glasskey.toml for {}: matched by UPN only (run `glasskey kit init` \
             signed in, or add object_id to the account).\n",
            missing.join(", ")
        );
    }
    text + &alert_query(accounts)
}

const ALERT_NAME: &str = "glasskey: break-glass account activity";
const ALERT_DESCRIPTION: &str = "Any sign-in of a break-glass (emergency access) account, and any \
    authentication-method, role or Conditional Access change touching one. Every hit needs a \
    human: an emergency in progress, a liveness check, or an incident.";

/// An ARM template for an Azure Monitor log search alert rule
/// (`Microsoft.Insights/scheduledQueryRules`, API 2021-08-01, kind LogAlert)
/// over the Log Analytics workspace that receives the Entra sign-in and audit logs.
pub fn azure_monitor_alert_rule(accounts: &[Watched]) -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "workspaceResourceId": {
                "type": "string",
                "metadata": { "description": "Resource id of the Log Analytics workspace receiving SigninLogs and AuditLogs" }
            },
            "actionGroupResourceId": {
                "type": "string",
                "defaultValue": "",
                "metadata": { "description": "Action group to notify (empty: none)" }
            },
            "location": {
                "type": "string",
                "defaultValue": "[resourceGroup().location]"
            }
        },
        "resources": [{
            "type": "Microsoft.Insights/scheduledQueryRules",
            "apiVersion": "2021-08-01",
            "name": "glasskey-break-glass-activity",
            "location": "[parameters('location')]",
            "kind": "LogAlert",
            "properties": {
                "displayName": ALERT_NAME,
                "description": ALERT_DESCRIPTION,
                "severity": 0,
                "enabled": true,
                "scopes": ["[parameters('workspaceResourceId')]"],
                "evaluationFrequency": "PT5M",
                "windowSize": "PT5M",
                "criteria": {
                    "allOf": [{
                        "query": alert_query(accounts),
                        "timeAggregation": "Count",
                        "operator": "GreaterThan",
                        "threshold": 0,
                        "dimensions": [{ "name": "Reason", "operator": "Include", "values": ["*"] }],
                        "failingPeriods": { "numberOfEvaluationPeriods": 1, "minFailingPeriodsToAlert": 1 }
                    }]
                },
                "autoMitigate": false,
                "actions": {
                    "actionGroups": "[if(empty(parameters('actionGroupResourceId')), createArray(), createArray(parameters('actionGroupResourceId')))]"
                }
            }
        }]
    })
}

/// An ARM template for a Microsoft Sentinel scheduled analytics rule
/// (`Microsoft.OperationalInsights/workspaces/providers/alertRules`, kind Scheduled).
pub fn sentinel_rule(accounts: &[Watched]) -> serde_json::Value {
    // A fixed rule id: importing again updates the same rule instead of adding one.
    let rule_id = "6c1f5f0e-8b1a-4c55-9d3e-91a5e0b6a7c2";
    serde_json::json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "workspace": {
                "type": "string",
                "metadata": { "description": "Name of the Log Analytics workspace Microsoft Sentinel runs on" }
            }
        },
        "resources": [{
            "id": format!("[concat(resourceId('Microsoft.OperationalInsights/workspaces/providers', parameters('workspace'), 'Microsoft.SecurityInsights'),'/alertRules/{rule_id}')]"),
            "name": format!("[concat(parameters('workspace'),'/Microsoft.SecurityInsights/{rule_id}')]"),
            "type": "Microsoft.OperationalInsights/workspaces/providers/alertRules",
            "kind": "Scheduled",
            "apiVersion": "2023-02-01",
            "properties": {
                "displayName": ALERT_NAME,
                "description": ALERT_DESCRIPTION,
                "severity": "High",
                "enabled": true,
                "query": alert_query(accounts),
                "queryFrequency": "PT5M",
                "queryPeriod": "PT5M",
                "triggerOperator": "GreaterThan",
                "triggerThreshold": 0,
                "suppressionDuration": "PT5H",
                "suppressionEnabled": false,
                "tactics": ["InitialAccess", "Persistence", "PrivilegeEscalation"],
                "eventGroupingSettings": { "aggregationKind": "AlertPerResult" },
                "incidentConfiguration": {
                    "createIncident": true,
                    "groupingConfiguration": {
                        "enabled": false,
                        "reopenClosedIncident": false,
                        "lookbackDuration": "PT5H",
                        "matchingMethod": "AllEntities",
                        "groupByEntities": [],
                        "groupByAlertDetails": [],
                        "groupByCustomDetails": []
                    }
                },
                "entityMappings": [{
                    "entityType": "Account",
                    "fieldMappings": [{ "identifier": "FullName", "columnName": "Account" }]
                }]
            }
        }]
    })
}

/// Write the queries and both rule templates into `dir`; returns the files.
pub fn write_monitoring(
    dir: &std::path::Path,
    accounts: &[Watched],
) -> Result<Vec<std::path::PathBuf>> {
    let io = |what: &std::path::Path, e: std::io::Error| {
        crate::Error::input(
            format!("cannot write {}: {e}", what.display()),
            "choose a writable folder with --out DIR",
        )
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let files = [
        ("break-glass.kql", kql(accounts)),
        (
            "azure-monitor-alert-rule.json",
            pretty(&azure_monitor_alert_rule(accounts)),
        ),
        (
            "sentinel-analytics-rule.json",
            pretty(&sentinel_rule(accounts)),
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod monitoring_tests {
    use super::*;

    fn accounts() -> Vec<Watched> {
        vec![
            Watched {
                upn: "BG1@contoso.onmicrosoft.com".into(),
                object_id: Some("0f1e2d3c-0000-4000-8000-000000000001".into()),
            },
            Watched {
                upn: "bg2@contoso.onmicrosoft.com".into(),
                object_id: None,
            },
        ]
    }

    #[test]
    fn the_query_covers_sign_ins_methods_roles_and_conditional_access() {
        let q = alert_query(&accounts());
        for needle in [
            "SigninLogs",
            "AADNonInteractiveUserSignInLogs",
            "sign-in succeeded",
            "sign-in failed",
            "authentication method",
            "RoleManagement",
            "conditional access policy",
            "\"bg1@contoso.onmicrosoft.com\"",
            "\"0f1e2d3c-0000-4000-8000-000000000001\"",
        ] {
            assert!(q.contains(needle), "{needle} missing in:\n{q}");
        }
        assert!(kql(&accounts()).contains("UPN only"));
    }

    #[test]
    fn the_azure_monitor_template_has_the_scheduled_query_rule_shape() {
        let t = azure_monitor_alert_rule(&accounts());
        assert!(t["$schema"]
            .as_str()
            .unwrap()
            .contains("deploymentTemplate.json"));
        let r = &t["resources"][0];
        assert_eq!(r["type"], "Microsoft.Insights/scheduledQueryRules");
        assert_eq!(r["apiVersion"], "2021-08-01");
        assert_eq!(r["kind"], "LogAlert");
        let p = &r["properties"];
        for key in [
            "displayName",
            "severity",
            "enabled",
            "scopes",
            "evaluationFrequency",
            "windowSize",
            "criteria",
        ] {
            assert!(!p[key].is_null(), "{key}");
        }
        let c = &p["criteria"]["allOf"][0];
        assert_eq!(
            (c["operator"].as_str(), c["threshold"].as_i64()),
            (Some("GreaterThan"), Some(0))
        );
        assert_eq!(c["timeAggregation"], "Count");
        assert!(c["query"].as_str().unwrap().contains("SigninLogs"));
        assert!(p["severity"].as_i64().is_some_and(|s| (0..=4).contains(&s)));
    }

    #[test]
    fn the_sentinel_template_has_the_scheduled_rule_shape() {
        let t = sentinel_rule(&accounts());
        let r = &t["resources"][0];
        assert_eq!(
            r["type"],
            "Microsoft.OperationalInsights/workspaces/providers/alertRules"
        );
        assert_eq!(r["kind"], "Scheduled");
        assert!(r["name"]
            .as_str()
            .unwrap()
            .contains("/Microsoft.SecurityInsights/"));
        let p = &r["properties"];
        for key in [
            "displayName",
            "severity",
            "enabled",
            "query",
            "queryFrequency",
            "queryPeriod",
            "triggerOperator",
            "triggerThreshold",
            "suppressionDuration",
            "suppressionEnabled",
            "tactics",
        ] {
            assert!(!p[key].is_null(), "{key}");
        }
        assert_eq!(p["triggerOperator"], "GreaterThan");
        assert!(
            ["Informational", "Low", "Medium", "High"].contains(&p["severity"].as_str().unwrap())
        );
    }

    #[test]
    fn files_are_written_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_monitoring(dir.path(), &accounts()).unwrap();
        assert_eq!(files.len(), 3);
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "json"))
        {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            assert_eq!(v["contentVersion"], "1.0.0.0");
        }
    }
}
