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

/// KQL for Microsoft Sentinel / Log Analytics alerts on the break-glass accounts.
pub fn kql(object_ids: &[(String, String)]) -> String {
    let ids: Vec<String> = object_ids
        .iter()
        .map(|(_, id)| format!("\"{id}\""))
        .collect();
    let upns: Vec<String> = object_ids.iter().map(|(u, _)| format!("\"{u}\"")).collect();
    let ids = ids.join(", ");
    let upns = upns.join(", ");
    format!(
        "// Break-glass accounts: {upns}\n\
         // 1. Any sign-in (successful or not) by a break-glass account\n\
         SigninLogs\n| where UserId in ({ids})\n| project TimeGenerated, UserPrincipalName, ResultType, ResultDescription, IPAddress, AppDisplayName, AuthenticationDetails\n\n\
         // 2. Failed sign-ins by a break-glass account\n\
         SigninLogs\n| where UserId in ({ids}) and ResultType != \"0\"\n| project TimeGenerated, UserPrincipalName, ResultType, ResultDescription, IPAddress\n\n\
         // 3. Authentication-method changes on a break-glass account\n\
         AuditLogs\n| where Category == \"UserManagement\" and OperationName has_any (\"security info\", \"authentication method\", \"StrongAuthentication\")\n\
         | mv-expand TargetResources\n| where tostring(TargetResources.id) in ({ids})\n| project TimeGenerated, OperationName, Result, InitiatedBy, TargetResources\n"
    )
}
