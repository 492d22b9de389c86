//! Proof of the quarterly sign-in, as a story against the emulator: the
//! operator signs in at the admin center while `check --signin` waits
//! (ceremony::signin::prove_sign_in), the evidence lands in the ledger; later
//! someone else signs in as a break-glass account and `audit --online`'s
//! sign-in review raises it as an ALERT. Also: no licence or no permission
//! means "evidence not collected", recorded as such.

mod graph_support;

use std::cell::Cell;
use std::time::Duration;

use glasskey::ceremony::audit::{AuditReport, Severity};
use glasskey::ceremony::operator::Operator;
use glasskey::ceremony::signin::{prove_sign_in, review_sign_ins, SignInWait};
use glasskey::graph::emulator::State;
use glasskey::ledger::{Event, Kit, KitConfig};
use glasskey::secret::Pin;
use graph_support::*;
use serde_json::json;
use time::OffsetDateTime;

const BG1: &str = "bg1@contoso.onmicrosoft.com";
const BG2: &str = "bg2@contoso.onmicrosoft.com";

struct Quiet(Vec<String>);
impl Operator for Quiet {
    fn pin(&mut self, _: &str) -> glasskey::Result<Pin> {
        unreachable!("no PIN in a sign-in wait")
    }
    fn confirm(&mut self, _: &str) -> glasskey::Result<bool> {
        Ok(true)
    }
    fn text(&mut self, _: &str) -> glasskey::Result<String> {
        Ok("SEAL".into())
    }
    fn say(&mut self, m: &str) {
        self.0.push(m.to_string());
    }
}

fn kit(dir: &std::path::Path) -> Kit {
    Kit::init(dir, &KitConfig::example("contoso.onmicrosoft.com")).unwrap()
}

fn evidence(kit: &Kit) -> Vec<Event> {
    kit.ledger()
        .records()
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .filter(|e| {
            matches!(
                e,
                Event::SignInEvidence { .. } | Event::SignInsReviewed { .. }
            )
        })
        .collect()
}

fn wait(account: &str, key: Option<&str>) -> SignInWait {
    SignInWait {
        account: account.into(),
        key: key.map(str::to_string),
        since: OffsetDateTime::now_utc() - time::Duration::seconds(5),
        timeout: Duration::from_secs(30),
        poll: Duration::from_millis(1),
    }
}

#[test]
fn check_signin_records_the_proof_and_audit_alerts_on_any_other_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let emu = start(State::demo());
    let client = app_client(&emu);
    let ops = vec!["alice".to_string(), "bob".to_string()];
    // An old sign-in (before the check) and a failed password attempt are not the proof.
    control(
        &emu,
        json!({"addSignIn": {"userPrincipalName": BG1, "secondsAgo": 3600}}),
    );
    control(
        &emu,
        json!({"addSignIn": {"userPrincipalName": BG1, "method": "Password", "succeeded": false}}),
    );
    // The operator signs in while glasskey polls: the log shows it on the second poll.
    let polls = Cell::new(0);
    let sleep = |_: Duration| {
        polls.set(polls.get() + 1);
        if polls.get() == 1 {
            control(
                &emu,
                json!({"addSignIn": {"userPrincipalName": BG1, "ipAddress": "198.51.100.7"}}),
            );
        }
    };
    let mut op = Quiet(vec![]);
    let ev = prove_sign_in(
        &kit,
        &client,
        &wait(BG1, Some("BG1-A")),
        &mut op,
        &ops,
        &sleep,
    )
    .unwrap();
    assert_eq!(ev.outcome, "verified");
    assert_eq!(ev.method.as_deref(), Some("FIDO2 security key"));
    assert_eq!(ev.ip_address.as_deref(), Some("198.51.100.7"));
    assert!(ev.correlation_id.is_some() && ev.time.is_some());
    assert!(op.0[0].contains("entra.microsoft.com") && op.0[0].contains(BG1));
    let recorded = evidence(&kit);
    assert!(
        matches!(&recorded[..], [Event::SignInEvidence { outcome, sign_in_id: Some(id), key: Some(k), .. }]
        if outcome == "verified" && Some(id) == ev.sign_in_id.as_ref() && k == "BG1-A")
    );

    // Someone signs in as bg2: nobody ran a test.
    control(
        &emu,
        json!({"addSignIn": {"userPrincipalName": BG2, "ipAddress": "203.0.113.66", "appDisplayName": "Microsoft Azure PowerShell"}}),
    );
    let mut report = AuditReport::default();
    let now = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    review_sign_ins(&kit, &client, &mut report, now, &ops).unwrap();
    let alerts: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Alert)
        .collect();
    assert!(
        alerts
            .iter()
            .any(|f| f.subject == BG2 && f.message.contains("203.0.113.66")),
        "{alerts:?}"
    );
    // bg1's failed attempt and the old sign-in are not recorded tests either.
    assert!(alerts
        .iter()
        .any(|f| f.subject == BG1 && f.message.contains("failed")));
    assert!(report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Ok && f.message.contains("is a recorded test")));
    assert!(report
        .findings
        .iter()
        .any(|f| f.subject == BG2 && f.message.contains("never tested by sign-in")));
    assert!(report
        .findings
        .iter()
        .any(|f| f.subject == BG1 && f.message.contains("signInActivity: last sign-in 20")));
    assert!(!report.healthy());
    assert!(
        matches!(evidence(&kit).last(), Some(Event::SignInsReviewed { unexpected, .. }) if *unexpected >= 2)
    );

    // The next review starts where this one ended: nothing new, no alert.
    let mut again = AuditReport::default();
    review_sign_ins(
        &kit,
        &client,
        &mut again,
        now + time::Duration::seconds(60),
        &ops,
    )
    .unwrap();
    assert!(
        again.findings.iter().all(|f| f.severity != Severity::Alert),
        "{:?}",
        again.findings
    );
}

#[test]
fn without_a_licence_or_permission_the_evidence_is_recorded_as_not_collected() {
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let mut state = State::demo();
    state.premium_licence = false;
    let emu = start(state);
    let client = app_client(&emu);
    let ops = vec!["alice".to_string()];
    let mut op = Quiet(vec![]);
    let e = prove_sign_in(&kit, &client, &wait(BG1, None), &mut op, &ops, &|_| {}).unwrap_err();
    assert!(e.what.contains("P1/P2"), "{}", e.what);
    assert!(
        matches!(evidence(&kit).last(), Some(Event::SignInEvidence { outcome, .. }) if outcome == "not_collected")
    );

    let mut state = State::demo();
    state.apps[0]
        .permissions
        .retain(|p| p != "AuditLog.Read.All");
    let emu = start(state);
    let client = app_client(&emu);
    let e = prove_sign_in(&kit, &client, &wait(BG1, None), &mut op, &ops, &|_| {}).unwrap_err();
    assert!(e.what.contains("AuditLog.Read.All"), "{}", e.what);
    assert_eq!(
        emu.with_world(|w| w.hits.get("signIns").copied()),
        None,
        "refused before any read"
    );
    let mut report = AuditReport::default();
    review_sign_ins(&kit, &client, &mut report, OffsetDateTime::now_utc(), &ops).unwrap();
    assert!(report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Warn && f.message.contains("AuditLog.Read.All")));
}

#[test]
fn no_sign_in_within_the_timeout_is_recorded_as_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let emu = start(State::demo());
    let client = app_client(&emu);
    let mut w = wait(BG1, None);
    w.timeout = Duration::from_millis(0);
    let e = prove_sign_in(
        &kit,
        &client,
        &w,
        &mut Quiet(vec![]),
        &["a".into()],
        &|_| {},
    )
    .unwrap_err();
    assert!(e.what.contains("no successful FIDO2 sign-in"), "{}", e.what);
    assert!(
        matches!(evidence(&kit).last(), Some(Event::SignInEvidence { outcome, .. }) if outcome == "not_found")
    );
}
