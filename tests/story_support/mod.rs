//! What the story tests share: a Graph emulator process, a kit in a temp dir,
//! the real binary driven with PINs on stdin, and the search of everything a
//! run wrote (files, stdout, stderr) for the PINs it used.

#![allow(dead_code)] // each story test file uses its own part of this

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary under test. GLASSKEY_TEST_BIN may name a copy of it: the target
/// directory is shared by several worktrees, whose builds replace each other's
/// `target/debug/glasskey` while tests run.
pub fn bin() -> String {
    std::env::var("GLASSKEY_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_glasskey").into())
}
pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const BG1: &str = "bg1@contoso.onmicrosoft.com";
pub const BG2: &str = "bg2@contoso.onmicrosoft.com";

/// A child process killed when dropped (emulator, peer authenticator).
pub struct Proc {
    pub child: Child,
    /// What it printed after READY: a URL or a socket address.
    pub address: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawn `cmd`, wait for its `READY <address>` line.
pub fn spawn_ready(mut cmd: Command) -> Proc {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("READY line");
    let address = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("expected READY, got {line:?}"))
        .to_string();
    Proc { child, address }
}

/// The Graph emulator: the demo tenant, or the tenant in `state`.
pub fn emulator(state: Option<&Path>) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.args(["graph", "emulator", "--listen", "127.0.0.1:0"]);
    if let Some(s) = state {
        cmd.arg("--state").arg(s);
    }
    spawn_ready(cmd)
}

/// The demo tenant's state as JSON, for tests that change it.
pub fn demo_state() -> serde_json::Value {
    let out = Command::new(bin())
        .args(["graph", "emulator", "--print-state"])
        .output()
        .expect("print-state");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("state JSON")
}

/// One operator story: a temp dir holding the kit (and the virtual keys), an
/// emulator, and the transcript of every command's stdout and stderr.
pub struct Story {
    pub tmp: tempfile::TempDir,
    pub emulator: Proc,
    /// `--virtual DIR` for every command, when the story uses virtual keys.
    pub virtual_dir: Option<PathBuf>,
    pub kit: PathBuf,
    pub transcript: Vec<u8>,
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Story {
    /// A fresh kit for the demo tenant (`ledger init`), with virtual keys or not.
    pub fn new(virtual_keys: bool, emulator_state: Option<&serde_json::Value>) -> Story {
        let tmp = tempfile::tempdir().expect("tempdir");
        let emulator = match emulator_state {
            Some(state) => {
                let path = tmp.path().join("emulator-state.json");
                std::fs::write(&path, serde_json::to_vec(state).unwrap()).unwrap();
                emulator(Some(&path))
            }
            None => emulator(None),
        };
        let virtual_dir = virtual_keys.then(|| tmp.path().join("keys"));
        if let Some(d) = &virtual_dir {
            std::fs::create_dir_all(d).unwrap();
        }
        let kit = tmp.path().join("kit");
        let mut story = Story {
            tmp,
            emulator,
            virtual_dir,
            kit,
            transcript: Vec::new(),
        };
        story.ok(&["ledger", "init"], "");
        story
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Run glasskey against this story's kit, keys and emulator; `stdin` answers prompts.
    pub fn run_in(&mut self, kit: &Path, args: &[&str], stdin: &str) -> Output {
        let mut cmd = Command::new(bin());
        cmd.arg("--kit").arg(kit);
        if let Some(d) = &self.virtual_dir {
            cmd.arg("--virtual").arg(d);
        }
        let url = self.emulator.address.clone();
        cmd.args(["--graph-url", &url, "--login-url", &url, "--tenant", TENANT]);
        cmd.args(["--client-id", "11111111-1111-1111-1111-111111111111"]);
        cmd.env("GLASSKEY_CLIENT_SECRET", "emulator-secret");
        cmd.env_remove("GLASSKEY_VIRTUAL");
        cmd.env_remove("GLASSKEY_KIT");
        // Events name who was present: $USER when no --operator is given.
        cmd.env("USER", "story-operator");
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn glasskey");
        // A command may exit before reading all answers; that is not a failure here.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().expect("glasskey output");
        self.transcript.extend_from_slice(&out.stdout);
        self.transcript.extend_from_slice(&out.stderr);
        out
    }

    pub fn run(&mut self, args: &[&str], stdin: &str) -> Output {
        let kit = self.kit.clone();
        self.run_in(&kit, args, stdin)
    }

    /// Run and insist on exit 0; returns stdout + stderr.
    pub fn ok(&mut self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "glasskey {args:?}: {}", text(&out));
        text(&out)
    }

    /// Run and insist on exit `code`; returns stdout + stderr.
    pub fn exits(&mut self, code: i32, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert_eq!(
            out.status.code(),
            Some(code),
            "glasskey {args:?}: {}",
            text(&out)
        );
        text(&out)
    }

    /// Create a virtual key of `model` named `name` in the story's key folder.
    pub fn virtual_key(&mut self, name: &str, model: &str) {
        let path = self
            .virtual_dir
            .as_ref()
            .expect("virtual story")
            .join(format!("{name}.json"));
        self.ok(
            &[
                "keys",
                "virtual-create",
                "--model",
                model,
                "--out",
                path.to_str().unwrap(),
            ],
            "",
        );
    }

    /// Enroll the key `device` for `account` at `location` with a typed PIN.
    pub fn enroll(
        &mut self,
        device: &str,
        account: &str,
        location: &str,
        label: &str,
        seal: &str,
        pin: &str,
    ) {
        let out = self.enroll_output(device, account, location, label, seal, pin, &[]);
        assert!(out.status.success(), "enroll {label}: {}", text(&out));
    }

    #[allow(clippy::too_many_arguments)]
    pub fn enroll_output(
        &mut self,
        device: &str,
        account: &str,
        location: &str,
        label: &str,
        seal: &str,
        pin: &str,
        extra: &[&str],
    ) -> Output {
        let mut args = vec![
            "--device",
            device,
            "enroll",
            "--account",
            account,
            "--location",
            location,
            "--label",
            label,
            "--seal",
            seal,
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
            "--operator",
            "Alice",
            "--operator",
            "Bob",
        ];
        args.extend_from_slice(extra);
        self.run(&args, &format!("{pin}\n{pin}\n"))
    }

    /// `check --key LABEL` with `device` plugged; answers "plugged in? y", then the PIN.
    pub fn check(
        &mut self,
        code: i32,
        device: &str,
        label: &str,
        seal: &str,
        pin: Option<&str>,
        extra: &[&str],
    ) -> String {
        let mut args = vec![
            "--device",
            device,
            "check",
            "--key",
            label,
            "--new-seal",
            seal,
        ];
        args.extend_from_slice(extra);
        let stdin = match pin {
            Some(p) => format!("y\n{p}\n"),
            None => "y\n".to_string(),
        };
        self.exits(code, &args, &stdin)
    }

    /// The ledger's hash chain verifies.
    pub fn ledger_verifies(&mut self) {
        self.ok(&["ledger", "verify"], "");
    }

    /// The ledger's events as JSON (`ledger show --json`).
    pub fn ledger_json(&mut self) -> serde_json::Value {
        let out = self.ok(&["--json", "ledger", "show"], "");
        let start = out.find('{').expect("JSON object");
        let mut de = serde_json::Deserializer::from_str(&out[start..]).into_iter();
        de.next().expect("one JSON value").expect("valid JSON")
    }

    /// No file under the story's dir, and nothing printed, holds any of `pins`.
    pub fn assert_no_pin_anywhere(&self, pins: &[&str]) {
        let mut files = Vec::new();
        files_under(self.dir(), &mut files);
        assert!(!files.is_empty());
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_default();
            for pin in pins {
                assert!(!contains(&bytes, pin), "PIN found in {}", f.display());
            }
        }
        for pin in pins {
            assert!(!contains(&self.transcript, pin), "PIN found in the output");
        }
    }
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}
