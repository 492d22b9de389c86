//! The online half of a split ceremony, as the custody ledger sees it: each
//! response item is re-verified before it is sent ([`vet_response`]), and every
//! item `graph register` placed (or found already placed) in Entra is recorded once.

use crate::attestation::{self, TrustStore};
use crate::error::{Error, Result};
use crate::graph::bundle::{ResponseBundle, ResponseItem};
use crate::graph::register::{ItemReport, Outcome};
use crate::graph::GraphClient;
use crate::ledger::{Bytes, Event, Kit, State};

/// Re-verify one response item before anything about it reaches Graph:
/// - it answers the request it carries (hash, account, challenge, clientDataJSON,
///   rpIdHash for `rp_id`, the attested credential is the one registered);
/// - its account is one of the kit's break-glass accounts;
/// - its attestation is acceptable under the kit's policy and trust roots;
/// - if the ledger recorded this credential (offline half, same kit), it is for
///   the same account with the same public key;
/// - Graph maps the account's UPN to the object id the item will be POSTed to.
pub fn vet_response(
    kit: &Kit,
    state: &State,
    trust: &TrustStore,
    client: &GraphClient,
    rp_id: &str,
    item: &ResponseItem,
) -> Result<()> {
    let upn = &item.account.user_principal_name;
    let refuse = |what: String| {
        Error::input(
            format!("the response for {upn} is refused, nothing was sent: {what}"),
            "enroll the key again from a fresh request bundle, and carry the files unmodified",
        )
    };
    let answer = item.check_answer(rp_id)?;
    if !kit
        .config()
        .accounts
        .iter()
        .any(|a| a.upn.eq_ignore_ascii_case(upn))
    {
        return Err(refuse(format!(
            "{upn} is not a break-glass account of this kit"
        )));
    }
    let policy = attestation::Policy {
        allow_self_attestation: kit.config().policy.allow_self_attestation,
        allow_unknown_root: kit.config().policy.allow_unknown_root,
    };
    let report = attestation::verify_attestation(
        &answer.attestation,
        &answer.client_data_hash,
        trust,
        &policy,
        std::time::SystemTime::now(),
    )?;
    if !report.accepted() {
        return Err(refuse(format!(
            "its attestation is not acceptable under the kit's policy: {}",
            report.problems.join("; ")
        )));
    }
    let attested_key = answer
        .attestation
        .auth_data
        .attested
        .as_ref()
        .map(|a| a.public_key_cbor.as_slice());
    let recorded = state
        .keys
        .values()
        .flat_map(|k| k.credentials.iter())
        .find(|c| c.credential_id.0 == answer.credential_id);
    if let Some(c) = recorded {
        if !c.account.eq_ignore_ascii_case(upn) {
            return Err(refuse(format!(
                "the ledger recorded this credential for {}, not {upn}",
                c.account
            )));
        }
        if Some(c.cose_public_key.0.as_slice()) != attested_key {
            return Err(refuse(
                "the ledger recorded another public key for this credential".into(),
            ));
        }
    }
    let user = client.user(upn)?;
    if !user.id.eq_ignore_ascii_case(&item.account.id) {
        return Err(refuse(format!(
            "Graph says {upn} is object {}, but the item would be registered to {}",
            user.id, item.account.id
        )));
    }
    Ok(())
}

/// Append RegisteredInEntra for each registered item the ledger does not have yet.
/// `reports` are in the bundle's item order. Returns how many events were added.
pub fn record_registrations(
    kit: &Kit,
    operators: &[String],
    bundle: &ResponseBundle,
    reports: &[ItemReport],
) -> Result<usize> {
    let state = kit.state()?;
    let mut added = 0;
    for (item, report) in bundle.items.iter().zip(reports) {
        let method = match &report.outcome {
            Outcome::Registered { method } | Outcome::AlreadyRegistered { method } => method,
            Outcome::Expired { .. } | Outcome::Failed { .. } | Outcome::Refused { .. } => continue,
        };
        let (Some(label), Some(credential_id)) = (item.key.label.clone(), item.credential_id())
        else {
            continue;
        };
        let known = state.keys.get(&label).is_some_and(|k| {
            k.credentials
                .iter()
                .any(|c| c.credential_id.0 == credential_id && c.entra.is_some())
        });
        if known {
            continue;
        }
        kit.append(
            operators,
            Event::RegisteredInEntra {
                key: label,
                account: item.account.user_principal_name.clone(),
                credential_id: Bytes(credential_id),
                method_id: method.id.clone(),
                created_date_time: method.created_date_time.clone().unwrap_or_default(),
                model: method.model.clone(),
                attestation_level: method.attestation_level.clone(),
            },
        )?;
        added += 1;
    }
    Ok(added)
}
