//! How glasskey behaves at a terminal and in pipes: a closed pipe ends it quietly
//! with success, `--help` groups the global options and describes every option,
//! and the ledger never records a nameless "operator".

#[path = "ledger_fixture/mod.rs"]
mod fixture;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use clap::CommandFactory;

fn glasskey() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_glasskey"));
    c.env_remove("GLASSKEY_KIT").env_remove("GLASSKEY_VIRTUAL");
    c
}

fn kit_with_events(dir: &Path, keys: usize) -> std::path::PathBuf {
    let kit_dir = dir.join("kit");
    let config = glasskey::ledger::KitConfig::example("contoso.onmicrosoft.com");
    let kit = glasskey::ledger::Kit::init(&kit_dir, &config).unwrap();
    fixture::populate(&kit, keys);
    kit_dir
}

/// `glasskey … | head -1`: the reader goes away after one line.
fn run_into_closed_pipe(args: &[&str], kit: &Path) -> (Option<i32>, String, String) {
    let mut child = glasskey()
        .arg("--kit")
        .arg(kit)
        .args(args)
        .env("USER", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let n = stdout.read(&mut first).unwrap();
    drop(stdout); // like `head` after its lines
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    (
        status.code(),
        String::from_utf8_lossy(&first[..n]).into_owned(),
        err,
    )
}

#[test]
fn a_closed_pipe_ends_quietly_with_success() {
    let dir = tempfile::tempdir().unwrap();
    // Enough events that the output outgrows the pipe's buffer.
    let kit = kit_with_events(dir.path(), 300);
    for args in [
        &["ledger", "show"][..],
        &["--json", "ledger", "show"][..],
        &["completions", "bash"][..],
    ] {
        let (code, first, err) = run_into_closed_pipe(args, &kit);
        assert!(!first.is_empty(), "{args:?} printed nothing");
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?} should end quietly: {err}");
    }
}

#[test]
fn help_groups_global_options_and_shows_examples() {
    let out = glasskey().args(["check", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let global = help
        .find("Global options:")
        .expect("a Global options heading");
    let own = help.find("--new-seal").expect("check's own option");
    assert!(
        own < global,
        "the command's own options come first:\n{help}"
    );
    assert!(help[global..].contains("--kit <DIR>"), "{help}");
    assert!(help[global..].contains("--json"), "{help}");
    assert!(help.contains("Graph sign-in (global options):"), "{help}");
    assert!(help.contains("Examples:"), "{help}");
    let top = glasskey().arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.contains("Examples:") && top.contains("GLASSKEY_KIT"),
        "{top}"
    );
}

#[test]
fn every_option_and_command_has_a_description() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} --{id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (command)", sub.get_name()));
            }
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    let mut cli = glasskey::cli::Cli::command();
    cli.build();
    walk(&cli, "glasskey", &mut missing);
    assert!(missing.is_empty(), "without a description: {missing:#?}");
}

#[test]
fn without_user_the_operator_is_asked_and_named_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let kit = kit_with_events(dir.path(), 1);
    let sheet = dir.path().join("c.pdf");
    let report = |stdin: &str| {
        let mut child = glasskey()
            .arg("--kit")
            .arg(&kit)
            .args(["report", "check", "-o"])
            .arg(&sheet)
            .env_remove("USER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    // Nobody answers: refused, naming the flag; nothing recorded.
    let out = report("");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Who is present?") && err.contains("--operator"),
        "{err}"
    );
    let out = report("Ana Lima, Ben Okafor\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let k = glasskey::ledger::Kit::open(&kit).unwrap();
    let last = k.ledger().records().unwrap().pop().unwrap();
    assert_eq!(last.event.kind(), "sheet_printed");
    assert_eq!(last.operators, ["Ana Lima", "Ben Okafor"]);
    assert!(k
        .ledger()
        .records()
        .unwrap()
        .iter()
        .all(|r| !r.operators.iter().any(|o| o == "operator")));
}
