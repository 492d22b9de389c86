//! `glasskey resume`: show what is half done and finish it from its exact step.

use clap::Args;

use super::session;
use crate::ceremony::journal::Ceremony;
use crate::ceremony::operator::Operator;
use crate::ceremony::resume::{self, Need, Tools};

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// Resume the ceremony of this key only (default: each in turn).
    #[arg(long, value_name = "LABEL")]
    pub key: Option<String>,
    /// Only show what is half done and what each needs; change nothing.
    #[arg(long, alias = "list")]
    pub dry_run: bool,
    /// Do not sign in to Graph (steps that need it are left for later).
    #[arg(long)]
    pub offline: bool,
}

pub fn run(args: ResumeArgs, g: &super::GlobalArgs) -> crate::Result<()> {
    let kit = session::open_kit(g)?;
    let pending: Vec<_> = crate::ceremony::journal::pending(&kit)?
        .into_iter()
        .filter(|p| args.key.as_ref().is_none_or(|k| &p.label == k))
        .collect();
    if pending.is_empty() {
        if g.json {
            return super::print_json(&Vec::<serde_json::Value>::new());
        }
        crate::outln!(
            "nothing is half done{}",
            match &args.key {
                Some(k) => format!(" for key {k}"),
                None => String::new(),
            }
        );
        return Ok(());
    }
    let half: Vec<_> = pending.iter().map(resume::assess).collect();
    if args.dry_run {
        if g.json {
            return super::print_json(&half);
        }
        for h in &half {
            crate::outln!("{}: {} — next: {}", h.label, h.status, next_words(h.need));
        }
        return Ok(());
    }
    let trust = session::trust(g)?;
    let mut op = session::TerminalOperator { assume_yes: false };
    let mut graph = None;
    for (progress, h) in pending.into_iter().zip(&half) {
        let online = progress.ceremony != Ceremony::EnrollOffline;
        let needs_graph = !args.offline
            && match h.need {
                Need::Register | Need::Retire => true,
                Need::Credential => online,
                _ => false,
            };
        if needs_graph && graph.is_none() {
            graph = Some(session::graph(g, &kit)?);
        }
        let mut key = if matches!(h.need, Need::Credential | Need::Reset) {
            op.say(&format!("plug in key {} (only that key)", h.label));
            Some(session::open_key(g)?)
        } else {
            None
        };
        let done = resume::resume(
            &kit,
            progress,
            &mut op,
            Tools {
                graph: graph.as_ref(),
                key: key.as_mut(),
                trust: &trust,
            },
        )?;
        for d in done {
            crate::outln!("{d}");
        }
    }
    let locations: Vec<String> = kit.config().location_ids();
    let operators = session::operators(&[])?;
    for path in crate::ceremony::sheets::refresh_kit_sheets(&kit, &locations, &operators)? {
        crate::outln!("updated {} — print it for the binder", path.display());
    }
    Ok(())
}

fn next_words(need: Need) -> &'static str {
    match need {
        Need::Nothing => "nothing was changed: run the ceremony again",
        Need::Seal => "type the seal number (`glasskey resume`)",
        Need::Register => "register it in Entra (`glasskey resume`, online)",
        Need::WriteResponse => "write it into the response bundle (`glasskey resume`)",
        Need::Credential => "plug the key in and continue with the PIN from its slip, or reset it (`glasskey resume`)",
        Need::Reset => "abandoned — reset the key (`glasskey resume` with the key plugged in)",
        Need::Reseal => "reseal it and type the new seal number (`glasskey resume`)",
        Need::Recheck => "run `glasskey check --key LABEL` again with the key plugged in",
        Need::Retire => "finish the retirement (`glasskey resume`, online)",
    }
}
