//! Sign-in flows against the emulator's login endpoints: the device-code state
//! machine (pending, slow_down, declined, expired), delegated role checks,
//! client secrets, certificate assertions; and the posture reads.

mod graph_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use glasskey::graph::emulator::State;
use glasskey::graph::posture::{evaluate, read_posture, GLOBAL_ADMIN_ROLE};
use glasskey::graph::{ClientCertificate, Credentials, GraphClient, GraphError, TokenSource};
use graph_support::*;
use zeroize::Zeroizing;

fn device_flow(
    state: State,
) -> (
    Result<glasskey::graph::AccessToken, GraphError>,
    Vec<Duration>,
    Option<String>,
    glasskey::graph::emulator::EmulatorHandle,
) {
    let emu = start(state);
    let slept = Arc::new(Mutex::new(Vec::new()));
    let s = slept.clone();
    let src = TokenSource::new(
        endpoints(&emu),
        DEMO_TENANT,
        Credentials::DeviceCode {
            client_id: DEMO_CLIENT.into(),
        },
    )
    .with_sleeper(Arc::new(move |d| s.lock().unwrap().push(d)));
    let mut shown = None;
    let r = src.acquire(&mut |p| shown = Some(format!("{} {}", p.verification_uri, p.user_code)));
    let slept = slept.lock().unwrap().clone();
    (r, slept, shown, emu)
}

#[test]
fn device_code_pending_and_slow_down_then_approved() {
    let mut state = State::demo();
    state.device_code.pending_polls = 2;
    state.device_code.slow_down_polls = 1;
    let (r, slept, shown, emu) = device_flow(state);
    let token = r.expect("approved");
    assert!(shown.unwrap().contains("/devicelogin"));
    assert_eq!(
        slept,
        vec![Duration::from_secs(6); 3],
        "interval 1 s + 5 s after slow_down, kept"
    );
    assert_eq!(emu.with_world(|w| w.hits["token"]), 4);
    // The delegated admin holds Privileged Authentication Administrator: may act on a Global Admin.
    let client = GraphClient::new(endpoints(&emu), token);
    client
        .creation_options("bg1@contoso.onmicrosoft.com", None)
        .expect("PAA may provision for a GA");
}

#[test]
fn device_code_declined_and_expired_stop() {
    for (outcome, error) in [
        ("decline", "authorization_declined"),
        ("expire", "expired_token"),
    ] {
        let mut state = State::demo();
        state.device_code.outcome = outcome.into();
        let (r, _, _, _emu) = device_flow(state);
        match r {
            Err(GraphError::Token { error: e, .. }) => assert_eq!(e, error),
            other => panic!("{outcome}: expected {error}, got {other:?}"),
        }
        let op: glasskey::Error = device_flow({
            let mut s = State::demo();
            s.device_code.outcome = outcome.into();
            s
        })
        .0
        .unwrap_err()
        .into();
        assert!(op.next.contains("run the command again"), "{}", op.next);
    }
}

#[test]
fn delegated_user_without_the_role_gets_403() {
    let mut state = State::demo();
    state.users[2].directory_roles = vec!["Authentication Administrator".into()];
    let (r, _, _, emu) = device_flow(state);
    let client = GraphClient::new(endpoints(&emu), r.unwrap());
    match client.creation_options("bg1@contoso.onmicrosoft.com", None) {
        Err(GraphError::Api(a)) => assert!(
            a.status == 403
                && a.message
                    .contains("Privileged Authentication Administrator"),
            "{a}"
        ),
        other => panic!("expected 403, got {other:?}"),
    }
}

#[test]
fn client_secret_wrong_and_wrong_tenant_are_refused() {
    let emu = start(State::demo());
    let bad = Credentials::ClientSecret {
        client_id: DEMO_CLIENT.into(),
        secret: Zeroizing::new("nope".into()),
    };
    match TokenSource::new(endpoints(&emu), DEMO_TENANT, bad).acquire(&mut |_| {}) {
        Err(GraphError::Token { error, description }) => {
            assert!(error == "invalid_client" && description.starts_with("AADSTS"))
        }
        other => panic!("{other:?}"),
    }
    let good = Credentials::ClientSecret {
        client_id: DEMO_CLIENT.into(),
        secret: Zeroizing::new("emulator-secret".into()),
    };
    assert!(
        TokenSource::new(endpoints(&emu), "fabrikam.onmicrosoft.com", good)
            .acquire(&mut |_| {})
            .is_err()
    );
}

#[test]
fn certificate_assertion_signs_in() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=glasskey-test-app",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("SKIPPED certificate_assertion_signs_in: openssl is not available to mint an RSA test certificate");
        return;
    }
    let cert_pem = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
    let pem = format!("{cert_pem}{}", std::fs::read_to_string(&key).unwrap());
    let mut state = State::demo();
    state.apps[0].certificate_pem = Some(cert_pem);
    let emu = start(state);
    let cert = ClientCertificate::from_pem(&pem).expect("cert + PKCS#8 key");
    let creds = Credentials::Certificate {
        client_id: DEMO_CLIENT.into(),
        cert: Box::new(cert),
    };
    let token = TokenSource::new(endpoints(&emu), DEMO_TENANT, creds)
        .acquire(&mut |_| {})
        .expect("assertion accepted");
    GraphClient::new(endpoints(&emu), token)
        .fido2_policy()
        .expect("token works");

    // A different certificate is refused.
    let mut other = State::demo();
    other.apps[0].certificate_pem = Some(
        glasskey::graph::emulator::State::demo()
            .trusted_roots
            .first()
            .cloned()
            .unwrap_or_else(|| {
                "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".into()
            }),
    );
    let emu2 = start(other);
    let cert = ClientCertificate::from_pem(&pem).unwrap();
    let creds = Credentials::Certificate {
        client_id: DEMO_CLIENT.into(),
        cert: Box::new(cert),
    };
    assert!(matches!(
        TokenSource::new(endpoints(&emu2), DEMO_TENANT, creds).acquire(&mut |_| {}),
        Err(GraphError::Token { .. })
    ));
}

#[test]
fn posture_of_demo_accounts_and_an_eligible_only_admin() {
    let mut state = State::demo();
    state.page_size = 1; // every collection comes in pages: nextLink must be followed
    let emu = start(state);
    let client = app_client(&emu);
    let facts = read_posture(&client, "bg1@contoso.onmicrosoft.com").unwrap();
    assert!(
        facts.global_admin.permanent && facts.global_admin.active && !facts.global_admin.eligible
    );
    let findings = evaluate(&facts);
    assert!(findings.iter().all(|f| f.ok), "{findings:#?}");
    assert!(
        findings[4].detail.contains("via group"),
        "{}",
        findings[4].detail
    );

    // bg2: GA only PIM-eligible, synced, disabled, and a blocking CA policy that targets it directly.
    let bg2 = emu.with_world(|w| {
        let id = w.state.users[1].id.clone();
        w.state.role_assignments.retain(|a| a["principalId"] != id.as_str());
        w.state.role_assignment_schedules.retain(|a| a["principalId"] != id.as_str());
        w.state.role_eligibility_schedules.push(serde_json::json!({"principalId": id, "roleDefinitionId": GLOBAL_ADMIN_ROLE, "directoryScopeId": "/"}));
        w.state.users[1].account_enabled = false;
        w.state.users[1].on_premises_sync_enabled = Some(true);
        w.state.conditional_access_policies.push(serde_json::json!({"id": "blk", "displayName": "Block legacy", "state": "enabled",
            "conditions": {"users": {"includeUsers": [id.clone()]}}, "grantControls": {"builtInControls": ["block"]}}));
        w.state.ca_rate_limit = false;
        w.state.page_size = 100;
        id
    });
    let f = evaluate(&read_posture(&client, &bg2).unwrap());
    let failed: Vec<&str> = f.iter().filter(|x| !x.ok).map(|x| x.check).collect();
    assert_eq!(failed.len(), 5, "{f:#?}");
    assert!(f[3].detail.contains("PIM-eligible"));
    assert!(f[4].detail.contains("Block legacy"));
}
