//! The `glasskey graph` commands as an operator runs them: the emulator
//! binary, fetch-options, register (twice: re-runs are safe), preflight and
//! posture; and an independent check of a registration body with
//! python-fido2's server code.

#[path = "support/skip.rs"]
mod skip;

mod graph_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use glasskey::aaguid::Aaguid;
use glasskey::graph::bundle::{response_item, KeyFacts, RequestBundle, ResponseBundle};
use graph_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_glasskey");

/// The emulator as a child process; killed (by its own pid) on drop.
struct EmulatorProcess {
    child: Child,
    url: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_emulator() -> EmulatorProcess {
    let mut child = Command::new(BIN)
        .args(["graph", "emulator", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("READY ")
        .expect("READY line")
        .to_string();
    EmulatorProcess { child, url }
}

fn glasskey(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args([
            "--graph-url",
            url,
            "--tenant",
            DEMO_TENANT,
            "--client-id",
            DEMO_CLIENT,
        ])
        .args(args)
        .env("GLASSKEY_CLIENT_SECRET", "emulator-secret")
        .output()
        .unwrap()
}

#[test]
fn split_ceremony_through_the_cli() {
    let emu = spawn_emulator();
    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("REQ.json");
    let out = glasskey(
        &emu.url,
        &[
            "graph",
            "fetch-options",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--account",
            "bg2@contoso.onmicrosoft.com",
            "--challenge-timeout",
            "120",
            "--out",
            req.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The offline side: what `glasskey enroll --request` does, with the soft key.
    let now = time::OffsetDateTime::now_utc();
    let request = RequestBundle::read(&req, Some(DEMO_TENANT), now).unwrap();
    assert!(RequestBundle::read(&req, Some("fabrikam.onmicrosoft.com"), now).is_err());
    assert!(
        RequestBundle::read(&req, None, now + time::Duration::minutes(121))
            .unwrap_err()
            .to_string()
            .contains("expired")
    );
    let keys = [
        SoftKey::new(Aaguid::virtual_model(1).0),
        SoftKey::new(Aaguid::virtual_model(2).0),
    ];
    let items = request
        .items
        .iter()
        .zip(&keys)
        .map(|(item, key)| {
            let o = item.options().unwrap();
            let cdj = o.client_data_json();
            let (id, ao) = key.make_credential(&o.rp_id, &cdj, Attest::Packed, true);
            let facts = KeyFacts {
                aaguid: Aaguid(key.aaguid),
                model: None,
                serial: Some("1234".into()),
                label: None,
                extra: serde_json::Map::new(),
            };
            response_item(
                item,
                &ao,
                &id,
                &cdj,
                &format!("BG key {}", key.aaguid[15]),
                facts,
            )
            .unwrap()
        })
        .collect();
    let resp = dir.path().join("RESP.json");
    ResponseBundle::new(DEMO_TENANT, items)
        .write(&resp)
        .unwrap();
    // `graph register` judges each item under a kit's policy and trust roots:
    // the soft keys' roots go into the kit's roots/ folder.
    let kit = dir.path().join("kit");
    let kit_s = kit.to_str().unwrap().to_string();
    assert!(glasskey(&emu.url, &["--kit", &kit_s, "ledger", "init"])
        .status
        .success());
    std::fs::create_dir_all(kit.join("roots")).unwrap();
    for (i, key) in keys.iter().enumerate() {
        std::fs::write(kit.join(format!("roots/soft-{i}.pem")), key.root_pem()).unwrap();
    }

    let first = glasskey(
        &emu.url,
        &[
            "--kit",
            &kit_s,
            "--json",
            "graph",
            "register",
            "--response",
            resp.to_str().unwrap(),
        ],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        v.as_array()
            .unwrap()
            .iter()
            .filter(|i| i["outcome"] == "registered")
            .count(),
        2,
        "{v}"
    );
    let again = glasskey(
        &emu.url,
        &[
            "--kit",
            &kit_s,
            "--json",
            "graph",
            "register",
            "--response",
            resp.to_str().unwrap(),
        ],
    );
    assert!(again.status.success());
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|i| i["outcome"] == "alreadyRegistered"),
        "{v}"
    );

    let methods = glasskey(
        &emu.url,
        &[
            "--json",
            "graph",
            "methods",
            "--account",
            "bg2@contoso.onmicrosoft.com",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&methods.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);

    // A tampered bundle is refused before anything is sent (exit 2).
    std::fs::write(&resp, "{\"format\":\"glasskey-response/9\"}").unwrap();
    let bad = glasskey(
        &emu.url,
        &[
            "--kit",
            &kit_s,
            "graph",
            "register",
            "--response",
            resp.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn preflight_and_posture_exit_codes() {
    let emu = spawn_emulator();
    let ok = glasskey(
        &emu.url,
        &[
            "graph",
            "preflight",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--aaguid",
            &Aaguid::virtual_model(1).to_string(),
        ],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let no = glasskey(
        &emu.url,
        &[
            "graph",
            "preflight",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--aaguid",
            "2fc0579f-8113-47ea-b116-bb5a8db9202a",
        ],
    );
    assert_eq!(no.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no.stdout).contains("key restrictions"));
    let posture = glasskey(
        &emu.url,
        &[
            "graph",
            "posture",
            "--account",
            "bg1@contoso.onmicrosoft.com",
        ],
    );
    assert!(
        posture.status.success(),
        "{}{}",
        String::from_utf8_lossy(&posture.stdout),
        String::from_utf8_lossy(&posture.stderr)
    );
    // Plain http to a non-loopback host is refused.
    let insecure = glasskey(
        "http://graph.example.com",
        &["graph", "methods", "--account", "x"],
    );
    assert_eq!(insecure.status.code(), Some(2));
}

const PY_VERIFY: &str = r#"
import json, sys
from fido2.server import Fido2Server
from fido2.utils import websafe_encode, websafe_decode
from fido2.webauthn import AttestationObject
from fido2.attestation import PackedAttestation
import hashlib
body, challenge = json.loads(sys.argv[1]), sys.argv[2]
cred = body["publicKeyCredential"]
server = Fido2Server({"id": "login.microsoft.com", "name": "Microsoft"}, attestation="direct")
state = {"challenge": websafe_encode(websafe_decode(challenge)), "user_verification": "required"}
resp = {"id": cred["id"], "rawId": cred["id"], "type": "public-key", "response": cred["response"]}
auth = server.register_complete(state, resp)
ao = AttestationObject(websafe_decode(cred["response"]["attestationObject"]))
PackedAttestation().verify(ao.att_stmt, ao.auth_data, hashlib.sha256(websafe_decode(cred["response"]["clientDataJSON"])).digest())
print("OK", auth.credential_data.aaguid)
"#;

#[test]
fn python_fido2_accepts_a_registration_body() {
    let Ok(python) = std::env::var("PEER_PYTHON") else {
        skip::skip("python_fido2_accepts_a_registration_body: PEER_PYTHON is unset; build the peers with `make interop`");
        return;
    };
    let emu = start(glasskey::graph::emulator::State::demo());
    let client = app_client(&emu);
    let key = SoftKey::new(Aaguid::virtual_model(1).0);
    let o = client
        .creation_options("bg1@contoso.onmicrosoft.com", None)
        .unwrap();
    let cdj = o.client_data_json();
    let (id, ao) = key.make_credential(&o.rp_id, &cdj, Attest::Packed, true);
    let body = glasskey::graph::types::registration_body("BG key", &id, &cdj, &ao);
    client
        .register("bg1@contoso.onmicrosoft.com", &body)
        .expect("the emulator accepts it");
    let out = Command::new(python)
        .args(["-c", PY_VERIFY, &body.to_string(), &o.challenge])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-fido2 refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&Aaguid::virtual_model(1).to_string()),
        "{text}"
    );
    // And it refuses a body whose clientDataJSON was changed after signing.
    let mut forged = body.clone();
    forged["publicKeyCredential"]["response"]["clientDataJSON"] = glasskey::graph::b64::encode(
        &glasskey::graph::types::client_data_json(&o.challenge, "login.microsoft.com")[..],
    )
    .replace('A', "B")
    .into();
    let out = Command::new(std::env::var("PEER_PYTHON").unwrap())
        .args(["-c", PY_VERIFY, &forged.to_string(), &o.challenge])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn control_endpoint_injects_faults_into_a_running_emulator() {
    use std::io::{Read, Write};
    let emu = spawn_emulator();
    let addr = emu.url.trim_start_matches("http://").to_string();
    let body = r#"{"faults":[{"route":"listMethods","status":403,"code":"Authorization_RequestDenied","times":1}]}"#;
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "POST /.glasskey-emulator/control HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let denied = glasskey(
        &emu.url,
        &[
            "graph",
            "methods",
            "--account",
            "bg1@contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(denied.status.code(), Some(3));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains("Authorization_RequestDenied")
            && err.contains("request-id")
            && err.contains("next:"),
        "{err}"
    );
    assert!(glasskey(
        &emu.url,
        &[
            "graph",
            "methods",
            "--account",
            "bg1@contoso.onmicrosoft.com"
        ]
    )
    .status
    .success());
}

#[test]
fn emulator_serves_a_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["graph", "emulator", "--print-state"])
        .output()
        .unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    state["fido2Policy"]["state"] = "disabled".into();
    let path = dir.path().join("state.json");
    std::fs::write(&path, state.to_string()).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "graph",
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--state",
            path.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let emu = EmulatorProcess {
        url: line.trim().trim_start_matches("READY ").to_string(),
        child,
    };
    let pre = glasskey(
        &emu.url,
        &[
            "graph",
            "preflight",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--aaguid",
            &Aaguid::virtual_model(1).to_string(),
        ],
    );
    assert_eq!(pre.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&pre.stdout).contains("disabled"));
    std::fs::write(&path, "{\"tenant\": 1}").unwrap();
    let bad = Command::new(BIN)
        .args(["graph", "emulator", "--state", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn fetch_options_on_a_national_cloud_says_what_the_docs_say_before_signing_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "--cloud",
            "usgov",
            "--tenant",
            DEMO_TENANT,
            "--client-id",
            DEMO_CLIENT,
            "graph",
            "fetch-options",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--out",
        ])
        .arg(dir.path().join("req.json"))
        .env("GLASSKEY_CLIENT_SECRET", "emulator-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("global cloud only") && err.contains("usgov"),
        "{err}"
    );
}

#[test]
fn fetch_options_runs_the_preflight_first() {
    let emu = spawn_emulator();
    let dir = tempfile::tempdir().unwrap();
    let addr = emu.url.trim_start_matches("http://").to_string();
    let body = r#"{"fido2Policy":{"id":"Fido2","state":"enabled","isSelfServiceRegistrationAllowed":false,"includeTargets":[{"id":"all_users","targetType":"group"}]}}"#;
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(s, "POST /.glasskey-emulator/control HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    }
    let out_path = dir.path().join("req.json");
    let out = glasskey(
        &emu.url,
        &[
            "graph",
            "fetch-options",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--out",
            out_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("self-service") && err.contains("nothing was fetched"),
        "{err}"
    );
    assert!(!out_path.exists());
}
