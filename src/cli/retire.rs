//! `glasskey retire`: take a key out of the program.

use clap::Args;

use super::session;

#[derive(Args, Debug)]
pub struct RetireArgs {
    /// The key's label.
    #[arg(long, value_name = "LABEL")]
    pub key: String,
    /// Why (recorded in the ledger).
    #[arg(long, default_value = "retired by operator")]
    pub reason: String,
    /// Do not delete the method in Entra (offline retirement; do it later).
    #[arg(long)]
    pub offline: bool,
    /// Also factory-reset the key (it must be plugged in).
    #[arg(long)]
    pub reset: bool,
    /// Record that the retired key's envelope (and the key in it) was destroyed; the custody
    /// sheet stops listing it under "remove and destroy". Nothing else is done.
    #[arg(long, conflicts_with_all = ["offline", "reset", "dry_run"])]
    pub envelope_destroyed: bool,
    /// Skip the confirmation (scripts).
    #[arg(long)]
    pub yes: bool,
    /// Run the preflight only and print the plan; nothing is changed.
    #[arg(long)]
    pub dry_run: bool,
    /// Who is present; default: $USER.
    #[arg(long = "operator", value_name = "NAME")]
    pub operators: Vec<String>,
}

pub fn run(args: RetireArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    let kit = session::open_kit(g)?;
    // A retired key's envelope: the one command about a key that is no longer active.
    if args.envelope_destroyed {
        return envelope_destroyed(&kit, &args, g);
    }
    super::suggest::known_label(&kit.state()?, &args.key)?;
    let (pf, steps) =
        crate::ceremony::retire::preflight(&kit, &args.key, !args.offline, args.reset);
    if args.dry_run {
        super::enroll::print_dry_run(g, &pf, &steps)?;
        return pf.into_result().map(|_| ());
    }
    pf.into_result()?;
    let graph = if args.offline {
        None
    } else {
        Some(session::graph(g, &kit)?)
    };
    let mut key = if args.reset {
        Some(session::open_key(g)?)
    } else {
        None
    };
    let mut op = session::TerminalOperator {
        assume_yes: args.yes,
    };
    let operators = session::operators(&args.operators)?;
    let done = crate::ceremony::retire::retire(
        &kit,
        &crate::ceremony::retire::RetirePlan {
            label: &args.key,
            reason: &args.reason,
            operators: &operators,
            assume_yes: args.yes,
        },
        graph.as_ref(),
        key.as_mut(),
        &mut op,
    )?;
    let locations: Vec<String> = kit.config().location_ids();
    let sheets = crate::ceremony::sheets::refresh_kit_sheets(&kit, &locations, &operators)?;
    if g.json {
        return super::print_json(&serde_json::json!({
            "key": args.key,
            "done": done,
            "sheets": sheets,
        }));
    }
    for d in done {
        crate::outln!("{d}");
    }
    for path in sheets {
        crate::outln!("updated {} — print it for the binder", path.display());
    }
    Ok(())
}

/// `retire --key L --envelope-destroyed`: the last step of a retirement.
fn envelope_destroyed(
    kit: &crate::ledger::Kit,
    args: &RetireArgs,
    g: &super::GlobalArgs,
) -> crate::Result<()> {
    let mut op = session::TerminalOperator {
        assume_yes: args.yes,
    };
    let operators = session::operators(&args.operators)?;
    let done = crate::ceremony::retire::record_envelope_destroyed(
        kit, &args.key, &operators, args.yes, &mut op,
    )?;
    let locations: Vec<String> = kit.config().location_ids();
    let sheets = crate::ceremony::sheets::refresh_kit_sheets(kit, &locations, &operators)?;
    if g.json {
        return super::print_json(&serde_json::json!({
            "key": args.key,
            "done": [done],
            "sheets": sheets,
        }));
    }
    crate::outln!("{done}");
    for path in sheets {
        crate::outln!("updated {} — print it for the binder", path.display());
    }
    Ok(())
}
