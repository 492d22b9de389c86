//! The online half of a split ceremony, as the custody ledger sees it: every item
//! `graph register` placed (or found already placed) in Entra is recorded once.

use crate::error::Result;
use crate::graph::bundle::ResponseBundle;
use crate::graph::register::{ItemReport, Outcome};
use crate::ledger::{Bytes, Event, Kit};

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
            Outcome::Expired { .. } | Outcome::Failed { .. } => continue,
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
