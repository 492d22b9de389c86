//! The operator story through the real binary: emulator, two virtual keys of two
//! models, kit, enroll (with a typed PIN piped on stdin), check (right PIN, then a
//! wrong PIN), audit, sheets, ledger verify — and then every byte the run wrote
//! (files, stdout, stderr) is searched for the PINs.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_glasskey");
const TENANT: &str = "contoso.onmicrosoft.com";
const PIN_A: &str = "5718293046";
const PIN_B: &str = "8203946175";

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

struct Run {
    dir: PathBuf,
    url: String,
    transcript: Vec<u8>,
}

impl Run {
    fn glasskey(&mut self, args: &[&str], stdin: &str) -> Output {
        let kit = self.dir.join("kit");
        let keys = self.dir.join("keys");
        let mut cmd = Command::new(BIN);
        cmd.arg("--kit").arg(&kit).arg("--virtual").arg(&keys);
        cmd.args([
            "--graph-url",
            &self.url,
            "--login-url",
            &self.url,
            "--tenant",
            TENANT,
        ]);
        cmd.args(["--client-id", "11111111-1111-1111-1111-111111111111"]);
        cmd.env("GLASSKEY_CLIENT_SECRET", "emulator-secret");
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
        let out = child.wait_with_output().unwrap();
        self.transcript.extend_from_slice(&out.stdout);
        self.transcript.extend_from_slice(&out.stderr);
        out
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn enroll_check_audit_and_no_pin_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = emulator();
    let mut run = Run {
        dir: tmp.path().to_path_buf(),
        url: emu.1.clone(),
        transcript: Vec::new(),
    };
    let keys = tmp.path().join("keys");
    for (name, model) in [("bg1-vault-a", "a"), ("bg1-safe-b", "b")] {
        let out = run.glasskey(
            &[
                "keys",
                "virtual-create",
                "--model",
                model,
                "--out",
                keys.join(format!("{name}.json")).to_str().unwrap(),
            ],
            "",
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = run.glasskey(&["ledger", "init"], "");
    assert!(out.status.success(), "{}", text(&out));

    for (name, loc, seal, pin) in [
        ("bg1-vault-a", "vault", "S-1", PIN_A),
        ("bg1-safe-b", "office-safe", "S-2", PIN_B),
    ] {
        let out = run.glasskey(
            &[
                "--device",
                name,
                "enroll",
                "--account",
                "bg1@contoso.onmicrosoft.com",
                "--location",
                loc,
                "--label",
                name,
                "--seal",
                seal,
                "--pin-prompt",
                "--pin-slip-cmd",
                "cat > /dev/null",
                "--operator",
                "Alice",
            ],
            &format!("{pin}\n{pin}\n"),
        );
        assert!(out.status.success(), "enroll {name}: {}", text(&out));
    }

    // The right PIN passes and reseals.
    let out = run.glasskey(
        &[
            "--device",
            "bg1-vault-a",
            "check",
            "--key",
            "bg1-vault-a",
            "--new-seal",
            "S-3",
            "--online",
        ],
        &format!("y\n{PIN_A}\n"),
    );
    assert!(out.status.success(), "check: {}", text(&out));
    assert!(text(&out).contains("PASSED"));

    // A wrong PIN fails the check with exit 1 and says what to do.
    let out = run.glasskey(
        &[
            "--device",
            "bg1-safe-b",
            "check",
            "--key",
            "bg1-safe-b",
            "--new-seal",
            "S-4",
        ],
        "y\n0000000000\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAILED"));

    // The audit sees the failed check (exit 1) but the ledger verifies.
    let out = run.glasskey(&["audit"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = run.glasskey(&["ledger", "verify"], "");
    assert!(out.status.success(), "{}", text(&out));
    let sheet = tmp.path().join("vault.pdf");
    let out = run.glasskey(
        &[
            "report",
            "custody",
            "--location",
            "vault",
            "-o",
            sheet.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));

    // Nothing the run wrote holds a PIN.
    let mut files = Vec::new();
    files_under(tmp.path(), &mut files);
    assert!(files.len() > 5);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for pin in [PIN_A, PIN_B] {
            assert!(
                !bytes.windows(pin.len()).any(|w| w == pin.as_bytes()),
                "PIN found in {}",
                f.display()
            );
        }
    }
    for pin in [PIN_A, PIN_B] {
        assert!(
            !run.transcript
                .windows(pin.len())
                .any(|w| w == pin.as_bytes()),
            "PIN found in the output"
        );
    }
}

#[test]
fn demo_runs_and_writes_verifiable_sheets() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 of them passed"));
    for f in [
        "custody-vault.pdf",
        "custody-office-safe.pdf",
        "check-report.pdf",
    ] {
        let bytes = std::fs::read(out_dir.join("sheets").join(f)).unwrap();
        assert!(bytes.starts_with(b"%PDF"));
    }
    let verify = Command::new(BIN)
        .args([
            "--kit",
            out_dir.join("kit").to_str().unwrap(),
            "ledger",
            "verify",
            "--sheet",
        ])
        .arg(out_dir.join("sheets/custody-vault.pdf"))
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
}
