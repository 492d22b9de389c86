//! Ceremonies that cannot hurt a key, through the real binary on virtual keys and
//! the Graph emulator: every preflight refusal leaves the key untouched (no PIN,
//! no credential); `check` proves which key it holds before any PIN attempt and
//! lets a typo be retyped; an interrupted enrollment is finished by `resume`;
//! a reset happens only right after the key is inserted again.

#[path = "support/skip.rs"]
mod skip;
#[path = "story_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{text, Story, BG1, BG2};

const PIN_A: &str = "5718293046";
const PIN_B: &str = "8203946175";

/// The virtual key's stored state (its file is its storage).
fn key_state(story: &Story, name: &str) -> serde_json::Value {
    let path = story
        .virtual_dir
        .as_ref()
        .unwrap()
        .join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The key has no PIN and no credential.
fn assert_untouched(story: &Story, name: &str) {
    let s = key_state(story, name);
    assert!(s["pin"].is_null(), "the key got a PIN: {}", s["pin"]);
    assert_eq!(
        s["credentials"].as_array().map_or(0, |c| c.len()),
        0,
        "the key got a credential"
    );
}

fn enroll_args<'a>(label: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--device",
        "k",
        "enroll",
        "--account",
        BG1,
        "--location",
        "vault",
        "--label",
        label,
        "--seal",
        "S-1",
        "--pin-prompt",
        "--pin-slip-cmd",
        "cat > /dev/null",
        "--operator",
        "Alice",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn story_preflight_refuses_a_label_too_long_for_entra_before_touching_the_key() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let long = "bg1-emergency-access-vault-model-a";
    let out = story.exits(2, &enroll_args(long, &[]), &format!("{PIN_A}\n{PIN_A}\n"));
    assert!(out.contains("label") && out.contains("1 to 30"), "{out}");
    assert!(out.contains("nothing on the key was changed"), "{out}");
    assert_untouched(&story, "k");
    // The default label is short and valid: BG1-VAULT-A.
    let out = story.ok(
        &[
            "--device",
            "k",
            "enroll",
            "--account",
            BG1,
            "--location",
            "vault",
            "--seal",
            "S-1",
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
            "--operator",
            "Alice",
        ],
        &format!("{PIN_A}\n{PIN_A}\n"),
    );
    assert!(out.contains("enrolled key BG1-VAULT-A"), "{out}");
}

#[test]
fn story_preflight_refuses_a_missing_printer_before_touching_the_key() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let mut args = enroll_args("BG1-VAULT-A", &[]);
    let cmd = args.iter().position(|a| *a == "cat > /dev/null").unwrap();
    args[cmd] = "/nonexistent/bin/lp -d vault";
    let out = story.exits(2, &args, &format!("{PIN_A}\n{PIN_A}\n"));
    assert!(
        out.contains("printer") && out.contains("/nonexistent/bin/lp"),
        "{out}"
    );
    assert_untouched(&story, "k");
}

#[test]
fn story_preflight_refuses_an_unknown_attestation_root_before_touching_the_key() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "b");
    let root = story
        .virtual_dir
        .as_ref()
        .unwrap()
        .join("attestation-roots")
        .join("model-b.pem");
    std::fs::remove_file(&root).expect("the model root exists");
    let out = story.exits(
        2,
        &enroll_args("BG1-VAULT-A", &[]),
        &format!("{PIN_A}\n{PIN_A}\n"),
    );
    assert!(
        out.contains("trust_anchor") && out.contains("no attestation root"),
        "{out}"
    );
    assert_untouched(&story, "k");
}

#[test]
fn story_preflight_refuses_a_virtual_key_for_a_real_tenant_before_signing_in() {
    let story = Story::new(true, None);
    let mut story = story;
    story.virtual_key("k", "a");
    // Not through Story::run: that points at the emulator.
    let out = Command::new(support::bin())
        .arg("--kit")
        .arg(&story.kit)
        .arg("--virtual")
        .arg(story.virtual_dir.as_ref().unwrap())
        .args([
            "--graph-url",
            "https://graph.microsoft.com",
            "--login-url",
            "https://login.microsoftonline.com",
        ])
        .args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            "11111111-1111-1111-1111-111111111111",
        ])
        .env("GLASSKEY_CLIENT_SECRET", "not-used")
        .args(enroll_args("BG1-VAULT-A", &[]))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("virtual_guard") && t.contains("not the local emulator"),
        "{t}"
    );
    assert_untouched(&story, "k");
}

/// Makes a folder immutable (read-only even for root) until dropped.
struct Immutable<'a>(&'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

#[test]
fn story_preflight_refuses_a_read_only_kit_before_touching_the_key() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.ok(&["ledger", "verify"], "");
    let kit = story.kit.clone();
    let made = Command::new("chattr").arg("+i").arg(&kit).status();
    if !made.is_ok_and(|s| s.success()) || std::fs::write(kit.join("probe"), b"x").is_ok() {
        let _ = std::fs::remove_file(kit.join("probe"));
        let _ = Command::new("chattr").arg("-i").arg(&kit).status();
        skip::skip("cannot make the kit read-only here (chattr +i)");
        return;
    }
    let guard = Immutable(&kit);
    let out = story.exits(
        2,
        &enroll_args("BG1-VAULT-A", &[]),
        &format!("{PIN_A}\n{PIN_A}\n"),
    );
    drop(guard);
    assert!(
        out.contains("kit_writable") && out.contains("not writable"),
        "{out}"
    );
    assert_untouched(&story, "k");
}

#[test]
fn story_dry_run_prints_the_plan_and_changes_nothing() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let out = story.ok(&enroll_args("BG1-VAULT-A", &["--dry-run"]), "");
    assert!(
        out.contains("[ok]   label") && out.contains("plan:"),
        "{out}"
    );
    assert!(out.contains("register it in Entra"), "{out}");
    assert_untouched(&story, "k");
    let events = story.ledger_json()["events"]
        .as_array()
        .map_or(0, |e| e.len());
    assert_eq!(events, 0, "a dry run recorded events");
}

#[test]
fn story_check_of_a_wrong_key_of_the_same_model_spends_no_pin_retry() {
    let mut story = Story::new(true, None);
    story.virtual_key("k1", "a");
    story.virtual_key("k2", "a");
    story.enroll("k1", BG1, "vault", "K1", "S-1", PIN_A);
    story.enroll("k2", BG2, "vault", "K2", "S-2", PIN_B);
    let before = key_state(&story, "k2")["pin_retries"].clone();
    // K1's envelope, but K2 plugged in: identified without the PIN.
    let out = story.check(1, "k2", "K1", "S-3", Some(PIN_A), &[]);
    assert!(
        out.contains("this is not key K1") && out.contains("key K2"),
        "{out}"
    );
    assert!(
        !out.contains("PIN from the slip"),
        "a PIN was asked for: {out}"
    );
    assert_eq!(key_state(&story, "k2")["pin_retries"], before);
    // A blank key of the same model: no glasskey credential, still no PIN tried.
    story.virtual_key("k3", "a");
    let out = story.check(1, "k3", "K1", "S-4", Some(PIN_A), &[]);
    assert!(out.contains("holds no glasskey credential"), "{out}");
    assert_eq!(key_state(&story, "k3")["pin_retries"], 8);
}

#[test]
fn story_check_lets_a_typo_be_retyped_and_passes() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.enroll("k", BG1, "vault", "K", "S-1", PIN_A);
    // Plugged in? y; a typo; retype? y; the right PIN.
    let out = story.exits(
        0,
        &["--device", "k", "check", "--key", "K", "--new-seal", "S-2"],
        &format!("y\n5718293047\ny\n{PIN_A}\n"),
    );
    assert!(out.contains("K: PASSED"), "{out}");
    assert!(out.contains("retries left"), "{out}");
    // One typo and no retype: no advice to re-enroll.
    let out = story.exits(
        1,
        &["--device", "k", "check", "--key", "K", "--new-seal", "S-3"],
        "y\n5718293047\nn\n",
    );
    assert!(
        out.contains("most likely a typo") && !out.contains("re-enroll"),
        "{out}"
    );
    story.assert_no_pin_anywhere(&[PIN_A, PIN_B]);
}

/// Inject faults into the running emulator (its control endpoint).
fn emulator_faults(story: &Story, faults: serde_json::Value) {
    use std::io::{Read, Write};
    let addr = story
        .emulator
        .address
        .trim_start_matches("http://")
        .to_string();
    let body = serde_json::json!({ "faults": faults }).to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /.glasskey-emulator/control HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
}

fn enroll_no_seal<'a>(device: &'a str, label: &'a str) -> Vec<&'a str> {
    vec![
        "--device",
        device,
        "enroll",
        "--account",
        BG1,
        "--location",
        "vault",
        "--label",
        label,
        "--pin-prompt",
        "--pin-slip-cmd",
        "cat > /dev/null",
        "--operator",
        "Alice",
    ]
}

#[test]
fn story_resume_asks_only_for_the_seal_of_a_registered_key() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    // No answer at the seal prompt: the key is registered, only the seal is missing.
    let out = story.exits(2, &enroll_no_seal("k", "K"), &format!("{PIN_A}\n{PIN_A}\n"));
    assert!(out.contains("glasskey resume"), "{out}");
    let out = story.ok(&["resume", "--dry-run"], "");
    assert!(out.contains("only its seal number is missing"), "{out}");
    let audit = story.run(&["audit"], "");
    assert!(!text(&audit).contains("abandoned"), "{}", text(&audit));
    let out = story.ok(&["resume"], "S-9\n");
    assert!(out.contains("sealed and recorded"), "{out}");
    let ledger = story.ledger_json();
    assert_eq!(ledger["state"]["keys"]["K"]["custody"]["seal"], "S-9");
    assert!(ledger["state"]["keys"]["K"]["credentials"][0]["entra"].is_object());
    assert!(story
        .ok(&["resume", "--dry-run"], "")
        .contains("nothing is half done"));
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_A]);
}

#[test]
fn story_resume_registers_a_credential_entra_refused_at_first() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    emulator_faults(
        &story,
        serde_json::json!([{ "route": "register", "status": 503, "times": 5 }]),
    );
    let out = story.exits(3, &enroll_no_seal("k", "K"), &format!("{PIN_A}\n{PIN_A}\n"));
    assert!(out.contains("glasskey resume"), "{out}");
    let out = story.ok(&["resume", "--dry-run"], "");
    assert!(out.contains("Entra does not have yet"), "{out}");
    // Let registration through again.
    let mut ok = false;
    for _ in 0..6 {
        let out = story.run(&["resume"], "S-9\n");
        if out.status.success() {
            ok = true;
            break;
        }
    }
    assert!(ok, "resume never registered");
    let ledger = story.ledger_json();
    assert!(ledger["state"]["keys"]["K"]["credentials"][0]["entra"].is_object());
    assert_eq!(ledger["state"]["keys"]["K"]["custody"]["seal"], "S-9");
    story.ledger_verifies();
}

#[test]
fn story_split_enroll_keeps_the_first_finished_item_when_the_second_fails() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let req = story.dir().join("req.json");
    let resp = story.dir().join("resp.json");
    let (req_s, resp_s) = (
        req.to_str().unwrap().to_string(),
        resp.to_str().unwrap().to_string(),
    );
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
            &req_s,
        ],
        "",
    );
    // Item 1 finishes (ready, PIN twice, seal); then stdin ends at item 2's "ready?".
    let args = [
        "--device",
        "k",
        "enroll",
        "--request",
        &req_s,
        "--out",
        &resp_s,
        "--location",
        "vault",
        "--pin-prompt",
        "--pin-slip-cmd",
        "cat > /dev/null",
        "--operator",
        "Alice",
    ];
    let out = story.exits(2, &args, &format!("y\n{PIN_A}\n{PIN_A}\nS-1\n"));
    assert!(out.contains("written to"), "{out}");
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&resp).unwrap()).unwrap();
    assert_eq!(bundle["items"].as_array().unwrap().len(), 1, "{bundle}");
    assert_eq!(bundle["items"][0]["account"]["userPrincipalName"], BG1);
    // A re-run skips the finished account and does the second with another key.
    story.virtual_key("k2", "b");
    let mut args2 = args.to_vec();
    args2[1] = "k2";
    let out = story.ok(&args2, &format!("y\n{PIN_B}\n{PIN_B}\nS-2\n"));
    assert!(out.contains("already in"), "{out}");
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&resp).unwrap()).unwrap();
    assert_eq!(bundle["items"].as_array().unwrap().len(), 2, "{bundle}");
    story.ok(&["graph", "register", "--response", &resp_s], "");
    story.ledger_verifies();
}

/// A tmux session running one glasskey command, read as the operator sees it.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Option<Tmux> {
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "200",
                "-y",
                "50",
                command,
            ])
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmux {
            name: name.to_string(),
        })
    }
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-200", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.name, keys, "Enter"])
            .status()
            .unwrap();
    }
    /// Wait (up to 30 s) until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        for _ in 0..300 {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("never showed {text:?}:\n{}", self.screen());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn story_reset_by_reinsertion_in_a_terminal() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.ok(
        &["--device", "k", "keys", "set-pin"],
        &format!("{PIN_A}\n{PIN_A}\n"),
    );
    let vdir = story.virtual_dir.clone().unwrap();
    // Plugged in long ago: the key refuses a reset as it is (its 5 s window is closed).
    std::fs::write(vdir.join(".k.inserted"), "0").unwrap();
    let done = story.dir().join("done");
    let cmd = format!(
        "{} --kit {} --virtual {} --device k keys reset; echo EXIT=$? > {}; sleep 30",
        shell_quote(&support::bin()),
        shell_quote(story.kit.to_str().unwrap()),
        shell_quote(vdir.to_str().unwrap()),
        shell_quote(done.to_str().unwrap()),
    );
    let name = format!("gk-reset-{}", std::process::id());
    let Some(tmux) = Tmux::start(&name, &cmd) else {
        skip::skip("tmux cannot start a session here");
        return;
    };
    let screen = tmux.wait_for("Type 'yes'");
    assert!(
        screen.contains("glasskey virtual model A"),
        "the key is named: {screen}"
    );
    tmux.keys("yes");
    tmux.wait_for("remove the key at k");
    story.ok(&["keys", "virtual-unplug", "k"], "");
    tmux.wait_for("insert it again now");
    story.ok(&["keys", "virtual-insert", "k"], "");
    let screen = tmux.wait_for("was reset");
    assert!(screen.contains("no PIN, no credentials"), "{screen}");
    for _ in 0..50 {
        if done.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "EXIT=0");
    assert!(key_state(&story, "k")["pin"].is_null());
}

/// The binder's front page follows the envelopes: after a check reseals a key, the kit's
/// emergency sheet names the new seal, not the one the check broke.
#[test]
fn story_check_refreshes_the_emergency_sheet_with_the_new_seal() {
    if std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: pdftotext (poppler-utils) is not installed; `make test` installs it");
        return;
    }
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.enroll("k", BG1, "vault", "K", "S-101", PIN_A);
    let sheet = story.dir().join("kit/sheets/emergency.pdf");
    let sheet_text = || {
        let out = std::process::Command::new("pdftotext")
            .arg(&sheet)
            .arg("-")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(sheet_text().contains("S-101"), "{}", sheet_text());
    story.check(0, "k", "K", "S-202", Some(PIN_A), &[]);
    let after = sheet_text();
    assert!(after.contains("S-202"), "{after}");
    assert!(!after.contains("S-101"), "{after}");
}

/// `check` as an operator sees it in a terminal: the confirmation, the PIN typed at a
/// hidden prompt (never echoed), a typo refused, the offer to retype, then the right PIN.
#[test]
fn story_check_in_a_terminal_hides_the_pin_and_offers_a_retype() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.enroll("k", BG1, "vault", "K", "S-1", PIN_A);
    let vdir = story.virtual_dir.clone().unwrap();
    let done = story.dir().join("done");
    let cmd = format!(
        "USER=alice {} --kit {} --virtual {} --device k check --key K --new-seal S-2; echo EXIT=$? > {}; sleep 30",
        shell_quote(&support::bin()),
        shell_quote(story.kit.to_str().unwrap()),
        shell_quote(vdir.to_str().unwrap()),
        shell_quote(done.to_str().unwrap()),
    );
    let name = format!("gk-check-{}", std::process::id());
    let Some(tmux) = Tmux::start(&name, &cmd) else {
        skip::skip("tmux cannot start a session here");
        return;
    };
    tmux.wait_for("plugged in (and no other key)? [y/N]");
    tmux.keys("y");
    tmux.wait_for("PIN from the slip in the envelope of key K");
    tmux.keys("5718293047");
    tmux.wait_for("Retype it carefully? [y/N]");
    tmux.keys("y");
    // The second PIN prompt is on screen below the first.
    for _ in 0..300 {
        if tmux.screen().matches("PIN from the slip").count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tmux.keys(PIN_A);
    let screen = tmux.wait_for("K: PASSED");
    assert!(!screen.contains(PIN_A), "the PIN was echoed:\n{screen}");
    assert!(
        !screen.contains("5718293047"),
        "the typo was echoed:\n{screen}"
    );
    for _ in 0..100 {
        if done.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "EXIT=0");
    story.assert_no_pin_anywhere(&[PIN_A]);
}

/// A wait for a touch, as an operator sees it in a terminal: a spinner line saying which key
/// and what to do, with the seconds waited, redrawn in place; afterwards one plain line
/// stays, and the key's own "touch the key now" does not break the spinner's line.
#[test]
fn story_touch_wait_shows_a_spinner_in_a_terminal() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.enroll("k", BG1, "vault", "K", "S-1", PIN_A);
    let vdir = story.virtual_dir.clone().unwrap();
    let done = story.dir().join("done");
    let cmd = format!(
        "USER=alice GLASSKEY_VIRTUAL_UP=delay:3000 {} --kit {} --virtual {} --device k check --key K --new-seal S-2 --presence-only; echo EXIT=$? > {}; sleep 30",
        shell_quote(&support::bin()),
        shell_quote(story.kit.to_str().unwrap()),
        shell_quote(vdir.to_str().unwrap()),
        shell_quote(done.to_str().unwrap()),
    );
    let name = format!("gk-spin-{}", std::process::id());
    let Some(tmux) = Tmux::start(&name, &cmd) else {
        skip::skip("tmux cannot start a session here");
        return;
    };
    tmux.wait_for("plugged in (and no other key)? [y/N]");
    tmux.keys("y");
    let during = tmux.wait_for(" s)");
    let line = during
        .lines()
        .find(|l| l.contains("touch the key when it blinks ("))
        .unwrap_or_else(|| panic!("no spinner line:\n{during}"));
    assert!(
        ['|', '/', '-', '\\'].contains(&line.chars().next().unwrap()),
        "{line}"
    );
    let after = tmux.wait_for("K: PASSED");
    assert!(!after.contains("touch the key now"), "{after}");
    assert!(
        after
            .lines()
            .any(|l| l == "key K: touch the key when it blinks"),
        "the plain line stays:\n{after}"
    );
    assert!(
        after.matches("touch the key when it blinks").count() == 1,
        "the spinner redraws in place:\n{after}"
    );
    for _ in 0..100 {
        if done.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "EXIT=0");
}
