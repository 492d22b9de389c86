//! No silent loss: `ledger repair` cuts only a torn tail beyond the anchored
//! head; committed events missing from the file are lost data that it refuses to
//! paper over. A missing anchor is damage, never recreated.

mod ledger_fixture;

use glasskey::ledger::{Event, Kit, LedgerError, ProblemKind, ANCHOR_FILE};
use ledger_fixture as fixture;

fn kit_with(events: usize) -> (tempfile::TempDir, Kit) {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    let ops = fixture::ops(&["alice"]);
    for i in 0..events {
        kit.append(
            &ops,
            Event::KeyRetired {
                key: format!("k{i}"),
                reason: "filler".into(),
            },
        )
        .unwrap();
    }
    (dir, kit)
}

fn line_ends(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect()
}

/// The scenario from the attack review: the file is cut after event 20 plus a
/// partial line while the anchor says 37.
#[test]
fn repair_refuses_to_drop_events_the_anchor_vouches_for() {
    let (_dir, kit) = kit_with(37);
    let path = kit.ledger().path().to_path_buf();
    let full = std::fs::read(&path).unwrap();
    let ends = line_ends(&full);
    let cut = ends[19] + 40; // event 20, then 40 bytes of event 21
    std::fs::write(&path, &full[..cut]).unwrap();
    let anchor_before = std::fs::read(kit.dir().join(ANCHOR_FILE)).unwrap();

    let report = kit.verify().unwrap();
    let problem = report.problem.expect("a problem");
    assert_eq!(problem.kind, ProblemKind::Truncated, "{problem:?}");
    assert!(problem.message.contains("37"), "{}", problem.message);
    assert!(problem.message.contains("lost"), "{}", problem.message);
    assert!(problem.next.contains("backup"), "{}", problem.next);

    let err = kit.ledger().repair().unwrap_err();
    let LedgerError::Invalid(p) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(p.kind, ProblemKind::Truncated);
    // Nothing was cut, nothing re-anchored, no backup file was written.
    assert_eq!(std::fs::read(&path).unwrap(), &full[..cut]);
    assert_eq!(
        std::fs::read(kit.dir().join(ANCHOR_FILE)).unwrap(),
        anchor_before
    );
    assert!(!std::fs::read_dir(kit.dir()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("torn")));
    assert!(!kit.verify().unwrap().ok());
    // Appending is refused too.
    assert!(kit
        .append(
            &fixture::ops(&["alice"]),
            Event::KeyRetired {
                key: "x".into(),
                reason: "y".into()
            }
        )
        .is_err());
}

/// The same cut without a partial line is refused as well.
#[test]
fn a_clean_cut_below_the_anchor_is_refused_by_repair() {
    let (_dir, kit) = kit_with(5);
    let path = kit.ledger().path().to_path_buf();
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&path, &full[..line_ends(&full)[2]]).unwrap();
    assert!(matches!(
        kit.ledger().repair(),
        Err(LedgerError::Invalid(p)) if p.kind == ProblemKind::Truncated
    ));
}

/// A torn tail beyond the anchor (the crash case) is still cut.
#[test]
fn a_torn_tail_beyond_the_anchor_is_still_repaired() {
    let (_dir, kit) = kit_with(5);
    let path = kit.ledger().path().to_path_buf();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"v\":1,\"seq\":6,");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        kit.verify().unwrap().problem.map(|p| p.kind),
        Some(ProblemKind::TornTail)
    );
    kit.ledger().repair().unwrap();
    assert!(kit.verify().unwrap().ok());
    assert_eq!(kit.verify().unwrap().events, 5);
}

#[test]
fn a_missing_anchor_is_an_error_and_is_not_recreated() {
    let (_dir, kit) = kit_with(3);
    let anchor = kit.dir().join(ANCHOR_FILE);
    std::fs::remove_file(&anchor).unwrap();
    match kit.verify() {
        Ok(report) => assert!(!report.ok()),
        Err(e) => assert!(e.to_string().contains("missing"), "{e}"),
    }
    let err = kit
        .append(
            &fixture::ops(&["alice"]),
            Event::KeyRetired {
                key: "x".into(),
                reason: "y".into(),
            },
        )
        .unwrap_err();
    let err: glasskey::Error = err.into();
    assert!(err.what.contains("missing"), "{}", err.what);
    assert!(!anchor.exists(), "the anchor must not be recreated");
    assert!(kit.ledger().repair().is_err());
    assert!(!anchor.exists());
}

#[test]
fn a_fresh_kit_has_an_anchor_at_event_zero_and_missing_it_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    let anchor = dir.path().join(ANCHOR_FILE);
    assert_eq!(
        std::fs::read_to_string(&anchor).unwrap(),
        format!("0 {}\n", "0".repeat(64))
    );
    assert!(kit.verify().unwrap().ok());
    std::fs::remove_file(&anchor).unwrap();
    let kit = Kit::open(dir.path()).unwrap();
    assert!(kit.verify().is_err() || !kit.verify().unwrap().ok());
    assert!(kit.state().is_err());
}

fn glasskey(kit: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .arg("--kit")
        .arg(kit)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// An event dated at the end of the calendar: the next check would fall past
/// year 9999. `ledger show`, `audit` and `report check` answer instead of panicking.
#[test]
fn an_event_dated_9999_12_31_does_not_crash_show_audit_or_report() {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    fixture::populate(&kit, 2);
    kit.ledger()
        .append_at(
            &fixture::ops(&["alice"]),
            Event::LivenessChecked {
                key: "bg1-vault-0".into(),
                passed: true,
                counter: Some(9),
                checks: vec![],
            },
            fixture::at("9999-12-31T23:00:00Z"),
        )
        .unwrap();
    let pdf = dir.path().join("check.pdf");
    for args in [
        vec!["ledger", "show"],
        vec!["audit"],
        vec!["report", "check", "-o", pdf.to_str().unwrap()],
    ] {
        let out = glasskey(dir.path(), &args);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0..=3)),
            "{args:?} exited {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn a_huge_check_interval_is_a_clear_config_error() {
    let dir = tempfile::tempdir().unwrap();
    fixture::new_kit(dir.path());
    let cfg = dir.path().join("glasskey.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("check_interval_days = 90"));
    std::fs::write(
        &cfg,
        text.replace(
            "check_interval_days = 90",
            "check_interval_days = 4000000000",
        ),
    )
    .unwrap();
    for args in [vec!["ledger", "show"], vec!["audit"]] {
        let out = glasskey(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("check_interval_days"), "{err}");
    }
}

#[test]
fn kit_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let kit_dir = dir.path().join("kit");
    let kit = fixture::new_kit(&kit_dir);
    fixture::populate(&kit, 1);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&kit_dir), 0o700);
    for f in ["glasskey.toml", "ledger.jsonl", "ledger.head"] {
        assert_eq!(mode(&kit_dir.join(f)), 0o600, "{f}");
    }
}

/// A symlink planted at a name glasskey writes through is never followed.
#[test]
fn a_planted_symlink_is_not_followed() {
    let (dir, kit) = kit_with(1);
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // The old fixed temporary name of the anchor.
    std::os::unix::fs::symlink(&victim, dir.path().join("ledger.head.tmp")).unwrap();
    kit.append(
        &fixture::ops(&["alice"]),
        Event::KeyRetired {
            key: "k".into(),
            reason: "r".into(),
        },
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(kit.verify().unwrap().ok());
}

/// Config and anchor that are FIFOs or devices are refused without hanging.
#[test]
fn a_fifo_config_or_anchor_is_refused_promptly() {
    let (dir, _kit) = kit_with(1);
    let head = dir.path().join(ANCHOR_FILE);
    std::fs::remove_file(&head).unwrap();
    let c = std::ffi::CString::new(head.to_str().unwrap()).unwrap();
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let started = std::time::Instant::now();
    let out = glasskey(dir.path(), &["ledger", "verify"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIFO"));
    let cfg = dir.path().join("glasskey.toml");
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &cfg).unwrap();
    let out = glasskey(dir.path(), &["ledger", "show"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("device"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
