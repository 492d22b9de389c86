//! `glasskey check`: the quarterly liveness check of one sealed key.
//!
//! Proves offline that the key in the envelope still holds the recorded
//! credential (a fresh assertion verified against the public key in the ledger),
//! that the PIN on the slip unlocks it (UV), and that the counter went up.

use rand::Rng;
use sha2::{Digest, Sha256};

use super::key::KeySession;
use super::operator::Operator;
use crate::attestation::{self, Counter};
use crate::error::{Error, Result};
use crate::ledger::{CheckItem, Custody, Event, KeyState, Kit};

/// Below this many PIN retries glasskey will not try the PIN without --force:
/// an honest check must never be what blocks a break-glass key.
pub const SAFE_PIN_RETRIES: u32 = 3;

#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub presence_only: bool,
    pub force: bool,
    pub new_seal: Option<String>,
    pub operators: Vec<String>,
    /// Leave the key unsealed after the check (the caller reseals with
    /// [`reseal`] once it no longer needs the key, e.g. after `--signin`).
    pub defer_reseal: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutcome {
    pub key: String,
    pub passed: bool,
    pub counter: Option<u32>,
    pub checks: Vec<CheckItem>,
    /// What to do about each failure.
    pub advice: Vec<String>,
    pub new_seal: Option<String>,
}

/// Announce the envelope and record that it was opened.
pub fn open_envelope(
    kit: &Kit,
    ks: &KeyState,
    op: &mut dyn Operator,
    operators: &[String],
) -> Result<()> {
    if let Custody::Sealed { location, seal, .. } = &ks.custody {
        op.say(&format!(
            "key {}: take envelope with seal {seal} from {location}, check the seal is intact, open it, plug the key in",
            ks.label
        ));
        kit.append(
            operators,
            Event::EnvelopeOpened {
                key: ks.label.clone(),
                location: location.clone(),
                seal: seal.clone(),
                reason: "quarterly liveness check".into(),
            },
        )?;
    }
    Ok(())
}

/// Run the check on a plugged-in key and record the result (and the new seal).
pub fn check_key(
    kit: &Kit,
    ks: &KeyState,
    key: &mut KeySession,
    op: &mut dyn Operator,
    plan: &CheckPlan,
    online: Option<&super::online::OnlineFacts>,
) -> Result<CheckOutcome> {
    let cred = ks.credentials.first().ok_or_else(|| {
        Error::input(
            format!("the ledger has no credential for key {}", ks.label),
            "enroll the key first",
        )
    })?;
    let mut checks = Vec::new();
    let mut advice = Vec::new();
    let item = |checks: &mut Vec<CheckItem>, name: &str, passed: bool| {
        checks.push(CheckItem {
            name: name.into(),
            passed,
        })
    };

    let same_model = key.aaguid() == ks.aaguid;
    item(&mut checks, "model", same_model);
    if !same_model {
        advice.push(format!(
            "the plugged key is a {} (AAGUID {}), the ledger expects {} ({}): wrong or swapped key — find the right key or treat this as an incident",
            key.model_name(),
            key.aaguid(),
            ks.model,
            ks.aaguid
        ));
        return finish(kit, ks, op, plan, checks, None, advice);
    }

    let pin = if plan.presence_only {
        None
    } else {
        let retries = key.pin_retries()?;
        let safe = retries >= SAFE_PIN_RETRIES || plan.force;
        item(&mut checks, "pin_retries", safe);
        if !safe {
            advice.push(format!(
                "only {retries} PIN retries left on key {}: glasskey will not risk blocking it. Re-enroll the key (reset + new PIN), or run with --force if you accept the risk",
                ks.label
            ));
            return finish(kit, ks, op, plan, checks, None, advice);
        }
        Some(op.pin(&format!(
            "PIN from the slip in the envelope of key {}",
            ks.label
        ))?)
    };

    let mut challenge = [0u8; 32];
    rand::rng().fill_bytes(&mut challenge);
    let client_data = format!(
        "{{\"type\":\"webauthn.get\",\"challenge\":\"{}\",\"origin\":\"https://{}\",\"crossOrigin\":false}}",
        crate::webauthn::b64::encode(&challenge),
        cred.rp_id
    );
    let client_data_hash: [u8; 32] = Sha256::digest(client_data.as_bytes()).into();
    op.say(&format!("key {}: touch the key when it blinks", ks.label));
    let assertion = match key.get_assertion(
        pin.as_ref(),
        &cred.rp_id,
        &cred.credential_id.0,
        &client_data_hash,
    ) {
        Ok(a) => a,
        Err(e) => {
            let (name, hint) = super::key::explain_assertion_failure(&e);
            let err: Error = e.into();
            item(&mut checks, name, false);
            advice.push(format!("{}: {hint}", err.what));
            return finish(kit, ks, op, plan, checks, None, advice);
        }
    };
    if pin.is_some() {
        item(&mut checks, "pin", true);
    }
    let facts = match attestation::verify_assertion(
        &cred.cose_public_key.0,
        &assertion.auth_data,
        &client_data_hash,
        &assertion.signature,
    ) {
        Ok(f) => {
            item(&mut checks, "signature", true);
            f
        }
        Err(e) => {
            item(&mut checks, "signature", false);
            advice.push(format!(
                "the assertion does not verify against the public key in the ledger ({e}): the key does not hold the enrolled credential — re-enroll and investigate"
            ));
            return finish(kit, ks, op, plan, checks, None, advice);
        }
    };
    let rp_ok = facts.rp_id_matches(&cred.rp_id)
        && assertion
            .credential_id
            .as_deref()
            .is_none_or(|id| id == cred.credential_id.0.as_slice());
    item(&mut checks, "rp_and_credential", rp_ok);
    if !rp_ok {
        advice.push("the assertion is for another relying party or credential: re-enroll".into());
    }
    item(&mut checks, "user_present", facts.user_present);
    if !facts.user_present {
        advice.push("the key signed without user presence: replace the key".into());
    }
    if pin.is_some() {
        item(&mut checks, "user_verified", facts.user_verified);
        if !facts.user_verified {
            advice.push("the key did not verify the PIN (UV flag clear): replace the key".into());
        }
    }
    let previous = ks
        .checks
        .iter()
        .rev()
        .find_map(|c| c.counter)
        .unwrap_or(cred.sign_count);
    match facts.counter_against(previous) {
        Counter::Advanced | Counter::NotImplemented => item(&mut checks, "counter", true),
        Counter::DidNotAdvance => {
            item(&mut checks, "counter", false);
            advice.push(format!(
                "CLONE WARNING: the signature counter is {} but was {previous} at the last check: treat as an incident, replace the key",
                facts.sign_count
            ));
        }
    }
    if let Some(facts) = online {
        super::online::evaluate(facts, &mut checks, &mut advice);
    }
    finish(kit, ks, op, plan, checks, Some(facts.sign_count), advice)
}

fn finish(
    kit: &Kit,
    ks: &KeyState,
    op: &mut dyn Operator,
    plan: &CheckPlan,
    checks: Vec<CheckItem>,
    counter: Option<u32>,
    advice: Vec<String>,
) -> Result<CheckOutcome> {
    let passed = checks.iter().all(|c| c.passed);
    kit.append(
        &plan.operators,
        Event::LivenessChecked {
            key: ks.label.clone(),
            passed,
            counter,
            checks: checks.clone(),
        },
    )?;
    let new_seal = if plan.defer_reseal {
        None
    } else {
        reseal(kit, ks, op, plan)?
    };
    Ok(CheckOutcome {
        key: ks.label.clone(),
        passed,
        counter,
        checks,
        advice,
        new_seal,
    })
}

/// Put the key back in a new envelope at its location and record the seal.
pub fn reseal(
    kit: &Kit,
    ks: &KeyState,
    op: &mut dyn Operator,
    plan: &CheckPlan,
) -> Result<Option<String>> {
    let location = match &ks.custody {
        Custody::Sealed { location, .. } | Custody::Opened { location, .. } => {
            Some(location.clone())
        }
        Custody::Unsealed => ks.location.clone(),
    };
    let Some(location) = location else {
        return Ok(None);
    };
    let seal = match &plan.new_seal {
        Some(s) => s.clone(),
        None => op.text(&format!(
            "reseal key {} in a new envelope and type the new seal number",
            ks.label
        ))?,
    };
    kit.append(
        &plan.operators,
        Event::EnvelopeSealed {
            key: ks.label.clone(),
            location,
            seal: seal.clone(),
            custodians: plan.operators.clone(),
        },
    )?;
    Ok(Some(seal))
}
