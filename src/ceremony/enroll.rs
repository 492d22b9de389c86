//! `glasskey enroll`: one key, one break-glass account, one location.
//!
//! Order matters for "nothing lost": the PIN slip is printed right after the PIN
//! is set (so the PIN can never exist only in memory), every step is recorded
//! in the ledger as it completes, and a failure says exactly what to redo.

use sha2::{Digest, Sha256};

use super::key::{KeySession, MadeCredential};
use super::operator::Operator;
use super::pin_gen::{generate_fitting_pin, pin_fits_rules, PinAlphabet};
use crate::attestation::mds::EntraPrediction;
use crate::attestation::{self, TrustStore};
use crate::ctap::pin_rules::PinRules;
use crate::error::{Error, Result};
use crate::graph::bundle::{self, KeyFacts, RequestItem};
use crate::graph::types::{client_data_json, CreationOptions};
use crate::graph::GraphClient;
use crate::ledger::{Bytes, Event, Kit};
use crate::report::{self, PinSlip};
use crate::secret::Pin;

/// Where the PIN slip goes: a printer, never a file glasskey keeps.
pub trait SlipPrinter {
    fn print(&mut self, pdf: &[u8]) -> Result<()>;
}

/// How the PIN is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinChoice {
    /// From the OS CSPRNG (the default).
    Generate,
    /// Typed by the operator.
    Prompt,
}

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct EnrollPlan {
    pub account: String,
    pub location: String,
    pub label: Option<String>,
    pub seal: Option<String>,
    pub reset: bool,
    pub assume_yes: bool,
    pub operators: Vec<String>,
    pub pin: PinChoice,
}

/// What came out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enrolled {
    pub label: String,
    pub account: String,
    pub location: String,
    pub seal: String,
    pub model: String,
    pub aaguid: crate::aaguid::Aaguid,
    pub credential_id: String,
    pub method_id: Option<String>,
    pub attestation: String,
}

/// Online enrollment: preflight against the tenant, create, verify, register, record.
pub fn enroll(
    kit: &Kit,
    key: &mut KeySession,
    graph: &GraphClient,
    trust: &TrustStore,
    op: &mut dyn Operator,
    printer: &mut dyn SlipPrinter,
    plan: &EnrollPlan,
) -> Result<(Enrolled, Pin)> {
    let prepared = prepare(kit, key, plan)?;
    op.say(&format!(
        "key: {} ({}), firmware {}",
        prepared.model,
        key.aaguid(),
        key.firmware().unwrap_or_else(|| "unknown".into())
    ));

    let user = graph.user(&plan.account)?;
    let policy = graph.fido2_policy()?;
    let groups = graph.group_ids(&user.id)?;
    if let EntraPrediction::Refuses { reason } = &prepared.entra_attestation {
        op.say(&format!(
            "Entra's attestation enforcement would refuse this model: {reason}"
        ));
    }
    let attests = !matches!(prepared.entra_attestation, EntraPrediction::Refuses { .. });
    let verdict = crate::graph::policy::preflight(&policy, &groups, key.aaguid(), attests);
    if !verdict.allowed {
        let why: Vec<String> = verdict.blockers.iter().map(|b| b.explain()).collect();
        return Err(Error::input(
            format!(
                "the tenant's FIDO2 policy would refuse this key ({}) for {}: {}",
                prepared.model,
                plan.account,
                why.join("; ")
            ),
            "fix the FIDO2 authentication-method policy in Entra (or use an allowed model), then run enroll again; the key was not touched",
        ));
    }

    ready_key(key, op, plan)?;
    let pin = choose_pin(op, plan, &prepared)?;
    let outcome = (|| {
        set_pin_and_print(key, op, printer, plan, &prepared, &pin)?;
        let options = graph.creation_options(&user.id, None)?;
        let item = RequestItem {
            account: bundle::Account {
                id: user.id.clone(),
                user_principal_name: user.user_principal_name.clone(),
            },
            creation_options: options.raw.clone(),
            graph_version: None,
        };
        let made = create_and_verify(kit, key, trust, op, &options, &pin, &prepared)?;
        record_creation(kit, plan, &prepared, &made, &options)?;

        let response = bundle::response_item(
            &item,
            &made.attestation_object_webauthn,
            &made.credential_id,
            &made.client_data_json,
            &prepared.label,
            prepared.key_facts(key),
        )?;
        op.say(&format!(
            "registering the credential on {} in Entra",
            plan.account
        ));
        let method = graph.register(&user.id, &response.fido2_method).map_err(|e| {
        let mut err: Error = e.into();
        err.next = format!(
            "{}; the key holds a credential that Entra may not know: run `glasskey audit --online`, then `glasskey graph register` or re-enroll with --reset",
            err.next
        );
        err
    })?;
        kit.append(
            &plan.operators,
            Event::RegisteredInEntra {
                key: prepared.label.clone(),
                account: plan.account.clone(),
                credential_id: Bytes(made.credential_id.clone()),
                method_id: method.id.clone(),
                created_date_time: method.created_date_time.clone().unwrap_or_default(),
                model: method.model.clone(),
                attestation_level: method.attestation_level.clone(),
            },
        )?;
        seal(kit, op, plan, &prepared)?;
        Ok(Enrolled {
            label: prepared.label.clone(),
            account: plan.account.clone(),
            location: plan.location.clone(),
            seal: prepared.seal.clone(),
            model: prepared.model.clone(),
            aaguid: key.aaguid(),
            credential_id: crate::webauthn::b64::encode(&made.credential_id),
            method_id: Some(method.id),
            attestation: made.attestation_summary.clone(),
        })
    })();
    let enrolled = abandon_on_error(kit, plan, &prepared, outcome)?;
    Ok((enrolled, pin))
}

/// The offline half of a split ceremony: one request item, one key; returns the
/// response item for `graph register`.
pub fn enroll_offline(
    kit: &Kit,
    key: &mut KeySession,
    trust: &TrustStore,
    op: &mut dyn Operator,
    printer: &mut dyn SlipPrinter,
    plan: &EnrollPlan,
    item: &RequestItem,
) -> Result<(bundle::ResponseItem, Pin)> {
    let options = item.options()?;
    if options.is_expired(time::OffsetDateTime::now_utc()) {
        return Err(Error::input(
            format!("the challenge for {} has expired", item.account.user_principal_name),
            "fetch new options with `glasskey graph fetch-options` (a longer --challenge-timeout) and run again; no key was touched",
        ));
    }
    let prepared = prepare(kit, key, plan)?;
    super::key_fit::plan_creation(key.device_info(), &options)?;
    ready_key(key, op, plan)?;
    let pin = choose_pin(op, plan, &prepared)?;
    let outcome = (|| {
        set_pin_and_print(key, op, printer, plan, &prepared, &pin)?;
        let made = create_and_verify(kit, key, trust, op, &options, &pin, &prepared)?;
        record_creation(kit, plan, &prepared, &made, &options)?;
        let response = bundle::response_item(
            item,
            &made.attestation_object_webauthn,
            &made.credential_id,
            &made.client_data_json,
            &prepared.label,
            prepared.key_facts(key),
        )?;
        seal(kit, op, plan, &prepared)?;
        Ok(response)
    })();
    let response = abandon_on_error(kit, plan, &prepared, outcome)?;
    Ok((response, pin))
}

/// Once the key has been changed (PIN set), a failure is recorded in the ledger so the
/// record says which key needs a reset and why; then the error goes on to the operator.
fn abandon_on_error<T>(
    kit: &Kit,
    plan: &EnrollPlan,
    prepared: &Prepared,
    outcome: Result<T>,
) -> Result<T> {
    if let Err(e) = &outcome {
        let next = "reset the key (`glasskey keys reset`) and shred its PIN slip before enrolling it again";
        // Best effort: the operator must see the original error even if the ledger cannot be written.
        let _ = kit.append(
            &plan.operators,
            Event::EnrollmentAbandoned {
                key: prepared.label.clone(),
                account: plan.account.clone(),
                reason: e.what.clone(),
                next: next.into(),
            },
        );
    }
    outcome
}

/// Checks that need no network and touch nothing: kit, label, seal, key fitness.
struct Prepared {
    label: String,
    seal: String,
    model: String,
    /// The kit policy's PIN length, raised to the key's own minimum.
    min_pin_length: usize,
    pin_alphabet: PinAlphabet,
    /// What the key accepts as a PIN (lengths, complexity policy).
    pin_rules: PinRules,
    /// Entra's attestation enforcement, predicted from the kit's MDS BLOB.
    entra_attestation: EntraPrediction,
    /// For the PIN slip: the tenant and where its accounts sign in.
    tenant: String,
    sign_in_url: String,
}

impl Prepared {
    fn key_facts(&self, key: &KeySession) -> KeyFacts {
        KeyFacts {
            aaguid: key.aaguid(),
            model: Some(self.model.clone()),
            label: Some(self.label.clone()),
            serial: None,
            extra: key
                .firmware()
                .map(|f| {
                    serde_json::Map::from_iter([(
                        "firmware".to_string(),
                        serde_json::Value::String(f),
                    )])
                })
                .unwrap_or_default(),
        }
    }
}

fn prepare(kit: &Kit, key: &KeySession, plan: &EnrollPlan) -> Result<Prepared> {
    let config = kit.config();
    if !config
        .accounts
        .iter()
        .any(|a| a.upn.eq_ignore_ascii_case(&plan.account))
    {
        return Err(Error::input(
            format!(
                "{} is not a break-glass account in {}",
                plan.account,
                kit.dir().display()
            ),
            "add it under [[accounts]] in glasskey.toml, or check the spelling",
        ));
    }
    if config.location(&plan.location).is_none() {
        let known: Vec<&str> = config.locations.iter().map(|l| l.id.as_str()).collect();
        return Err(Error::input(
            format!("unknown location '{}'", plan.location),
            format!("use one of: {}", known.join(", ")),
        ));
    }
    let mds = super::key_fit::mds_preflight(kit.dir(), &key.aaguid())?;
    let model = mds.model_name.clone().unwrap_or_else(|| key.model_name());
    let problems = key.fitness_problems();
    if !problems.is_empty() {
        return Err(Error::input(
            format!("this key ({model}) is not fit for Entra: {}", problems.join("; ")),
            "use a FIDO2 security key with resident keys, a PIN and ES256 (see vendor-attestation/aaguids.tsv)",
        ));
    }
    let allowed = &config.policy.allowed_aaguids;
    if !allowed.is_empty() && !allowed.contains(&key.aaguid()) {
        return Err(Error::input(
            format!("the kit policy does not allow this model ({model}, AAGUID {})", key.aaguid()),
            "add its AAGUID to policy.allowed_aaguids in glasskey.toml if it is approved, or use an allowed model",
        ));
    }
    let state = kit.state()?;
    let label = plan.label.clone().unwrap_or_else(|| {
        let local = plan.account.split('@').next().unwrap_or(&plan.account);
        let short: String = model
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        format!("{local}-{}-{}", plan.location, short.to_ascii_lowercase())
    });
    if state.keys.get(&label).is_some_and(|k| k.retired.is_none()) {
        return Err(Error::input(
            format!("a key labelled '{label}' is already in the ledger"),
            "choose another --label, or retire the old key first",
        ));
    }
    let seal = match &plan.seal {
        Some(s) => s.clone(),
        None => String::new(),
    };
    if !seal.is_empty() {
        ensure_seal_unused(&state, &seal)?;
    }
    let pin_alphabet = PinAlphabet::parse(&config.policy.pin_alphabet).ok_or_else(|| {
        Error::input(
            format!(
                "unknown policy.pin_alphabet '{}'",
                config.policy.pin_alphabet
            ),
            "set policy.pin_alphabet in glasskey.toml to digits or unambiguous",
        )
    })?;
    let policy_length = usize::try_from(config.policy.pin_length).unwrap_or(usize::MAX);
    Ok(Prepared {
        label,
        seal,
        model,
        min_pin_length: key.min_pin_length().max(policy_length),
        pin_alphabet,
        pin_rules: PinRules::of(key.device_info()),
        entra_attestation: mds.entra,
        tenant: config.tenant.clone(),
        sign_in_url: config.sign_in_url().to_string(),
    })
}

fn ensure_seal_unused(state: &crate::ledger::State, seal: &str) -> Result<()> {
    for k in state.active_keys() {
        if let crate::ledger::Custody::Sealed { seal: s, .. } = &k.custody {
            if s == seal {
                return Err(Error::input(
                    format!("seal {seal} is already on the envelope of key {}", k.label),
                    "every envelope needs its own seal: check the number on the envelope",
                ));
            }
        }
    }
    Ok(())
}

/// Reset the key if asked; otherwise it must not have a PIN yet. Nothing else is changed.
fn ready_key(key: &mut KeySession, op: &mut dyn Operator, plan: &EnrollPlan) -> Result<()> {
    if plan.reset {
        super::key::confirm_and_reset(key, op, plan.assume_yes)?;
    } else if key.has_pin() {
        return Err(Error::input(
            format!("key {} already has a PIN", key.name()),
            "a break-glass key must carry a fresh PIN known only to its slip: run enroll again with --reset (erases the key)",
        ));
    }
    Ok(())
}

/// Generate the PIN, or take it from the operator (twice, checked against the policy).
fn choose_pin(op: &mut dyn Operator, plan: &EnrollPlan, prepared: &Prepared) -> Result<Pin> {
    Ok(match plan.pin {
        PinChoice::Generate => generate_fitting_pin(
            &prepared.pin_rules,
            prepared.min_pin_length,
            prepared.pin_alphabet,
        )?,
        PinChoice::Prompt => {
            let pin = op.pin("new PIN for the key")?;
            let again = op.pin("the same PIN again")?;
            if pin.expose() != again.expose() {
                return Err(Error::input(
                    "the two PINs differ",
                    "run enroll again and type the same PIN twice",
                ));
            }
            if pin.len_code_points() < prepared.min_pin_length {
                return Err(Error::input(
                    format!(
                        "the PIN is shorter than the policy's {} characters",
                        prepared.min_pin_length
                    ),
                    "choose a longer PIN, or let glasskey generate one",
                ));
            }
            pin_fits_rules(&pin, &prepared.pin_rules)?;
            pin
        }
    })
}

/// Set the PIN (and the key's minimum length), then print the slip at once, so the
/// PIN never exists only in memory.
fn set_pin_and_print(
    key: &mut KeySession,
    op: &mut dyn Operator,
    printer: &mut dyn SlipPrinter,
    plan: &EnrollPlan,
    prepared: &Prepared,
    pin: &Pin,
) -> Result<()> {
    key.set_pin(pin)?;
    if key.supports_min_pin_length() {
        key.set_min_pin_length(pin, prepared.min_pin_length)?;
    }
    op.say("PIN set; printing the PIN slip");
    let slip = PinSlip {
        account: plan.account.clone(),
        key_label: prepared.label.clone(),
        model: prepared.model.clone(),
        tenant: prepared.tenant.clone(),
        sign_in_url: prepared.sign_in_url.clone(),
    };
    let paper = report::Paper::A4;
    let pdf = report::pin_slips(&[(slip, pin)], paper)?;
    loop {
        match printer.print(&pdf) {
            Ok(()) => break,
            Err(e) => {
                op.say(&format!("printing the PIN slip failed: {e}"));
                if !op.confirm("fix the printer and try again?")? {
                    return Err(Error::device(
                        "the PIN slip was not printed, so the PIN would be lost",
                        "fix the printer, then run enroll again with --reset",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn create_and_verify(
    kit: &Kit,
    key: &mut KeySession,
    trust: &TrustStore,
    op: &mut dyn Operator,
    options: &CreationOptions,
    pin: &Pin,
    prepared: &Prepared,
) -> Result<MadeCredential> {
    let client_data_json = client_data_json(&options.challenge, &options.rp_id);
    let client_data_hash: [u8; 32] = Sha256::digest(&client_data_json).into();
    op.say(&format!(
        "creating the credential on key {}: touch the key when it blinks",
        prepared.label
    ));
    let mut made = key.make_credential(pin, options, &client_data_hash)?;
    made.client_data_json = client_data_json;
    for what in &made.not_applied {
        op.say(&format!("not applied: {what}"));
    }
    // Strict unless the kit knowingly allows self-attested or test-rooted models.
    let policy = attestation::Policy {
        allow_self_attestation: kit.config().policy.allow_self_attestation,
        allow_unknown_root: kit.config().policy.allow_unknown_root,
    };
    // The kit's MDS BLOB vouches for this model's roots too (recorded as the anchor's label).
    let mut trust = trust.clone();
    if let Some(blob) = attestation::mds::load(kit.dir())? {
        blob.add_roots_for(&made.aaguid, &mut trust);
    }
    let report = attestation::verify_attestation(
        &made.attestation_object,
        &client_data_hash,
        &trust,
        &policy,
        std::time::SystemTime::now(),
    )?;
    if !report.accepted() {
        return Err(Error::check(
            format!("the key's attestation is not acceptable: {}", report.problems.join("; ")),
            "use a genuine key of an approved model; if this model is approved anyway, set policy.allow_self_attestation or policy.allow_unknown_root in glasskey.toml. Reset this key before reusing it (it now holds an unregistered credential and the PIN on the slip)",
        ));
    }
    made.attestation_summary = match &report.trust {
        attestation::Trust::Anchor(a) => format!("packed, chains to {}", a.label),
        attestation::Trust::SelfAttestation => "packed self attestation".into(),
        attestation::Trust::Untrusted { reason } => format!("untrusted: {reason}"),
    };
    made.attestation_fingerprint = report.certificate_sha256.clone();
    op.say(&format!(
        "attestation verified offline: {}",
        made.attestation_summary
    ));
    Ok(made)
}

fn record_creation(
    kit: &Kit,
    plan: &EnrollPlan,
    prepared: &Prepared,
    made: &MadeCredential,
    options: &CreationOptions,
) -> Result<()> {
    kit.append(
        &plan.operators,
        Event::KeyEnrolled {
            key: prepared.label.clone(),
            model: prepared.model.clone(),
            aaguid: made.aaguid,
            firmware: made.firmware.clone(),
            serial: made.serial.clone(),
            attestation_fingerprint: made.attestation_fingerprint.clone(),
        },
    )?;
    kit.append(
        &plan.operators,
        Event::CredentialCreated {
            key: prepared.label.clone(),
            account: plan.account.clone(),
            rp_id: options.rp_id.clone(),
            credential_id: Bytes(made.credential_id.clone()),
            cose_public_key: Bytes(made.public_key_cbor.clone()),
            sign_count: made.sign_count,
            cred_protect: made.cred_protect,
        },
    )?;
    // The evidence, so the enrollment can be re-verified offline later.
    kit.append(
        &plan.operators,
        super::witness::attestation_event(
            &prepared.label,
            &made.credential_id,
            &made.attestation_object_webauthn,
            &made.client_data_json,
        ),
    )?;
    Ok(())
}

fn seal(kit: &Kit, op: &mut dyn Operator, plan: &EnrollPlan, prepared: &Prepared) -> Result<()> {
    let seal = if prepared.seal.is_empty() {
        let s = op.text(&format!(
            "put key {} and its PIN slip in an envelope, seal it, and type the seal number",
            prepared.label
        ))?;
        ensure_seal_unused(&kit.state()?, &s)?;
        s
    } else {
        op.say(&format!(
            "put key {} and its PIN slip in envelope {} and seal it",
            prepared.label, prepared.seal
        ));
        prepared.seal.clone()
    };
    kit.append(
        &plan.operators,
        Event::EnvelopeSealed {
            key: prepared.label.clone(),
            location: plan.location.clone(),
            seal,
            custodians: plan.operators.clone(),
        },
    )?;
    Ok(())
}
