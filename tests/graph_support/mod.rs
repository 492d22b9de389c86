//! Test helpers for the graph tests: a small software authenticator that mints
//! packed attestation (rcgen root + leaf with the AAGUID extension, p256 keys),
//! and a signed-in client for the emulator.
#![allow(dead_code)]

use glasskey::graph::emulator::{Emulator, EmulatorHandle, State};
use glasskey::graph::http::RetryPolicy;
use glasskey::graph::{Credentials, Endpoints, GraphClient, TokenSource};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::DecodePrivateKey;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use sha2::Digest;
use std::time::Duration;
use zeroize::Zeroizing;

pub const DEMO_TENANT: &str = "contoso.onmicrosoft.com";
pub const DEMO_CLIENT: &str = "11111111-1111-1111-1111-111111111111";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attest {
    /// packed with x5c from this key's root.
    Packed,
    /// packed, signed by the credential key itself (no x5c).
    Surrogate,
    None,
}

pub struct SoftKey {
    pub aaguid: [u8; 16],
    root_pem: String,
    leaf_der: Vec<u8>,
    leaf_key: SigningKey,
}

impl SoftKey {
    pub fn new(aaguid: [u8; 16]) -> SoftKey {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name = rcgen::DistinguishedName::new();
        // Distinct subjects: verifiers find the issuer by name.
        let mut tag = [0u8; 4];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut tag);
        ca.distinguished_name.push(
            DnType::CommonName,
            format!("Graph Test FIDO Root CA {tag:02x?}"),
        );
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in [
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Test Vendor"),
            (DnType::OrganizationalUnitName, "Authenticator Attestation"),
            (DnType::CommonName, "Graph Test Key"),
        ] {
            leaf.distinguished_name.push(t, v);
        }
        leaf.is_ca = IsCa::ExplicitNoCa;
        let mut ext = vec![0x04, 0x10];
        ext.extend_from_slice(&aaguid);
        leaf.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
            ext,
        )];
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        SoftKey {
            aaguid,
            root_pem: ca_cert.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            leaf_key: SigningKey::from_pkcs8_der(&leaf_key.serialize_der()).unwrap(),
        }
    }

    pub fn root_pem(&self) -> String {
        self.root_pem.clone()
    }

    /// makeCredential for `rp_id` over `client_data_json`: (credential id, attestationObject).
    pub fn make_credential(
        &self,
        rp_id: &str,
        client_data_json: &[u8],
        attest: Attest,
        uv: bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let cred_key = SigningKey::generate_from_rng(&mut rand::rng());
        let mut cred_id = vec![0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut cred_id);
        let pt = cred_key.verifying_key().to_sec1_point(false);
        let cose = ciborium::Value::Map(vec![
            (1.into(), 2.into()),
            (3.into(), (-7).into()),
            ((-1).into(), 1.into()),
            (
                (-2).into(),
                ciborium::Value::Bytes(pt.x().unwrap().to_vec()),
            ),
            (
                (-3).into(),
                ciborium::Value::Bytes(pt.y().unwrap().to_vec()),
            ),
        ]);
        let mut auth = sha2::Sha256::digest(rp_id.as_bytes()).to_vec();
        auth.push(0x41 | if uv { 0x04 } else { 0 });
        auth.extend_from_slice(&0u32.to_be_bytes());
        auth.extend_from_slice(&self.aaguid);
        auth.extend_from_slice(&(cred_id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&cred_id);
        ciborium::ser::into_writer(&cose, &mut auth).unwrap();
        let mut signed = auth.clone();
        signed.extend_from_slice(&sha2::Sha256::digest(client_data_json));
        let att_stmt = match attest {
            Attest::None => ciborium::Value::Map(vec![]),
            Attest::Packed => {
                let sig: DerSignature = self.leaf_key.sign(&signed);
                ciborium::Value::Map(vec![
                    ("alg".into(), (-7).into()),
                    (
                        "sig".into(),
                        ciborium::Value::Bytes(sig.as_bytes().to_vec()),
                    ),
                    (
                        "x5c".into(),
                        ciborium::Value::Array(vec![ciborium::Value::Bytes(self.leaf_der.clone())]),
                    ),
                ])
            }
            Attest::Surrogate => {
                let sig: DerSignature = cred_key.sign(&signed);
                ciborium::Value::Map(vec![
                    ("alg".into(), (-7).into()),
                    (
                        "sig".into(),
                        ciborium::Value::Bytes(sig.as_bytes().to_vec()),
                    ),
                ])
            }
        };
        let fmt = if attest == Attest::None {
            "none"
        } else {
            "packed"
        };
        let ao = ciborium::Value::Map(vec![
            ("fmt".into(), fmt.into()),
            ("attStmt".into(), att_stmt),
            ("authData".into(), ciborium::Value::Bytes(auth)),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&ao, &mut out).unwrap();
        (cred_id, out)
    }
}

/// Short waits so retry tests run quickly.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
        min_throttle_wait: Duration::from_secs(1),
    }
}

pub fn start(state: State) -> EmulatorHandle {
    Emulator::start(state, "127.0.0.1:0").expect("emulator starts")
}

pub fn endpoints(emu: &EmulatorHandle) -> Endpoints {
    Endpoints::new(&emu.base_url(), &emu.base_url()).unwrap()
}

/// An app-only client signed in with the demo secret.
pub fn app_client(emu: &EmulatorHandle) -> GraphClient {
    let creds = Credentials::ClientSecret {
        client_id: DEMO_CLIENT.into(),
        secret: Zeroizing::new("emulator-secret".into()),
    };
    let token = TokenSource::new(endpoints(emu), DEMO_TENANT, creds)
        .acquire(&mut |_| {})
        .expect("token");
    GraphClient::new(endpoints(emu), token).with_retry(quick_retry())
}

/// POST `body` to the emulator's control endpoint (docs/graph.md) over plain
/// HTTP, as an operator's script would; returns the status line.
pub fn control(emu: &EmulatorHandle, body: serde_json::Value) -> String {
    use std::io::{Read, Write};
    let addr = emu.base_url().trim_start_matches("http://").to_string();
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "POST /.glasskey-emulator/control HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or("").to_string();
    assert!(status.contains(" 204"), "control refused: {answer}");
    status
}
