//! The FIDO Metadata Service BLOB: the real one from mds.fidoalliance.org
//! (tests/vectors/mds, see PROVENANCE.md), tampered copies, the spec's example
//! under its own test root, and small BLOBs minted here with a test root, as
//! the virtual models mint their attestation roots.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use serde_json::json;

use glasskey::aaguid::Aaguid;
use glasskey::attestation::mds::{
    self, import, mds_roots, predict_entra, refuse_security_notice, verify_blob, EntraPrediction,
};
use glasskey::attestation::{verify_attestation, Policy, Trust, TrustStore};
use glasskey::ceremony::key_fit::{blob_findings, mds_verdict};
use glasskey::webauthn::AttestationObject;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn real_blob() -> Vec<u8> {
    std::fs::read(vectors().join("mds/real/blob.jwt")).unwrap()
}

fn day(s: &str) -> time::Date {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
}

const YUBIKEY5_NFC: &str = "2fc0579f-8113-47ea-b116-bb5a8db9202a";

#[test]
fn the_real_blob_verifies_as_of_its_own_date_under_globalsign() {
    let blob = verify_blob(&real_blob(), &mds_roots()).unwrap();
    assert_eq!(blob.no, 23);
    assert_eq!(blob.next_update, "2023-02-01");
    // The signing certificate expired in 2023; the BLOB is judged as of its own newest date.
    assert_eq!(blob.as_of, "2023-01-24");
    assert!(
        blob.signer.contains("mds.fidoalliance.org"),
        "{}",
        blob.signer
    );
    assert!(blob.root.contains("GlobalSign Root CA - R3"));
    assert!(
        blob.entries.len() > 50 && blob.entries.len() <= 148,
        "{}",
        blob.entries.len()
    );
    let yk = blob
        .entry(&YUBIKEY5_NFC.parse().unwrap())
        .expect("YubiKey 5 NFC is in MDS");
    assert!(yk.certified());
    assert!(yk.security_notice().is_none());
    assert!(!yk.attestation_roots.is_empty());
    assert!(blob.stale_at(day("2026-01-01")) && !blob.stale_at(day("2023-01-15")));
}

#[test]
fn import_stores_the_blob_and_numbers_never_go_backwards() {
    let kit = tempfile::tempdir().unwrap();
    let real = vectors().join("mds/real/blob.jwt");
    let done = import(kit.path(), &real, day("2026-12-02")).unwrap();
    assert_eq!((done.no, done.previous_no), (23, None));
    assert!(
        done.stale,
        "past nextUpdate 2023-02-01: a warning, not a refusal"
    );
    assert!(kit.path().join(mds::KIT_BLOB).is_file());
    assert_eq!(mds::load(kit.path()).unwrap().unwrap().no, 23);
    // The same BLOB again is fine.
    import(kit.path(), &real, day("2026-12-02")).unwrap();
    // The later BLOB (no 25, with broken entries skipped, not fatal).
    let later = import(
        kit.path(),
        &vectors().join("mds/real/blob-with-errors.jwt"),
        day("2026-12-02"),
    )
    .unwrap();
    assert_eq!((later.no, later.previous_no), (25, Some(23)));
    // Back to no 23: refused, the stored BLOB kept.
    let e = import(kit.path(), &real, day("2026-12-02")).unwrap_err();
    assert!(e.what.contains("never go backwards"), "{}", e.what);
    assert_eq!(e.exit_code(), 1);
    assert_eq!(mds::load(kit.path()).unwrap().unwrap().no, 25);
    // A stored BLOB altered on disk is refused when loaded.
    let stored = kit.path().join(mds::KIT_BLOB);
    let mut bytes = std::fs::read(&stored).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    std::fs::write(&stored, bytes).unwrap();
    assert!(mds::load(kit.path()).is_err());
}

#[test]
fn a_tampered_payload_or_a_chain_to_another_root_is_refused() {
    let good = String::from_utf8(real_blob()).unwrap();
    let dot = good.find('.').unwrap();
    // Flip one byte of the payload (a base64url character in its middle).
    let mut flipped = good.clone().into_bytes();
    let at = dot + 1 + (good.len() - dot) / 3;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    let e = verify_blob(&flipped, &mds_roots()).unwrap_err();
    assert!(e.what.contains("signature"), "{}", e.what);

    // The spec's example BLOB chains to its own test root, not to GlobalSign.
    let example = std::fs::read(vectors().join("mds/spec-example/blob.jwt")).unwrap();
    let e = verify_blob(&example, &mds_roots()).unwrap_err();
    assert!(e.what.contains("does not chain"), "{}", e.what);
    // And the real BLOB does not chain to the example's root.
    let mut other = TrustStore::empty();
    other
        .add_root_pem(
            "example root",
            &std::fs::read_to_string(vectors().join("mds/spec-example/root.crt")).unwrap(),
        )
        .unwrap();
    assert!(verify_blob(&real_blob(), &other).is_err());
}

#[test]
fn a_real_yubikey5_attestation_is_trusted_through_the_blob_and_says_so() {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            vectors().join("attestation/webauthn-rs-packed-yubikey5-nfc.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let obj = AttestationObject::parse(&hex(v["attestationObject_hex"].as_str().unwrap())).unwrap();
    let cdh: [u8; 32] = hex(v["clientDataHash_hex"].as_str().unwrap())
        .try_into()
        .unwrap();
    let aaguid: Aaguid = YUBIKEY5_NFC.parse().unwrap();

    // Without the BLOB an empty store trusts nothing.
    let mut store = TrustStore::empty();
    let r = verify_attestation(&obj, &cdh, &store, &Policy::default(), SystemTime::now()).unwrap();
    assert!(!r.accepted());

    let blob = verify_blob(&real_blob(), &mds_roots()).unwrap();
    assert!(blob.add_roots_for(&aaguid, &mut store) > 0);
    let r = verify_attestation(&obj, &cdh, &store, &Policy::default(), SystemTime::now()).unwrap();
    assert!(r.accepted(), "{:?}", r.problems);
    match &r.trust {
        Trust::Anchor(a) => assert!(a.label.starts_with("FIDO MDS BLOB no 23"), "{}", a.label),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        predict_entra(Some(&blob), &aaguid),
        EntraPrediction::Accepts
    );
    let verdict = mds_verdict(Some(&blob), &aaguid).unwrap();
    assert!(verdict.model_name.is_some());
}

/// A test root and a signing leaf, minted here (P-256), and a BLOB signed ES256 with them.
struct TestMds {
    root_pem: String,
    leaf_der: Vec<u8>,
    leaf_key: p256::ecdsa::SigningKey,
}

fn mint() -> TestMds {
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        "glasskey test MDS root (not the FIDO Alliance)",
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let root = ca.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(ca, root_key);
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "glasskey test MDS signer");
    leaf.is_ca = IsCa::ExplicitNoCa;
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    TestMds {
        root_pem: root.pem(),
        leaf_der: cert.der().to_vec(),
        leaf_key: p256::ecdsa::SigningKey::from_pkcs8_der(&leaf_key.serialize_der()).unwrap(),
    }
}

impl TestMds {
    fn store(&self) -> TrustStore {
        let mut s = TrustStore::empty();
        s.add_root_pem("test MDS root", &self.root_pem).unwrap();
        s
    }

    fn sign(&self, payload: &serde_json::Value) -> Vec<u8> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = json!({"alg": "ES256", "typ": "JWT",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.leaf_der)]});
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let sig: p256::ecdsa::Signature = self.leaf_key.sign(signed.as_bytes());
        format!("{signed}.{}", b64(&sig.to_bytes())).into_bytes()
    }
}

fn entry(aaguid: &str, status: &str) -> serde_json::Value {
    json!({
        "aaguid": aaguid,
        "metadataStatement": {"description": "Test Key Model", "aaguid": aaguid, "attestationRootCertificates": []},
        "statusReports": [
            {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2022-01-10"},
            {"status": status, "effectiveDate": "2024-03-01"}
        ],
        "timeOfLastStatusChange": "2024-03-01"
    })
}

#[test]
fn a_model_with_a_security_notice_is_refused_before_the_key_is_touched_and_alerts_the_audit() {
    let t = mint();
    let revoked = "11111111-2222-4333-8444-555555555555";
    let fine = "66666666-2222-4333-8444-555555555555";
    let payload = json!({"legalHeader": "test", "no": 7, "nextUpdate": "2099-01-01",
        "entries": [entry(revoked, "REVOKED"), entry(fine, "UPDATE_AVAILABLE"), {"aaid": "4e4e#4005"}, 42]});
    let blob = verify_blob(&t.sign(&payload), &t.store()).unwrap();
    assert_eq!(blob.entries.len(), 2);
    assert_eq!(
        blob.skipped, 1,
        "the junk entry is skipped, the UAF one ignored"
    );
    // The minted BLOB is not trusted under the real MDS root.
    assert!(verify_blob(&t.sign(&payload), &mds_roots()).is_err());

    let bad: Aaguid = revoked.parse().unwrap();
    let e = refuse_security_notice(Some(&blob), &bad).unwrap_err();
    assert!(
        e.what.contains("REVOKED") && e.what.contains("Test Key Model"),
        "{}",
        e.what
    );
    assert_eq!(e.exit_code(), 1);
    assert!(mds_verdict(Some(&blob), &bad).is_err());
    assert!(matches!(
        predict_entra(Some(&blob), &bad),
        EntraPrediction::Refuses { .. }
    ));
    let ok: Aaguid = fine.parse().unwrap();
    assert!(refuse_security_notice(Some(&blob), &ok).is_ok());
    assert_eq!(predict_entra(Some(&blob), &ok), EntraPrediction::Accepts);
    let v = mds_verdict(Some(&blob), &ok).unwrap();
    assert_eq!(
        v.model_name.as_deref(),
        Some("Test Key Model"),
        "named from the BLOB"
    );
    let unknown: Aaguid = "77777777-2222-4333-8444-555555555555".parse().unwrap();
    assert!(matches!(
        predict_entra(Some(&blob), &unknown),
        EntraPrediction::Refuses { .. }
    ));
    assert!(matches!(
        predict_entra(None, &unknown),
        EntraPrediction::Unknown { .. }
    ));

    for status in [
        "ATTESTATION_KEY_COMPROMISE",
        "USER_VERIFICATION_BYPASS",
        "USER_KEY_REMOTE_COMPROMISE",
        "USER_KEY_PHYSICAL_COMPROMISE",
    ] {
        let p = json!({"no": 8, "nextUpdate": "2099-01-01", "entries": [entry(revoked, status)]});
        let b = verify_blob(&t.sign(&p), &t.store()).unwrap();
        assert!(refuse_security_notice(Some(&b), &bad).is_err(), "{status}");
    }

    let keys = vec![
        ("bg1-vault".to_string(), bad, "m".to_string()),
        ("bg1-safe".to_string(), ok, "m".to_string()),
    ];
    let findings = blob_findings(&blob, &keys, day("2026-12-02"));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].alert && findings[0].subject == "bg1-vault");
    assert!(findings[0].message.contains("security notice"));
    let stale = blob_findings(&blob, &keys[1..], day("2099-06-01"));
    assert!(stale.len() == 1 && !stale[0].alert, "{stale:?}");
}

/// The spec's example BLOB is signed (ES256) by certificates issued in 2021,
/// after every date inside it (nextUpdate 2020-03-30): its signature verifies,
/// but as of its own date its chain was not valid yet, so it is refused even
/// under its own root — the rule that lets the real, since-expired BLOB pass.
#[test]
fn the_spec_example_is_judged_as_of_its_own_date_under_its_own_root() {
    let example = std::fs::read(vectors().join("mds/spec-example/blob.jwt")).unwrap();
    let mut store = TrustStore::empty();
    store
        .add_root_pem(
            "example root",
            &std::fs::read_to_string(vectors().join("mds/spec-example/root.crt")).unwrap(),
        )
        .unwrap();
    let e = verify_blob(&example, &store).unwrap_err();
    assert!(
        e.what.contains("as of 2019-01-04") && !e.what.contains("signature is invalid"),
        "{}",
        e.what
    );
}

/// Models the shipped catalogue does not know are named by the kit's BLOB, in `keys list`,
/// `keys info`, enrollment and `attest verify` alike.
#[test]
fn a_model_missing_from_the_catalogue_is_named_by_the_blob() {
    use glasskey::ceremony::keys::{model_name, model_name_with};
    let blob = verify_blob(&real_blob(), &mds_roots()).unwrap();
    let unnamed = blob
        .entries
        .iter()
        .find(|e| model_name(&e.aaguid).is_none() && e.description.is_some())
        .expect("the real BLOB names models the catalogue lacks");
    assert_eq!(model_name_with(&unnamed.aaguid, None), None);
    assert_eq!(
        model_name_with(&unnamed.aaguid, Some(&blob)),
        unnamed.description
    );
    // The catalogue's own name wins where it has one.
    let yk: Aaguid = YUBIKEY5_NFC.parse().unwrap();
    assert_eq!(model_name_with(&yk, Some(&blob)), model_name(&yk));
}

/// `attest verify` reads the kit's BLOB: the model's status is reported (JSON `mds`).
#[test]
fn attest_verify_reports_what_the_kits_blob_says_of_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let kit = tmp.path().join("kit");
    std::fs::create_dir_all(&kit).unwrap();
    today_import(&kit);
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            vectors().join("attestation/webauthn-rs-packed-yubikey5-nfc.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let obj = tmp.path().join("att.b64");
    let cbor = hex_bytes(v["attestationObject_hex"].as_str().unwrap());
    std::fs::write(
        &obj,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cbor),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .args(["--kit", kit.to_str().unwrap(), "--json", "attest", "verify"])
        .arg("--attestation-object")
        .arg(&obj)
        .args([
            "--client-data-hash",
            v["clientDataHash_hex"].as_str().unwrap(),
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["accepted"], true, "{json}");
    assert_eq!(json["mds"]["description"], "YubiKey 5 Series with NFC");
    assert_eq!(json["mds"]["security_notice"], false);
    assert!(json["mds"]["latest_status"]
        .as_str()
        .is_some_and(|s| s.starts_with("FIDO_CERTIFIED")));
}

fn today_import(kit: &Path) {
    import(kit, &vectors().join("mds/real/blob.jwt"), day("2026-12-02")).unwrap();
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
