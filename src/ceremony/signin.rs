//! Proof that Entra accepted a break-glass key: `glasskey check --signin`
//! waits for the account's successful sign-in with a FIDO2 key / passkey in
//! Entra's sign-in log and records the evidence in the ledger; and the
//! sign-in review of `audit --online`, which treats every sign-in of a
//! break-glass account that is not a recorded test as an incident.
//!
//! Microsoft's emergency-access guidance (ENTRA
//! `docs/identity/role-based-access-control/security-emergency-access.md`):
//! validate the accounts by signing in at least every 90 days, and monitor
//! and alert on any other use. Reading sign-ins needs AuditLog.Read.All and
//! Directory.Read.All and an Entra ID P1/P2 licence (graph::signins); without
//! them the evidence cannot be collected, which is recorded too.

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;

use super::audit::{AuditReport, Severity};
use super::operator::Operator;
use crate::error::{Error, Result};
use crate::graph::permissions::plans;
use crate::graph::signins::SignIn;
use crate::graph::types::format_time;
use crate::graph::{GraphClient, GraphError};
use crate::ledger::{Event, Kit, Timestamp};

/// Graph's code for a reports call in a tenant without Entra ID P1/P2
/// (Graph docs `concepts/known-issues.md`, license check errors for
/// Microsoft Entra activity reports).
pub const NO_PREMIUM: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

/// Whose sign-in to wait for, how long and how often to look.
#[derive(Debug, Clone)]
pub struct SignInWait {
    pub account: String,
    /// The key being tested (recorded with the evidence).
    pub key: Option<String>,
    /// Sign-ins earlier than this are not the test (the check's start).
    pub since: OffsetDateTime,
    /// Entra's sign-in log lags by minutes; give up after this long.
    pub timeout: Duration,
    pub poll: Duration,
}

/// What was recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evidence {
    pub account: String,
    pub outcome: String,
    pub sign_in_id: Option<String>,
    pub time: Option<String>,
    pub method: Option<String>,
    pub ip_address: Option<String>,
    pub correlation_id: Option<String>,
    pub detail: String,
}

impl Evidence {
    fn event(&self, key: Option<&str>) -> Event {
        Event::SignInEvidence {
            account: self.account.clone(),
            key: key.map(str::to_string),
            outcome: self.outcome.clone(),
            sign_in_id: self.sign_in_id.clone(),
            time: self.time.clone(),
            method: self.method.clone(),
            ip_address: self.ip_address.clone(),
            correlation_id: self.correlation_id.clone(),
            detail: self.detail.clone(),
        }
    }

    fn empty(account: &str, outcome: &str, detail: String) -> Evidence {
        Evidence {
            account: account.to_string(),
            outcome: outcome.into(),
            sign_in_id: None,
            time: None,
            method: None,
            ip_address: None,
            correlation_id: None,
            detail,
        }
    }

    fn from_sign_in(account: &str, s: &SignIn) -> Evidence {
        let step = s.fido2_step();
        Evidence {
            account: account.to_string(),
            outcome: "verified".into(),
            sign_in_id: Some(s.id.clone()),
            time: Some(s.created_date_time.clone()),
            method: step.and_then(|d| d.authentication_method.clone()),
            ip_address: s.ip_address.clone(),
            correlation_id: s.correlation_id.clone(),
            detail: format!(
                "successful sign-in to {} with {}",
                s.app_display_name.as_deref().unwrap_or("an application"),
                step.and_then(|d| d.authentication_method.as_deref())
                    .unwrap_or("a FIDO2 key")
            ),
        }
    }
}

/// Why sign-ins cannot be read, when that is the answer (permission or licence).
fn not_collectable(e: &GraphError) -> Option<String> {
    match e {
        GraphError::Refused { what, .. } => Some(what.clone()),
        GraphError::Api(a) if a.code == NO_PREMIUM => Some(
            "the tenant has no Entra ID P1/P2 licence, which sign-in logs need".into(),
        ),
        GraphError::Api(a) if a.status == 403 => Some(format!(
            "Graph refused the sign-in log ({}: {}); it needs AuditLog.Read.All and Directory.Read.All, and a delegated caller also a reports-reader role",
            a.code, a.message
        )),
        _ => None,
    }
}

/// Wait for `account`'s successful FIDO2 sign-in since `wait.since` and record
/// the evidence (or that there is none) in the ledger. Ok only when verified.
pub fn prove_sign_in(
    kit: &Kit,
    graph: &GraphClient,
    wait: &SignInWait,
    op: &mut dyn Operator,
    operators: &[String],
    sleep: &dyn Fn(Duration),
) -> Result<Evidence> {
    let account = wait.account.as_str();
    let key = wait.key.as_deref();
    let record = |ev: &Evidence| -> Result<()> {
        kit.append(operators, ev.event(key))?;
        Ok(())
    };
    if let Err(e) = graph.require_permissions(plans::SIGN_IN_EVIDENCE) {
        let ev = Evidence::empty(account, "not_collected", e.to_string());
        record(&ev)?;
        return Err(Error::check(
            format!("sign-in evidence for {account} could not be collected: {e}"),
            "grant AuditLog.Read.All and Directory.Read.All (admin consent), then run `glasskey check --signin` again; the ledger records that no evidence was collected",
        ));
    }
    op.say(&format!(
        "sign in now as {account} at {} with key {}, in a private browser window; glasskey waits for Entra's sign-in log (it can lag several minutes)",
        kit.config().sign_in_url(),
        key.unwrap_or("(the checked key)")
    ));
    let started = std::time::Instant::now();
    loop {
        match graph.sign_ins(account, wait.since) {
            Ok(list) => {
                if let Some(s) = list.iter().find(|s| s.is_fido2_proof()) {
                    let ev = Evidence::from_sign_in(account, s);
                    record(&ev)?;
                    return Ok(ev);
                }
            }
            Err(e) => {
                if let Some(why) = not_collectable(&e) {
                    let ev = Evidence::empty(account, "not_collected", why.clone());
                    record(&ev)?;
                    return Err(Error::check(
                        format!("sign-in evidence for {account} could not be collected: {why}"),
                        "the key check itself stands; fix the permission or licence to collect the proof next time",
                    ));
                }
                return Err(e.into());
            }
        }
        if started.elapsed() >= wait.timeout {
            let ev = Evidence::empty(
                account,
                "not_found",
                format!(
                    "no successful FIDO2 sign-in of {account} since {} appeared within {} minutes",
                    format_time(wait.since),
                    wait.timeout.as_secs() / 60
                ),
            );
            record(&ev)?;
            return Err(Error::check(
                ev.detail.clone(),
                "sign in with the key at the Entra admin center and run `glasskey check --signin` again; if the sign-in failed, read its error in the Entra sign-in log",
            ));
        }
        sleep(wait.poll);
    }
}

/// The sign-in part of `audit --online`: every sign-in of the accounts since
/// the last review that is not a recorded test is an ALERT; each account's
/// signInActivity is reported; an account without a verified sign-in test
/// within the kit's interval is flagged. The review is recorded.
pub fn review_sign_ins(
    kit: &Kit,
    graph: &GraphClient,
    report: &mut AuditReport,
    now: OffsetDateTime,
    operators: &[String],
) -> Result<()> {
    let records = kit.ledger().records()?;
    let interval = i64::from(kit.config().policy.check_interval_days);
    let mut since = now - time::Duration::days(interval);
    let mut tested: BTreeSet<String> = BTreeSet::new();
    let mut last_test: std::collections::BTreeMap<String, Timestamp> = Default::default();
    for r in &records {
        match &r.event {
            Event::SignInsReviewed { until, .. } => {
                if let Some(t) = crate::graph::types::parse_time(until) {
                    since = t;
                }
            }
            Event::SignInEvidence {
                account,
                outcome,
                sign_in_id: Some(id),
                ..
            } if outcome == "verified" => {
                tested.insert(id.clone());
                last_test.insert(account.clone(), r.time);
            }
            _ => {}
        }
    }
    if let Err(e) = graph.require_permissions(plans::SIGN_IN_EVIDENCE) {
        report.push(Severity::Warn, "sign-ins", format!("not reviewed: {e}"));
        return Ok(());
    }
    let accounts: Vec<String> = kit
        .config()
        .accounts
        .iter()
        .map(|a| a.upn.clone())
        .collect();
    let mut total = 0u32;
    let mut unexpected = 0u32;
    for upn in &accounts {
        let list = match graph.sign_ins(upn, since) {
            Ok(l) => l,
            Err(e) => match not_collectable(&e) {
                Some(why) => {
                    report.push(Severity::Warn, "sign-ins", format!("not reviewed: {why}"));
                    return Ok(());
                }
                None => return Err(e.into()),
            },
        };
        for s in &list {
            total += 1;
            if tested.contains(&s.id) {
                report.push(
                    Severity::Ok,
                    upn.as_str(),
                    format!(
                        "sign-in {} at {} is a recorded test",
                        s.id, s.created_date_time
                    ),
                );
            } else {
                unexpected += 1;
                report.push(
                    Severity::Alert,
                    upn.as_str(),
                    format!(
                        "RED ALERT: {} sign-in {} at {} from {} to {} is not a recorded test (correlation id {}): treat it as an incident",
                        if s.succeeded() { "successful" } else { "failed" },
                        s.id,
                        s.created_date_time,
                        s.ip_address.as_deref().unwrap_or("an unknown address"),
                        s.app_display_name.as_deref().unwrap_or("an unknown application"),
                        s.correlation_id.as_deref().unwrap_or("none")
                    ),
                );
            }
        }
        match graph.sign_in_activity(upn) {
            Ok(a) => report.push(
                Severity::Ok,
                upn.as_str(),
                format!(
                    "signInActivity: last sign-in {}, last successful {}",
                    a.last_sign_in_date_time.as_deref().unwrap_or("never"),
                    a.last_successful_sign_in_date_time
                        .as_deref()
                        .unwrap_or("never")
                ),
            ),
            Err(e) => report.push(
                Severity::Warn,
                upn.as_str(),
                format!("signInActivity not read: {e}"),
            ),
        }
        let due = now - time::Duration::days(interval);
        match last_test.get(upn) {
            Some(t) if t.datetime() >= due => {}
            Some(t) => report.push(
                Severity::Warn,
                upn.as_str(),
                format!("last sign-in test {} is older than the kit's {interval}-day interval: run `glasskey check --signin`", t.date()),
            ),
            None => report.push(
                Severity::Warn,
                upn.as_str(),
                format!("never tested by sign-in within the kit's {interval}-day interval: run `glasskey check --signin`"),
            ),
        }
    }
    kit.append(
        operators,
        Event::SignInsReviewed {
            accounts,
            until: format_time(now),
            sign_ins: total,
            unexpected,
        },
    )?;
    Ok(())
}
