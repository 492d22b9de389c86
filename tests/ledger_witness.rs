//! The ledger witnessed by the keys: a demo kit's history is rewritten with the
//! whole chain and anchor recomputed by an independent script following
//! docs/ledger.md (tests/support/rewrite_ledger.py). The chain alone would say
//! OK; `ledger verify` fails because the keys' stored signatures no longer fit,
//! and names the event.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_glasskey");

fn glasskey(kit: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--kit")
        .arg(kit)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn rewrite(kit: &Path, seq: u64, field: &str, value: &serde_json::Value) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/rewrite_ledger.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(kit)
        .arg(seq.to_string())
        .arg(field)
        .arg(value.to_string())
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", text(&out));
}

fn events(kit: &Path) -> Vec<serde_json::Value> {
    let out = glasskey(kit, &["--json", "ledger", "show"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["events"].as_array().unwrap().clone()
}

fn first(events: &[serde_json::Value], kind: &str) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["event"]["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
        .clone()
}

#[test]
fn rewriting_witnessed_history_is_caught_and_the_event_named() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--out", demo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let kit = demo.join("kit");
    let ok = glasskey(&kit, &["ledger", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok)
            .contains("witnessed by the keys: 4 check signature(s) and 4 attestation(s) verify"),
        "{}",
        text(&ok)
    );

    let all = events(&kit);
    let check = first(&all, "liveness_checked");
    let check_seq = check["seq"].as_u64().unwrap();
    let created: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| e["event"]["type"] == "credential_created")
        .collect();
    let created_seq = created[0]["seq"].as_u64().unwrap();

    let counter = check["event"]["counter"].as_u64().unwrap();
    let cases: [(&str, u64, &str, serde_json::Value, &str); 3] = [
        (
            "counter",
            check_seq,
            "counter",
            (counter + 5).into(),
            "records counter",
        ),
        (
            "check result",
            check_seq,
            "passed",
            false.into(),
            "rewritten",
        ),
        (
            "enrolled public key",
            created_seq,
            "cose_public_key",
            created[1]["event"]["cose_public_key"].clone(),
            "public key",
        ),
    ];
    for (name, seq, field, value, says) in cases {
        let copy = tmp.path().join(format!("kit-{}", name.replace(' ', "-")));
        copy_dir(&kit, &copy);
        rewrite(&copy, seq, field, &value);
        // The independent rewrite is a valid chain with a matching anchor...
        let json = glasskey(&copy, &["--json", "ledger", "verify"]);
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert!(
            v["problem"].is_null(),
            "{name}: the chain itself must verify: {v}"
        );
        // ...but not what the keys signed.
        let out = glasskey(&copy, &["ledger", "verify"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {t}");
        assert!(t.contains("witness check failed at event"), "{name}: {t}");
        assert!(t.contains(says), "{name}: {t}");
        let failed_at: u64 = v["witnesses"]["problem"]["seq"].as_u64().unwrap();
        assert!(
            failed_at > seq,
            "{name}: failed at {failed_at}, changed {seq}"
        );
        assert!(t.contains(&format!("event {failed_at}")), "{name}: {t}");
    }
}

#[test]
fn every_demo_check_signs_a_client_data_no_relying_party_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--out", demo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let kit = demo.join("kit");
    let all = events(&kit);
    let witnessed = all
        .iter()
        .filter(|e| e["event"]["type"] == "check_witnessed")
        .count();
    assert_eq!(witnessed, 4);
    for e in all
        .iter()
        .filter(|e| e["event"]["type"] == "check_witnessed")
    {
        let cdj = e["event"]["client_data_json"].as_str().unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cdj)
            .unwrap();
        let cd: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(cd["type"], "glasskey.ledger-witness");
        assert_eq!(cd["origin"], "glasskey:ledger");
    }
}

#[test]
fn every_demo_enrollment_records_what_vouched_for_its_attestation() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--out", demo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let all = events(&demo.join("kit"));
    let attested: Vec<_> = all
        .iter()
        .filter(|e| e["event"]["type"] == "credential_attested")
        .collect();
    assert_eq!(attested.len(), 4);
    for e in attested {
        // The demo's virtual models chain to the roots minted for them.
        let trust = e["event"]["trust"].as_str().unwrap();
        assert!(trust.starts_with("packed, chains to "), "{trust}");
    }
}
