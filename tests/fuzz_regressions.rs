//! Every input the fuzzers ever found to crash, hang or exhaust memory, replayed
//! through the same harness (`fuzz/harness.rs`) on stable Rust. Inputs live in
//! `fuzz/regressions/<target>/`; each file's name says what it broke. A regression
//! here means a parser fix was lost.
//!
//! The test also replays the committed seed corpora (`fuzz/corpus/<target>/`): they
//! are small, and a corpus entry that starts panicking is a bug too.
//!
//! `cargo test --test fuzz_regressions -- --ignored write_seed_corpora` rewrites
//! the seed corpora from `../shared/testvectors` and the test vectors in tests/.

#[path = "../fuzz/harness.rs"]
#[allow(dead_code)]
mod harness;
mod ledger_fixture;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    out.sort();
    out
}

/// Run every file under `fuzz/<kind>/<target>/` through its target; each must
/// return (no panic) within `limit`.
fn replay(kind: &str, limit: Duration) -> usize {
    let mut n = 0;
    for (name, run) in harness::TARGETS {
        for file in files_in(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&file).unwrap();
            let start = Instant::now();
            run(&data);
            let took = start.elapsed();
            assert!(
                took < limit,
                "{} took {took:?} (limit {limit:?}): a hang came back",
                file.display()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn every_recorded_fuzz_finding_stays_fixed() {
    assert!(
        fuzz_dir().join("regressions").is_dir(),
        "fuzz/regressions is missing"
    );
    replay("regressions", Duration::from_secs(5));
}

#[test]
fn every_seed_corpus_entry_runs_clean() {
    let n = replay("corpus", Duration::from_secs(5));
    assert!(n > 0, "no corpus inputs found under fuzz/corpus");
}

#[test]
fn every_target_has_a_fuzz_binary_and_a_corpus() {
    for (name, _) in harness::TARGETS {
        let bin = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
        assert!(
            !files_in(&fuzz_dir().join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name} is empty"
        );
    }
}

// ---------------------------------------------------------------- seed writer

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testvectors")
}

fn unhex(s: &str) -> Vec<u8> {
    glasskey::hid::replay::hex_decode(s).unwrap_or_else(|| panic!("not hex: {s:.40}"))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Reports of a wiredata capture, zero-padded to 64 bytes.
fn capture_reports(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        }
        let mut b = unhex(l.trim());
        b.resize(64, 0);
        out.extend(b);
    }
    out
}

/// `# Reassembled payload N (hex): ...` lines of a capture (status byte included).
fn capture_payloads(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("# Reassembled payload "))
        .filter_map(|l| l.split("(hex):").nth(1))
        .map(|h| unhex(h.trim()))
        .collect()
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().replace('.', "-")
}

#[test]
#[ignore = "writes the seed corpora; run by hand"]
fn write_seed_corpora() {
    let wire = shared().join("wiredata");
    let mut wires: Vec<PathBuf> = files_in(&wire);
    wires.retain(|p| p.extension().is_some_and(|e| e == "hex"));
    for p in &wires {
        let s = stem(p);
        write("ctaphid_reports", &s, &capture_reports(p));
        let payloads = capture_payloads(p);
        for (i, m) in payloads.iter().enumerate() {
            let body = m.get(1..).unwrap_or_default();
            let name = format!("{s}-{i}");
            if s.contains("getinfo") {
                write("ctap_get_info", &name, body);
            }
            if s.contains("makecred") {
                write("ctap_make_credential", &name, body);
            }
            if s.contains("getassertion") {
                write("ctap_get_assertion", &name, body);
            }
            if s.contains("credman") {
                write("ctap_cred_mgmt", &name, body);
            }
        }
        // device sessions: the capture's answers, in order
        if s.contains("clientpin") {
            write("ctap_client_pin", &s, &harness::join_messages(&payloads));
        }
    }
    // clientPin sequences: retries, keyAgreement, token; then credMgmt / config answers
    let pay = |n: &str| capture_payloads(&wire.join(format!("libfido2-{n}.hex")));
    let retries = pay("clientpin-getpinretries-response");
    let ka = pay("clientpin-getkeyagreement-response");
    let tok = pay("clientpin-getpintoken-response");
    let mut pin_seq = retries.clone();
    pin_seq.extend(ka.clone());
    pin_seq.extend(tok.clone());
    write(
        "ctap_client_pin",
        "retries-keyagreement-token",
        &harness::join_messages(&pin_seq),
    );
    let mut token_seq = ka.clone();
    token_seq.extend(tok.clone());
    let mut cm = token_seq.clone();
    cm.extend(pay("credman-getcredsmetadata-response"));
    cm.extend(pay("credman-enumeraterps-responses"));
    cm.extend(pay("credman-enumeratecredentials-responses"));
    write("ctap_cred_mgmt", "session", &harness::join_messages(&cm));
    let mut cfg = token_seq.clone();
    cfg.push(vec![0]);
    write("ctap_config", "session-ok", &harness::join_messages(&cfg));
    let mut cfg_err = token_seq;
    cfg_err.push(vec![0x2b]);
    write(
        "ctap_config",
        "session-unsupported",
        &harness::join_messages(&cfg_err),
    );

    for p in files_in(&shared().join("getinfo")) {
        let text = std::fs::read_to_string(&p).unwrap();
        let hex: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("");
        write("ctap_get_info", &stem(&p), &unhex(hex.trim()));
    }
    for p in files_in(&shared().join("attestation")) {
        let v = json(&p);
        let obj = unhex(v["attestationObject_hex"].as_str().unwrap());
        write("attestation_object", &stem(&p), &obj);
        if let Ok(o) = glasskey::webauthn::AttestationObject::parse(&obj) {
            let raw = o.auth_data_raw.clone();
            write("auth_data", &stem(&p), &raw);
            if let Some(a) = &o.auth_data.attested {
                write("cose_key", &stem(&p), &a.public_key_cbor);
            }
            for (i, der) in o.x5c().unwrap_or_default().iter().enumerate() {
                write("x509_cert", &format!("{}-{i}", stem(&p)), der);
            }
        }
    }
    for p in files_in(&shared().join("assertions")) {
        let v = json(&p);
        let s = stem(&p);
        write(
            "auth_data",
            &s,
            &unhex(v["authenticatorData_hex"].as_str().unwrap()),
        );
        if let Some(k) = v["credentialPublicKey_cose_hex"].as_str() {
            write("cose_key", &s, &unhex(k));
        }
    }
    if let Ok(rd) = std::fs::read_dir(shared().join("attestation/certs")) {
        for d in rd.flatten() {
            for pem in files_in(&d.path()) {
                let name = format!("{}-{}", d.file_name().to_string_lossy(), stem(&pem));
                write(
                    "x509_cert",
                    &format!("{name}-pem"),
                    &std::fs::read(&pem).unwrap(),
                );
            }
        }
    }
    write_graph_seeds();
    write_kit_seeds();
    write_mds_seeds();
}

fn http(method: &str, path: &str, body: &str) -> String {
    let mut r =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer $TOKEN\r\n");
    if !body.is_empty() {
        r.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

/// Emulator request scripts, and the emulator's answers as Graph JSON seeds.
fn write_graph_seeds() {
    use glasskey::graph::emulator::routes::Reply;
    use glasskey::graph::emulator::wire::parse_request;
    use glasskey::graph::emulator::{State, World};
    let form = "grant_type=client_credentials&client_id=11111111-1111-1111-1111-111111111111\
                &client_secret=emulator-secret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    let token = format!(
        "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let upn = "bg1@contoso.onmicrosoft.com";
    let scripts: Vec<(&str, Vec<String>, u8)> = vec![
        ("user", vec![http("GET", &format!("/v1.0/users/{upn}?$select=id,userPrincipalName,accountEnabled,userType"), "")], 1),
        ("options", vec![http("GET", &format!("/beta/users/{upn}/authentication/fido2Methods/creationOptions(challengeTimeoutInMinutes=10)"), "")], 0),
        ("methods", vec![http("GET", &format!("/v1.0/users/{upn}/authentication/fido2Methods"), "")], 2),
        ("policy", vec![http("GET", "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2", "")], 3),
        ("ca", vec![http("GET", "/v1.0/identity/conditionalAccess/policies", "")], 4),
        ("register-bad", vec![http("POST", &format!("/beta/users/{upn}/authentication/fido2Methods"), r#"{"displayName":"k","publicKeyCredential":{"id":"AA","response":{"clientDataJSON":"e30","attestationObject":"oA"}}}"#)], 5),
        ("roles", vec![http("GET", "/v1.0/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'x'", "")], 4),
    ];
    for (name, reqs, selector) in scripts {
        let mut script = token.clone();
        for r in &reqs {
            script.push_str(r);
        }
        write("graph_emulator", name, script.as_bytes());
        let mut world = World::new(State::demo(), "http://127.0.0.1:9".into());
        let mut bearer = String::new();
        let mut reader = std::io::BufReader::new(script.as_bytes());
        while let Ok(mut req) = parse_request(&mut reader) {
            for (_, v) in req.headers.iter_mut() {
                *v = v.replace("$TOKEN", &bearer);
            }
            if let (_, Reply::Respond(resp)) = world.handle(&req) {
                let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
                if let Some(t) = v["access_token"].as_str() {
                    bearer = t.to_string();
                    continue;
                }
                let mut seed = vec![selector];
                seed.extend(&resp.body);
                write("graph_json", name, &seed);
                if name == "options" {
                    write_bundle_seeds(upn, v.clone());
                }
                if name == "methods" {
                    if let Some(first) = v["value"].get(0) {
                        let mut seed = vec![2];
                        seed.extend(first.to_string().as_bytes());
                        write("graph_json", "method", &seed);
                    }
                }
            }
        }
    }
    write("graph_json", "retry-after", b"\x062.128");
    write("graph_json", "error", br#"\x05{"error":{"code":"Request_ResourceNotFound","message":"x","innerError":{"request-id":"r"}}}"#);
}

/// A request bundle around real emulator creationOptions, and a response bundle.
fn write_bundle_seeds(upn: &str, options: serde_json::Value) {
    use glasskey::graph::bundle::*;
    let account = Account {
        id: "00000000-0000-4000-8000-000000000001".into(),
        user_principal_name: upn.into(),
    };
    let req = RequestBundle::new(
        "contoso.onmicrosoft.com",
        vec![RequestItem {
            account: account.clone(),
            creation_options: options,
            graph_version: Some("beta".into()),
        }],
    );
    write(
        "graph_bundles",
        "request",
        &serde_json::to_vec_pretty(&req).unwrap(),
    );
    let resp = ResponseBundle::new(
        "contoso.onmicrosoft.com",
        vec![ResponseItem {
            account,
            fido2_method: serde_json::json!({"displayName": "bg1 key A",
                "publicKeyCredential": {"id": "AAECAw", "response": {
                    "clientDataJSON": "e30", "attestationObject": "oA"}}}),
            key: serde_json::from_value(serde_json::json!({
                "aaguid": "00000000-0000-0000-0000-000000000000", "model": "m", "label": "A"}))
            .unwrap(),
            challenge_timeout: "2026-01-01T00:10:00Z".into(),
            graph_version: Some("beta".into()),
            request: None,
            request_sha256: None,
        }],
    );
    write(
        "graph_bundles",
        "response",
        &serde_json::to_vec_pretty(&resp).unwrap(),
    );
}

#[test]
#[ignore = "writes the MDS seed corpus only; run by hand"]
fn write_mds_seed_corpus() {
    write_mds_seeds();
}

/// MDS BLOBs: the spec's example with its payload cut to fit libFuzzer's -max_len (the
/// header and x5c chain are whole), and payloads (mode byte 1) from the spec example and
/// from the real BLOB: a few entries each, one of them with a REVOKED-class status.
fn write_mds_seeds() {
    use base64::Engine;
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mds = shared().join("mds");
    for (name, file) in [
        ("spec", mds.join("spec-example/blob.jwt")),
        ("real", mds.join("real/blob.jwt")),
    ] {
        let text = std::fs::read_to_string(&file).unwrap();
        let parts: Vec<&str> = text.trim().split('.').collect();
        let payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        // Icons (base64 PNGs) are most of an entry's bytes and nothing glasskey reads.
        let mut payload = payload;
        for e in payload["entries"].as_array_mut().unwrap() {
            if let Some(st) = e
                .get_mut("metadataStatement")
                .and_then(|s| s.as_object_mut())
            {
                st.remove("icon");
                st.remove("tcDisplayPNGCharacteristics");
            }
        }
        let entries = payload["entries"].as_array().unwrap();
        let notice = entries.iter().find(|e| {
            e["statusReports"].as_array().is_some_and(|r| {
                r.iter().any(|s| {
                    s["status"]
                        .as_str()
                        .is_some_and(|s| s.contains("COMPROMISE") || s == "REVOKED")
                })
            })
        });
        let mut small = payload.clone();
        let mut kept: Vec<serde_json::Value> = entries.iter().take(2).cloned().collect();
        kept.extend(notice.cloned());
        small["entries"] = serde_json::Value::Array(kept);
        let mut seed = vec![1u8];
        seed.extend(serde_json::to_vec(&small).unwrap());
        write("mds_blob", &format!("payload-{name}"), &seed);
        let mut one = payload.clone();
        one["entries"] = serde_json::Value::Array(entries.iter().take(1).cloned().collect());
        let jwt = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(serde_json::to_vec(&one).unwrap()),
            parts[2]
        );
        let mut seed = vec![0u8];
        seed.extend(jwt.as_bytes());
        write("mds_blob", &format!("jwt-{name}-cut"), &seed);
    }
}

/// A kit built by the ledger tests' fixture: glasskey.toml, ledger lines, and
/// whole ledgers with their anchor.
fn write_kit_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let k = ledger_fixture::new_kit(tmp.path());
    ledger_fixture::populate(&k, 4);
    let kit = tmp.path();
    if let Ok(cfg) = std::fs::read(kit.join("glasskey.toml")) {
        write("kit_config", "demo", &cfg);
    }
    let example = glasskey::ledger::KitConfig::example("contoso.onmicrosoft.com");
    write(
        "kit_config",
        "example",
        example.to_toml().unwrap().as_bytes(),
    );
    if let (Ok(ledger), Ok(head)) = (
        std::fs::read(kit.join("ledger.jsonl")),
        std::fs::read(kit.join("ledger.head")),
    ) {
        for (i, line) in ledger
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            write("ledger_line", &format!("demo-{i:02}"), line);
        }
        let mut whole = head.clone();
        whole.extend(&ledger);
        write("ledger_file", "demo", &whole);
        let mut relinked = b"!".to_vec();
        relinked.extend(&whole);
        write("ledger_file", "demo-relinked", &relinked);
        let mut no_anchor = b"\n".to_vec();
        no_anchor.extend(&ledger[..ledger.len() / 2]);
        write("ledger_file", "demo-torn-no-anchor", &no_anchor);
    }
}
