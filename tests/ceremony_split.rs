//! The split (air-gapped) ceremony through the binary: fetch-options online, enroll
//! offline from the request bundle, register online — then re-register (nothing
//! duplicated) and check that the ledger knows the Entra method.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_glasskey");
const PIN: &str = "4417095528";

struct Emulator(Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn emulator() -> Emulator {
    let mut child = Command::new(BIN)
        .args(["graph", "emulator", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    Emulator(child, url)
}

fn glasskey(dir: &std::path::Path, url: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--kit")
        .arg(dir.join("kit"))
        .arg("--virtual")
        .arg(dir.join("keys"));
    cmd.args(["--tenant", "contoso.onmicrosoft.com"]);
    if let Some(url) = url {
        cmd.args(["--graph-url", url, "--login-url", url]);
        cmd.args(["--client-id", "11111111-1111-1111-1111-111111111111"]);
        cmd.env("GLASSKEY_CLIENT_SECRET", "emulator-secret");
    }
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fetch_enroll_offline_register_and_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let emu = emulator();
    let key = dir.join("keys/bg2-vault-a.json");
    let out = glasskey(
        dir,
        None,
        &[
            "keys",
            "virtual-create",
            "--model",
            "a",
            "--out",
            key.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(glasskey(dir, None, &["ledger", "init"], "")
        .status
        .success());

    let req = dir.join("req.json");
    let resp = dir.join("resp.json");
    let out = glasskey(
        dir,
        Some(&emu.1),
        &[
            "graph",
            "fetch-options",
            "--account",
            "bg2@contoso.onmicrosoft.com",
            "--challenge-timeout",
            "60",
            "--out",
            req.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "fetch-options: {}", text(&out));

    // Offline: no Graph flags at all.
    let out = glasskey(
        dir,
        None,
        &[
            "enroll",
            "--request",
            req.to_str().unwrap(),
            "--out",
            resp.to_str().unwrap(),
            "--location",
            "vault",
            "--seal",
            "S-77",
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
        ],
        &format!("y\n{PIN}\n{PIN}\n"),
    );
    assert!(out.status.success(), "offline enroll: {}", text(&out));
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&resp).unwrap()).unwrap();
    assert_eq!(bundle["format"], "glasskey-response/1");
    assert!(!std::fs::read_to_string(&resp).unwrap().contains(PIN));

    for round in 0..2 {
        let out = glasskey(
            dir,
            Some(&emu.1),
            &["graph", "register", "--response", resp.to_str().unwrap()],
            "",
        );
        assert!(
            out.status.success(),
            "register round {round}: {}",
            text(&out)
        );
        if round == 1 {
            assert!(text(&out).contains("already registered"), "{}", text(&out));
        }
    }
    let out = glasskey(dir, None, &["--json", "ledger", "show"], "");
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches("registered_in_entra").count(), 1, "{shown}");
    let out = glasskey(dir, Some(&emu.1), &["audit", "--online"], "");
    // One key for one account: the policy (two accounts, two models) fails, but no rogue-method alert.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("RED ALERT"), "{}", text(&out));
}
