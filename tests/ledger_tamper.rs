//! Any change to a ledger is detected and the first bad event is named:
//! every single byte flipped, events removed, duplicated, reordered, inserted,
//! the tail cut, the whole chain rewritten.

#[path = "ledger_fixture/mod.rs"]
mod fixture;

use glasskey::ledger::{Event, Kit, ProblemKind, Repair, VerifyReport, LEDGER_FILE};

fn small_kit() -> (tempfile::TempDir, Kit) {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    fixture::populate(&kit, 2);
    assert!(kit.verify().unwrap().ok());
    (dir, kit)
}

fn lines(kit: &Kit) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(kit.ledger().path()).unwrap();
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(kit: &Kit, lines: &[Vec<u8>]) {
    std::fs::write(kit.ledger().path(), lines.concat()).unwrap();
}

fn failed_at(report: &VerifyReport) -> u64 {
    let p = report.problem.as_ref().expect("verify must fail");
    assert!(
        p.message.contains(&p.line.to_string()) || p.kind == ProblemKind::TornTail,
        "message names the event: {}",
        p.message
    );
    p.line
}

#[test]
fn every_flipped_byte_is_detected_at_its_event() {
    let (_dir, kit) = small_kit();
    let original = std::fs::read(kit.ledger().path()).unwrap();
    let line_of: Vec<u64> = {
        let mut line = 1;
        original
            .iter()
            .map(|&b| {
                let this = line;
                if b == b'\n' {
                    line += 1;
                }
                this
            })
            .collect()
    };
    let mut checked = 0;
    for i in 0..original.len() {
        let masks: &[u8] = if i % 7 == 0 {
            &[0x01, 0x20, 0x80]
        } else {
            &[0x01]
        };
        for &mask in masks {
            let mut bytes = original.clone();
            bytes[i] ^= mask;
            std::fs::write(kit.ledger().path(), &bytes).unwrap();
            let report = kit.verify().unwrap();
            assert_eq!(
                failed_at(&report),
                line_of[i],
                "byte {i} ^ {mask:#x} not pinned to its event"
            );
            checked += 1;
        }
    }
    std::fs::write(kit.ledger().path(), &original).unwrap();
    assert!(kit.verify().unwrap().ok());
    eprintln!(
        "{checked} single-byte changes detected over {} bytes",
        original.len()
    );
}

#[test]
fn removed_duplicated_reordered_inserted_events_are_detected() {
    let (_dir, kit) = small_kit();
    let original = lines(&kit);
    let n = original.len();
    for k in 0..n {
        let mut removed = original.clone();
        removed.remove(k);
        write_lines(&kit, &removed);
        let r = kit.verify().unwrap();
        assert_eq!(failed_at(&r), k as u64 + 1, "removal of event {}", k + 1);
        if k == n - 1 {
            assert_eq!(r.problem.unwrap().kind, ProblemKind::Truncated);
        }

        let mut dup = original.clone();
        dup.insert(k, original[k].clone());
        write_lines(&kit, &dup);
        assert_eq!(
            failed_at(&kit.verify().unwrap()),
            k as u64 + 2,
            "duplicate of event {}",
            k + 1
        );

        if k + 1 < n {
            let mut swapped = original.clone();
            swapped.swap(k, k + 1);
            write_lines(&kit, &swapped);
            assert_eq!(
                failed_at(&kit.verify().unwrap()),
                k as u64 + 1,
                "swap at {}",
                k + 1
            );
        }
    }
    // A well-formed event from another ledger inserted in the middle.
    let d2 = tempfile::tempdir().unwrap();
    let other = fixture::new_kit(d2.path());
    for i in 0..4 {
        other
            .append(
                &fixture::ops(&["mallory"]),
                Event::KeyRetired {
                    key: format!("k{i}"),
                    reason: "forged".into(),
                },
            )
            .unwrap();
    }
    let foreign = lines(&other)[3].clone();
    let mut inserted = original.clone();
    inserted.insert(3, foreign);
    write_lines(&kit, &inserted);
    assert_eq!(failed_at(&kit.verify().unwrap()), 4);
    // Cutting several events off the end: the anchor notices.
    write_lines(&kit, &original[..n - 3]);
    let r = kit.verify().unwrap();
    assert_eq!(r.problem.as_ref().unwrap().kind, ProblemKind::Truncated);
    assert!(kit.state().is_err(), "state refuses a damaged ledger");
    write_lines(&kit, &original);
    assert!(kit.verify().unwrap().ok());
}

#[test]
fn a_consistently_rewritten_chain_does_not_match_the_anchor() {
    let (dir, kit) = small_kit();
    let forged_dir = dir.path().join("forged");
    let forged = fixture::new_kit(&forged_dir);
    forged
        .append(
            &fixture::ops(&["mallory"]),
            Event::KeyRetired {
                key: "bg1-vault-0".into(),
                reason: "x".into(),
            },
        )
        .unwrap();
    fixture::populate(&forged, 2);
    std::fs::copy(forged_dir.join(LEDGER_FILE), kit.ledger().path()).unwrap();
    let r = kit.verify().unwrap();
    let p = r
        .problem
        .expect("a rewritten chain must not verify against the old anchor");
    assert_eq!(p.kind, ProblemKind::AnchorMismatch, "{}", p.message);
}

#[test]
fn torn_tail_is_reported_refused_and_repaired_without_losing_events() {
    let (dir, kit) = small_kit();
    let full = std::fs::read(kit.ledger().path()).unwrap();
    let events = kit.verify().unwrap().events;
    // A torn write of a further event: half a line, no newline.
    let mut torn = full.clone();
    torn.extend_from_slice(&full[..40]);
    std::fs::write(kit.ledger().path(), &torn).unwrap();
    let r = kit.verify().unwrap();
    let p = r.problem.clone().unwrap();
    assert_eq!(p.kind, ProblemKind::TornTail);
    assert!(p.next.contains("ledger repair"), "{}", p.next);
    assert_eq!(r.events, events, "every complete event is still readable");
    let err = kit.append(
        &fixture::ops(&["alice"]),
        Event::KeyRetired {
            key: "k".into(),
            reason: "r".into(),
        },
    );
    assert!(err.is_err(), "append refuses a torn ledger");
    match kit.ledger().repair().unwrap() {
        Repair::CutTornTail { bytes, backup } => {
            assert_eq!(bytes, 40);
            assert_eq!(std::fs::read(&backup).unwrap(), &full[..40]);
            assert!(backup.starts_with(dir.path()));
        }
        other => panic!("unexpected repair {other:?}"),
    }
    assert_eq!(std::fs::read(kit.ledger().path()).unwrap(), full);
    assert!(kit.verify().unwrap().ok());
    assert_eq!(kit.ledger().repair().unwrap(), Repair::Clean);
    kit.append(
        &fixture::ops(&["alice"]),
        Event::KeyRetired {
            key: "bg1-vault-0".into(),
            reason: "r".into(),
        },
    )
    .unwrap();
    assert!(kit.verify().unwrap().ok());
    // A complete last event missing only its newline is kept, not dropped.
    let now = std::fs::read(kit.ledger().path()).unwrap();
    std::fs::write(kit.ledger().path(), &now[..now.len() - 1]).unwrap();
    assert_eq!(
        kit.ledger().repair().unwrap(),
        Repair::CompletedLastEvent { seq: events + 1 }
    );
    assert_eq!(std::fs::read(kit.ledger().path()).unwrap(), now);
    // Damage that is not a torn tail is never "repaired".
    let mut bad = now.clone();
    bad[10] ^= 1;
    std::fs::write(kit.ledger().path(), &bad).unwrap();
    assert!(kit.ledger().repair().is_err());
}

#[test]
fn concurrent_appenders_are_serialized_by_the_lock() {
    let (_dir, kit) = small_kit();
    let before = kit.verify().unwrap().events;
    std::thread::scope(|s| {
        for t in 0..4 {
            let kit = kit.clone();
            s.spawn(move || {
                for i in 0..25 {
                    kit.append(
                        &fixture::ops(&[&format!("thread{t}")]),
                        Event::KeyRetired {
                            key: format!("k{t}-{i}"),
                            reason: "load".into(),
                        },
                    )
                    .unwrap();
                }
            });
        }
    });
    let r = kit.verify().unwrap();
    assert!(r.ok(), "{:?}", r.problem);
    assert_eq!(r.events, before + 100);
}

#[test]
fn appends_wait_for_a_lock_held_by_another_process_handle() {
    let (_dir, kit) = small_kit();
    let holder = std::fs::OpenOptions::new()
        .append(true)
        .open(kit.ledger().path())
        .unwrap();
    holder.lock().unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            kit.append(
                &fixture::ops(&["alice"]),
                Event::KeyRetired {
                    key: "k".into(),
                    reason: "r".into(),
                },
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!h.is_finished(), "append must wait while the lock is held");
        holder.unlock().unwrap();
        h.join().unwrap().unwrap();
    });
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert!(kit.verify().unwrap().ok());
}

/// A power cut during an append leaves any prefix of the new line: every such
/// prefix is reported as a torn tail and repaired back to the committed events.
#[test]
fn every_possible_torn_append_is_detected_and_repaired() {
    let (_dir, kit) = small_kit();
    let committed = std::fs::read(kit.ledger().path()).unwrap();
    let anchor_path = kit.dir().join(glasskey::ledger::ANCHOR_FILE);
    let anchor = std::fs::read(&anchor_path).unwrap();
    kit.append(
        &fixture::ops(&["alice"]),
        Event::KeyRetired {
            key: "bg1-vault-0".into(),
            reason: "torn".into(),
        },
    )
    .unwrap();
    let full = std::fs::read(kit.ledger().path()).unwrap();
    let new_line = &full[committed.len()..];
    for cut in 1..new_line.len() {
        let mut bytes = committed.clone();
        bytes.extend_from_slice(&new_line[..cut]);
        std::fs::write(kit.ledger().path(), &bytes).unwrap();
        std::fs::write(&anchor_path, &anchor).unwrap(); // the anchor is renamed only after fsync
        let r = kit.verify().unwrap();
        assert_eq!(
            r.problem.map(|p| p.kind),
            Some(ProblemKind::TornTail),
            "cut at {cut}"
        );
        let repair = kit.ledger().repair().unwrap();
        let now = std::fs::read(kit.ledger().path()).unwrap();
        if cut == new_line.len() - 1 {
            // Only the newline was lost: the event is complete and is kept.
            assert!(matches!(repair, Repair::CompletedLastEvent { .. }));
            assert!(now == full, "cut at {cut}: complete event must be kept");
        } else {
            assert!(
                now == committed,
                "cut at {cut}: ledger must return to the committed events"
            );
        }
        assert!(kit.verify().unwrap().ok());
    }
    for entry in std::fs::read_dir(kit.dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().contains("torn") {
            std::fs::remove_file(p).unwrap();
        }
    }
}
