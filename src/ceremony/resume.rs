//! `glasskey resume`: finish what an interrupted ceremony left half done, from
//! the exact step its journal ([`super::journal`]) records.
//!
//! What can be continued is continued: a registered key only needs its seal; a
//! recorded credential only needs registering (or, offline, writing into the
//! response bundle); a key with a PIN and a printed slip can get its credential.
//! Only what cannot be continued — a PIN set whose slip may not exist — is
//! abandoned, and then the key is reset here, which clears the warning.

use super::enroll::{self, EnrollPlan, PinChoice, Prepared};
use super::journal::{self, Ceremony, Progress, Step};
use super::key::KeySession;
use super::operator::Operator;
use super::pin_gen::PinAlphabet;
use crate::attestation::TrustStore;
use crate::error::{Error, Result};
use crate::graph::bundle::{RequestItem, ResponseItem};
use crate::graph::GraphClient;
use crate::ledger::{Event, Kit};

/// What a ceremony in progress needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Nothing changed yet: forget it.
    Nothing,
    /// Only the seal number.
    Seal,
    /// Registering the recorded credential in Entra (online).
    Register,
    /// Writing the response item into the response bundle (offline).
    WriteResponse,
    /// The key (PIN from its slip) to create the credential.
    Credential,
    /// Resetting the key: the enrollment cannot be continued.
    Reset,
    /// The envelope resealed (after a check).
    Reseal,
    /// The interrupted check run again (its envelope is open).
    Recheck,
    /// The retirement finished (Entra, record).
    Retire,
}

/// One half-done ceremony as `resume` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HalfDone {
    pub label: String,
    pub ceremony: Ceremony,
    pub step: Step,
    pub need: Need,
    /// What is done and what is not, in words.
    pub status: String,
}

/// What the journal says, in words, and what comes next.
pub fn assess(p: &Progress) -> HalfDone {
    let (need, status) = match (p.ceremony, p.step) {
        (Ceremony::Check, Step::Checked) => (
            Need::Reseal,
            format!(
                "key {} was checked (recorded) and its envelope not resealed (OPEN)",
                p.label
            ),
        ),
        (Ceremony::Check, _) => (
            Need::Recheck,
            format!(
                "the envelope of key {} was opened for a check that did not finish (OPEN)",
                p.label
            ),
        ),
        (Ceremony::Retire, _) => (
            Need::Retire,
            format!(
                "the retirement of key {} was started but not recorded",
                p.label
            ),
        ),
        (_, Step::Started) | (_, Step::ResetPending) => (
            Need::Nothing,
            format!(
                "enrollment of key {} stopped before its PIN was set (a reset may have been sent)",
                p.label
            ),
        ),
        (_, Step::PinPending) => (
            Need::Reset,
            format!(
                "key {} may have a PIN whose slip was never printed: it cannot be continued",
                p.label
            ),
        ),
        (_, Step::PinSet) | (_, Step::CredentialPending) => (
            Need::Credential,
            format!(
                "key {} has its PIN (slip printed) but no recorded credential for {}",
                p.label, p.account
            ),
        ),
        (Ceremony::Enroll, Step::CredentialRecorded) => (
            Need::Register,
            format!(
                "key {} holds a recorded credential for {} that Entra does not have yet",
                p.label, p.account
            ),
        ),
        (_, Step::CredentialRecorded) => (
            Need::WriteResponse,
            format!(
                "key {}'s credential is recorded but not yet in the response bundle",
                p.label
            ),
        ),
        (_, _) => (
            Need::Seal,
            format!(
                "key {} is enrolled for {}; only its seal number is missing",
                p.label, p.account
            ),
        ),
    };
    HalfDone {
        label: p.label.clone(),
        ceremony: p.ceremony,
        step: p.step,
        need,
        status,
    }
}

/// Every half-done ceremony in the kit.
pub fn pending(kit: &Kit) -> Result<Vec<HalfDone>> {
    Ok(journal::pending(kit)?.iter().map(assess).collect())
}

/// What `resume` may use; each is asked for only when the step needs it.
pub struct Tools<'a> {
    pub graph: Option<&'a GraphClient>,
    pub key: Option<&'a mut KeySession>,
    pub trust: &'a TrustStore,
}

fn plan_of(p: &Progress) -> EnrollPlan {
    EnrollPlan {
        account: p.account.clone(),
        location: p.location.clone(),
        label: Some(p.label.clone()),
        seal: p.seal.clone(),
        reset: false,
        assume_yes: false,
        operators: p.operators.clone(),
        pin: PinChoice::Prompt,
    }
}

fn need_key<'k>(key: &'k mut Option<&mut KeySession>, label: &str) -> Result<&'k mut KeySession> {
    key.as_deref_mut().ok_or_else(|| {
        Error::input(
            format!("this step needs key {label} plugged in"),
            "plug in that key (only that key) and run `glasskey resume` again",
        )
    })
}

fn need_graph(graph: Option<&GraphClient>) -> Result<&GraphClient> {
    graph.ok_or_else(|| {
        Error::input(
            "this step needs Microsoft Graph",
            "run `glasskey resume` online (with the sign-in options)",
        )
    })
}

/// Finish the ceremony of `progress` from its step. Returns what was done.
pub fn resume(
    kit: &Kit,
    mut progress: Progress,
    op: &mut dyn Operator,
    mut tools: Tools,
) -> Result<Vec<String>> {
    let half = assess(&progress);
    op.say(&half.status);
    let mut done = Vec::new();
    match half.need {
        Need::Nothing => {
            progress.finish(kit)?;
            done.push(format!(
                "nothing was changed on key {}; run enroll again (with --reset if it already has a PIN)",
                progress.label
            ));
        }
        Need::Reset => {
            reset_abandoned(
                kit,
                &mut progress,
                op,
                &mut tools,
                "its PIN slip was never printed",
            )?;
            done.push(format!(
                "key {} was reset; shred any slip for it and enroll it again",
                progress.label
            ));
        }
        Need::Credential => {
            if !op.confirm(&format!(
                "continue enrolling key {} with the PIN on its slip? (no: reset the key instead)",
                progress.label
            ))? {
                reset_abandoned(
                    kit,
                    &mut progress,
                    op,
                    &mut tools,
                    "the operator chose to reset it",
                )?;
                done.push(format!(
                    "key {} was reset; shred its PIN slip",
                    progress.label
                ));
                return Ok(done);
            }
            create_credential(kit, &mut progress, op, &mut tools)?;
            done.push(format!(
                "credential of key {} created and recorded",
                progress.label
            ));
            done.extend(finish_enrollment(kit, &mut progress, op, &tools)?);
        }
        Need::Register | Need::WriteResponse | Need::Seal => {
            done.extend(finish_enrollment(kit, &mut progress, op, &tools)?);
        }
        Need::Reseal => {
            let seal = op.text(&format!(
                "reseal key {} in a new envelope and type the new seal number",
                progress.label
            ))?;
            super::preflight::seal_unused(&kit.state()?, &seal)?;
            kit.append(
                &progress.operators,
                Event::EnvelopeSealed {
                    key: progress.label.clone(),
                    location: progress.location.clone(),
                    seal: seal.clone(),
                    custodians: progress.operators.clone(),
                },
            )?;
            progress.finish(kit)?;
            done.push(format!("key {} resealed as {seal}", progress.label));
        }
        Need::Recheck => {
            done.push(format!(
                "run `glasskey check --key {}` with the key plugged in: it goes on from the open envelope and reseals it",
                progress.label
            ));
        }
        Need::Retire => {
            let state = kit.state()?;
            let ks = state.keys.get(&progress.label).ok_or_else(|| {
                Error::input(
                    format!("key {} is not in the ledger", progress.label),
                    "nothing to retire; delete its journal file",
                )
            })?;
            if ks.retired.is_none() {
                if let Some(graph) = tools.graph {
                    done.extend(super::retire::delete_methods(graph, ks)?);
                } else {
                    done.push("Entra not changed (offline)".into());
                }
                kit.append(
                    &progress.operators,
                    Event::KeyRetired {
                        key: progress.label.clone(),
                        reason: "retirement finished by resume".into(),
                    },
                )?;
            }
            if progress.step == Step::ResetPending {
                done.push(format!(
                    "key {} may not have been reset: reset it with `glasskey keys reset` before reuse",
                    progress.label
                ));
            }
            progress.finish(kit)?;
            done.push(format!("key {} recorded as retired", progress.label));
        }
    }
    Ok(done)
}

/// Make the credential on a key that has its PIN (typed from the slip).
fn create_credential(
    kit: &Kit,
    progress: &mut Progress,
    op: &mut dyn Operator,
    tools: &mut Tools,
) -> Result<()> {
    let item: RequestItem = match (&progress.ceremony, &progress.request_item) {
        (Ceremony::EnrollOffline, Some(v)) => serde_json::from_value(v.clone()).map_err(|e| {
            Error::input(
                format!("the journal's request item is unreadable: {e}"),
                "reset the key and enroll it again",
            )
        })?,
        _ => {
            let graph = need_graph(tools.graph)?;
            let user_id = progress
                .user_id
                .clone()
                .unwrap_or_else(|| progress.account.clone());
            let options = graph.creation_options(&user_id, None)?;
            RequestItem {
                account: crate::graph::bundle::Account {
                    id: user_id,
                    user_principal_name: progress.account.clone(),
                },
                creation_options: options.raw.clone(),
                graph_version: None,
            }
        }
    };
    let options = item.options()?;
    let key = need_key(&mut tools.key, &progress.label)?;
    let pin = op.pin(&format!("PIN from the slip of key {}", progress.label))?;
    let prepared = Prepared {
        label: progress.label.clone(),
        seal: progress.seal.clone().unwrap_or_default(),
        model: progress.model.clone(),
        min_pin_length: 0,
        pin_alphabet: PinAlphabet::Digits,
        pin_rules: crate::ctap::pin_rules::PinRules::of(key.device_info()),
        entra_attestation: crate::attestation::mds::EntraPrediction::Unknown {
            reason: "checked when the enrollment began".into(),
        },
        tenant: kit.config().tenant.clone(),
        sign_in_url: kit.config().sign_in_url().to_string(),
    };
    let plan = plan_of(progress);
    enroll::make_and_record(
        kit,
        key,
        tools.trust,
        op,
        &plan,
        &prepared,
        &pin,
        &item,
        &options,
        progress,
    )?;
    Ok(())
}

/// From a recorded credential: register (online) or write the response (offline), then seal.
fn finish_enrollment(
    kit: &Kit,
    progress: &mut Progress,
    op: &mut dyn Operator,
    tools: &Tools,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    if progress.step == Step::CredentialRecorded {
        let response: ResponseItem = progress
            .response_item
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| {
                Error::input(
                    format!(
                        "the journal of key {} lost its response item",
                        progress.label
                    ),
                    "reset the key and enroll it again",
                )
            })?;
        match progress.ceremony {
            Ceremony::EnrollOffline => {
                let (Some(out), Some(tenant)) =
                    (progress.response_out.clone(), progress.tenant.clone())
                else {
                    return Err(Error::input(
                        "the journal has no response bundle path",
                        "reset the key and enroll it again",
                    ));
                };
                enroll::add_to_response_bundle(&out, &tenant, &response)?;
                progress.save(kit, Step::Registered)?;
                done.push(format!(
                    "response of key {} written to {}",
                    progress.label,
                    out.display()
                ));
            }
            _ => {
                let graph = need_graph(tools.graph)?;
                let method = enroll::register_step(kit, graph, op, progress, &response)?;
                done.push(format!(
                    "key {} registered in Entra (method {method})",
                    progress.label
                ));
            }
        }
    }
    enroll::seal_step(kit, op, progress)?;
    progress.finish(kit)?;
    done.push(format!("key {} sealed and recorded", progress.label));
    Ok(done)
}

/// Record the abandonment and reset the key (ykman's re-insertion flow); the
/// KeyReset event clears the abandonment warning.
fn reset_abandoned(
    kit: &Kit,
    progress: &mut Progress,
    op: &mut dyn Operator,
    tools: &mut Tools,
    reason: &str,
) -> Result<()> {
    let already = kit
        .state()?
        .warnings
        .iter()
        .any(|w| w.contains(&format!("enrollment of key '{}' for ", progress.label)));
    if !already {
        enroll::abandon(kit, progress, reason);
    }
    let key = need_key(&mut tools.key, &progress.label)?;
    let naming = key.naming(Some(&progress.label), None);
    super::key::confirm_and_reset(key, op, false, &naming)?;
    kit.append(
        &progress.operators,
        Event::KeyReset {
            key: progress.label.clone(),
            reason: format!("enrollment abandoned: {reason}"),
        },
    )?;
    progress.finish(kit)
}
