//! Packed attestation and chain rules on hierarchies minted at run time with
//! rcgen: root (P-256) -> intermediate (P-384) -> leaf (P-256), the shape virtual
//! keys and a deployment's own roots take. Each test breaks one rule.

use std::time::SystemTime;

use ciborium::Value;
use glasskey::aaguid::Aaguid;
use glasskey::attestation::{verify_attestation, AttestationReport, Policy, Trust, TrustStore};
use glasskey::webauthn::{AttestationObject, CoseKey};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use sha2::{Digest, Sha256};

const CDH: [u8; 32] = [7; 32];

fn ca_params(name: &str, pathlen: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(pathlen.map_or(
        BasicConstraints::Unconstrained,
        BasicConstraints::Constrained,
    ));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// How to make the leaf (each field breaks one requirement when changed).
struct LeafSpec {
    ou: &'static str,
    is_ca: IsCa,
    aaguid_ext: Option<([u8; 16], bool)>,
}

impl Default for LeafSpec {
    fn default() -> Self {
        LeafSpec {
            ou: "Authenticator Attestation",
            is_ca: IsCa::ExplicitNoCa,
            aaguid_ext: Some((AAGUID.0, false)),
        }
    }
}

const AAGUID: Aaguid = Aaguid::virtual_model(1);

struct Minted {
    root: Certificate,
    inter: Certificate,
    leaf: Certificate,
    leaf_key: p256::ecdsa::SigningKey,
}

fn mint(root_pathlen: Option<u8>, inter_is_ca: bool, spec: LeafSpec) -> Minted {
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let root_params = ca_params("Minted Test Root", root_pathlen);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);

    let inter_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
    let mut inter_params = ca_params("Minted Test Intermediate", None);
    if !inter_is_ca {
        inter_params.is_ca = IsCa::ExplicitNoCa;
    }
    let inter = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
    let inter_issuer = Issuer::new(inter_params, inter_key);

    let leaf_kp = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in [
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "glasskey tests"),
        (DnType::OrganizationalUnitName, spec.ou),
        (DnType::CommonName, "Minted Leaf"),
    ] {
        leaf.distinguished_name.push(t, v);
    }
    leaf.is_ca = spec.is_ca;
    if let Some((aaguid, critical)) = spec.aaguid_ext {
        let mut v = vec![0x04, 0x10];
        v.extend_from_slice(&aaguid);
        let mut ext = CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4], v);
        ext.set_criticality(critical);
        leaf.custom_extensions = vec![ext];
    }
    let leaf_cert = leaf.signed_by(&leaf_kp, &inter_issuer).unwrap();
    let leaf_key = p256::ecdsa::SigningKey::from_pkcs8_der(&leaf_kp.serialize_der()).unwrap();
    Minted {
        root,
        inter,
        leaf: leaf_cert,
        leaf_key,
    }
}

fn credential_key() -> p256::ecdsa::SigningKey {
    let kp = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    p256::ecdsa::SigningKey::from_pkcs8_der(&kp.serialize_der()).unwrap()
}

fn auth_data(cred: &p256::ecdsa::SigningKey) -> Vec<u8> {
    let pt = cred.verifying_key().to_sec1_point(false);
    let cose = CoseKey::Ec2 {
        alg: Some(-7),
        crv: 1,
        x: pt.x().unwrap().to_vec(),
        y: pt.y().unwrap().to_vec(),
    };
    let mut ad = Sha256::digest(b"login.microsoft.com").to_vec();
    ad.push(0x45); // UP | UV | AT
    ad.extend_from_slice(&1u32.to_be_bytes());
    ad.extend_from_slice(&AAGUID.0);
    ad.extend_from_slice(&16u16.to_be_bytes());
    ad.extend_from_slice(&[0xc1; 16]);
    ad.extend_from_slice(&cose.to_cbor());
    ad
}

fn object(
    alg: i64,
    signer: &p256::ecdsa::SigningKey,
    ad: &[u8],
    x5c: &[&[u8]],
) -> AttestationObject {
    let mut msg = ad.to_vec();
    msg.extend_from_slice(&CDH);
    let sig: p256::ecdsa::DerSignature = signer.sign(&msg);
    let mut stmt = vec![
        (Value::Text("alg".into()), Value::Integer(alg.into())),
        (
            Value::Text("sig".into()),
            Value::Bytes(sig.as_bytes().to_vec()),
        ),
    ];
    if !x5c.is_empty() {
        let certs = x5c.iter().map(|c| Value::Bytes(c.to_vec())).collect();
        stmt.push((Value::Text("x5c".into()), Value::Array(certs)));
    }
    let map = Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("packed".into())),
        (Value::Text("attStmt".into()), Value::Map(stmt)),
        (Value::Text("authData".into()), Value::Bytes(ad.to_vec())),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&map, &mut out).unwrap();
    AttestationObject::parse(&out).unwrap()
}

fn store_with(root: &Certificate) -> TrustStore {
    let mut s = TrustStore::production();
    s.add_root_pem("minted root", &root.pem()).unwrap();
    s
}

fn run(m: &Minted, x5c: &[&[u8]], store: &TrustStore) -> AttestationReport {
    let ad = auth_data(&credential_key());
    let obj = object(-7, &m.leaf_key, &ad, x5c);
    verify_attestation(&obj, &CDH, store, &Policy::default(), SystemTime::now()).unwrap()
}

fn has_problem(r: &AttestationReport, needle: &str) -> bool {
    r.problems.iter().any(|p| p.contains(needle))
}

#[test]
fn minted_chain_through_a_p384_intermediate_is_accepted() {
    let m = mint(None, true, LeafSpec::default());
    let r = run(&m, &[m.leaf.der(), m.inter.der()], &store_with(&m.root));
    assert!(r.accepted(), "{:?}", r.problems);
    match &r.trust {
        Trust::Anchor(a) => {
            assert_eq!(a.label, "minted root");
            assert_eq!(a.path.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.model.unwrap().model, "glasskey virtual model A");
}

#[test]
fn intermediate_from_the_pool_completes_the_path() {
    let m = mint(None, true, LeafSpec::default());
    let mut store = store_with(&m.root);
    assert!(
        !run(&m, &[m.leaf.der()], &store).accepted(),
        "without the intermediate there is no path"
    );
    store.add_intermediate_der(m.inter.der()).unwrap();
    let r = run(&m, &[m.leaf.der()], &store);
    assert!(r.accepted(), "{:?}", r.problems);
}

#[test]
fn an_intermediate_that_is_not_a_ca_breaks_the_chain() {
    let m = mint(None, false, LeafSpec::default());
    let r = run(&m, &[m.leaf.der(), m.inter.der()], &store_with(&m.root));
    assert!(!r.accepted());
    assert!(has_problem(&r, "not a CA"), "{:?}", r.problems);
}

#[test]
fn root_path_length_zero_forbids_an_intermediate() {
    let m = mint(Some(0), true, LeafSpec::default());
    let r = run(&m, &[m.leaf.der(), m.inter.der()], &store_with(&m.root));
    assert!(!r.accepted());
    assert!(
        has_problem(&r, "allows 0 intermediates"),
        "{:?}",
        r.problems
    );
}

#[test]
fn a_foreign_root_is_not_trusted() {
    let m = mint(None, true, LeafSpec::default());
    let other = mint(None, true, LeafSpec::default());
    let r = run(&m, &[m.leaf.der(), m.inter.der()], &store_with(&other.root));
    assert!(!r.accepted());
    assert!(matches!(r.trust, Trust::Untrusted { .. }));
}

#[test]
fn leaf_requirements_are_enforced() {
    let cases: Vec<(LeafSpec, &str)> = vec![
        (
            LeafSpec {
                ou: "Something Else",
                ..LeafSpec::default()
            },
            "subject OU",
        ),
        (
            LeafSpec {
                is_ca: IsCa::Ca(BasicConstraints::Unconstrained),
                ..LeafSpec::default()
            },
            "is a CA",
        ),
        (
            LeafSpec {
                is_ca: IsCa::NoCa,
                ..LeafSpec::default()
            },
            "lacks basicConstraints",
        ),
        (
            LeafSpec {
                aaguid_ext: None,
                ..LeafSpec::default()
            },
            "no AAGUID extension",
        ),
        (
            LeafSpec {
                aaguid_ext: Some((AAGUID.0, true)),
                ..LeafSpec::default()
            },
            "marked critical",
        ),
        (
            LeafSpec {
                aaguid_ext: Some((Aaguid::virtual_model(2).0, false)),
                ..LeafSpec::default()
            },
            "differs from authData",
        ),
    ];
    for (spec, needle) in cases {
        let m = mint(None, true, spec);
        let r = run(&m, &[m.leaf.der(), m.inter.der()], &store_with(&m.root));
        assert!(r.signature_verified, "{needle}");
        assert!(
            !r.accepted() && has_problem(&r, needle),
            "{needle}: {:?}",
            r.problems
        );
    }
}

#[test]
fn alg_must_match_the_leaf_key() {
    let m = mint(None, true, LeafSpec::default());
    let ad = auth_data(&credential_key());
    let obj = object(-35, &m.leaf_key, &ad, &[m.leaf.der(), m.inter.der()]);
    let r = verify_attestation(
        &obj,
        &CDH,
        &store_with(&m.root),
        &Policy::default(),
        SystemTime::now(),
    )
    .unwrap();
    assert!(
        !r.accepted() && has_problem(&r, "does not match"),
        "{:?}",
        r.problems
    );
}

#[test]
fn self_attestation_is_reported_as_self_and_refused_by_default() {
    let cred = credential_key();
    let ad = auth_data(&cred);
    let obj = object(-7, &cred, &ad, &[]);
    let store = TrustStore::production();
    let r = verify_attestation(&obj, &CDH, &store, &Policy::default(), SystemTime::now()).unwrap();
    assert_eq!(r.trust, Trust::SelfAttestation);
    assert!(r.signature_verified && !r.accepted());
    let allow = Policy {
        allow_self_attestation: true,
        ..Policy::default()
    };
    let r = verify_attestation(&obj, &CDH, &store, &allow, SystemTime::now()).unwrap();
    assert!(r.accepted(), "{:?}", r.problems);
    // Signed by another key: the signature fails even when self attestation is allowed.
    let obj = object(-7, &credential_key(), &ad, &[]);
    let r = verify_attestation(&obj, &CDH, &store, &allow, SystemTime::now()).unwrap();
    assert!(!r.signature_verified && !r.accepted());
}

#[test]
fn a_crafted_x5c_of_mutually_signing_cas_cannot_stall_the_search() {
    use glasskey::attestation::certs::Cert;
    use glasskey::attestation::chain::verify_chain;
    // Seven CAs with one key and one name: each verifies every other, so a
    // naive search would walk thousands of paths before giving up.
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cas: Vec<Cert> = (0..7u64)
        .map(|n| {
            let mut p = ca_params("Loop CA", None);
            p.serial_number = Some(rcgen::SerialNumber::from(n + 1));
            Cert::from_der(p.self_signed(&key).unwrap().der()).unwrap()
        })
        .collect();
    let issuer = Issuer::new(ca_params("Loop CA", None), key);
    let leaf_kp = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.is_ca = IsCa::ExplicitNoCa;
    let leaf = Cert::from_der(leaf.signed_by(&leaf_kp, &issuer).unwrap().der()).unwrap();

    let err = verify_chain(&leaf, &cas, &TrustStore::production(), SystemTime::now()).unwrap_err();
    // The budget, not exhaustion of the paths, ended the search.
    assert!(err.contains("gave up"), "{err}");
}
