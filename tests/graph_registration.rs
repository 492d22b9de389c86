//! The Graph client against the emulator over real loopback HTTP: the FIDO2
//! method API end to end, and every way Entra refuses a registration.

mod graph_support;

use glasskey::aaguid::Aaguid;
use glasskey::graph::types::{client_data_json, registration_body};
use glasskey::graph::{GraphClient, GraphError};
use graph_support::*;
use serde_json::Value;

const BG1: &str = "bg1@contoso.onmicrosoft.com";
const BG2: &str = "bg2@contoso.onmicrosoft.com";

/// Fetch options for `upn` and build a registration body with `key`.
fn make_body(
    client: &GraphClient,
    upn: &str,
    key: &SoftKey,
    attest: Attest,
    uv: bool,
) -> (Value, Vec<u8>) {
    let o = client.creation_options(upn, None).expect("creationOptions");
    let cdj = o.client_data_json();
    let (cred_id, ao) = key.make_credential(&o.rp_id, &cdj, attest, uv);
    (registration_body("BG key A", &cred_id, &cdj, &ao), cred_id)
}

fn api_err(e: GraphError) -> (u16, String, String) {
    match e {
        GraphError::Api(a) => (a.status, a.code.clone(), a.message.clone()),
        other => panic!("expected a Graph error, got {other:?}"),
    }
}

#[test]
fn register_list_get_delete_round_trip() {
    let emu = start(glasskey::graph::emulator::State::demo());
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    emu.with_world(|w| w.trust_root(&key.root_pem(), false));
    let client = app_client(&emu);
    assert!(client.is_emulator());
    let user = client.user(BG1).unwrap();
    assert_eq!(
        user.account_enabled,
        Some(true),
        "$select-only property returned"
    );

    let o = client.creation_options(BG1, None).unwrap();
    assert_eq!(o.rp_id, "login.microsoft.com");
    assert!(o.challenge.len() > 4000, "opaque challenge of Entra's size");
    let minutes = (o.expires
        - glasskey::graph::types::parse_time(&glasskey::graph::types::format_time(
            time::OffsetDateTime::now_utc(),
        ))
        .unwrap())
    .whole_minutes();
    assert!(
        (4..=5).contains(&minutes),
        "v1.0 challenge lives 5 minutes, got {minutes}"
    );

    let (body, cred_id) = make_body(&client, BG1, &key, Attest::Packed, true);
    let m = client.register(&user.id, &body).expect("registered");
    assert_eq!(
        m.aa_guid.as_deref(),
        Some(Aaguid::virtual_model(1).to_string().as_str())
    );
    assert_eq!(m.attestation_level.as_deref(), Some("attested"));
    assert_eq!(m.attestation_certificates.len(), 1);
    assert_eq!(m.display_name.as_deref(), Some("BG key A"));

    let list = client.list_methods(BG1).unwrap();
    assert_eq!(list, vec![m.clone()]);
    assert_eq!(client.get_method(BG1, &m.id).unwrap(), m);
    // The next options exclude the registered credential. beta writes it as
    // UrlTokenEncode (its page's note): a 32-byte id ends in '1', which is also
    // valid base64url of 33 bytes, so the client keeps both readings.
    assert_eq!(
        client
            .creation_options(BG1, None)
            .unwrap()
            .exclude_credentials,
        vec![cred_id.clone()]
    );
    let beta = client
        .creation_options(BG1, Some(10))
        .unwrap()
        .exclude_credentials;
    assert!(beta.contains(&cred_id) && beta.len() == 2, "{beta:?}");

    client.delete_method(BG1, &m.id).unwrap();
    assert!(client.list_methods(BG1).unwrap().is_empty());
    assert_eq!(api_err(client.get_method(BG1, &m.id).unwrap_err()).0, 404);
    assert_eq!(
        api_err(client.user("nobody@contoso.onmicrosoft.com").unwrap_err()).1,
        "Request_ResourceNotFound"
    );
}

#[test]
fn challenges_are_single_use_bound_to_user_and_expire() {
    let emu = start(glasskey::graph::emulator::State::demo());
    let key = SoftKey::new(Aaguid::virtual_model(2).0);
    let client = app_client(&emu);
    let (body, _) = make_body(&client, BG1, &key, Attest::Packed, true);
    let bg2 = client.user(BG2).unwrap();
    let (s, _, msg) = api_err(client.register(&bg2.id, &body).unwrap_err());
    assert_eq!(s, 400);
    assert!(msg.contains("different user"), "{msg}");
    client.register(BG1, &body).expect("first use");
    let (s, _, msg) = api_err(client.register(BG1, &body).unwrap_err());
    assert!(s == 400 && msg.contains("already been used"), "{msg}");

    let (body, _) = make_body(&client, BG1, &key, Attest::Packed, true);
    emu.with_world(|w| w.clock_offset = 6 * 60);
    let (s, _, msg) = api_err(client.register(BG1, &body).unwrap_err());
    assert!(s == 400 && msg.contains("expired"), "{msg}");
}

#[test]
fn beta_challenge_timeout_and_405_fallback() {
    let emu = start(glasskey::graph::emulator::State::demo());
    let client = app_client(&emu);
    let o = client.creation_options(BG1, Some(43200)).unwrap();
    let days = (o.expires - time::OffsetDateTime::now_utc()).whole_days();
    assert!((29..=30).contains(&days), "{days}");
    for bad in [4, 43201] {
        assert!(matches!(
            client.creation_options(BG1, Some(bad)),
            Err(GraphError::Input { .. })
        ));
    }
    emu.add_fault(glasskey::graph::emulator::Fault {
        route: "creationOptions".into(),
        status: 405,
        code: None,
        retry_after: None,
        times: 1,
        delay_ms: 0,
        drop_after_apply: false,
    });
    client
        .creation_options(BG1, Some(60))
        .expect("query-string form after 405");
    assert_eq!(emu.with_world(|w| w.hits["creationOptions"]), 3);
    emu.add_fault(glasskey::graph::emulator::Fault {
        route: "creationOptions".into(),
        status: 405,
        code: None,
        retry_after: None,
        times: 1,
        delay_ms: 0,
        drop_after_apply: false,
    });
    let (s, code, _) = api_err(client.creation_options(BG1, None).unwrap_err());
    assert_eq!((s, code.as_str()), (405, "methodNotAllowed"));
}

#[test]
fn entra_style_verification_rejects_bad_registrations() {
    let emu = start(glasskey::graph::emulator::State::demo());
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let client = app_client(&emu);

    // Wrong origin in clientDataJSON.
    let o = client.creation_options(BG1, None).unwrap();
    let cdj = client_data_json(&o.challenge, "login.microsoftonline.com");
    let (id, ao) = key.make_credential("login.microsoft.com", &cdj, Attest::Packed, true);
    let msg = api_err(
        client
            .register(BG1, &registration_body("k", &id, &cdj, &ao))
            .unwrap_err(),
    )
    .2;
    assert!(msg.contains("InvalidRPOrigin"), "{msg}");
    // rpIdHash of another RP.
    let o = client.creation_options(BG1, None).unwrap();
    let cdj = o.client_data_json();
    let (id, ao) = key.make_credential("login.microsoftonline.com", &cdj, Attest::Packed, true);
    let msg = api_err(
        client
            .register(BG1, &registration_body("k", &id, &cdj, &ao))
            .unwrap_err(),
    )
    .2;
    assert!(msg.contains("InvalidRPIDHash"), "{msg}");
    // No user verification.
    let (body, _) = make_body(&client, BG1, &key, Attest::Packed, false);
    assert!(api_err(client.register(BG1, &body).unwrap_err())
        .2
        .contains("UserNotVerified"));
    // Signature over different clientDataJSON.
    let o = client.creation_options(BG1, None).unwrap();
    let cdj = o.client_data_json();
    let (id, ao) = key.make_credential("login.microsoft.com", b"{}", Attest::Packed, true);
    assert_eq!(
        api_err(
            client
                .register(BG1, &registration_body("k", &id, &cdj, &ao))
                .unwrap_err()
        )
        .0,
        400
    );

    // Attestation enforced: none and self attestation and an untrusted root are refused, the trusted root passes.
    emu.with_world(|w| w.trust_root(&SoftKey::new([9; 16]).root_pem(), true));
    for attest in [Attest::None, Attest::Surrogate, Attest::Packed] {
        let (body, _) = make_body(&client, BG1, &key, attest, true);
        assert_eq!(api_err(client.register(BG1, &body).unwrap_err()).0, 400);
    }
    emu.with_world(|w| w.trust_root(&key.root_pem(), true));
    let (body, _) = make_body(&client, BG1, &key, Attest::Packed, true);
    assert_eq!(
        client
            .register(BG1, &body)
            .unwrap()
            .attestation_level
            .as_deref(),
        Some("attested")
    );

    // Not enforced: none attestation is accepted but not attested.
    emu.with_world(|w| w.state.fido2_policy["isAttestationEnforced"] = false.into());
    let (body, _) = make_body(&client, BG1, &key, Attest::None, true);
    assert_eq!(
        client
            .register(BG1, &body)
            .unwrap()
            .attestation_level
            .as_deref(),
        Some("notAttested")
    );

    // Key restrictions: a model outside the allow list.
    let other = SoftKey::new(*b"\x12\x34\x56\x78not-allowed!");
    let (body, _) = make_body(&client, BG1, &other, Attest::Packed, true);
    let msg = api_err(client.register(BG1, &body).unwrap_err()).2;
    assert!(msg.contains("key restrictions"), "{msg}");
}

#[test]
fn policy_gates_creation_options_and_preflight_agrees() {
    let emu = start(glasskey::graph::emulator::State::demo());
    let client = app_client(&emu);
    let policy = client.fido2_policy().unwrap();
    let groups = client.group_ids(BG1).unwrap();
    let ok = glasskey::graph::policy::preflight(&policy, &groups, Aaguid::virtual_model(1), true);
    assert!(ok.allowed, "{ok:?}");
    let trussed: Aaguid = "8bc54968-07b1-4d5f-b249-607f5d527da2".parse().unwrap();
    assert!(glasskey::graph::policy::preflight(&policy, &groups, trussed, true).allowed);
    assert!(glasskey::graph::policy::preflight(&policy, &groups, Aaguid::ZERO, true).allowed);
    let no = glasskey::graph::policy::preflight(&policy, &groups, Aaguid([7; 16]), true);
    assert!(matches!(
        no.blockers[..],
        [glasskey::graph::policy::Blocker::KeyRestricted { .. }]
    ));

    emu.with_world(|w| w.state.fido2_policy["isSelfServiceRegistrationAllowed"] = false.into());
    let policy = client.fido2_policy().unwrap();
    let r = glasskey::graph::policy::preflight(&policy, &groups, Aaguid::virtual_model(1), true);
    assert_eq!(
        r.blockers,
        vec![glasskey::graph::policy::Blocker::SelfServiceSetupOff]
    );
    let err = client.creation_options(BG1, None).unwrap_err();
    assert!(err.to_string().contains("self-service"), "{err}");
    let operator: glasskey::Error = err.into();
    assert!(
        operator.next.contains("FIDO2 policy") || operator.next.contains("permission"),
        "{}",
        operator.next
    );
}

#[test]
fn virtual_keys_are_never_sent_to_a_real_tenant() {
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let cdj = client_data_json("Y2hhbGxlbmdl", "login.microsoft.com");
    let (id, ao) = key.make_credential("login.microsoft.com", &cdj, Attest::Packed, true);
    let body = registration_body("k", &id, &cdj, &ao);
    let real = GraphClient::new(
        glasskey::graph::Endpoints::global(),
        glasskey::graph::AccessToken::new("not-a-token".into(), std::time::Duration::from_secs(60)),
    );
    match real.register("bg1@contoso.onmicrosoft.com", &body) {
        Err(GraphError::Refused { what, .. }) => assert!(what.contains("virtual key"), "{what}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A loopback server that is not the emulator is refused too.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            use std::io::{Read, Write};
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\nConnection: close\r\n\r\n{\"emulator\":\"glasskey\"}");
        }
    });
    let url = format!("http://{addr}");
    let fake = GraphClient::new(
        glasskey::graph::Endpoints::new(&url, &url).unwrap(),
        glasskey::graph::AccessToken::new("t".into(), std::time::Duration::from_secs(60)),
    );
    assert!(matches!(
        fake.register("bg1", &body),
        Err(GraphError::Refused { .. })
    ));
}
