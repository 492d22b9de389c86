//! What real keys do that software keys did not: CTAP 2.0 and 2.1-PRE keys,
//! bio keys, small limits, PIN complexity policies. Decided from real getInfo
//! captures (tests/vectors/getinfo, see PROVENANCE.md) and exercised end to end
//! on the virtual key's profiles over CTAPHID.

use ciborium::Value;
use serde_json::json;

use glasskey::ceremony::key::KeySession;
use glasskey::ceremony::key_fit::{assess, check_applied, plan_creation};
use glasskey::ceremony::pin_gen::{generate_fitting_pin, pin_fits, PinAlphabet};
use glasskey::ctap::cbor::{bytes, encode, int, map, text};
use glasskey::ctap::command::permission;
use glasskey::ctap::credman::CredentialManagement;
use glasskey::ctap::exclude;
use glasskey::ctap::get_assertion::{get_assertion, GetAssertionRequest};
use glasskey::ctap::info::firmware_display;
use glasskey::ctap::make_credential::{
    make_credential, CredProtect, MakeCredentialRequest, RelyingParty, User,
};
use glasskey::ctap::pin::{self, token_route, TokenRoute};
use glasskey::ctap::pin_rules::PinRules;
use glasskey::ctap::reset::ResetHints;
use glasskey::ctap::{CtapCommand, CtapError, Device, Info, Status};
use glasskey::graph::types::CreationOptions;
use glasskey::secret::Pin;
use glasskey::virtual_key::{create_key_with_profile, open_dir, ModelId, PresenceMode, Profile};

fn vector(name: &str) -> Info {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/getinfo")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap()
        .trim();
    let raw: Vec<u8> = (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
        .collect();
    Info::from_cbor(&raw).unwrap()
}

const CTAP20: &str = "python-fido2-getinfo-security-key-by-yubico.cbor.hex";
const CTAP21PRE: &str = "libfido2-fuzz-getinfo-ctap21pre-aaguid-1956e5bd.cbor.hex";
const CTAP23: &str = "libfido2-fuzz-getinfo-ctap23-SEMISYNTHETIC.cbor.hex";

/// Entra's creationOptions (the shape Graph returns), with a chosen credProtect request.
fn options(policy: &str, enforce: bool, exclude: &[Vec<u8>]) -> CreationOptions {
    let ex: Vec<_> = exclude
        .iter()
        .map(|id| json!({"type": "public-key", "id": glasskey::webauthn::b64::encode(id)}))
        .collect();
    CreationOptions::from_value(json!({
        "challengeTimeoutDateTime": "2099-01-01T00:00:00Z",
        "publicKey": {
            "rp": {"id": "login.microsoft.com", "name": "Microsoft"},
            "user": {"id": "T0Y6MTIz", "name": "bg1@contoso.onmicrosoft.com", "displayName": "BG 1"},
            "challenge": "Y2hhbGxlbmdl",
            "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
            "excludeCredentials": ex,
            "authenticatorSelection": {"requireResidentKey": true, "userVerification": "required"},
            "attestation": "direct",
            "extensions": {"hmacCreateSecret": true, "enforceCredentialProtectionPolicy": enforce, "credentialProtectionPolicy": policy}
        }
    }))
    .unwrap()
}

#[test]
fn a_ctap20_security_key_by_yubico_is_fit_for_what_entra_asks() {
    let info = vector(CTAP20);
    let fit = assess(&info);
    assert!(fit.problems.is_empty(), "{:?}", fit.problems);
    assert!(
        fit.notes.iter().any(|n| n.contains("credProtect")),
        "{:?}",
        fit.notes
    );
    // Entra's own request: userVerificationOptional, enforced. Nothing to refuse, nothing missing.
    let plan = plan_creation(&info, &options("userVerificationOptional", true, &[])).unwrap();
    assert_eq!(plan.cred_protect, None);
    assert!(plan.not_applied.is_empty(), "{:?}", plan.not_applied);
    assert!(plan.hmac_secret);
    assert_eq!(plan.token_route, TokenRoute::LegacyPin);
    // A stricter, enforced level cannot be met by a 2.0 key: refused before the key is touched.
    let e = plan_creation(&info, &options("userVerificationRequired", true, &[])).unwrap_err();
    assert!(e.what.contains("credProtect"), "{}", e.what);
    // Not enforced: go ahead and say what was not applied.
    let plan = plan_creation(&info, &options("userVerificationRequired", false, &[])).unwrap();
    assert_eq!(plan.not_applied.len(), 1);
    assert!(plan.not_applied[0].contains("credProtect level 3"));
    // No maxMsgSize-free defaults here: the key says 1200; no count, so one id per probe.
    assert_eq!(info.effective_max_msg_size(), 1200);
    let ids: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 64]).collect();
    assert_eq!(exclude::chunks(&info, "login.microsoft.com", &ids).len(), 5);
}

#[test]
fn a_ctap21_pre_key_uses_prototype_credmgmt_and_names_its_algorithms() {
    let info = vector(CTAP21PRE);
    assert_eq!(
        info.cred_mgmt_command(),
        Some(CtapCommand::CredentialManagementPreview)
    );
    assert!(!info.is_ctap21());
    assert_eq!(info.algorithm_names(), vec!["ES256", "EdDSA"]);
    assert_eq!(
        token_route(&info, permission::CREDENTIAL_MANAGEMENT).unwrap(),
        TokenRoute::LegacyPin
    );
    let ids: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 64]).collect();
    let c = exclude::chunks(&info, "login.microsoft.com", &ids);
    assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![8, 8, 4]);
    let plan = plan_creation(&info, &options("userVerificationRequired", true, &[])).unwrap();
    assert_eq!(
        plan.cred_protect,
        Some(CredProtect::UserVerificationRequired)
    );
}

#[test]
fn ctap22_getinfo_fields_drive_reset_hints_and_pin_rules() {
    let info = vector(CTAP23);
    assert!(info.is_ctap21());
    assert_eq!(info.pin_complexity_policy, Some(true));
    assert_eq!(info.max_pin_len(), 63);
    assert_eq!(info.transports_for_reset, vec!["usb", "smart-card"]);
    let hints = ResetHints::of(&info);
    assert!(hints.long_touch && !hints.usb_refused);
    assert!(hints.touch_instruction().contains("hold"));
    assert_eq!(info.algorithm_names(), vec!["ES256", "EdDSA", "ES384"]);
    let rules = PinRules::of(&info);
    assert!(rules.complexity);
    assert!(pin_fits(&Pin::new("123456".into()), &info).is_err());
    assert!(pin_fits(&Pin::new("5718293046".into()), &info).is_ok());
    for _ in 0..500 {
        let pin = generate_fitting_pin(&rules, 6, PinAlphabet::Digits).unwrap();
        pin_fits(&pin, &info).unwrap();
    }
    assert_eq!(
        token_route(&info, permission::MAKE_CREDENTIAL).unwrap(),
        TokenRoute::PinWithPermissions
    );
    // A 2.0 capture says nothing of these: no complexity, CTAP's 63.
    let old = vector(CTAP20);
    assert!(!PinRules::of(&old).complexity);
    assert!(!ResetHints::of(&old).long_touch);
}

#[test]
fn firmware_is_shown_as_the_vendor_writes_it() {
    assert_eq!(firmware_display(0x050403, Some("Yubico")), "5.4.3");
    assert_eq!(firmware_display(0x050704, Some("Yubico")), "5.7.4");
    assert_eq!(firmware_display(1, Some("Token2")), "1");
}

fn bio_info(uv: bool, no_mcga: bool, nfc_only_reset: bool) -> Info {
    let mut m = vec![
        (int(1), Value::Array(vec![text("FIDO_2_1")])),
        (int(3), bytes(&[9; 16])),
        (
            int(4),
            map(vec![
                (text("rk"), Value::Bool(true)),
                (text("clientPin"), Value::Bool(true)),
                (text("pinUvAuthToken"), Value::Bool(true)),
                (text("uv"), Value::Bool(uv)),
                (text("bioEnroll"), Value::Bool(uv)),
                (text("uvBioEnroll"), Value::Bool(true)),
                (text("alwaysUv"), Value::Bool(true)),
                (text("noMcGaPermissionsWithClientPin"), Value::Bool(no_mcga)),
            ]),
        ),
        (int(6), Value::Array(vec![int(2), int(1)])),
    ];
    if nfc_only_reset {
        m.push((int(0x1a), Value::Array(vec![text("nfc")])));
    }
    Info::from_cbor(&encode(&map(m))).unwrap()
}

#[test]
fn bio_keys_route_tokens_through_built_in_uv_when_the_pin_may_not_grant_mc_ga() {
    let info = bio_info(true, true, false);
    assert_eq!(
        token_route(&info, permission::MAKE_CREDENTIAL).unwrap(),
        TokenRoute::BuiltInUv
    );
    assert_eq!(
        token_route(&info, permission::CREDENTIAL_MANAGEMENT).unwrap(),
        TokenRoute::PinWithPermissions
    );
    assert!(token_route(&bio_info(false, true, false), permission::GET_ASSERTION).is_err());
    let fit = assess(&info);
    assert!(fit
        .problems
        .iter()
        .any(|p| p.contains("noMcGaPermissionsWithClientPin")));
    assert!(fit.notes.iter().any(|n| n.contains("alwaysUv")));
    let fine = assess(&bio_info(true, false, false));
    assert!(fine.problems.is_empty(), "{:?}", fine.problems);
    assert!(ResetHints::of(&bio_info(true, false, true)).usb_refused);
}

#[test]
fn a_key_may_apply_a_stricter_cred_protect_than_asked_but_not_a_weaker_one() {
    let info = vector(CTAP23);
    let plan = plan_creation(
        &info,
        &options("userVerificationOptionalWithCredentialIDList", true, &[]),
    )
    .unwrap();
    assert!(check_applied(&plan, Some(2)).is_ok());
    assert!(check_applied(&plan, Some(3)).is_ok());
    assert!(check_applied(&plan, Some(1)).is_err());
    assert!(check_applied(&plan, None).is_err());
    let lax = plan_creation(&info, &options("userVerificationOptional", true, &[])).unwrap();
    assert!(check_applied(&lax, None).is_ok());
}

// ---- end to end on the virtual key's profiles ----

fn open(profile: Profile, model: ModelId) -> (tempfile::TempDir, Device) {
    let dir = tempfile::tempdir().unwrap();
    create_key_with_profile(
        &dir.path().join("vk.json"),
        model,
        profile,
        PresenceMode::Approve,
    )
    .unwrap();
    let t = open_dir(dir.path()).unwrap().remove(0).transport;
    (dir, Device::open(t).unwrap())
}

const PIN: &str = "5718293046";

fn with_pin(dev: &mut Device) -> Pin {
    let p = Pin::new(PIN.into());
    glasskey::ceremony::keys::set_pin(dev, &p).unwrap();
    p
}

/// A non-discoverable credential for the Entra RP, made with the PIN.
fn credential(dev: &mut Device, pin: &Pin, cred_protect: Option<CredProtect>) -> Vec<u8> {
    let token = pin::get_token(
        dev,
        pin,
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
            id: vec![1, 2, 3],
            name: None,
            display_name: None,
        }),
        algorithms: vec![-7],
        cred_protect,
        ..Default::default()
    };
    make_credential(dev, &req, Some(&token))
        .unwrap()
        .credential_id
}

#[test]
fn exclude_lists_are_probed_in_chunks_and_only_the_match_is_sent() {
    let (_d, mut dev) = open(Profile::SmallLimits, ModelId::A);
    assert_eq!(dev.info().max_msg_size, None);
    assert_eq!(dev.info().effective_max_msg_size(), 1024);
    let pin = with_pin(&mut dev);
    // credProtect 3: only a probe with the PIN token can see it.
    let held = credential(&mut dev, &pin, Some(CredProtect::UserVerificationRequired));
    let mut entra: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i; 48]).collect();
    entra.extend((0..5u8).map(|i| vec![i; 200])); // longer than maxCredentialIdLength 64
    entra.insert(23, held.clone());

    // Sent whole, as glasskey used to: the key refuses the list.
    let token = pin::get_token(
        &mut dev,
        &pin,
        permission::MAKE_CREDENTIAL | permission::GET_ASSERTION,
        Some("login.microsoft.com"),
    )
    .unwrap();
    let whole = GetAssertionRequest {
        rp_id: "login.microsoft.com".into(),
        client_data_hash: [0; 32],
        allow_list: entra[..12].to_vec(),
        up: Some(false),
        uv: None,
    };
    match get_assertion(&mut dev, &whole, Some(&token)) {
        Err(CtapError::Status(Status::LimitExceeded)) => {}
        other => panic!("a list over maxCredentialCountInList must be refused: {other:?}"),
    }

    let found = exclude::filter(&mut dev, "login.microsoft.com", &entra, Some(&token)).unwrap();
    assert_eq!(found.matched, Some(held.clone()));
    assert_eq!(found.dropped_too_long, 5);
    assert_eq!(
        found.probes, 3,
        "31 ids in chunks of 8: the match is in the third"
    );
    assert_eq!(found.exclude_list(), vec![held]);

    let others: Vec<Vec<u8>> = (40..60u8).map(|i| vec![i; 48]).collect();
    let none = exclude::filter(&mut dev, "login.microsoft.com", &others, Some(&token)).unwrap();
    assert_eq!(none.matched, None);
    assert_eq!(none.probes, 3);
}

#[test]
fn enrollment_follows_creation_options_through_the_exclude_list_on_every_profile() {
    for profile in Profile::ALL {
        let (_d, dev) = open(profile, ModelId::B);
        let mut key = KeySession::new("vk", dev);
        assert!(
            key.fitness_problems().is_empty(),
            "{profile}: {:?}",
            key.fitness_problems()
        );
        let pin = generate_fitting_pin(&PinRules::of(key.device_info()), 10, PinAlphabet::Digits)
            .unwrap();
        key.set_pin(&pin).unwrap();
        let many: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 32]).collect();
        let made = key
            .make_credential(
                &pin,
                &options("userVerificationOptional", true, &many),
                &[7; 32],
            )
            .unwrap_or_else(|e| panic!("{profile}: {e}"));
        assert!(
            made.not_applied.is_empty(),
            "{profile}: {:?}",
            made.not_applied
        );
        // Entra now lists the new credential: the key holds it, so it is excluded.
        let mut again = many.clone();
        again.push(made.credential_id.clone());
        let e = key
            .make_credential(
                &pin,
                &options("userVerificationOptional", true, &again),
                &[8; 32],
            )
            .err()
            .unwrap_or_else(|| panic!("{profile}: a held credential must be excluded"));
        assert!(e.what.contains("excluded"), "{profile}: {}", e.what);
    }
}

#[test]
fn a_ctap20_profile_key_is_driven_with_protocol_1_and_get_pin_token() {
    let (_d, mut dev) = open(Profile::Ctap20, ModelId::A);
    assert_eq!(dev.info().versions, vec!["U2F_V2", "FIDO_2_0"]);
    assert_eq!(dev.info().pin_uv_auth_protocols, vec![1]);
    assert!(!dev.info().supports_extension("credProtect"));
    assert_eq!(dev.info().cred_mgmt_command(), None);
    let pin = with_pin(&mut dev);
    let token = pin::get_token(&mut dev, &pin, permission::MAKE_CREDENTIAL, None).unwrap();
    assert_eq!(token.protocol().number(), 1);
    // The 2.1 token command does not exist on a 2.0 key.
    let e = pin::get_pin_uv_auth_token(
        &mut dev,
        glasskey::ctap::pin_protocol::PinProtocol::V1,
        &pin,
        permission::MAKE_CREDENTIAL,
        None,
    )
    .unwrap_err();
    assert_eq!(e.status(), Some(Status::InvalidSubcommand));
    let mut key = KeySession::new("vk", dev);
    let made = key
        .make_credential(
            &pin,
            &options("userVerificationOptionalWithCredentialIDList", false, &[]),
            &[1; 32],
        )
        .unwrap();
    assert_eq!(made.cred_protect, None);
    assert_eq!(made.not_applied.len(), 1, "{:?}", made.not_applied);
}

#[test]
fn a_ctap21_pre_profile_key_manages_credentials_with_the_prototype_command() {
    let (_d, mut dev) = open(Profile::Ctap21Pre, ModelId::A);
    assert_eq!(
        dev.info().cred_mgmt_command(),
        Some(CtapCommand::CredentialManagementPreview)
    );
    let pin = with_pin(&mut dev);
    let token = pin::get_token(&mut dev, &pin, permission::CREDENTIAL_MANAGEMENT, None).unwrap();
    let mut cm = CredentialManagement::new(&mut dev, &token).unwrap();
    let meta = cm.metadata().unwrap();
    assert_eq!(meta.existing, 0);
    assert!(meta.max_remaining > 0);
}

#[test]
fn a_bio_profile_key_grants_tokens_after_built_in_uv() {
    let (_d, mut dev) = open(Profile::Bio, ModelId::A);
    assert!(dev.info().has_builtin_uv());
    assert_eq!(dev.info().uv_modality, Some(2));
    assert_eq!(dev.info().option("uvBioEnroll"), Some(true));
    let _pin = with_pin(&mut dev);
    let protocol = dev.info().preferred_pin_protocol().unwrap();
    let token = pin::get_uv_token(
        &mut dev,
        protocol,
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
            id: vec![1],
            name: None,
            display_name: None,
        }),
        algorithms: vec![-7],
        resident_key: true,
        ..Default::default()
    };
    let made = make_credential(&mut dev, &req, Some(&token)).unwrap();
    assert!(
        made.attestation.auth_data.flags.0 & 0x04 != 0,
        "UV flag set"
    );
}

#[test]
fn a_strict_pin_profile_key_refuses_weak_pins_and_takes_generated_ones() {
    let (_d, mut dev) = open(Profile::StrictPin, ModelId::A);
    assert_eq!(dev.info().pin_complexity_policy, Some(true));
    let protocol = dev.info().preferred_pin_protocol().unwrap();
    for weak in ["123456", "111123", "321123", "ABCDEFGHJK"] {
        let e = pin::set_pin(&mut dev, protocol, &Pin::new(weak.into())).unwrap_err();
        assert_eq!(e.status(), Some(Status::PinPolicyViolation), "{weak}");
        assert!(
            pin_fits(&Pin::new(weak.into()), dev.info()).is_err(),
            "{weak}"
        );
    }
    let good =
        generate_fitting_pin(&PinRules::of(dev.info()), 10, PinAlphabet::Unambiguous).unwrap();
    pin::set_pin(&mut dev, protocol, &good).unwrap();
}
