//! Our CTAP2 client against glasskey's own virtual key, in process, through the
//! same Transport seam real keys use: the flows the ceremonies depend on.

use glasskey::ctap::command::permission;
use glasskey::ctap::credman::CredentialManagement;
use glasskey::ctap::get_assertion::{get_assertion, GetAssertionRequest};
use glasskey::ctap::make_credential::{
    make_credential, CredProtect, MakeCredentialRequest, RelyingParty, User,
};
use glasskey::ctap::{pin, CtapError, Device, Status};
use glasskey::secret::Pin;
use glasskey::virtual_key::{self, ModelId, PresenceMode};
use p256::ecdsa::signature::Verifier;

fn open_virtual(model: ModelId, presence: PresenceMode) -> (tempfile::TempDir, Device) {
    let dir = tempfile::tempdir().unwrap();
    virtual_key::create_key(&dir.path().join("vk.json"), model, presence).expect("create");
    let mut keys = virtual_key::open_dir(dir.path()).expect("open_dir");
    assert_eq!(keys.len(), 1);
    let dev = Device::open(keys.remove(0).transport).expect("INIT + getInfo");
    (dir, dev)
}

#[test]
fn virtual_key_enrolls_asserts_and_manages_credentials() {
    let (_dir, mut dev) = open_virtual(ModelId::A, PresenceMode::Approve);
    assert!(dev.info().aaguid.is_virtual());
    let p = Pin::new("246810".into());
    let protocol = dev.info().preferred_pin_protocol().unwrap();
    pin::set_pin(&mut dev, protocol, &p).expect("setPIN");
    dev.refresh_info().unwrap();
    let t = pin::get_token(
        &mut dev,
        &p,
        permission::MAKE_CREDENTIAL,
        Some("login.microsoft.com"),
    )
    .unwrap();
    let req = MakeCredentialRequest {
        client_data_hash: [3; 32],
        rp: Some(RelyingParty {
            id: "login.microsoft.com".into(),
            name: None,
        }),
        user: Some(User {
            id: b"bg1".to_vec(),
            name: Some("bg1@contoso.com".into()),
            display_name: None,
        }),
        algorithms: vec![-7],
        exclude_list: vec![],
        resident_key: true,
        cred_protect: Some(CredProtect::UserVerificationRequired),
        hmac_secret: true,
    };
    let cred = make_credential(&mut dev, &req, Some(&t)).expect("makeCredential");
    assert!(cred.attestation.auth_data.flags.user_verified());
    assert_eq!(cred.attestation.auth_data.cred_protect(), Some(3));

    let t = pin::get_token(
        &mut dev,
        &p,
        permission::GET_ASSERTION,
        Some("login.microsoft.com"),
    )
    .unwrap();
    let ga = GetAssertionRequest {
        rp_id: "login.microsoft.com".into(),
        client_data_hash: [4; 32],
        allow_list: vec![cred.credential_id.clone()],
        up: None,
        uv: None,
    };
    let a = get_assertion(&mut dev, &ga, Some(&t)).expect("getAssertion");
    let key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&cred.public_key.sec1_uncompressed().unwrap())
            .unwrap();
    let sig = p256::ecdsa::Signature::from_der(&a.signature).unwrap();
    assert!(key.verify(&a.signed_message(&[4; 32]), &sig).is_ok());

    let t = pin::get_token(&mut dev, &p, permission::CREDENTIAL_MANAGEMENT, None).unwrap();
    let mut cm = CredentialManagement::new(&mut dev, &t).unwrap();
    let rps = cm.rps().unwrap();
    assert_eq!(rps.len(), 1);
    let creds = cm.credentials(&rps[0].rp_id_hash).unwrap();
    assert_eq!(creds[0].credential_id, cred.credential_id);
    cm.delete(&cred.credential_id).unwrap();
    assert!(cm.rps().unwrap().is_empty());

    let wrong = pin::get_token(
        &mut dev,
        &Pin::new("000000".into()),
        permission::GET_ASSERTION,
        None,
    );
    assert!(
        matches!(wrong, Err(CtapError::PinInvalid { retries: Some(_) })),
        "{wrong:?}"
    );
}

#[test]
fn virtual_key_without_touch_times_out_like_a_real_one() {
    let (_dir, mut dev) = open_virtual(ModelId::B, PresenceMode::Deny { wait_ms: 300 });
    let req = MakeCredentialRequest {
        client_data_hash: [3; 32],
        rp: Some(RelyingParty {
            id: "x.test".into(),
            name: None,
        }),
        user: Some(User {
            id: vec![1],
            name: None,
            display_name: None,
        }),
        ..Default::default()
    };
    let err = make_credential(&mut dev, &req, None).unwrap_err();
    assert_eq!(err.status(), Some(Status::UserActionTimeout), "{err}");
}
