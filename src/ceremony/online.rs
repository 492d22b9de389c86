//! The tenant half of `check --online`, split so that every Graph read
//! happens **before** the envelope is opened: a Graph failure then leaves
//! the key sealed, not recorded OPEN with no result. [`read_before_opening`]
//! reads; [`evaluate`] turns the facts into check items after the key spoke.

use crate::error::{Error, Result};
use crate::graph::policy::{preflight, Preflight};
use crate::graph::GraphClient;
use crate::ledger::{CheckItem, KeyState};

/// What Entra says about one key, read before its envelope is opened.
#[derive(Debug, Clone)]
pub struct OnlineFacts {
    pub account: String,
    /// Entra still holds the method the ledger recorded for this key.
    pub registered: bool,
    /// The current FIDO2 policy against the key's model.
    pub verdict: Preflight,
}

/// Read the account, its FIDO2 methods, groups and the FIDO2 policy for `ks`.
pub fn read_before_opening(graph: &GraphClient, ks: &KeyState) -> Result<OnlineFacts> {
    let cred = ks.credentials.first().ok_or_else(|| {
        Error::input(
            format!("the ledger has no credential for key {}", ks.label),
            "enroll the key first",
        )
    })?;
    let user = graph.user(&cred.account)?;
    let methods = graph.list_methods(&user.id)?;
    let registered = cred
        .entra
        .as_ref()
        .is_some_and(|e| methods.iter().any(|m| m.id == e.method_id));
    let policy = graph.fido2_policy()?;
    let groups = graph.group_ids(&user.id)?;
    Ok(OnlineFacts {
        account: cred.account.clone(),
        registered,
        verdict: preflight(&policy, &groups, ks.aaguid, true),
    })
}

/// The check items (and advice) the facts give.
pub fn evaluate(facts: &OnlineFacts, checks: &mut Vec<CheckItem>, advice: &mut Vec<String>) {
    checks.push(CheckItem {
        name: "entra_registered".into(),
        passed: facts.registered,
    });
    if !facts.registered {
        advice.push(format!(
            "Entra no longer has this key's FIDO2 method on {}: re-register it (re-enroll) and find out who deleted it",
            facts.account
        ));
    }
    checks.push(CheckItem {
        name: "entra_policy_allows_model".into(),
        passed: facts.verdict.allowed,
    });
    if !facts.verdict.allowed {
        let why: Vec<String> = facts.verdict.blockers.iter().map(|b| b.explain()).collect();
        advice.push(format!(
            "the tenant's FIDO2 policy would block this key at sign-in: {}",
            why.join("; ")
        ));
    }
}
