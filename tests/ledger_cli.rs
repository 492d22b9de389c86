//! The `glasskey ledger` and `glasskey report` commands end to end: exit codes,
//! messages, and matching printed sheets against the ledger.

#[path = "ledger_fixture/mod.rs"]
mod fixture;

use std::path::Path;
use std::process::{Command, Output};

fn glasskey(kit: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .arg("--kit")
        .arg(kit)
        .args(args)
        .env("USER", "tester")
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
fn init_show_verify_report_and_match_sheets() {
    let dir = tempfile::tempdir().unwrap();
    let kit_dir = dir.path().join("kit");
    let o = glasskey(&kit_dir, &["ledger", "init"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "init without --tenant is an input error: {}",
        text(&o)
    );
    let o = glasskey(
        &kit_dir,
        &["--tenant", "contoso.onmicrosoft.com", "ledger", "init"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = glasskey(
        &kit_dir,
        &["--tenant", "contoso.onmicrosoft.com", "ledger", "init"],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a second init refuses: {}",
        text(&o)
    );

    let kit = glasskey::ledger::Kit::open(&kit_dir).unwrap();
    fixture::populate(&kit, 4);
    let head = kit.verify().unwrap().head.unwrap();

    let o = glasskey(&kit_dir, &["ledger", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&head.hash.to_hex()));

    let o = glasskey(&kit_dir, &["--json", "ledger", "show"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["events"].as_array().unwrap().len() as u64, head.seq);
    assert_eq!(v["state"]["keys"].as_object().unwrap().len(), 4);
    let o = glasskey(&kit_dir, &["ledger", "show"]);
    assert!(
        text(&o).contains("bg1-vault-0") && text(&o).contains("sealed at vault"),
        "{}",
        text(&o)
    );

    let sheet = dir.path().join("vault.pdf");
    let o = glasskey(
        &kit_dir,
        &[
            "report",
            "custody",
            "--location",
            "vault",
            "-o",
            sheet.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = glasskey(
        &kit_dir,
        &[
            "report",
            "custody",
            "--location",
            "garage",
            "-o",
            "/dev/null",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("office-safe"),
        "names the known locations: {}",
        text(&o)
    );
    let check = dir.path().join("check.pdf");
    let o = glasskey(
        &kit_dir,
        &[
            "report",
            "check",
            "--paper",
            "letter",
            "-o",
            check.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    // The printing was recorded, so the custody sheet's head is now an older head.
    let state = kit.state().unwrap();
    assert_eq!(state.events, head.seq + 2);
    let o = glasskey(
        &kit_dir,
        &["ledger", "verify", "--sheet", sheet.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("matches event {}", head.seq)),
        "{}",
        text(&o)
    );
    let o = glasskey(
        &kit_dir,
        &["ledger", "verify", "--sheet", check.to_str().unwrap()],
    );
    assert!(
        text(&o).contains(&format!("matches event {}", head.seq + 1)),
        "{}",
        text(&o)
    );
    let typed = format!("{}:{}", head.seq, &head.hash.to_hex()[..16]);
    let o = glasskey(&kit_dir, &["ledger", "verify", "--head", &typed]);
    assert!(o.status.success(), "{}", text(&o));
    let wrong = format!("{}:{}", head.seq, "0123456789abcdef");
    let o = glasskey(&kit_dir, &["ledger", "verify", "--head", &wrong]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = glasskey(&kit_dir, &["ledger", "verify", "--head", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));

    // A sheet from another kit does not match.
    let other = dir.path().join("other");
    let k2 = fixture::new_kit(&other);
    k2.append(
        &fixture::ops(&["x"]),
        glasskey::ledger::Event::KeyRetired {
            key: "k".into(),
            reason: "r".into(),
        },
    )
    .unwrap();
    fixture::populate(&k2, 1);
    let foreign = dir.path().join("foreign.pdf");
    let o = glasskey(
        &other,
        &[
            "report",
            "custody",
            "--location",
            "vault",
            "-o",
            foreign.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = glasskey(
        &kit_dir,
        &["ledger", "verify", "--sheet", foreign.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not in this ledger"), "{}", text(&o));

    // Tampering: exit 1, names the event and what to do.
    let path = kit.ledger().path().to_path_buf();
    let mut bytes = std::fs::read(&path).unwrap();
    let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 30;
    bytes[second_line] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    let o = glasskey(&kit_dir, &["ledger", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("event 2"), "{}", text(&o));
    assert!(text(&o).contains("next:"), "{}", text(&o));
    let o = glasskey(
        &kit_dir,
        &["report", "check", "-o", check.to_str().unwrap()],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "no sheet from a damaged ledger: {}",
        text(&o)
    );
}

#[test]
fn repair_command_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    fixture::populate(&kit, 1);
    let path = kit.ledger().path().to_path_buf();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"v\":1,\"seq\":");
    std::fs::write(&path, &bytes).unwrap();
    let o = glasskey(dir.path(), &["ledger", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("ledger repair"), "{}", text(&o));
    let o = glasskey(dir.path(), &["ledger", "repair"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("saved them to"), "{}", text(&o));
    assert!(glasskey(dir.path(), &["ledger", "verify"]).status.success());
    let o = glasskey(&dir.path().join("missing"), &["ledger", "show"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no kit"), "{}", text(&o));
}
