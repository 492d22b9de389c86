//! Injected faults against the real client: throttling with and without
//! Retry-After, unavailability, missing permissions, slow answers, and a
//! registration whose answer is lost — reconciled by listing, never duplicated.

mod graph_support;

use std::time::{Duration, Instant};

use glasskey::aaguid::Aaguid;
use glasskey::graph::bundle::{response_item, Account, KeyFacts, RequestItem, ResponseBundle};
use glasskey::graph::emulator::{Fault, State};
use glasskey::graph::register::{register_bundle, Outcome};
use glasskey::graph::GraphError;
use graph_support::*;

const BG1: &str = "bg1@contoso.onmicrosoft.com";

fn fault(route: &str, status: u16, retry_after: Option<f64>, times: u32) -> Fault {
    Fault {
        route: route.into(),
        status,
        code: None,
        retry_after,
        times,
        delay_ms: 0,
        drop_after_apply: false,
    }
}

#[test]
fn throttling_and_unavailability_are_retried_with_bounds() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    emu.add_fault(fault("listMethods", 429, Some(0.3), 1));
    let t = Instant::now();
    client
        .list_methods(BG1)
        .expect("succeeds after Retry-After");
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "Retry-After honoured"
    );
    assert_eq!(emu.with_world(|w| w.hits["listMethods"]), 2);

    emu.add_fault(fault("listMethods", 429, None, 2));
    emu.add_fault(fault("listMethods", 503, None, 1));
    emu.add_fault(fault("listMethods", 504, None, 1));
    client.list_methods(BG1).expect("succeeds after backoff");
    assert_eq!(emu.with_world(|w| w.hits["listMethods"]), 2 + 5);

    emu.add_fault(fault("listMethods", 503, Some(0.0), 10));
    match client.list_methods(BG1) {
        Err(GraphError::Api(a)) => {
            assert_eq!(a.status, 503);
            assert!(a.request_id.is_some() && !a.client_request_id.is_empty());
        }
        other => panic!("expected 503 after bounded retries, got {other:?}"),
    }
    assert_eq!(
        emu.with_world(|w| w.hits["listMethods"]),
        7 + 5,
        "max_attempts bounds the retries"
    );
}

#[test]
fn conditional_access_rate_limit_has_no_retry_after() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    client.conditional_access_policies().unwrap();
    let t = Instant::now();
    let p = client
        .conditional_access_policies()
        .expect("backs off until the 1 rps window passes");
    assert_eq!(p.len(), 2);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited out the window"
    );
    assert_eq!(emu.with_world(|w| w.hits["conditionalAccess"]), 3);
}

#[test]
fn missing_permission_and_role_name_the_fix() {
    let mut state = State::demo();
    state.apps[0]
        .permissions
        .retain(|p| !p.contains("Passkey") && !p.contains("UserAuthenticationMethod"));
    let emu = start(state);
    let client = app_client(&emu);
    let e = client.creation_options(BG1, None).unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("403") && s.contains("Authorization_RequestDenied") && s.contains("request-id"),
        "{s}"
    );
    let op: glasskey::Error = e.into();
    assert!(op.next.contains("permission"), "{}", op.next);
    assert_eq!(op.exit_code(), 3);

    emu.add_fault(fault("policy", 403, None, 1));
    assert_eq!(client.fido2_policy().unwrap_err().api_status(), Some(403));
}

/// A response bundle of one item for BG1, made with the soft key.
fn one_item_bundle(client: &glasskey::graph::GraphClient, key: &SoftKey) -> ResponseBundle {
    one_named(client, key, "BG1 key A")
}

fn one_named(client: &glasskey::graph::GraphClient, key: &SoftKey, name: &str) -> ResponseBundle {
    let user = client.user(BG1).unwrap();
    let o = client.creation_options(&user.id, None).unwrap();
    let req = RequestItem {
        account: Account {
            id: user.id.clone(),
            user_principal_name: BG1.into(),
        },
        creation_options: o.raw.clone(),
        graph_version: None,
    };
    let cdj = o.client_data_json();
    let (cred, ao) = key.make_credential(&o.rp_id, &cdj, Attest::Packed, true);
    let facts = KeyFacts {
        aaguid: Aaguid(key.aaguid),
        model: Some("virtual".into()),
        serial: None,
        label: Some("A".into()),
        extra: [("firmware".to_string(), serde_json::json!("5.7"))]
            .into_iter()
            .collect(),
    };
    let item = response_item(&req, &ao, &cred, &cdj, name, facts).unwrap();
    ResponseBundle::new(DEMO_TENANT, vec![item])
}

#[test]
fn lost_answer_after_apply_is_reconciled_and_rerun_is_safe() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let bundle = one_item_bundle(&client, &key);
    emu.add_fault(Fault {
        drop_after_apply: true,
        ..fault("register", 0, None, 1)
    });
    let now = time::OffsetDateTime::now_utc();
    let r = register_bundle(&client, &bundle, now, &mut |_| Ok(()));
    assert!(
        matches!(r[0].outcome, Outcome::AlreadyRegistered { .. }),
        "{r:?}"
    );
    assert_eq!(
        emu.with_world(|w| w.hits["register"]),
        1,
        "the POST was not repeated"
    );
    let again = register_bundle(&client, &bundle, now, &mut |_| Ok(()));
    assert!(matches!(
        again[0].outcome,
        Outcome::AlreadyRegistered { .. }
    ));
    assert_eq!(emu.with_world(|w| w.hits["register"]), 1);
    assert_eq!(
        client.list_methods(BG1).unwrap().len(),
        1,
        "registered exactly once"
    );
}

#[test]
fn slow_post_times_out_then_reconciles_and_429_post_is_retried() {
    let emu = start(State::demo());
    let client = app_client(&emu).with_timeout(Duration::from_millis(700));
    let key = SoftKey::new(Aaguid::virtual_model(2).0);
    let bundle = one_item_bundle(&client, &key);
    emu.add_fault(Fault {
        delay_ms: 1500,
        ..fault("register", 0, None, 1)
    });
    let r = register_bundle(
        &client,
        &bundle,
        time::OffsetDateTime::now_utc(),
        &mut |_| Ok(()),
    );
    assert!(
        matches!(r[0].outcome, Outcome::AlreadyRegistered { .. }),
        "{r:?}"
    );
    assert_eq!(emu.with_world(|w| w.hits["register"]), 1);

    // A definite 429 refusal is safe to resend.
    let bundle = one_named(&client, &key, "BG1 key B");
    emu.add_fault(fault("register", 429, Some(0.1), 1));
    let r = register_bundle(
        &client,
        &bundle,
        time::OffsetDateTime::now_utc(),
        &mut |_| Ok(()),
    );
    assert!(matches!(r[0].outcome, Outcome::Registered { .. }), "{r:?}");
    assert_eq!(emu.with_world(|w| w.hits["register"]), 3);
    assert_eq!(client.list_methods(BG1).unwrap().len(), 2);
}

#[test]
fn expired_items_are_not_sent_and_failures_do_not_stop_the_rest() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let mut bundle = one_item_bundle(&client, &key);
    bundle
        .items
        .extend(one_named(&client, &key, "BG1 key B").items);
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(6);
    let r = register_bundle(&client, &bundle, later, &mut |_| Ok(()));
    assert!(
        r.iter()
            .all(|i| matches!(i.outcome, Outcome::Expired { .. })),
        "{r:?}"
    );
    assert_eq!(
        emu.with_world(|w| w.hits.get("register").copied().unwrap_or(0)),
        0
    );

    emu.add_fault(fault("register", 400, None, 1));
    let r = register_bundle(
        &client,
        &bundle,
        time::OffsetDateTime::now_utc(),
        &mut |_| Ok(()),
    );
    assert!(
        matches!(r[0].outcome, Outcome::Failed { .. }) && r[1].ok(),
        "{r:?}"
    );
}

#[test]
fn emulator_refuses_oversized_and_malformed_requests() {
    use std::io::{Read, Write};
    let emu = start(State::demo());
    let addr = emu.base_url().trim_start_matches("http://").to_string();
    let send = |raw: &[u8]| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(raw);
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    assert!(
        send(b"POST /v1.0/users HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n")
            .starts_with("HTTP/1.1 413")
    );
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000));
    assert!(send(long.as_bytes()).starts_with("HTTP/1.1 431"));
    assert!(send(b"NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(
        send(b"GET /v1.0/users/x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 401"),
        "no token, no data"
    );
    // Still serving afterwards.
    assert!(app_client(&emu).is_emulator());
}
