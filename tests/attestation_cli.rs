//! Drives the `glasskey attest verify` binary for its exit codes: 0 valid,
//! 1 the answer is no, 2 unreadable input or no client data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use ciborium::Value;
use glasskey::aaguid::Aaguid;
use glasskey::webauthn::CoseKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest, Sha256};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/attestation");

fn vector(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{VECTORS}/{name}.json")).unwrap())
        .unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn glasskey(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .args([
            "--kit",
            dir.join("kit").to_str().unwrap(),
            "attest",
            "verify",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn genuine_yubikey_base64url_with_client_data_json_exits_0_and_names_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let v = vector("webauthn-rs-packed-yubikey5-nfc");
    let obj = write(
        dir.path(),
        "att.b64",
        v["attestationObject_b64url"].as_str().unwrap().as_bytes(),
    );
    let cd = write(
        dir.path(),
        "cd.json",
        v["clientDataJSON"].as_str().unwrap().as_bytes(),
    );
    let o = glasskey(
        dir.path(),
        &["--attestation-object", &obj, "--client-data-json", &cd],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("Yubico") && out.contains("YubiKey 5"), "{out}");
    assert!(out.contains("Yubico U2F Root CA Serial 457200631"), "{out}");
}

#[test]
fn raw_cbor_and_ctap2_map_with_hash_exit_0_and_json_says_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let v = vector("py_webauthn-packed-yubico-security-key-nfc");
    let raw = unhex(v["attestationObject_hex"].as_str().unwrap());
    let cdh = v["clientDataHash_hex"].as_str().unwrap();
    let obj = write(dir.path(), "att.cbor", &raw);
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &obj,
            "--client-data-hash",
            cdh,
            "--json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["accepted"], true);
    assert_eq!(j["trust"]["kind"], "anchor");
    assert_eq!(j["aaguid"], "6d44ba9b-f6ec-2e49-b930-0c8fe920cb73");

    // The same statement as a CTAP2 makeCredential response {1: fmt, 2: authData, 3: attStmt}.
    let parsed: Value = ciborium::de::from_reader(raw.as_slice()).unwrap();
    let get = |k: &str| {
        parsed
            .as_map()
            .unwrap()
            .iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .unwrap()
            .1
            .clone()
    };
    let ctap = Value::Map(vec![
        (Value::Integer(1.into()), get("fmt")),
        (Value::Integer(2.into()), get("authData")),
        (Value::Integer(3.into()), get("attStmt")),
    ]);
    let mut bytes = vec![0x00]; // CTAP2_OK status byte, as read off the wire
    ciborium::ser::into_writer(&ctap, &mut bytes).unwrap();
    let obj = write(dir.path(), "ctap.cbor", &bytes);
    let o = glasskey(
        dir.path(),
        &["--attestation-object", &obj, "--client-data-hash", cdh],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn answers_that_are_no_exit_1_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (name, needle) in [
        ("python-fido2-packed-yubico-preview", "no trusted root"),
        (
            "libfido2-regress-makecred-enterprise-attestation-fido-test-batch",
            "no trusted root",
        ),
        (
            "webauthn-rs-tpm-windows-hello-rsa",
            "platform authenticator",
        ),
        ("webauthn-rs-none-solokey-v1", "no attestation"),
        ("SimpleWebAuthn-attestationFIDOU2F", "U2F"),
    ] {
        let v = vector(name);
        let obj = write(
            dir.path(),
            "att.cbor",
            &unhex(v["attestationObject_hex"].as_str().unwrap()),
        );
        let cdh = v["clientDataHash_hex"].as_str().unwrap();
        let o = glasskey(
            dir.path(),
            &["--attestation-object", &obj, "--client-data-hash", cdh],
        );
        assert_eq!(code(&o), 1, "{name}: {}", text(&o));
        assert!(text(&o).contains(needle), "{name}: {}", text(&o));
    }
    // A genuine statement against the wrong client data.
    let v = vector("webauthn-rs-packed-yubikey5-nfc");
    let obj = write(
        dir.path(),
        "att.cbor",
        &unhex(v["attestationObject_hex"].as_str().unwrap()),
    );
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &obj,
            "--client-data-hash",
            &"00".repeat(32),
        ],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("signature is invalid"), "{}", text(&o));
}

#[test]
fn unreadable_input_or_missing_client_data_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let v = vector("webauthn-rs-packed-yubikey5-nfc");
    let obj = write(
        dir.path(),
        "att.cbor",
        &unhex(v["attestationObject_hex"].as_str().unwrap()),
    );
    let o = glasskey(dir.path(), &["--attestation-object", &obj]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("cannot be verified"), "{}", text(&o));

    let junk = write(dir.path(), "junk", b"this is not an attestation");
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &junk,
            "--client-data-hash",
            &"00".repeat(32),
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));

    let o = glasskey(
        dir.path(),
        &["--attestation-object", &obj, "--client-data-hash", "abc"],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));

    let missing = dir.path().join("nope").to_string_lossy().into_owned();
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &missing,
            "--client-data-hash",
            &"00".repeat(32),
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));

    // Truncated CBOR.
    let raw = unhex(v["attestationObject_hex"].as_str().unwrap());
    let cut = write(dir.path(), "cut.cbor", &raw[..raw.len() / 2]);
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &cut,
            "--client-data-hash",
            &"00".repeat(32),
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
}

/// A minted root and a packed attestation under it, as a deployment's own root would be.
fn minted(dir: &Path) -> (String, String, String) {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root = CertificateParams::default();
    root.distinguished_name = rcgen::DistinguishedName::new();
    root.distinguished_name
        .push(DnType::CommonName, "Deployment Root");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_cert = root.self_signed(&root_key).unwrap();
    let issuer = Issuer::new(root, root_key);
    let leaf_kp = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    leaf.distinguished_name.push(DnType::CommonName, "Leaf");
    leaf.is_ca = IsCa::ExplicitNoCa;
    let aaguid = Aaguid::virtual_model(2);
    let mut ext = vec![0x04, 0x10];
    ext.extend_from_slice(&aaguid.0);
    leaf.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
        ext,
    )];
    let leaf_cert = leaf.signed_by(&leaf_kp, &issuer).unwrap();
    let leaf_key = p256::ecdsa::SigningKey::from_pkcs8_der(&leaf_kp.serialize_der()).unwrap();

    let cred = p256::ecdsa::SigningKey::from_pkcs8_der(
        &KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_der(),
    )
    .unwrap();
    let pt = cred.verifying_key().to_sec1_point(false);
    let cose = CoseKey::Ec2 {
        alg: Some(-7),
        crv: 1,
        x: pt.x().unwrap().to_vec(),
        y: pt.y().unwrap().to_vec(),
    };
    let mut ad = Sha256::digest(b"login.microsoft.com").to_vec();
    ad.push(0x45);
    ad.extend_from_slice(&0u32.to_be_bytes());
    ad.extend_from_slice(&aaguid.0);
    ad.extend_from_slice(&4u16.to_be_bytes());
    ad.extend_from_slice(&[9; 4]);
    ad.extend_from_slice(&cose.to_cbor());
    let client_data = br#"{"type":"webauthn.create","challenge":"AAAA","origin":"https://login.microsoft.com","crossOrigin":false}"#;
    let mut msg = ad.clone();
    msg.extend_from_slice(&Sha256::digest(client_data));
    let sig: p256::ecdsa::DerSignature = leaf_key.sign(&msg);
    let obj = Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("packed".into())),
        (
            Value::Text("attStmt".into()),
            Value::Map(vec![
                (Value::Text("alg".into()), Value::Integer((-7).into())),
                (
                    Value::Text("sig".into()),
                    Value::Bytes(sig.as_bytes().to_vec()),
                ),
                (
                    Value::Text("x5c".into()),
                    Value::Array(vec![Value::Bytes(leaf_cert.der().to_vec())]),
                ),
            ]),
        ),
        (Value::Text("authData".into()), Value::Bytes(ad)),
    ]);
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(&obj, &mut cbor).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cbor);
    (
        write(dir, "minted.b64", b64.as_bytes()),
        write(dir, "minted-cd.json", client_data),
        format!("# Deployment root, added by hand\n{}", root_cert.pem()),
    )
}

#[test]
fn extra_roots_come_from_trust_root_flags_or_the_kit_roots_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (obj, cd, root_pem) = minted(dir.path());
    let o = glasskey(
        dir.path(),
        &["--attestation-object", &obj, "--client-data-json", &cd],
    );
    assert_eq!(code(&o), 1, "unknown root: {}", text(&o));

    let root = write(dir.path(), "root.pem", root_pem.as_bytes());
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &obj,
            "--client-data-json",
            &cd,
            "--trust-root",
            &root,
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("glasskey virtual model B"),
        "{}",
        text(&o)
    );

    let roots = dir.path().join("kit/roots");
    std::fs::create_dir_all(&roots).unwrap();
    std::fs::write(roots.join("deployment.pem"), &root_pem).unwrap();
    let o = glasskey(
        dir.path(),
        &["--attestation-object", &obj, "--client-data-json", &cd],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));

    let bad = write(dir.path(), "bad.pem", b"not a certificate");
    let o = glasskey(
        dir.path(),
        &[
            "--attestation-object",
            &obj,
            "--client-data-json",
            &cd,
            "--trust-root",
            &bad,
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
}
