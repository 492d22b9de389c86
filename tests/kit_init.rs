//! `glasskey kit init`: all by flags for scripts, and interactively at a real
//! terminal (a tmux pane: what the operator sees, keys as the operator types
//! them). Typos in later commands are caught offline with "did you mean".

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_glasskey")
}

fn glasskey(kit: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("GLASSKEY_KIT", kit)
        .env("USER", "tester")
        .env_remove("GLASSKEY_VIRTUAL")
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

#[test]
fn all_by_flags_writes_a_commented_config_and_an_empty_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let kit = dir.path().join("kit");
    let out = glasskey(
        &kit,
        &[
            "--tenant",
            "contoso.onmicrosoft.com",
            "kit",
            "init",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--account",
            "bg2@contoso.onmicrosoft.com",
            "--location",
            "vault=Northbridge bank vault",
            "--address",
            "vault=17 Threadneedle Street, London EC2R 8AY",
            "--custodian",
            "Ana Lima|security lead|+44 20 7946 0958",
            "--custodian",
            "Ben Okafor||+44 7700 900123",
            "--check-interval-days",
            "60",
            "--no-input",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not looked up in Entra"),
        "{}",
        text(&out)
    );
    let toml = std::fs::read_to_string(kit.join("glasskey.toml")).unwrap();
    assert!(
        toml.ends_with('\n') && toml.starts_with("# glasskey kit"),
        "{toml}"
    );
    assert!(toml.contains("# Who holds the envelopes"), "{toml}");
    assert!(toml.contains("# The break-glass accounts"), "{toml}");
    let k = glasskey::ledger::Kit::open(&kit).unwrap();
    let c = k.config();
    assert_eq!(c.accounts.len(), 2);
    assert_eq!(c.location("vault").unwrap().name, "Northbridge bank vault");
    assert_eq!(
        c.location("vault").unwrap().address.as_deref(),
        Some("17 Threadneedle Street, London EC2R 8AY")
    );
    assert_eq!(c.custodians[0].role.as_deref(), Some("security lead"));
    assert_eq!(c.custodians[1].role, None);
    assert_eq!(c.custodians[1].phone.as_deref(), Some("+44 7700 900123"));
    assert_eq!(c.policy.check_interval_days, 60);
    assert_eq!(k.ledger().records().unwrap().len(), 0);
    let verify = glasskey(&kit, &["ledger", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));

    // Never over an existing kit.
    let again = glasskey(
        &kit,
        &["--tenant", "t.onmicrosoft.com", "kit", "init", "--no-input"],
    );
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("already holds a kit"));

    // Typos are caught offline, before any sign-in, with the closest name.
    let typo = glasskey(
        &kit,
        &[
            "enroll",
            "--account",
            "bg1@contoso.onmicrosft.com",
            "--location",
            "vault",
        ],
    );
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo).contains("did you mean 'bg1@contoso.onmicrosoft.com'?"),
        "{}",
        text(&typo)
    );
    let typo = glasskey(
        &kit,
        &[
            "enroll",
            "--account",
            "bg1@contoso.onmicrosoft.com",
            "--location",
            "valut",
        ],
    );
    assert!(
        text(&typo).contains("did you mean 'vault'?"),
        "{}",
        text(&typo)
    );
    let pdf = dir.path().join("x.pdf");
    let typo = glasskey(
        &kit,
        &[
            "report",
            "custody",
            "--location",
            "ofice-safe",
            "-o",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(
        text(&typo).contains("did you mean 'office-safe'?"),
        "{}",
        text(&typo)
    );
    let typo = glasskey(&kit, &["check", "--key", "bg1-vault"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo).contains("the kit has no keys yet"),
        "{}",
        text(&typo)
    );
}

#[test]
fn bad_flags_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let kit = dir.path().join("kit");
    let out = glasskey(
        &kit,
        &[
            "--tenant",
            "t.onmicrosoft.com",
            "kit",
            "init",
            "--account",
            "bg1",
            "--no-input",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("name@domain"), "{}", text(&out));
    let out = glasskey(
        &kit,
        &[
            "--tenant",
            "t.onmicrosoft.com",
            "kit",
            "init",
            "--address",
            "garage=1 Road",
            "--account",
            "a@t.onmicrosoft.com",
            "--no-input",
        ],
    );
    assert!(text(&out).contains("not defined"), "{}", text(&out));
    assert!(
        !kit.join("glasskey.toml").exists(),
        "nothing written on a refusal"
    );
}

/// A tmux pane running glasskey: type answers once the prompt shows.
struct Pane {
    name: String,
}

impl Pane {
    fn start(name: &str, command: &str) -> Option<Pane> {
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "160",
                "-y",
                "50",
                command,
            ])
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Pane { name: name.into() })
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-200", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen shows `prompt` (as many times as `nth`), then type `keys` and Enter.
    fn answer(&self, prompt: &str, nth: usize, keys: &str) {
        let start = Instant::now();
        while self.screen().matches(prompt).count() < nth {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "prompt '{prompt}' never showed:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut args = vec!["send-keys", "-t", self.name.as_str()];
        if !keys.is_empty() {
            args.extend(["-l", keys]);
            Command::new("tmux").args(&args).status().unwrap();
            args = vec!["send-keys", "-t", self.name.as_str()];
        }
        args.push("Enter");
        Command::new("tmux").args(&args).status().unwrap();
    }

    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "'{text}' never showed:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

#[test]
fn interactive_at_a_terminal_as_an_operator_sees_it() {
    if Command::new("tmux").arg("-V").output().is_err() {
        skip::skip("tmux is not installed; apt-get install -y tmux to run the terminal test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kit = dir.path().join("kit");
    let name = format!("glasskey-kit-init-{}", std::process::id());
    let command = format!(
        "env -u GLASSKEY_VIRTUAL GLASSKEY_KIT='{}' '{}' kit init; echo \"EXIT=$?\"; sleep 60",
        kit.display(),
        bin()
    );
    let Some(pane) = Pane::start(&name, &command) else {
        skip::skip("tmux could not start a session here");
        return;
    };
    pane.answer("Tenant (", 1, "contoso.onmicrosoft.com");
    pane.answer(
        "Account 1 (userPrincipalName)",
        1,
        "bg1@contoso.onmicrosoft.com",
    );
    pane.answer(
        "Account 2 (userPrincipalName)",
        1,
        "bg2@contoso.onmicrosoft.com",
    );
    pane.answer("Another account? [y/N]", 1, "n");
    pane.answer(
        "Name of location 'vault' [Off-site vault]",
        1,
        "Northbridge bank vault",
    );
    pane.answer(
        "Name of location 'office-safe' [Office fireproof safe]",
        1,
        "",
    );
    pane.answer("Address of Northbridge bank vault? [y/N]", 1, "y");
    pane.answer(
        "Address of Northbridge bank vault:",
        1,
        "17 Threadneedle Street, London",
    );
    pane.answer("Address of Office fireproof safe? [y/N]", 1, "n");
    pane.answer("Custodian's name", 1, "Ana Lima");
    pane.answer("Role of Ana Lima? [y/N]", 1, "y");
    pane.answer("Role of Ana Lima:", 1, "security lead");
    pane.answer("Phone number of Ana Lima", 1, "+44 20 7946 0958");
    pane.answer("Custodian's name", 2, "Ben Okafor");
    pane.answer("Role of Ben Okafor? [y/N]", 1, "n");
    pane.answer("Phone number of Ben Okafor", 1, "+44 7700 900123");
    pane.answer("Another custodian? [y/N]", 1, "n");
    pane.answer("Days between liveness checks [90]", 1, "");
    pane.answer("Keys per account [2]", 1, "x");
    pane.answer("Keys per account [2]", 2, "3");
    let screen = pane.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("'x' is not a number"), "{screen}");
    assert!(screen.contains("created kit"), "{screen}");
    let k = glasskey::ledger::Kit::open(&kit).unwrap();
    let c = k.config();
    assert_eq!(c.tenant, "contoso.onmicrosoft.com");
    assert_eq!(
        c.location("vault").unwrap().address.as_deref(),
        Some("17 Threadneedle Street, London")
    );
    assert_eq!(
        c.location("office-safe").unwrap().name,
        "Office fireproof safe"
    );
    assert_eq!(c.custodians.len(), 2);
    assert_eq!(c.custodians[0].phone.as_deref(), Some("+44 20 7946 0958"));
    assert_eq!(
        (c.policy.check_interval_days, c.policy.keys_per_account),
        (90, 3)
    );
}
