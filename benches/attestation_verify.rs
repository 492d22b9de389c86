//! How long offline verification takes on real captures: building the
//! production trust store, a full packed attestation check (ECDSA signature,
//! RSA-2048 chain to the Yubico U2F root, leaf rules, catalogue), and one ES256
//! assertion. Run with `cargo bench --bench attestation_verify`.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use glasskey::attestation::{lookup, verify_assertion, verify_attestation, Policy, TrustStore};
use glasskey::webauthn::AttestationObject;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

fn load(rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{rel}")).expect("vector file"))
        .expect("vector JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hexfield(v: &serde_json::Value, k: &str) -> Vec<u8> {
    unhex(v[k].as_str().expect(k))
}

/// Run `f` until about `budget` has passed (at least 5 times); print the median.
fn bench(name: &str, budget: Duration, mut f: impl FnMut()) {
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    println!(
        "{name:<44} median {:>10.3} µs  ({} runs)",
        median.as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let budget = Duration::from_secs(2);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);

    bench("TrustStore::production()", budget, || {
        black_box(TrustStore::production());
    });

    let store = TrustStore::production();
    let v = load("attestation/webauthn-rs-packed-yubikey5-nfc.json");
    let raw = hexfield(&v, "attestationObject_hex");
    let cdh: [u8; 32] = hexfield(&v, "clientDataHash_hex")
        .try_into()
        .expect("32 bytes");
    bench(
        "parse + verify packed (YubiKey 5, RSA root)",
        budget,
        || {
            let obj = AttestationObject::parse(black_box(&raw)).expect("parses");
            let r =
                verify_attestation(&obj, &cdh, &store, &Policy::default(), now).expect("verifies");
            assert!(r.accepted());
        },
    );

    let a = load("assertions/webauthn-rs-authentication-yubikey5.json");
    let (key, ad, acdh, sig) = (
        hexfield(&a, "credentialPublicKey_cose_hex"),
        hexfield(&a, "authenticatorData_hex"),
        hexfield(&a, "clientDataHash_hex"),
        hexfield(&a, "signature_hex"),
    );
    bench("verify_assertion (ES256)", budget, || {
        black_box(verify_assertion(&key, &ad, &acdh, &sig).expect("verifies"));
    });

    let aaguid = "2fc0579f-8113-47ea-b116-bb5a8db9202a"
        .parse()
        .expect("aaguid");
    bench("catalogue lookup", budget, || {
        black_box(lookup(black_box(&aaguid)));
    });
}
