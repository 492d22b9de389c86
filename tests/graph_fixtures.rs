//! Real Graph response bodies (tests/fixtures/graph, sources in SOURCES.md):
//! the client reads every one, and the emulator answers in the same shapes
//! (no key or type the real answers do not have, and the keys the client
//! relies on present).

mod graph_support;

use std::collections::BTreeMap;
use std::path::Path;

use glasskey::graph::emulator::State;
use glasskey::graph::policy::{preflight, Fido2Policy};
use glasskey::graph::signins::{SignIn, SignInActivity};
use glasskey::graph::types::{CreationOptions, Fido2Method};
use glasskey::graph::ApiVersion;
use graph_support::*;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/graph")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn creation_options_fixtures_parse() {
    let o = CreationOptions::from_value(fixture("creation-options.v1-docs.json")).unwrap();
    assert_eq!(o.rp_id, "login.microsoftonline.com");
    assert_eq!(o.user_handle, b"david@contoso.com");
    assert_eq!(o.algorithms, vec![-7]);
    assert!(o.exclude_credentials.is_empty());
    // Nulls where the docs allow them: no excludeCredentials, no extensions, no names.
    let mut v = fixture("creation-options.v1-docs.json");
    v["publicKey"]["excludeCredentials"] = Value::Null;
    v["publicKey"]["extensions"] = Value::Null;
    v["publicKey"]["user"]["displayName"] = Value::Null;
    v["publicKey"]["unknownFutureProperty"] = serde_json::json!({"x": 1});
    let o = CreationOptions::from_value(v).unwrap();
    assert!(o.exclude_credentials.is_empty() && o.user_display_name.is_empty());
}

#[test]
fn method_fixtures_parse() {
    let list = fixture("fido2-methods.v1-list-docs.json");
    let methods: Vec<Fido2Method> = serde_json::from_value(list["value"].clone()).unwrap();
    assert_eq!(methods.len(), 2);
    assert_eq!(
        methods[0].created_date_time.as_deref(),
        Some("2020-08-10T06:44:09Z")
    );
    let posted: Fido2Method =
        serde_json::from_value(fixture("fido2-method.v1-post-201-docs.json")).unwrap();
    assert_eq!(posted.passkey_type.as_deref(), Some("deviceBound"));
    let nulls: Fido2Method =
        serde_json::from_value(fixture("fido2-method.beta-nulls.json")).unwrap();
    assert!(nulls.aa_guid.is_none() && nulls.attestation_certificates.is_empty());
    assert_eq!(nulls.passkey_type.as_deref(), Some("unknownFutureValue"));
}

#[test]
fn policy_fixtures_parse_and_preflight() {
    let aaguid = "ee882879-721c-4913-9775-3dfcce97072a".parse().unwrap();
    let docs: Fido2Policy = serde_json::from_value(fixture("fido2-policy.v1-docs.json")).unwrap();
    assert_eq!(docs.state, "disabled");
    let live: Fido2Policy =
        serde_json::from_value(fixture("fido2-policy.v1-live-profiles.json")).unwrap();
    assert_eq!(live.passkey_profiles.len(), 2);
    let verdict = preflight(&live, &[], aaguid, true);
    assert!(verdict.allowed, "{verdict:?}");
    assert_eq!(
        verdict.admitted_by.as_deref(),
        Some("Default passkey profile")
    );
    assert!(verdict.attestation_enforced);
    let nulls: Fido2Policy = serde_json::from_value(fixture("fido2-policy.nulls.json")).unwrap();
    assert!(nulls.passkey_profiles.is_empty() && nulls.exclude_targets.is_empty());
    let kr = nulls.key_restrictions.clone().unwrap();
    assert!(kr.aa_guids.is_empty() && kr.enforcement_type.is_empty());
    // Reverted profiles: the legacy fields govern again.
    let verdict = preflight(&nulls, &[], aaguid, false);
    assert!(verdict.allowed, "{verdict:?}");
    assert_eq!(verdict.admitted_by.as_deref(), Some("legacy policy"));
}

#[test]
fn sign_in_fixtures_parse() {
    for name in ["signins.beta-docs.json", "signins.v1-docs.json"] {
        let v = fixture(name);
        let list: Vec<SignIn> =
            serde_json::from_value(v["value"].clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(list.len(), 1);
        assert!(
            !list[0].is_fido2_proof(),
            "{name}: a password sign-in is no proof"
        );
        assert!(list[0].time().is_some());
    }
    let mut s: SignIn =
        serde_json::from_value(fixture("signins.v1-docs.json")["value"][0].clone()).unwrap();
    assert!(s.succeeded());
    let details = fixture("signin.fido2-authdetails-capture.json");
    s.authentication_details =
        serde_json::from_value(details["authenticationDetails"].clone()).unwrap();
    assert!(s.is_fido2_proof());
    let a: SignInActivity = serde_json::from_value(serde_json::json!({
        "@odata.type": "#microsoft.graph.signInActivity",
        "lastSignInDateTime": "2026-01-01T00:00:00Z", "lastSignInRequestId": null,
        "lastNonInteractiveSignInDateTime": null, "lastSuccessfulSignInDateTime": null}))
    .unwrap();
    assert!(a.last_successful_sign_in_date_time.is_none());
}

/// JSON type names by path (`a.b[]` for array items; `@odata.*` ignored).
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !path.is_empty() && kind != "null" {
        out.insert(path.to_string(), kind);
    } else if !path.is_empty() {
        out.entry(path.to_string()).or_insert("null");
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.starts_with("@odata") || k.contains("@odata.") {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                shape(x, &p, out);
            }
        }
        Value::Array(items) => {
            for x in items {
                shape(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// Every key the emulator answers with exists in some real answer, with a
/// compatible type (null matches anything: the docs make these nullable);
/// and each of `required` is present.
fn same_shape(what: &str, emulated: &Value, real: &[Value], required: &[&str]) {
    let mut have = BTreeMap::new();
    shape(emulated, "", &mut have);
    let mut known = BTreeMap::new();
    for r in real {
        shape(r, "", &mut known);
    }
    for (path, kind) in &have {
        match known.get(path) {
            None => panic!("{what}: the emulator answers `{path}`, which no real answer has"),
            Some(k) if *k != *kind && *k != "null" && *kind != "null" => {
                panic!("{what}: `{path}` is {kind} in the emulator, {k} in real answers")
            }
            _ => {}
        }
    }
    for r in required {
        assert!(have.contains_key(*r), "{what}: the emulator omits `{r}`");
    }
}

#[test]
fn emulator_answers_have_the_real_shapes() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let bg1 = "bg1@contoso.onmicrosoft.com";
    let key = SoftKey::new(glasskey::aaguid::Aaguid::virtual_model(1).0);
    // creationOptions, then a registration, so methods and excludeCredentials exist.
    let user = client.user(bg1).unwrap();
    let options = client.creation_options(&user.id, None).unwrap();
    let cdj = options.client_data_json();
    let (cred, ao) = key.make_credential(&options.rp_id, &cdj, Attest::None, true);
    let body = glasskey::graph::types::registration_body("BG1 key A", &cred, &cdj, &ao);
    client.register(&user.id, &body).unwrap();
    let path = format!("/users/{}/authentication/fido2Methods", user.id);
    let opts = client
        .raw_get(ApiVersion::V1, &format!("{path}/creationOptions"))
        .unwrap();
    same_shape(
        "creationOptions",
        &opts,
        &[
            fixture("creation-options.v1-docs.json"),
            dsi_creation_options_shape(),
        ],
        &[
            "challengeTimeoutDateTime",
            "publicKey.rp.id",
            "publicKey.challenge",
            "publicKey.user.id",
            "publicKey.excludeCredentials[].id",
        ],
    );
    let list = client.raw_get(ApiVersion::V1, &path).unwrap();
    let real_methods = [
        fixture("fido2-methods.v1-list-docs.json"),
        serde_json::json!({"value": [fixture("fido2-method.v1-post-201-docs.json")]}),
    ];
    same_shape(
        "fido2Methods",
        &list,
        &real_methods,
        &["value[].id", "value[].aaGuid", "value[].createdDateTime"],
    );
    let beta_list = client.raw_get(ApiVersion::Beta, &path).unwrap();
    let beta_real = [
        serde_json::json!({"value": [fixture("fido2-method.beta-nulls.json"), fixture("fido2-method.v1-post-201-docs.json")]}),
    ];
    same_shape(
        "beta fido2Methods",
        &beta_list,
        &beta_real,
        &["value[].lastUsedDateTime"],
    );
    let policy = client
        .raw_get(
            ApiVersion::V1,
            "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2",
        )
        .unwrap();
    same_shape(
        "fido2 policy",
        &policy,
        &[
            fixture("fido2-policy.v1-docs.json"),
            fixture("fido2-policy.v1-live-profiles.json"),
        ],
        &[
            "passkeyProfiles[].id",
            "includeTargets[].allowedPasskeyProfiles",
            "keyRestrictions.aaGuids",
        ],
    );
    emu.with_world(|w| {
        w.state.sign_ins.clear();
    });
    control(
        &emu,
        serde_json::json!({"addSignIn": {"userPrincipalName": bg1}}),
    );
    let signins = client
        .raw_get(ApiVersion::Beta, "/auditLogs/signIns")
        .unwrap();
    let mut real_signin = fixture("signins.beta-docs.json");
    real_signin["value"][0]["authenticationDetails"] =
        fixture("signin.fido2-authdetails-capture.json")["authenticationDetails"].clone();
    same_shape(
        "signIns",
        &signins,
        &[real_signin, fixture("signins.v1-docs.json")],
        &[
            "value[].authenticationDetails[].authenticationMethod",
            "value[].status.errorCode",
            "value[].correlationId",
            "value[].ipAddress",
        ],
    );
}

/// The key set of the live beta creationOptions capture in DSInternals'
/// fixture (MichaelGrafnetter/webauthn-interop,
/// `Src/DSInternals.Win32.WebAuthn.Tests/MicrosoftGraphWebauthnCredentialCreationOptionsTester.cs`),
/// values shortened: the challenge is ~7 KB there.
fn dsi_creation_options_shape() -> Value {
    serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.webauthnCredentialCreationOptions",
        "challengeTimeoutDateTime": "2023-09-05T12:16:23Z",
        "publicKey": {
            "challenge": "ZXlK", "timeout": 60000, "attestation": "direct",
            "rp": {"id": "login.microsoft.com", "name": "Microsoft"},
            "user": {"id": "T0Y6", "displayName": "John Doe", "name": "john@contoso.com"},
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "excludeCredentials": [{"id": "AAAA", "type": "public-key", "transports": ["usb"]}],
            "authenticatorSelection": {"authenticatorAttachment": "cross-platform", "requireResidentKey": true, "userVerification": "required"},
            "extensions": {"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": true, "credentialProtectionPolicy": "userVerificationOptional"}
        }
    })
}
