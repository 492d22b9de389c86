//! Ledger speed goals (run: cargo bench --bench ledger_bench):
//! - `verify` of 100,000 events < 1 s;
//! - append time independent of ledger length (only the last line is read).

use std::time::{Duration, Instant};

use glasskey::ledger::{Event, Kit, KitConfig, Timestamp};

fn event(i: u64) -> (Timestamp, Event) {
    let t: Timestamp = "2026-01-05T09:00:00Z".parse().expect("time");
    (
        t,
        Event::LivenessChecked {
            key: format!("bg{}-vault-{}", i % 2 + 1, i % 50),
            passed: true,
            counter: Some(i as u32),
            checks: vec![glasskey::ledger::CheckItem {
                name: "assertion".into(),
                passed: true,
            }],
        },
    )
}

fn grow(kit: &Kit, to: u64) {
    let ops = vec!["bench".to_string()];
    let mut have = kit.verify().expect("verify").events;
    while have < to {
        let n = (to - have).min(10_000);
        kit.ledger()
            .append_batch(&ops, (have..have + n).map(event))
            .expect("batch");
        have += n;
    }
}

/// Mean time of `n` single appends at the current length.
fn append_time(kit: &Kit, n: u32) -> Duration {
    let ops = vec!["bench".to_string()];
    let start = Instant::now();
    for i in 0..n {
        let (t, e) = event(u64::from(i));
        kit.ledger().append_at(&ops, e, t).expect("append");
    }
    start.elapsed() / n
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kit = Kit::init(dir.path(), &KitConfig::example("contoso.onmicrosoft.com")).expect("kit");
    grow(&kit, 1_000);
    let small = append_time(&kit, 200);
    grow(&kit, 100_000);
    let size = std::fs::metadata(kit.ledger().path()).expect("stat").len();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let report = kit.verify().expect("verify");
        best = best.min(start.elapsed());
        assert!(report.ok() && report.events == 100_000, "{report:?}");
    }
    let large = append_time(&kit, 200);
    let start = Instant::now();
    let state = kit.state().expect("state");
    let fold = start.elapsed();
    println!(
        "ledger verify, 100,000 events ({:.1} MB): {:.3} s (goal < 1 s)",
        size as f64 / 1e6,
        best.as_secs_f64()
    );
    println!(
        "state (verify + fold) of 100,000 events: {:.3} s, {} keys",
        fold.as_secs_f64(),
        state.keys.len()
    );
    println!(
        "append (fsync'd) at 1,200 events: {:.3} ms; at 100,000 events: {:.3} ms (goal: independent of length)",
        small.as_secs_f64() * 1e3,
        large.as_secs_f64() * 1e3
    );
}
