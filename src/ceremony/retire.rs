//! `glasskey retire`: take a key out of the program — after a confirmation naming
//! the key, its accounts and its envelope — by deleting its methods in Entra,
//! optionally resetting it, and recording it; the operator is told to remove
//! and destroy its envelope. Each step is journaled so `resume` can finish it.

use super::journal::{Ceremony, Progress, Step};
use super::key::KeySession;
use super::operator::Operator;
use super::preflight::{self, Preflight};
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::ledger::{Custody, Event, KeyState, Kit};

/// What the operator asked for.
pub struct RetirePlan<'a> {
    pub label: &'a str,
    pub reason: &'a str,
    pub operators: &'a [String],
    pub assume_yes: bool,
}

/// The key, its accounts and its envelope, as the confirmation names them.
pub fn describe(ks: &KeyState) -> String {
    let envelope = match &ks.custody {
        Custody::Sealed { location, seal, .. } => format!("envelope {seal} at {location}"),
        Custody::Opened { location, seal, .. } => format!("opened envelope {seal} at {location}"),
        Custody::Unsealed => "no envelope".into(),
    };
    format!(
        "key {} ({}) of {} in {envelope}",
        ks.label,
        ks.model,
        if ks.accounts().is_empty() {
            "no account".to_string()
        } else {
            ks.accounts().join(", ")
        }
    )
}

/// Everything retire needs that can be checked without changing anything.
pub fn preflight(kit: &Kit, label: &str, online: bool, reset: bool) -> (Preflight, Vec<String>) {
    let mut pf = Preflight::new();
    pf.record("kit_writable", preflight::kit_writable(kit));
    let mut steps = Vec::new();
    match kit.state() {
        Ok(state) => match state.keys.get(label).filter(|k| k.retired.is_none()) {
            Some(ks) => {
                pf.pass("key", describe(ks));
                if online {
                    for c in &ks.credentials {
                        if let Some(e) = &c.entra {
                            steps.push(format!(
                                "delete Entra method {} from {}",
                                e.method_id, c.account
                            ));
                        }
                    }
                } else {
                    steps.push("leave Entra unchanged (offline): delete the method later".into());
                }
                if reset {
                    steps.push(format!(
                        "factory-reset key {} (remove it, insert it, touch it)",
                        ks.label
                    ));
                }
                steps.push(format!("record key {} as retired", ks.label));
                steps.push("refresh the custody sheets; remove and destroy its envelope".into());
            }
            None => pf.fail(
                "key",
                format!("no active key labelled '{label}' in the ledger"),
                "list keys with `glasskey ledger show`",
            ),
        },
        Err(e) => {
            let e: Error = e.into();
            pf.fail("ledger", e.what, e.next);
        }
    }
    (pf, steps)
}

pub fn retire(
    kit: &Kit,
    plan: &RetirePlan,
    graph: Option<&GraphClient>,
    key: Option<&mut KeySession>,
    op: &mut dyn Operator,
) -> Result<Vec<String>> {
    let RetirePlan {
        label,
        reason,
        operators,
        assume_yes,
    } = *plan;
    let (pf, _) = preflight(kit, label, graph.is_some(), key.is_some());
    pf.into_result()?;
    let state = kit.state()?;
    let ks = state
        .keys
        .get(label)
        .filter(|k| k.retired.is_none())
        .ok_or_else(|| {
            Error::input(
                format!("no active key labelled '{label}' in the ledger"),
                "list keys with `glasskey ledger show`",
            )
        })?;
    if let Some(key) = &key {
        if key.aaguid() != ks.aaguid {
            return Err(Error::input(
                format!("the plugged key is not key {label} (different model)"),
                "plug in the right key, or retire without --reset",
            ));
        }
    }
    let what = describe(ks);
    if !assume_yes
        && !op.confirm(&format!(
            "retire {what}? Its Entra method{} will be deleted",
            if graph.is_some() {
                ""
            } else {
                " (later, offline now)"
            }
        ))?
    {
        return Err(Error::input(
            format!("retirement of key {label} not confirmed"),
            "nothing was changed",
        ));
    }
    let mut progress = Progress::new(
        Ceremony::Retire,
        Step::Started,
        label,
        ks.accounts().join(", "),
        ks.location.clone().unwrap_or_default(),
        ks.model.clone(),
        operators,
    );
    progress.save(kit, Step::Started)?;
    let mut done = Vec::new();
    if let Some(graph) = graph {
        done.extend(delete_methods(graph, ks)?);
        progress.save(kit, Step::MethodDeleted)?;
    } else {
        done.push("Entra not changed (offline): delete the method later with `glasskey retire` online or in the portal".into());
    }
    if let Some(key) = key {
        progress.save(kit, Step::ResetPending)?;
        let naming = key.naming(Some(label), ks.serial.as_deref());
        super::key::confirm_and_reset(key, op, true, &naming)?;
        done.push("key factory-reset".into());
    }
    kit.append(
        operators,
        Event::KeyRetired {
            key: label.to_string(),
            reason: reason.to_string(),
        },
    )?;
    progress.finish(kit)?;
    done.push(format!("key {label} recorded as retired"));
    if !matches!(ks.custody, Custody::Unsealed) {
        done.push(format!(
            "remove and destroy the envelope of {what}, then record it: `glasskey retire --key {label} --envelope-destroyed`"
        ));
    }
    Ok(done)
}

/// Delete the key's methods in Entra; one already gone counts as deleted.
pub(super) fn delete_methods(graph: &GraphClient, ks: &KeyState) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for cred in &ks.credentials {
        if let Some(entra) = &cred.entra {
            let user = graph.user(&cred.account)?;
            let present = graph
                .list_methods(&user.id)?
                .iter()
                .any(|m| m.id == entra.method_id);
            if present {
                graph.delete_method(&user.id, &entra.method_id)?;
                done.push(format!(
                    "deleted method {} from {}",
                    entra.method_id, cred.account
                ));
            } else {
                done.push(format!(
                    "method {} was already gone from {}",
                    entra.method_id, cred.account
                ));
            }
        }
    }
    Ok(done)
}

/// Record that a retired key's envelope was taken out and destroyed, after a confirmation
/// naming it; the custody sheet then stops listing it under "remove and destroy". Only a
/// retired key's envelope, and only once.
pub fn record_envelope_destroyed(
    kit: &Kit,
    label: &str,
    operators: &[String],
    assume_yes: bool,
    op: &mut dyn Operator,
) -> Result<String> {
    let state = kit.state()?;
    let ks = state.keys.get(label).ok_or_else(|| {
        Error::input(
            format!("no key labelled '{label}' in the ledger"),
            "list keys with `glasskey ledger show`",
        )
    })?;
    match &ks.retired {
        None => {
            return Err(Error::input(
                format!("key {label} is not retired: its envelope must stay sealed"),
                format!(
                    "retire it first (`glasskey retire --key {label}`), then destroy the envelope"
                ),
            ))
        }
        Some(r) if r.envelope_destroyed.is_some() => {
            return Err(Error::input(
                format!("the envelope of key {label} is already recorded destroyed"),
                "nothing to do",
            ))
        }
        Some(_) => {}
    }
    let seal = match &ks.custody {
        Custody::Sealed { seal, .. } | Custody::Opened { seal, .. } => Some(seal.clone()),
        Custody::Unsealed => None,
    };
    let what = match &seal {
        Some(s) => format!("envelope {s} of retired key {label}"),
        None => format!("retired key {label} (no envelope)"),
    };
    if !assume_yes
        && !op.confirm(&format!(
            "record that {what} was destroyed, in front of {}?",
            operators.join(" and ")
        ))?
    {
        return Err(Error::input(
            format!("destruction of {what} not confirmed"),
            "nothing was recorded",
        ));
    }
    kit.append(
        operators,
        Event::EnvelopeDestroyed {
            key: label.to_string(),
            seal,
        },
    )?;
    Ok(format!("recorded: {what} destroyed"))
}
