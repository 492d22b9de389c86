//! `glasskey check`: the quarterly liveness check of one sealed key.
//!
//! Proves offline that the key in the envelope still holds the recorded
//! credential (a fresh assertion verified against the public key in the ledger),
//! that the PIN on the slip unlocks it (UV), and that the counter went up.
//! The assertion signs the ledger head (see [`super::witness`]) and is kept.

use super::journal::{Ceremony, Progress, Step};
use super::key::KeySession;
use super::operator::Operator;
use crate::attestation::{self, Counter};
use crate::ctap::{CtapError, Status};
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
        // Until it is resealed, `resume` and `audit` show this envelope as OPEN.
        check_progress(ks, location, operators).save(kit, Step::EnvelopeOpened)?;
    }
    Ok(())
}

fn check_progress(ks: &KeyState, location: &str, operators: &[String]) -> Progress {
    Progress::new(
        Ceremony::Check,
        Step::EnvelopeOpened,
        &ks.label,
        ks.accounts().join(", "),
        location.to_string(),
        ks.model.clone(),
        operators,
    )
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

    // Which key is this? Proven without the PIN, so a wrong key spends no retry.
    let proven = match identify(kit, ks, cred, key, op)? {
        Identity::Proven => {
            item(&mut checks, "credential", true);
            true
        }
        Identity::Unprovable(why) => {
            op.say(&format!(
                "{why}: the key is identified by the PIN assertion instead"
            ));
            false
        }
        Identity::OtherKey(other) => {
            item(&mut checks, "credential", false);
            advice.push(format!(
                "this is not key {}: the plugged key holds the credential of key {other}. No PIN was tried. Plug in key {} (the one from its envelope) and run the check again",
                ks.label, ks.label
            ));
            return finish(kit, ks, op, plan, checks, None, advice);
        }
        Identity::NoGlasskeyCredential => {
            item(&mut checks, "credential", false);
            advice.push(format!(
                "this key holds no glasskey credential (reset or never enrolled), so it is not key {} as enrolled. No PIN was tried. If it came out of key {}'s envelope, its credential is gone: re-enroll it and investigate; otherwise plug in the right key",
                ks.label, ks.label
            ));
            return finish(kit, ks, op, plan, checks, None, advice);
        }
    };

    // The key signs the ledger head before the check (see ceremony::witness).
    let witness = super::witness::WitnessRequest::for_kit(kit)?;
    let client_data_hash = witness.client_data_hash;

    let (assertion, used_pin) = if plan.presence_only {
        let wait = op.waiting(&format!("key {}: touch the key when it blinks", ks.label));
        let answer = key.get_assertion(None, &cred.rp_id, &cred.credential_id.0, &client_data_hash);
        drop(wait);
        match answer {
            Ok(a) => (a, false),
            Err(e) => {
                let (name, hint) = super::key::explain_assertion_failure(&e);
                let err: Error = e.into();
                item(&mut checks, name, false);
                advice.push(format!("{}: {hint}", err.what));
                return finish(kit, ks, op, plan, checks, None, advice);
            }
        }
    } else {
        if !key.has_pin() {
            item(&mut checks, "pin", false);
            advice.push(format!(
                "the key has no PIN (PIN_NOT_SET): it was reset or never enrolled, so it is not key {} as enrolled",
                ks.label
            ));
            return finish(kit, ks, op, plan, checks, None, advice);
        }
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
        match pin_assertion(key, ks, cred, op, &client_data_hash, proven)? {
            Ok(a) => (a, true),
            Err((name, text)) => {
                item(&mut checks, name, false);
                advice.push(text);
                return finish(kit, ks, op, plan, checks, None, advice);
            }
        }
    };
    let pin: Option<()> = used_pin.then_some(());
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
    let evidence = witness.event(
        &ks.label,
        &cred.credential_id.0,
        &assertion.auth_data,
        &assertion.signature,
    );
    finish_witnessed(
        kit,
        ks,
        op,
        plan,
        checks,
        Some(facts.sign_count),
        advice,
        Some(evidence),
    )
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
    finish_witnessed(kit, ks, op, plan, checks, counter, advice, None)
}

/// Record the result, then the key's signed evidence (when it signed).
#[allow(clippy::too_many_arguments)]
fn finish_witnessed(
    kit: &Kit,
    ks: &KeyState,
    op: &mut dyn Operator,
    plan: &CheckPlan,
    checks: Vec<CheckItem>,
    counter: Option<u32>,
    advice: Vec<String>,
    evidence: Option<Event>,
) -> Result<CheckOutcome> {
    let passed = checks.iter().all(|c| c.passed);
    let now = crate::ledger::Timestamp::now();
    let result = Event::LivenessChecked {
        key: ks.label.clone(),
        passed,
        counter,
        checks: checks.clone(),
    };
    kit.ledger().append_batch(
        &plan.operators,
        std::iter::once((now, result)).chain(evidence.map(|e| (now, e))),
    )?;
    // Checked and recorded; until resealed, `resume` asks for the new seal.
    let location = match &ks.custody {
        Custody::Sealed { location, .. } | Custody::Opened { location, .. } => {
            Some(location.clone())
        }
        Custody::Unsealed => ks.location.clone(),
    };
    if let Some(location) = location {
        check_progress(ks, &location, &plan.operators).save(kit, Step::Checked)?;
    }
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
    let progress = check_progress(ks, &location, &plan.operators);
    let seal = match &plan.new_seal {
        Some(s) => s.clone(),
        None => op
            .text(&format!(
                "reseal key {} in a new envelope and type the new seal number",
                ks.label
            ))
            .map_err(|mut e| {
                e.next = format!(
                    "{}; the check is recorded: run `glasskey resume` to record the new seal",
                    e.next
                );
                e
            })?,
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
    progress.finish(kit)?;
    Ok(Some(seal))
}

/// What the silent probe says about the plugged key.
enum Identity {
    /// It holds the ledger's credential for this key.
    Proven,
    /// It cannot be told without the PIN (credProtect 3, or the key refuses up=false).
    Unprovable(String),
    /// It holds the credential of another key in the ledger (the label).
    OtherKey(String),
    /// It holds none of the ledger's credentials of this model.
    NoGlasskeyCredential,
}

/// Probe with up=false over the ledger's credential ids (no PIN, no touch): this
/// key's first, then every other active key of the same model.
fn identify(
    kit: &Kit,
    ks: &KeyState,
    cred: &crate::ledger::CredentialState,
    key: &mut KeySession,
    op: &mut dyn Operator,
) -> Result<Identity> {
    // credProtect 3 (userVerificationRequired) hides the credential from a PIN-less
    // assertion (CTAP 2.1 §12.1): the spec leaves the PIN as the only way to find it.
    if cred.cred_protect == Some(3) {
        return Ok(Identity::Unprovable(format!(
            "key {}'s credential requires user verification (credProtect 3), so it cannot be found without the PIN",
            ks.label
        )));
    }
    op.say(&format!(
        "key {}: identifying the key (no PIN, no touch)",
        ks.label
    ));
    match key.holds_credential(&cred.rp_id, &cred.credential_id.0) {
        Ok(true) => return Ok(Identity::Proven),
        Ok(false) => {}
        // The key is gone, silent or the operator pressed Ctrl-C: no PIN attempt
        // can follow, so stop here with the device's own error.
        Err(CtapError::Hid(e)) => return Err(CtapError::Hid(e).into()),
        Err(e) => {
            return Ok(Identity::Unprovable(format!(
                "the key does not answer a silent probe ({e})"
            )))
        }
    }
    let state = kit.state()?;
    for other in state
        .active_keys()
        .filter(|k| k.label != ks.label && k.aaguid == ks.aaguid)
    {
        for c in other
            .credentials
            .iter()
            .filter(|c| c.cred_protect != Some(3))
        {
            if let Ok(true) = key.holds_credential(&c.rp_id, &c.credential_id.0) {
                return Ok(Identity::OtherKey(other.label.clone()));
            }
        }
    }
    Ok(Identity::NoGlasskeyCredential)
}

/// The PIN assertion, with a retype on PIN_INVALID while at least
/// [`SAFE_PIN_RETRIES`] would remain after another wrong try, and a re-plug on
/// PIN_AUTH_BLOCKED. A typo is told from a wrong slip only by repeated failure.
/// `Err((check, advice))` when the PIN did not unlock the key.
fn pin_assertion(
    key: &mut KeySession,
    ks: &KeyState,
    cred: &crate::ledger::CredentialState,
    op: &mut dyn Operator,
    client_data_hash: &[u8; 32],
    proven: bool,
) -> Result<std::result::Result<super::key::AssertionOut, (&'static str, String)>> {
    let mut refused = 0u32;
    loop {
        let pin = op.pin(&format!(
            "PIN from the slip in the envelope of key {}",
            ks.label
        ))?;
        let wait = op.waiting(&format!("key {}: touch the key when it blinks", ks.label));
        let answer = key.get_assertion(
            Some(&pin),
            &cred.rp_id,
            &cred.credential_id.0,
            client_data_hash,
        );
        drop(wait);
        let err = match answer {
            Ok(a) => return Ok(Ok(a)),
            // The key was pulled out, went silent or Ctrl-C cancelled: the check has no
            // answer, which is not a failed check. Stop; the envelope stays OPEN and
            // `resume` names the check to run again.
            Err(CtapError::Hid(e)) => return Err(CtapError::Hid(e).into()),
            Err(e) => e,
        };
        let left = match &err {
            CtapError::PinInvalid { retries: Some(r) } => u32::try_from(*r).unwrap_or(0),
            _ => key.pin_retries().unwrap_or(0),
        };
        match err.status() {
            _ if matches!(err, CtapError::PinInvalid { .. }) => {
                refused += 1;
                if left > SAFE_PIN_RETRIES
                    && op.confirm(&format!(
                        "the key did not accept that PIN ({left} retries left). Retype it carefully?"
                    ))?
                {
                    continue;
                }
                let text = if refused == 1 {
                    format!(
                        "the PIN was refused once ({left} retries left): most likely a typo. Run the check again and type the PIN from the slip carefully"
                    )
                } else if proven {
                    format!(
                        "the PIN from the slip was refused {refused} times ({left} retries left) by the key that holds key {}'s credential: the slip does not match the key. Re-enroll it (reset, new PIN, new slip) and find out why",
                        ks.label
                    )
                } else {
                    format!(
                        "the PIN from the slip was refused {refused} times ({left} retries left): either the slip does not match or this is not key {}. Check the key came out of its envelope; if it did, re-enroll it",
                        ks.label
                    )
                };
                return Ok(Err(("pin", text)));
            }
            Some(Status::PinAuthBlocked) => {
                if op.confirm(&format!(
                    "the key wants a re-plug after 3 wrong PINs in a row: re-plug the key, then continue: {left} retries remain. Continue?"
                ))? {
                    key.reopen()?;
                    continue;
                }
                return Ok(Err((
                    "pin",
                    format!("the key paused PIN entry after 3 wrong PINs in a row: re-plug the key, then run the check again: {left} retries remain"),
                )));
            }
            Some(Status::PinBlocked) => {
                return Ok(Err((
                    "pin",
                    "the PIN is blocked (no retries left): the key can never be unlocked again — reset it and re-enroll (new PIN, new slip)".into(),
                )))
            }
            Some(Status::PinNotSet) => {
                return Ok(Err((
                    "pin",
                    "the key has no PIN (PIN_NOT_SET): it was reset or never enrolled".into(),
                )))
            }
            _ => {
                let (name, hint) = super::key::explain_assertion_failure(&err);
                let e: Error = err.into();
                return Ok(Err((name, format!("{}: {hint}", e.what))));
            }
        }
    }
}
