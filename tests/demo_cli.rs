//! `glasskey demo` through the binary: it completes, tells the whole story, and its
//! sheets are PDFs that match its ledger.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_glasskey");

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
    assert!(
        text(&out).contains("4 keys enrolled, 4 of them passed"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("audit healthy"), "{}", text(&out));
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
    // A second run into the same folder starts afresh; a foreign folder is refused.
    let again = Command::new(BIN)
        .args(["demo", "--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let refused = Command::new(BIN)
        .args(["demo", "--out", foreign.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(foreign.join("precious.txt").exists());
}
