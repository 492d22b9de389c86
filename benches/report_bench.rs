//! Sheet speed goal (run: cargo bench --bench report_bench): a custody sheet for
//! 200 envelopes in < 0.5 s.

#[path = "../tests/ledger_fixture/mod.rs"]
mod fixture;

use std::time::{Duration, Instant};

use glasskey::report::{check_sheet, custody_sheet, Paper, SheetContext};

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kit = fixture::new_kit(dir.path());
    fixture::populate(&kit, 400); // 200 envelopes per location
    let state = kit.state().expect("state");
    assert_eq!(state.sealed_at("vault").count(), 200);
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: fixture::at("2026-06-01T00:00:00Z"),
        paper: Paper::A4,
    };
    let start = Instant::now();
    let first = custody_sheet(&ctx, "vault").expect("sheet");
    let cold = start.elapsed();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let pdf = custody_sheet(&ctx, "vault").expect("sheet");
        best = best.min(start.elapsed());
        assert!(pdf.starts_with(b"%PDF"));
    }
    let start = Instant::now();
    let check = check_sheet(&ctx).expect("check sheet");
    let check_time = start.elapsed();
    println!(
        "custody sheet, 200 envelopes: {:.3} s first call (parses fonts), {:.3} s after (goal < 0.5 s); {} KB",
        cold.as_secs_f64(),
        best.as_secs_f64(),
        first.len() / 1024
    );
    println!(
        "check sheet, 400 keys: {:.3} s; {} KB",
        check_time.as_secs_f64(),
        check.len() / 1024
    );
}
