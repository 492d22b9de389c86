//! Crash safety: a child process appending in a loop is killed (SIGKILL) at random
//! moments, hundreds of times. After each kill the ledger verifies (after `repair`
//! if the kill tore a write) and holds every event the child reported committed.
//!
//! The child is this test binary re-run with GLASSKEY_CRASH_CHILD_KIT set; it
//! executes `crash_child_appends_until_killed` only.

#[path = "ledger_fixture/mod.rs"]
mod fixture;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glasskey::ledger::{Event, Kit, ProblemKind};

const CHILD_ENV: &str = "GLASSKEY_CRASH_CHILD_KIT";

/// In the child: append forever, printing `committed <seq> <hash>` after each
/// append returns. In a normal test run (no env var) it returns at once.
#[test]
fn crash_child_appends_until_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let kit = Kit::open(std::path::Path::new(&dir)).expect("child opens kit");
    for i in 0u64.. {
        let r = kit
            .append(
                &fixture::ops(&["child"]),
                Event::KeyRetired {
                    key: format!("k{i}"),
                    reason: "x".repeat((i % 300) as usize),
                },
            )
            .expect("child append");
        println!("committed {} {}", r.seq, r.hash);
    }
}

#[test]
fn kill_9_at_random_moments_loses_no_committed_event() {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    let exe = std::env::current_exe().unwrap();
    let mut committed: HashMap<u64, String> = HashMap::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut kills, mut repairs) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    while kills < 300 && Instant::now() < deadline {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_micros(2_000 + (seed >> 33) % 40_000);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_appends_until_killed",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("committed ") {
                let (seq, hash) = rest.split_once(' ').unwrap();
                committed.insert(seq.parse().unwrap(), hash.to_string());
            }
        }
        let report = kit.verify().unwrap();
        if let Some(p) = &report.problem {
            assert_eq!(
                p.kind,
                ProblemKind::TornTail,
                "after kill {kills}: {}",
                p.message
            );
            kit.ledger().repair().unwrap();
            repairs += 1;
            assert!(kit.verify().unwrap().ok());
        }
    }
    let records = kit.ledger().records().unwrap();
    let by_seq: HashMap<u64, String> = records.iter().map(|r| (r.seq, r.hash.to_hex())).collect();
    for (seq, hash) in &committed {
        assert_eq!(
            by_seq.get(seq),
            Some(hash),
            "committed event {seq} lost or changed"
        );
    }
    eprintln!(
        "{kills} kills, {} events in the ledger, {} reported committed, {repairs} torn tails repaired",
        records.len(),
        committed.len()
    );
    assert!(kills >= 100, "only {kills} kills in the time budget");
    assert!(
        committed.len() > 50,
        "the child should have committed events"
    );
}
