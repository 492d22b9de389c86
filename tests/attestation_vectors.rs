//! glasskey's own verifier against real captures in tests/vectors/ (see their
//! README for which must pass and why the others must fail).

use std::time::{Duration, SystemTime};

use glasskey::attestation::certs::Cert;
use glasskey::attestation::keys::SigAlg;
use glasskey::attestation::{
    verify_assertion, verify_attestation, AttestError, Counter, Policy, Trust, TrustStore,
};
use glasskey::webauthn::{cbor_raw, AttestationObject};
use sha2::{Digest, Sha256};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

fn json(rel: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{DIR}/{rel}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn field(v: &serde_json::Value, name: &str) -> Vec<u8> {
    unhex(v[name].as_str().unwrap_or_else(|| panic!("{name} missing")))
}

/// 2026-01-01T00:00:00Z: inside every production certificate's validity.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn attestation(name: &str) -> (AttestationObject, [u8; 32]) {
    let v = json(&format!("attestation/{name}.json"));
    let obj = AttestationObject::parse(&field(&v, "attestationObject_hex")).unwrap();
    let cdh: [u8; 32] = field(&v, "clientDataHash_hex").try_into().unwrap();
    (obj, cdh)
}

const YUBICO_VALID: &[&str] = &[
    "webauthn-rs-packed-yubikey5-nfc",
    "webauthn-rs-packed-yubikey5-nfc-credprotect3",
    "py_webauthn-packed-yubico-security-key-nfc",
    "SimpleWebAuthn-attestationPackedX5C",
];

#[test]
fn yubico_packed_vectors_chain_to_the_yubico_u2f_root() {
    let store = TrustStore::production();
    for name in YUBICO_VALID {
        let (obj, cdh) = attestation(name);
        let r = verify_attestation(&obj, &cdh, &store, &Policy::default(), now()).unwrap();
        assert!(r.accepted(), "{name}: {:?}", r.problems);
        assert!(r.signature_verified, "{name}");
        match &r.trust {
            Trust::Anchor(a) => {
                assert_eq!(
                    a.label, "vendor-attestation/yubico-u2f-root-ca-serial-457200631.pem",
                    "{name}"
                );
                assert_eq!(
                    a.sha256,
                    "0fa1386f80eb8713263ae5c1d84deb455bdf08aea50ab05503cefee82b092d42"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(r.certificate_aaguid, Some(r.aaguid), "{name}");
        assert_eq!(
            r.model.as_ref().map(|m| m.vendor.as_str()),
            Some("Yubico"),
            "{name}"
        );
        // The fingerprint is of the leaf exactly as the key sent it.
        let leaf = obj.x5c().unwrap()[0].to_vec();
        let want: String = Sha256::digest(&leaf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(r.certificate_sha256.as_deref(), Some(want.as_str()));
    }
}

#[test]
fn yubikey5_is_named_by_the_catalogue() {
    let (obj, cdh) = attestation("webauthn-rs-packed-yubikey5-nfc");
    let r = verify_attestation(
        &obj,
        &cdh,
        &TrustStore::production(),
        &Policy::default(),
        now(),
    )
    .unwrap();
    assert_eq!(r.aaguid.to_string(), "2fc0579f-8113-47ea-b116-bb5a8db9202a");
    assert!(r.model.unwrap().model.contains("YubiKey 5"));
}

#[test]
fn validity_dates_are_checked_against_the_given_time() {
    let (obj, cdh) = attestation("webauthn-rs-packed-yubikey5-nfc");
    let store = TrustStore::production();
    // The Yubico root and leaf end in September 2050.
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(2_600_000_000);
    let r = verify_attestation(&obj, &cdh, &store, &Policy::default(), later).unwrap();
    assert!(!r.accepted());
    assert!(matches!(r.trust, Trust::Untrusted { .. }), "{:?}", r.trust);
    assert!(r.signature_verified, "the signature itself does not expire");
}

#[test]
fn an_empty_store_trusts_nothing() {
    let (obj, cdh) = attestation("webauthn-rs-packed-yubikey5-nfc");
    let r =
        verify_attestation(&obj, &cdh, &TrustStore::empty(), &Policy::default(), now()).unwrap();
    assert!(!r.accepted());
    let lenient = Policy {
        allow_unknown_root: true,
        ..Policy::default()
    };
    let r = verify_attestation(&obj, &cdh, &TrustStore::empty(), &lenient, now()).unwrap();
    assert!(r.accepted(), "{:?}", r.problems);
    assert!(matches!(r.trust, Trust::Untrusted { .. }));
}

#[test]
fn preview_and_test_batch_vectors_verify_but_do_not_chain() {
    let store = TrustStore::production();
    for name in [
        "python-fido2-packed-yubico-preview",
        "libfido2-regress-makecred-enterprise-attestation-fido-test-batch",
        "go-webauthn-packed-solo2-nfc-usbc",
    ] {
        let (obj, cdh) = attestation(name);
        let r = verify_attestation(&obj, &cdh, &store, &Policy::default(), now()).unwrap();
        assert!(r.signature_verified, "{name}: {:?}", r.problems);
        assert!(!r.accepted(), "{name} must not be accepted");
        assert!(
            matches!(r.trust, Trust::Untrusted { .. }),
            "{name}: {:?}",
            r.trust
        );
    }
}

#[test]
fn solo2_eddsa_vector_has_a_broken_signature() {
    // This Solo 2 firmware gets two things wrong: its COSE key uses text labels
    // ("OKP", "Ed25519"), so the attestation object is refused as unreadable, and
    // its attestation signature does not verify. Check both.
    let v = json("attestation/webauthn-rs-packed-solo2-nfc-usba-eddsa-BROKEN-sig.json");
    let bytes = field(&v, "attestationObject_hex");
    let cdh = field(&v, "clientDataHash_hex");
    assert!(AttestationObject::parse(&bytes).is_err());

    let (mut auth_data, mut sig, mut leaf) = (None, None, None);
    for (k, val) in cbor_raw::map_entries(&bytes).unwrap() {
        let key: ciborium::Value = ciborium::de::from_reader(k).unwrap();
        match key.as_text() {
            Some("authData") => auth_data = Some(cbor_raw::bytes_content(val).unwrap().to_vec()),
            Some("attStmt") => {
                let stmt: ciborium::Value = ciborium::de::from_reader(val).unwrap();
                for (sk, sv) in stmt.as_map().unwrap() {
                    match sk.as_text() {
                        Some("sig") => sig = sv.as_bytes().cloned(),
                        Some("x5c") => leaf = sv.as_array().unwrap()[0].as_bytes().cloned(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut signed = auth_data.unwrap();
    signed.extend_from_slice(&cdh);
    let key = Cert::from_der(&leaf.unwrap())
        .unwrap()
        .public_key()
        .unwrap();
    assert!(key
        .verify(SigAlg::EcdsaSha256, &signed, &sig.unwrap())
        .is_err());
}

#[test]
fn formats_entra_does_not_take_are_refused_with_a_reason() {
    for (name, fmt) in [
        ("webauthn-rs-tpm-windows-hello-rsa", "tpm"),
        ("webauthn-rs-none-solokey-v1", "none"),
        ("SimpleWebAuthn-attestationFIDOU2F", "fido-u2f"),
    ] {
        let (obj, cdh) = attestation(name);
        let e = verify_attestation(
            &obj,
            &cdh,
            &TrustStore::production(),
            &Policy::default(),
            now(),
        )
        .unwrap_err();
        match &e {
            AttestError::RefusedFormat { fmt: f, reason } => {
                assert_eq!(f, fmt);
                assert!(!reason.is_empty());
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(glasskey::Error::from(e).exit_code(), 1);
    }
}

#[test]
fn wrong_client_data_hash_fails() {
    let (obj, mut cdh) = attestation("webauthn-rs-packed-yubikey5-nfc");
    cdh[31] ^= 1;
    let r = verify_attestation(
        &obj,
        &cdh,
        &TrustStore::production(),
        &Policy::default(),
        now(),
    )
    .unwrap();
    assert!(!r.signature_verified && !r.accepted());
}

#[test]
fn flipping_any_byte_of_a_valid_attestation_fails() {
    let store = TrustStore::production();
    for name in [
        "webauthn-rs-packed-yubikey5-nfc",
        "SimpleWebAuthn-attestationPackedX5C",
    ] {
        let v = json(&format!("attestation/{name}.json"));
        let bytes = field(&v, "attestationObject_hex");
        let cdh: [u8; 32] = field(&v, "clientDataHash_hex").try_into().unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let accepted = match AttestationObject::parse(&bad) {
                Err(_) => false,
                Ok(obj) => verify_attestation(&obj, &cdh, &store, &Policy::default(), now())
                    .map(|r| r.accepted())
                    .unwrap_or(false),
            };
            assert!(
                !accepted,
                "{name}: flipping byte {i} of {} still verified",
                bytes.len()
            );
        }
    }
}

// ---- assertions ----

fn assertion_parts(name: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let v = json(&format!("assertions/{name}.json"));
    (
        field(&v, "credentialPublicKey_cose_hex"),
        field(&v, "authenticatorData_hex"),
        field(&v, "clientDataHash_hex"),
        field(&v, "signature_hex"),
    )
}

const ES256_ASSERTIONS: &[&str] = &[
    "SimpleWebAuthn-should-return-user-verified-flag-after-successful-auth",
    "libfido2-regress-assert-es256",
    "py_webauthn-test-verify-authentication-response-with-ec2-public-key",
    "python-fido2-assertion-es256-security-key-by-yubico",
    "webauthn-rs-authentication-yubikey5",
];

#[test]
fn es256_assertions_verify_and_any_flipped_byte_fails() {
    for name in ES256_ASSERTIONS {
        let (key, ad, cdh, sig) = assertion_parts(name);
        verify_assertion(&key, &ad, &cdh, &sig).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (part, bytes) in [
            ("authData", &ad),
            ("clientDataHash", &cdh),
            ("signature", &sig),
        ] {
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0x80;
                let (a, c, s) = match part {
                    "authData" => (&bad, &cdh, &sig),
                    "clientDataHash" => (&ad, &bad, &sig),
                    _ => (&ad, &cdh, &bad),
                };
                assert!(
                    verify_assertion(&key, a, c, s).is_err(),
                    "{name}: {part} byte {i} flipped still verified"
                );
            }
        }
    }
}

#[test]
fn assertion_facts_expose_flags_counter_and_rp() {
    let (key, ad, cdh, sig) = assertion_parts("libfido2-regress-assert-es256");
    let f = verify_assertion(&key, &ad, &cdh, &sig).unwrap();
    assert!(
        !f.user_present && !f.user_verified,
        "libfido2's vector has UP=0"
    );
    assert_eq!(f.sign_count, 3);
    assert!(f.rp_id_matches("localhost"));
    assert!(!f.rp_id_matches("example.com"));
    assert_eq!(f.counter_against(2), Counter::Advanced);
    assert_eq!(f.counter_against(3), Counter::DidNotAdvance);

    let (key, ad, cdh, sig) = assertion_parts("webauthn-rs-authentication-yubikey5");
    let f = verify_assertion(&key, &ad, &cdh, &sig).unwrap();
    assert!(f.user_present);
}

#[test]
fn eddsa_assertion_is_refused_by_name() {
    let (key, ad, cdh, sig) = assertion_parts("python-fido2-assertion-eddsa-unattributed");
    match verify_assertion(&key, &ad, &cdh, &sig) {
        Err(AttestError::UnsupportedAlgorithm(m)) => assert!(m.contains("EdDSA"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn assertion_with_another_key_fails() {
    let (_, ad, cdh, sig) = assertion_parts("webauthn-rs-authentication-yubikey5");
    let (other_key, ..) = assertion_parts("libfido2-regress-assert-es256");
    assert!(matches!(
        verify_assertion(&other_key, &ad, &cdh, &sig),
        Err(AttestError::SignatureInvalid(_))
    ));
}
