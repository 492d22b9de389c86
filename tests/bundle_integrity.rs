//! Split-ceremony bundles are not trusted blindly: the offline half refuses a
//! request for another relying party or with swapped accounts before the key is
//! touched, and the online half refuses a tampered response before any POST.

mod story_support;

use serde_json::Value;
use story_support::{Story, BG1, BG2};

const PIN: &str = "7730214596";

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write(path: &std::path::Path, v: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// A story with one virtual key and a request bundle for BG1 and BG2.
fn with_request() -> (Story, std::path::PathBuf) {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let req = story.dir().join("req.json");
    story.ok(
        &[
            "graph",
            "fetch-options",
            "--account",
            BG1,
            "--account",
            BG2,
            "--challenge-timeout",
            "60",
            "--out",
            req.to_str().unwrap(),
        ],
        "",
    );
    (story, req)
}

fn key_state(story: &Story) -> Vec<u8> {
    std::fs::read(story.dir().join("keys/k.json")).unwrap()
}

/// Enroll the first item of `req` offline; returns the process output text and exit code.
fn enroll_from(story: &mut Story, req: &std::path::Path, out: &std::path::Path) -> (i32, String) {
    let o = story.run(
        &[
            "enroll",
            "--request",
            req.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--location",
            "vault",
            "--label",
            "bg-key",
            "--seal",
            "S-9",
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
        ],
        &format!("y\n{PIN}\n{PIN}\n"),
    );
    (o.status.code().unwrap_or(-1), story_support::text(&o))
}

/// Keep only item `n` of the request bundle.
fn only_item(req: &Value, n: usize) -> Value {
    let mut one = req.clone();
    one["items"] = Value::Array(vec![req["items"][n].clone()]);
    one
}

#[test]
fn a_request_for_another_relying_party_is_refused_before_the_key_is_touched() {
    let (mut story, req) = with_request();
    let before = key_state(&story);
    let mut bundle = only_item(&read(&req), 0);
    bundle["items"][0]["creationOptions"]["publicKey"]["rp"]["id"] = "evil.example".into();
    let evil = story.dir().join("evil.json");
    write(&evil, &bundle);
    let r = story.dir().join("r.json");
    let (code, text) = enroll_from(&mut story, &evil, &r);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("evil.example") && text.contains("login.microsoft.com"),
        "{text}"
    );
    assert_eq!(key_state(&story), before, "the key was touched");
    assert!(!story
        .ok(&["--json", "ledger", "show"], "")
        .contains("key_enrolled"));
}

#[test]
fn swapped_accounts_are_refused_before_the_key_is_touched() {
    let (mut story, req) = with_request();
    let before = key_state(&story);
    let full = read(&req);
    let bg1_id = full["items"][0]["account"]["id"].clone();
    // BG2's options and id, relabelled as BG1.
    let mut upn_swapped = only_item(&full, 1);
    upn_swapped["items"][0]["account"]["userPrincipalName"] = BG1.into();
    // BG2's options and UPN, with BG1's object id.
    let mut id_swapped = only_item(&full, 1);
    id_swapped["items"][0]["account"]["id"] = bg1_id;
    // Both, with the creationOptions' user name edited to match.
    let mut all_swapped = upn_swapped.clone();
    all_swapped["items"][0]["creationOptions"]["publicKey"]["user"]["name"] = BG1.into();
    all_swapped["items"][0]["account"]["id"] = full["items"][0]["account"]["id"].clone();
    for (name, bundle, says) in [
        ("upn", upn_swapped, "different user"),
        ("id", id_swapped, "user handle"),
        ("all", all_swapped, "user handle"),
    ] {
        let path = story.dir().join(format!("{name}.json"));
        write(&path, &bundle);
        let r = story.dir().join("r.json");
        let (code, text) = enroll_from(&mut story, &path, &r);
        assert_eq!(code, 2, "{name}: {text}");
        assert!(text.to_lowercase().contains(says), "{name}: {text}");
        assert_eq!(key_state(&story), before, "{name}: the key was touched");
    }
}

#[test]
fn a_tampered_response_is_refused_before_any_post() {
    let (mut story, req) = with_request();
    let full = read(&req);
    let one = story.dir().join("one.json");
    write(&one, &only_item(&full, 1));
    let resp = story.dir().join("resp.json");
    let (code, text) = enroll_from(&mut story, &one, &resp);
    assert_eq!(code, 0, "{text}");
    let good = read(&resp);
    let bg1_id = full["items"][0]["account"]["id"].clone();

    let mut tampered = Vec::new();
    // Posted to BG1's object id while the ledger says BG2.
    let mut t = good.clone();
    t["items"][0]["account"]["id"] = bg1_id.clone();
    tampered.push(("account id", t));
    // The same, with the embedded request edited to match (its hash no longer does).
    let mut t = good.clone();
    t["items"][0]["account"]["id"] = bg1_id.clone();
    t["items"][0]["request"]["account"]["id"] = bg1_id;
    tampered.push(("request edited", t));
    // The same with the hash recomputed: Graph's UPN -> object id mapping refuses it.
    let mut t = good.clone();
    t["items"][0]["account"]["id"] = full["items"][0]["account"]["id"].clone();
    t["items"][0]["request"]["account"]["id"] = full["items"][0]["account"]["id"].clone();
    let item: glasskey::graph::bundle::RequestItem =
        serde_json::from_value(t["items"][0]["request"].clone()).unwrap();
    t["items"][0]["requestSha256"] = item.sha256().into();
    tampered.push(("request rehashed", t));
    // A byte of the attestation signature changed.
    let mut t = good.clone();
    let ao = t["items"][0]["fido2Method"]["publicKeyCredential"]["response"]["attestationObject"]
        .as_str()
        .unwrap()
        .to_string();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = b64.decode(&ao).unwrap();
    let n = bytes.len();
    bytes[n - 80] ^= 1; // inside the certificate or signature at the end
    t["items"][0]["fido2Method"]["publicKeyCredential"]["response"]["attestationObject"] =
        b64.encode(&bytes).into();
    tampered.push(("attestation", t));
    // A clientDataJSON for another challenge.
    let mut t = good.clone();
    let cdj = br#"{"type":"webauthn.create","challenge":"AAAA","origin":"https://login.microsoft.com","crossOrigin":false}"#;
    t["items"][0]["fido2Method"]["publicKeyCredential"]["response"]["clientDataJSON"] =
        b64.encode(cdj).into();
    tampered.push(("client data", t));

    for (name, bundle) in tampered {
        let path = story.dir().join("tampered.json");
        write(&path, &bundle);
        let out = story.run(
            &["graph", "register", "--response", path.to_str().unwrap()],
            "",
        );
        let text = story_support::text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        assert!(text.contains("REFUSED"), "{name}: {text}");
        for account in [BG1, BG2] {
            let methods = story.ok(&["--json", "graph", "methods", "--account", account], "");
            assert_eq!(
                methods.trim(),
                "[]",
                "{name}: something was POSTed for {account}"
            );
        }
    }
    // The untouched response still registers.
    let ok = story.ok(
        &["graph", "register", "--response", resp.to_str().unwrap()],
        "",
    );
    assert!(ok.contains("registered"), "{ok}");
}
