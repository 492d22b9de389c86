//! getAssertion round trips per second against the in-process virtual key, as
//! glasskey itself makes them: `ctap::get_assertion` over `ctap::Device`, so
//! each round trip includes CBOR encoding, CTAPHID fragmentation, the thread
//! hand-over to the key, the key's work (signature, counter, the state-file
//! save every few assertions) and reassembly and parsing of the answer.
//! Goal: >= 5,000/s in release. Run: `cargo bench --bench ctap_roundtrip`.
//! The machine's load average is printed with the figures: on a shared 2-core
//! machine it moves them more than anything in the code.

use std::time::Instant;

use glasskey::attestation::assertion::verify_assertion;
use glasskey::ctap::get_assertion::{get_assertion, Assertion, GetAssertionRequest};
use glasskey::ctap::make_credential::{make_credential, MakeCredentialRequest, RelyingParty, User};
use glasskey::ctap::Device;
use glasskey::virtual_key::{create_key, open_dir, ModelId, PresenceMode};

const RUNS: usize = 5;
const ROUND_TRIPS: u32 = 5000;
const GOAL_PER_SEC: f64 = 5000.0;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("bench.json");
    create_key(&key_file, ModelId::A, PresenceMode::Approve).expect("create");
    let transport = open_dir(dir.path()).expect("open").remove(0).transport;
    let mut dev = Device::open(transport).expect("INIT and getInfo");

    let made = make_credential(
        &mut dev,
        &MakeCredentialRequest {
            client_data_hash: [0; 32],
            rp: Some(RelyingParty {
                id: "bench.example".into(),
                name: None,
            }),
            user: Some(User {
                id: b"u".to_vec(),
                name: None,
                display_name: None,
            }),
            ..Default::default()
        },
        None,
    )
    .expect("makeCredential");
    let public_key = made.public_key.to_cbor();
    let req = GetAssertionRequest {
        rp_id: "bench.example".into(),
        client_data_hash: [1; 32],
        allow_list: vec![made.credential_id.clone()],
        up: None,
        uv: None,
    };
    // The figure counts only answers that are real: signed by the credential, counter advancing.
    let check = |a: &Assertion, after: u32| -> u32 {
        let facts = verify_assertion(
            &public_key,
            &a.auth_data_raw,
            &req.client_data_hash,
            &a.signature,
        )
        .expect("the assertion verifies with the credential's public key");
        assert!(
            facts.sign_count > after,
            "signature counter did not advance"
        );
        facts.sign_count
    };

    let mut counter = 0;
    for _ in 0..200 {
        counter = check(
            &get_assertion(&mut dev, &req, None).expect("warm-up"),
            counter,
        );
    }
    let mut rates = Vec::with_capacity(RUNS);
    for run in 1..=RUNS {
        let load = load_average();
        let started = Instant::now();
        let mut last = None;
        for _ in 0..ROUND_TRIPS {
            last = Some(get_assertion(&mut dev, &req, None).expect("getAssertion"));
        }
        let secs = started.elapsed().as_secs_f64();
        counter = check(&last.expect("at least one round trip"), counter);
        let rate = f64::from(ROUND_TRIPS) / secs;
        println!(
            "ctap_roundtrip run {run}: {ROUND_TRIPS} getAssertion in {secs:.3} s = {rate:.0}/s ({:.1} us each; load {load})",
            secs * 1e6 / f64::from(ROUND_TRIPS),
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "ctap_roundtrip: median {median:.0}/s over {RUNS} runs (min {:.0}, max {:.0}); goal >= {GOAL_PER_SEC:.0}/s: {}",
        rates[0],
        rates[rates.len() - 1],
        if median >= GOAL_PER_SEC { "met" } else { "NOT met" }
    );
}
