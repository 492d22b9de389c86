//! `glasskey demo`: the whole story on virtual keys and the local Graph emulator.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to put the kit, the virtual keys and the sheets.
    #[arg(long, value_name = "DIR", default_value = "demo-out")]
    pub out: PathBuf,
}

pub fn run(args: DemoArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    let started = std::time::Instant::now();
    let quiet = g.json;
    let mut log = |line: &str| {
        if !quiet {
            crate::outln!("{line}");
        }
    };
    let report = crate::ceremony::demo::run(&args.out, &mut log)?;
    if g.json {
        return super::print_json(&report);
    }
    crate::outln!();
    crate::outln!(
        "Done in {:.2} s: {} keys enrolled, {} of them passed the liveness check, audit {}.",
        started.elapsed().as_secs_f64(),
        report.keys.len(),
        report.checks_passed,
        if report.audit_healthy {
            "healthy"
        } else {
            "found problems"
        }
    );
    crate::outln!("Kit (config + ledger): {}", report.kit.display());
    crate::outln!("Sheets:");
    for s in &report.sheets {
        crate::outln!("  {}", s.display());
    }
    crate::outln!(
        "Rehearse by hand: glasskey --kit {} ledger show",
        report.kit.display()
    );
    Ok(())
}
