//! Split-ceremony bundles: what the offline side may build, and what reading
//! refuses (format, tenant, account, AAGUID, clientDataJSON, expiry).

mod graph_support;

use glasskey::aaguid::Aaguid;
use glasskey::graph::bundle::{
    response_item, Account, KeyFacts, RequestBundle, RequestItem, ResponseBundle,
};
use glasskey::graph::emulator::State;
use glasskey::graph::types::client_data_json;
use glasskey::graph::GraphError;
use graph_support::*;

fn facts(a: Aaguid) -> KeyFacts {
    KeyFacts {
        aaguid: a,
        model: None,
        serial: None,
        label: None,
        extra: Default::default(),
    }
}

fn request(client: &glasskey::graph::GraphClient, minutes: Option<u32>) -> RequestBundle {
    let user = client.user("bg1@contoso.onmicrosoft.com").unwrap();
    let o = client.creation_options(&user.id, minutes).unwrap();
    RequestBundle::new(
        DEMO_TENANT,
        vec![RequestItem {
            account: Account {
                id: user.id,
                user_principal_name: user.user_principal_name,
            },
            creation_options: o.raw,
            graph_version: None,
        }],
    )
}

fn input_error(r: Result<impl std::fmt::Debug, GraphError>, needle: &str) {
    match r {
        Err(GraphError::Input { what, next }) => {
            assert!(what.contains(needle) && !next.is_empty(), "{what}")
        }
        other => panic!("expected an input error mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn request_bundle_round_trip_and_refusals() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("REQ.json");
    let b = request(&client, Some(30));
    assert_eq!(
        b.items[0].version(),
        glasskey::graph::ApiVersion::Beta,
        "read from @odata.context"
    );
    assert_eq!(
        request(&client, None).items[0].version(),
        glasskey::graph::ApiVersion::V1
    );
    b.write(&path).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let back = RequestBundle::read(&path, Some("CONTOSO.onmicrosoft.com"), now).unwrap();
    assert_eq!(
        back.items[0].creation_options, b.items[0].creation_options,
        "creationOptions kept verbatim"
    );
    input_error(
        RequestBundle::read(&path, Some("fabrikam.onmicrosoft.com"), now),
        "tenant",
    );
    input_error(
        RequestBundle::read(&path, None, now + time::Duration::minutes(31)),
        "expired",
    );

    let mut wrong = b.clone();
    wrong.format = "glasskey-request/2".into();
    input_error(wrong.validate(None, now), "format");
    let mut wrong = b.clone();
    wrong.items[0].account.user_principal_name = "bg2@contoso.onmicrosoft.com".into();
    input_error(wrong.validate(None, now), "different user");
    let mut wrong = b.clone();
    wrong.items[0].creation_options["publicKey"]["challenge"] = "***".into();
    input_error(wrong.validate(None, now), "not usable");
    std::fs::write(&path, b"not json").unwrap();
    input_error(RequestBundle::read(&path, None, now), "not a valid bundle");
    input_error(
        RequestBundle::read(&dir.path().join("missing.json"), None, now),
        "missing.json",
    );
}

#[test]
fn response_items_are_checked_when_built_and_when_read() {
    let emu = start(State::demo());
    let client = app_client(&emu);
    let req = request(&client, None);
    let item = &req.items[0];
    let o = item.options().unwrap();
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let cdj = o.client_data_json();
    let (id, ao) = key.make_credential(&o.rp_id, &cdj, Attest::Packed, true);

    let wrong_origin = client_data_json(&o.challenge, "login.microsoftonline.com");
    input_error(
        response_item(
            item,
            &ao,
            &id,
            &wrong_origin,
            "k",
            facts(Aaguid::virtual_model(1)),
        ),
        "clientDataJSON",
    );
    input_error(
        response_item(item, &ao, &id, &cdj, "k", facts(Aaguid::virtual_model(2))),
        "AAGUID",
    );
    input_error(
        response_item(
            item,
            &ao,
            &id,
            &cdj,
            &"x".repeat(31),
            facts(Aaguid::virtual_model(1)),
        ),
        "display name",
    );
    input_error(
        response_item(item, &ao, &[], &cdj, "k", facts(Aaguid::virtual_model(1))),
        "credential id",
    );

    let good = response_item(
        item,
        &ao,
        &id,
        &cdj,
        "BG1 key A",
        facts(Aaguid::virtual_model(1)),
    )
    .unwrap();
    assert_eq!(good.credential_id().unwrap(), id);
    assert_eq!(good.version(), glasskey::graph::ApiVersion::V1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("RESP.json");
    ResponseBundle::new(DEMO_TENANT, vec![good.clone()])
        .write(&path)
        .unwrap();
    let back = ResponseBundle::read(&path, Some(DEMO_TENANT)).unwrap();
    assert_eq!(
        back.items[0].fido2_method, good.fido2_method,
        "the POST body is carried exactly"
    );
    assert!(back
        .expired_items(time::OffsetDateTime::now_utc())
        .is_empty());
    assert_eq!(
        back.expired_items(time::OffsetDateTime::now_utc() + time::Duration::minutes(6))
            .len(),
        1
    );

    let mut tampered = back.clone();
    tampered.items[0].key.aaguid = Aaguid::virtual_model(2);
    input_error(tampered.validate(None), "different AAGUID");
    let mut tampered = back.clone();
    tampered.items[0].fido2_method["publicKeyCredential"]["response"]["clientDataJSON"] =
        "a+b/==".into();
    input_error(tampered.validate(None), "base64url");
    let mut tampered = back;
    tampered.items[0].account.id.clear();
    input_error(tampered.validate(None), "incomplete account");
}
