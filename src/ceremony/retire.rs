//! `glasskey retire`: delete the key's method in Entra, optionally reset the key,
//! record it; the sheets drop it.

use super::key::KeySession;
use super::operator::Operator;
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::ledger::{Event, Kit};

/// What the operator asked for.
pub struct RetirePlan<'a> {
    pub label: &'a str,
    pub reason: &'a str,
    pub operators: &'a [String],
    pub assume_yes: bool,
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
    let mut done = Vec::new();
    if let Some(graph) = graph {
        for cred in &ks.credentials {
            if let Some(entra) = &cred.entra {
                let user = graph.user(&cred.account)?;
                graph.delete_method(&user.id, &entra.method_id)?;
                done.push(format!(
                    "deleted method {} from {}",
                    entra.method_id, cred.account
                ));
            }
        }
    } else {
        done.push("Entra not changed (offline): delete the method later with `glasskey retire` online or in the portal".into());
    }
    if let Some(key) = key {
        if key.aaguid() != ks.aaguid {
            return Err(Error::input(
                format!("the plugged key is not key {label} (different model)"),
                "plug in the right key, or retire without --reset",
            ));
        }
        super::key::confirm_and_reset(key, op, assume_yes)?;
        done.push("key factory-reset".into());
    }
    kit.append(
        operators,
        Event::KeyRetired {
            key: label.to_string(),
            reason: reason.to_string(),
        },
    )?;
    done.push(format!("key {label} recorded as retired"));
    Ok(done)
}
