//! The emulator is at least as strict as Graph: each case expects the status
//! and error body the docs give (doc references beside the emulator code, in
//! src/graph/emulator/{strict,routes,filter}.rs), and the client's permission
//! check refuses up front from the token's own claims.

mod graph_support;

use glasskey::aaguid::Aaguid;
use glasskey::graph::emulator::State;
use glasskey::graph::permissions::{plans, Call, TokenClaims};
use glasskey::graph::types::{registration_body, CreationOptions};
use glasskey::graph::{AccessToken, ApiVersion, GraphClient, GraphError};
use graph_support::*;
use serde_json::{json, Value};

const BG1: &str = "bg1@contoso.onmicrosoft.com";

fn api(e: GraphError) -> (u16, String, String) {
    match e {
        GraphError::Api(a) => (a.status, a.code.clone(), a.message.clone()),
        other => panic!("expected a Graph error, got {other:?}"),
    }
}

/// A fresh, valid registration body for BG1 (v1.0 or beta challenge).
fn body(client: &GraphClient, key: &SoftKey, beta: bool) -> (Value, Vec<u8>) {
    let o = client
        .creation_options(BG1, if beta { Some(10) } else { None })
        .unwrap();
    let cdj = o.client_data_json();
    let (cred, ao) = key.make_credential(&o.rp_id, &cdj, Attest::None, true);
    (registration_body("BG1 key A", &cred, &cdj, &ao), cred)
}

#[test]
fn post_refuses_properties_the_types_do_not_define() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    // What DSInternals had to stop sending: WebAuthn JSON fields Graph's type lacks.
    for (extra, value) in [
        ("rawId", json!("AAAA")),
        ("type", json!("public-key")),
        ("authenticatorAttachment", json!("cross-platform")),
    ] {
        let (mut b, _) = body(&client, &key, false);
        b["publicKeyCredential"][extra] = value;
        let (status, code, message) = api(client.register(BG1, &b).unwrap_err());
        assert_eq!((status, code.as_str()), (400, "BadRequest"));
        assert!(
            message.contains(&format!("'{extra}'"))
                && message.contains("webauthnPublicKeyCredential"),
            "{message}"
        );
    }
    // @odata annotations at every level are fine (the v1.0 example carries them).
    let (mut b, _) = body(&client, &key, false);
    b["@odata.type"] = "#microsoft.graph.fido2AuthenticationMethod".into();
    b["publicKeyCredential"]["@odata.type"] = "#microsoft.graph.webauthnPublicKeyCredential".into();
    b["publicKeyCredential"]["response"]["@odata.type"] =
        "#microsoft.graph.webauthnAuthenticatorAttestationResponse".into();
    client.register(BG1, &b).unwrap();
}

#[test]
fn post_checks_the_credential_id_the_display_name_and_the_format() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let (mut b, _) = body(&client, &key, false);
    b["publicKeyCredential"]["id"] = glasskey::graph::b64::encode(&[7u8; 32]).into();
    let (status, _, message) = api(client.register(BG1, &b).unwrap_err());
    assert_eq!(status, 400);
    assert!(message.contains("publicKeyCredential.id"), "{message}");

    let (mut b, _) = body(&client, &key, false);
    b["displayName"] = "x".repeat(31).into();
    let (status, _, message) = api(client.register(BG1, &b).unwrap_err());
    assert_eq!(status, 400);
    assert!(message.contains("at most 30"), "{message}");

    // beta does not document displayName as optional: missing is refused there.
    let (mut b, _) = body(&client, &key, true);
    b.as_object_mut().unwrap().remove("displayName");
    let (status, _, message) = api(client.register_in(ApiVersion::Beta, BG1, &b).unwrap_err());
    assert_eq!(status, 400);
    assert!(message.contains("displayName is required"), "{message}");

    // Only packed and none (beta POST page); an otherwise valid fido-u2f object is refused.
    let o = client.creation_options(BG1, None).unwrap();
    let cdj = o.client_data_json();
    let (cred, ao) = key.make_credential(&o.rp_id, &cdj, Attest::None, true);
    let mut v: ciborium::Value = ciborium::de::from_reader(ao.as_slice()).unwrap();
    if let ciborium::Value::Map(m) = &mut v {
        for (k, val) in m.iter_mut() {
            if k.as_text() == Some("fmt") {
                *val = "fido-u2f".into();
            }
        }
    }
    let mut u2f = Vec::new();
    ciborium::ser::into_writer(&v, &mut u2f).unwrap();
    let b = registration_body("BG1 key A", &cred, &cdj, &u2f);
    let (status, _, message) = api(client.register(BG1, &b).unwrap_err());
    assert_eq!(status, 400);
    assert!(
        message.contains("'fido-u2f'") && message.contains("packed and none"),
        "{message}"
    );
}

#[test]
fn creation_options_routing_and_timeouts_are_exact() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let user = client.user(BG1).unwrap();
    let base = format!("/users/{}/authentication/fido2Methods", user.id);
    // v1.0: fixed 5 minutes, no parameter in either syntax.
    for path in [
        format!("{base}/creationOptions(challengeTimeoutInMinutes=10)"),
        format!("{base}/creationOptions?challengeTimeoutInMinutes=10"),
    ] {
        let (status, code, message) = api(client.raw_get(ApiVersion::V1, &path).unwrap_err());
        assert_eq!((status, code.as_str()), (400, "invalidRequest"), "{path}");
        assert!(message.contains("not supported on v1.0"), "{message}");
    }
    // beta takes both syntaxes; out of range and other parameters are refused.
    assert!(client
        .raw_get(
            ApiVersion::Beta,
            &format!("{base}/creationOptions(challengeTimeoutInMinutes=10)")
        )
        .is_ok());
    assert_eq!(
        api(client
            .raw_get(
                ApiVersion::Beta,
                &format!("{base}/creationOptions(challengeTimeoutInMinutes=4)")
            )
            .unwrap_err())
        .0,
        400
    );
    assert_eq!(
        api(client
            .raw_get(
                ApiVersion::Beta,
                &format!("{base}/creationOptions(timeout=10)")
            )
            .unwrap_err())
        .0,
        400
    );
    // Only fido2Methods/creationOptions is the function.
    for path in [
        format!("/users/{}/authentication/methods/creationOptions", user.id),
        format!("{base}/creationOptionsX"),
    ] {
        let (status, _, _) = api(client.raw_get(ApiVersion::V1, &path).unwrap_err());
        assert!(status == 404 || status == 405, "{path}: {status}");
    }
}

#[test]
fn beta_write_calls_refuse_the_passkey_permission_the_beta_docs_do_not_list() {
    let mut state = State::demo();
    state.apps[0].permissions = vec![
        "UserAuthMethod-Passkey.ReadWrite.All".into(),
        "User.Read.All".into(),
    ];
    let emu = start(state);
    let client = app_client(&emu);
    assert!(client.creation_options(BG1, None).is_ok(), "v1.0 lists it");
    let (status, code, _) = api(client.creation_options(BG1, Some(10)).unwrap_err());
    assert_eq!(
        (status, code.as_str()),
        (403, "Authorization_RequestDenied")
    );
    // The client says so before calling, from the token's roles.
    let e = client
        .require_permissions(plans::FETCH_OPTIONS_BETA)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("UserAuthenticationMethod.ReadWrite.All") && e.contains("nothing was done"),
        "{e}"
    );
    assert!(client
        .require_permissions(&[Call::CreationOptionsV1, Call::RegisterV1])
        .is_ok());
}

#[test]
fn a_crafted_token_names_the_missing_permission() {
    let emu = start(State::demo());
    let jwt = |claims: Value| {
        format!(
            "{}.{}.sig",
            glasskey::graph::b64::encode(br#"{"typ":"JWT","alg":"RS256"}"#),
            glasskey::graph::b64::encode(claims.to_string().as_bytes())
        )
    };
    let client = |claims: Value| {
        GraphClient::new(
            endpoints(&emu),
            AccessToken::new(jwt(claims), std::time::Duration::from_secs(600)),
        )
    };
    let delegated = client(json!({"scp": "User.Read.All UserAuthMethod-Passkey.ReadWrite.All"}));
    let e = delegated
        .require_permissions(plans::ENROLL_ONLINE)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("delegated")
            && e.contains("ReadFido2Policy needs Policy.Read.AuthenticationMethod"),
        "{e}"
    );
    assert!(
        !e.contains("CreationOptionsV1"),
        "only what is missing is named: {e}"
    );
    let e = delegated
        .require_permissions(plans::AUDIT_ONLINE)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("RoleManagement.Read.Directory") && e.contains("Policy.Read.All"),
        "{e}"
    );
    let app = client(json!({"roles": ["AuditLog.Read.All", "User.Read.All"]}));
    let e = app
        .require_permissions(plans::SIGN_IN_EVIDENCE)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Directory.Read.All") && e.contains("application permission"),
        "{e}"
    );
    assert_eq!(TokenClaims::from_jwt("opaque"), None);
    // The emulator's own tokens carry the app's roles.
    let real = app_client(&emu);
    let claims = real.claims().unwrap();
    assert!(claims
        .roles
        .iter()
        .any(|r| r == "UserAuthMethod-Passkey.ReadWrite.All"));
}

#[test]
fn select_filter_and_policy_key_forms() {
    let mut state = State::demo();
    let bg1 = state.users[0].id.clone();
    state.role_assignable_groups = vec!["g-ga".into()];
    state
        .role_assignments
        .push(json!({"id": "ra-g", "principalId": "g-ga",
        "roleDefinitionId": glasskey::graph::posture::GLOBAL_ADMIN_ROLE, "directoryScopeId": "/"}));
    let emu = start(state);
    let client = app_client(&emu);
    let (status, code, message) = api(client
        .raw_get(ApiVersion::V1, &format!("/users/{bg1}?$select=id,nonsense"))
        .unwrap_err());
    assert_eq!((status, code.as_str()), (400, "Request_BadRequest"));
    assert!(message.contains("'nonsense'"), "{message}");
    let filter = glasskey::graph::endpoint::urlencode_segment(&format!(
        "principalId eq '{bg1}' or principalId eq 'g-ga'"
    ));
    let v = client
        .raw_get(
            ApiVersion::V1,
            &format!("/roleManagement/directory/roleAssignments?$filter={filter}"),
        )
        .unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 2, "{v}");
    for path in [
        "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations('Fido2')",
        "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/Fido2",
    ] {
        let p = client.raw_get(ApiVersion::V1, path).unwrap();
        assert_eq!(p["id"], "Fido2", "{path}");
        assert!(p["passkeyProfiles"].is_array() && p["@odata.context"].is_string());
    }
    assert_eq!(
        api(client
            .raw_get(
                ApiVersion::V1,
                "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations('Sms')"
            )
            .unwrap_err())
        .0,
        404
    );
}

#[test]
fn beta_exclude_ids_are_url_tokens_the_client_decodes() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let (b, cred) = body(&client, &key, false);
    assert_eq!(cred.len(), 32);
    client.register(BG1, &b).unwrap();
    let user = client.user(BG1).unwrap();
    let raw = client
        .raw_get(ApiVersion::Beta, &format!("/users/{}/authentication/fido2Methods/creationOptions(challengeTimeoutInMinutes=5)", user.id))
        .unwrap();
    let id = raw["publicKey"]["excludeCredentials"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        id.ends_with('1') && id.len().is_multiple_of(4),
        "UrlTokenEncode of 32 bytes: {id}"
    );
    let o = CreationOptions::from_value(raw).unwrap();
    assert!(
        o.exclude_credentials.contains(&cred),
        "the registered id is excluded"
    );
    // beta methods carry the nullable lastUsedDateTime.
    let list = client
        .raw_get(
            ApiVersion::Beta,
            &format!("/users/{}/authentication/fido2Methods", user.id),
        )
        .unwrap();
    assert!(list["value"][0]["lastUsedDateTime"].is_null());
}

#[test]
fn tokens_are_refreshed_before_they_expire() {
    let mut state = State::demo();
    state.token_lifetime_seconds = 30; // under the one-minute margin: every call refreshes
    let emu = start(state);
    let creds = glasskey::graph::Credentials::ClientSecret {
        client_id: DEMO_CLIENT.into(),
        secret: zeroize::Zeroizing::new("emulator-secret".into()),
    };
    let source = glasskey::graph::TokenSource::new(endpoints(&emu), DEMO_TENANT, creds);
    let token = source.acquire(&mut |_| {}).unwrap();
    let client = GraphClient::new(endpoints(&emu), token).with_token_source(source);
    client.user(BG1).unwrap();
    client.user(BG1).unwrap();
    let issued = emu.with_world(|w| w.tokens_issued.get("client_credentials").copied());
    assert_eq!(issued, Some(3), "one sign-in, two refreshes");
}
