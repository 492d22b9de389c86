//! The virtual key judged by independent FIDO2 clients: python-fido2's full
//! CTAP2 flow (peer_flow.py, unchanged) and libfido2's command-line tools
//! through the socket shim. Skips loudly when the peers are not installed
//! (see /work/shared/peers/README.md; `eval "$(cat /tmp/peers.vars)"`).

#[path = "support/skip.rs"]
mod skip;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn peer_env(names: &[&str]) -> Option<Vec<String>> {
    let values: Vec<String> = names
        .iter()
        .filter_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .collect();
    if values.len() == names.len() {
        Some(values)
    } else {
        skip::skip(&format!(
            "{names:?} not set: the FIDO2 peers are not built; run `make interop` (../shared/peers/build.sh) to run this test"
        ));
        None
    }
}

/// `glasskey keys virtual-serve` running on a fresh key; killed on drop.
struct Served {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn glasskey() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glasskey"))
}

fn serve_fresh_key(model: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(format!("vk-{model}.json"));
    let out = glasskey()
        .args(["keys", "virtual-create", "--model", model, "--out"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sock = dir.path().join("key.sock");
    let mut child = glasskey()
        .args(["keys", "virtual-serve", "--state"])
        .arg(&state)
        .arg("--listen")
        .arg(format!("unix:{}", sock.display()))
        .env_remove("GLASSKEY_VIRTUAL_UP")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().strip_prefix("READY ").unwrap().to_string();
    assert_eq!(address, format!("unix:{}", sock.display()));
    Served {
        child,
        address,
        _dir: dir,
    }
}

#[test]
fn python_fido2_full_flow_passes_on_both_models() {
    let Some(v) = peer_env(&["PEER_PYTHON", "PEER_TOOLS"]) else {
        return;
    };
    for model in ["a", "b"] {
        let served = serve_fresh_key(model);
        let out = Command::new(&v[0])
            .arg(Path::new(&v[1]).join("peer_flow.py"))
            .arg(&served.address)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("0 failed"),
            "model {model}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("authenticatorReset (0x07): reset done"));
    }
}

fn libfido2(tool: &str, preload: &str, args: &[&str], stdin: &str) -> (bool, String) {
    // setsid -w: no controlling tty, so libfido2 reads PINs from stdin.
    let mut child = Command::new("setsid")
        .arg("-w")
        .arg(tool)
        .args(args)
        .env("LD_PRELOAD", preload)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn libfido2_tools_make_and_verify_credentials_and_assertions() {
    let Some(v) = peer_env(&["FIDO_SOCK_PRELOAD"]) else {
        return;
    };
    let preload = &v[0];
    if Command::new("fido2-token").arg("-V").output().is_err() {
        skip::skip(
            "fido2-tools are not installed (apt-get install fido2-tools, or `make interop`)",
        );
        return;
    }
    let served = serve_fresh_key("b");
    let dev = served.address.as_str();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| -> PathBuf { dir.path().join(n) };
    let s = |p: &Path| p.to_str().unwrap().to_string();

    let (ok, out) = libfido2("fido2-token", preload, &["-I", dev], "");
    assert!(ok, "{out}");
    assert!(
        out.contains("aaguid: 676b2d76697274000000000000000002"),
        "{out}"
    );
    assert!(out.contains("minpinlen: 6"), "{out}");

    let (ok, out) = libfido2("fido2-token", preload, &["-S", dev], "1234567\n1234567\n");
    assert!(ok, "{out}");

    let cdh = [7u8; 32];
    std::fs::write(
        p("cred.in"),
        format!("{}\nexample.org\nalice\n{}\n", b64(&cdh), b64(&[9u8; 16])),
    )
    .unwrap();
    let (ok, out) = libfido2(
        "fido2-cred",
        preload,
        &[
            "-M",
            "-r",
            "-i",
            &s(&p("cred.in")),
            "-o",
            &s(&p("cred.out")),
            dev,
            "es256",
        ],
        "1234567\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = libfido2(
        "fido2-cred",
        preload,
        &[
            "-V",
            "-i",
            &s(&p("cred.out")),
            "-o",
            &s(&p("cred.pub")),
            "es256",
        ],
        "",
    );
    assert!(ok, "attestation did not verify: {out}");

    // fido2-cred -M output: cdh, rp, fmt, authdata, cred id, sig, x5c
    let made = std::fs::read_to_string(p("cred.out")).unwrap();
    let cred_id = made.lines().nth(4).unwrap().to_string();
    std::fs::write(
        p("assert.in"),
        format!("{}\nexample.org\n{cred_id}\n", b64(&[5u8; 32])),
    )
    .unwrap();
    let (ok, out) = libfido2(
        "fido2-assert",
        preload,
        &[
            "-G",
            "-p",
            "-v",
            "-i",
            &s(&p("assert.in")),
            "-o",
            &s(&p("assert.out")),
            dev,
        ],
        "1234567\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = libfido2(
        "fido2-assert",
        preload,
        &[
            "-V",
            "-p",
            "-v",
            "-i",
            &s(&p("assert.out")),
            &s(&p("cred.pub")),
            "es256",
        ],
        "",
    );
    assert!(ok, "assertion did not verify: {out}");

    // a tampered assertion must not verify
    let tampered: Vec<String> = std::fs::read_to_string(p("assert.out"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                b64(&[6u8; 32])
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(p("bad.out"), tampered.join("\n") + "\n").unwrap();
    let (ok, _) = libfido2(
        "fido2-assert",
        preload,
        &[
            "-V",
            "-p",
            "-v",
            "-i",
            &s(&p("bad.out")),
            &s(&p("cred.pub")),
            "es256",
        ],
        "",
    );
    assert!(!ok, "a tampered assertion verified");
}
