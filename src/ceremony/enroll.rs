//! `glasskey enroll`: one key, one break-glass account, one location.
//!
//! Three rules shape this module. Nothing touches the key until the preflight
//! ([`super::preflight`]) passed: every check that can fail without the key runs
//! first, and `--dry-run` runs only that. Every step that changes the key or
//! the tenant is written to the journal ([`super::journal`]) before and after it
//! happens, so an interrupted ceremony is finished by `glasskey resume` from the
//! exact step. And the PIN slip is printed right after the PIN is set, so the PIN
//! never exists only in memory.

use sha2::{Digest, Sha256};

use super::journal::{self, Ceremony, Progress, Step};
use super::key::{KeySession, MadeCredential};
use super::operator::Operator;
use super::pin_gen::{generate_fitting_pin, pin_fits_rules, PinAlphabet};
use super::preflight::{self, Preflight, RequestShape};
use crate::attestation::mds::EntraPrediction;
use crate::attestation::{self, TrustStore};
use crate::ctap::pin_rules::PinRules;
use crate::error::{Error, Result};
use crate::graph::bundle::{self, KeyFacts, RequestItem, ResponseBundle, ResponseItem};
use crate::graph::types::{client_data_json, CreationOptions, User};
use crate::graph::GraphClient;
use crate::ledger::{Bytes, Event, Kit};
use crate::report::{self, PinSlip};
use crate::secret::Pin;

/// Where the PIN slip goes: a printer, never a file glasskey keeps.
pub trait SlipPrinter {
    fn print(&mut self, pdf: &[u8]) -> Result<()>;
    /// Whether printing can work, checked without printing (preflight).
    fn preflight(&self) -> Result<String> {
        Ok("printer not checked in advance".into())
    }
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

/// A preflight and the plan it would carry out (`--dry-run` prints both).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRun {
    pub preflight: Preflight,
    pub steps: Vec<String>,
}

/// What the tenant said during the online preflight.
struct Tenant {
    user: User,
    options: CreationOptions,
}

/// The checks of an online enroll that need no network: kit, label, seal, key,
/// printer, trust anchor, virtual-key guard. `graph_is_emulator`: whether the
/// Graph endpoint is (before sign-in: is on loopback as) the local emulator.
pub fn preflight_offline(
    kit: &Kit,
    key: &KeySession,
    trust: &TrustStore,
    printer: &dyn SlipPrinter,
    plan: &EnrollPlan,
    graph_is_emulator: Option<bool>,
) -> Preflight {
    offline_checks(kit, key, trust, printer, plan, graph_is_emulator).0
}

/// The whole preflight of an online enroll (signing in reads the tenant; nothing
/// is changed) and the steps enroll would take.
pub fn dry_run(
    kit: &Kit,
    key: &KeySession,
    graph: Option<&GraphClient>,
    trust: &TrustStore,
    printer: &dyn SlipPrinter,
    plan: &EnrollPlan,
) -> DryRun {
    let (mut pf, prepared) = offline_checks(
        kit,
        key,
        trust,
        printer,
        plan,
        graph.map(GraphClient::is_emulator),
    );
    if let Some(graph) = graph {
        online_checks(&mut pf, graph, key, plan, &prepared);
    }
    DryRun {
        steps: plan_steps(plan, &prepared, true),
        preflight: pf,
    }
}

/// The preflight of the offline half of a split ceremony, for one request item.
pub fn dry_run_offline(
    kit: &Kit,
    key: &KeySession,
    trust: &TrustStore,
    printer: &dyn SlipPrinter,
    plan: &EnrollPlan,
    item: &RequestItem,
) -> DryRun {
    let (mut pf, prepared) = offline_checks(kit, key, trust, printer, plan, None);
    request_item_checks(&mut pf, key, item);
    DryRun {
        steps: plan_steps(plan, &prepared, false),
        preflight: pf,
    }
}

fn plan_steps(plan: &EnrollPlan, p: &Prepared, online: bool) -> Vec<String> {
    let mut steps = Vec::new();
    if plan.reset {
        steps.push("factory-reset the key (remove it, insert it, touch it at once)".to_string());
    }
    steps.push(format!(
        "set a {} PIN of {} characters on the key and print the PIN slip",
        match plan.pin {
            PinChoice::Generate => "generated",
            PinChoice::Prompt => "typed",
        },
        p.min_pin_length
    ));
    steps.push(format!(
        "create a discoverable credential for {} (touch the key) and verify its attestation offline",
        plan.account
    ));
    steps.push(format!(
        "record key '{}' ({}) in the ledger",
        p.label, p.model
    ));
    if online {
        steps.push(format!(
            "register it in Entra on {} as '{}'",
            plan.account, p.label
        ));
    } else {
        steps.push("write its response item to the response bundle".into());
    }
    steps.push(format!(
        "seal key and slip in envelope {} at {}",
        if p.seal.is_empty() {
            "(seal number asked)"
        } else {
            p.seal.as_str()
        },
        plan.location
    ));
    if online {
        steps.push("refresh the custody sheets".into());
    }
    steps
}

/// Online enrollment: preflight, then PIN, credential, registration, seal, each
/// step journaled.
pub fn enroll(
    kit: &Kit,
    key: &mut KeySession,
    graph: &GraphClient,
    trust: &TrustStore,
    op: &mut dyn Operator,
    printer: &mut dyn SlipPrinter,
    plan: &EnrollPlan,
) -> Result<(Enrolled, Pin)> {
    let (mut pf, prepared) =
        offline_checks(kit, key, trust, &*printer, plan, Some(graph.is_emulator()));
    pf.clone().into_result()?;
    let tenant = online_checks(&mut pf, graph, key, plan, &prepared);
    pf.into_result()?;
    let Tenant { user, options } = tenant.ok_or_else(|| {
        Error::network(
            "the tenant could not be read",
            "check the network and sign-in, then run enroll again; the key was not touched",
        )
    })?;
    op.say(&format!(
        "key: {} ({}), firmware {}",
        prepared.model,
        key.aaguid(),
        key.firmware().unwrap_or_else(|| "unknown".into())
    ));
    let mut progress = prepared.progress(Ceremony::Enroll, plan);
    progress.user_id = Some(user.id.clone());

    ready_key(kit, key, op, plan, &mut progress)?;
    let pin = choose_pin(op, plan, &prepared)?;
    set_pin_and_print(kit, key, op, printer, plan, &prepared, &pin, &mut progress)?;
    let item = RequestItem {
        account: bundle::Account {
            id: user.id.clone(),
            user_principal_name: user.user_principal_name.clone(),
        },
        creation_options: options.raw.clone(),
        graph_version: None,
    };
    let (response, attestation) = make_and_record(
        kit,
        key,
        trust,
        op,
        plan,
        &prepared,
        &pin,
        &item,
        &options,
        &mut progress,
    )?;
    let method_id = register_step(kit, graph, op, &mut progress, &response)?;
    seal_step(kit, op, &mut progress)?;
    progress.finish(kit)?;
    Ok((
        Enrolled {
            label: prepared.label.clone(),
            account: plan.account.clone(),
            location: plan.location.clone(),
            seal: sealed_with(kit, &prepared.label)?,
            model: prepared.model.clone(),
            aaguid: key.aaguid(),
            credential_id: response
                .credential_id()
                .map(|id| crate::webauthn::b64::encode(&id))
                .unwrap_or_default(),
            method_id: Some(method_id),
            attestation,
        },
        pin,
    ))
}

/// The offline half of a split ceremony: one request item, one key. The response
/// item is added to the bundle at `out` (atomic rewrite) as soon as the credential
/// is recorded, whatever happens to later items.
#[allow(clippy::too_many_arguments)]
pub fn enroll_offline(
    kit: &Kit,
    key: &mut KeySession,
    trust: &TrustStore,
    op: &mut dyn Operator,
    printer: &mut dyn SlipPrinter,
    plan: &EnrollPlan,
    item: &RequestItem,
    out: &std::path::Path,
    tenant: &str,
) -> Result<(ResponseItem, Pin)> {
    let options = item.options()?;
    let (mut pf, prepared) = offline_checks(kit, key, trust, &*printer, plan, None);
    request_item_checks(&mut pf, key, item);
    pf.into_result()?;
    let mut progress = prepared.progress(Ceremony::EnrollOffline, plan);
    progress.response_out = Some(out.to_path_buf());
    progress.tenant = Some(tenant.to_string());
    progress.request_item = serde_json::to_value(item).ok();
    ready_key(kit, key, op, plan, &mut progress)?;
    let pin = choose_pin(op, plan, &prepared)?;
    set_pin_and_print(kit, key, op, printer, plan, &prepared, &pin, &mut progress)?;
    let (response, _) = make_and_record(
        kit,
        key,
        trust,
        op,
        plan,
        &prepared,
        &pin,
        item,
        &options,
        &mut progress,
    )?;
    add_to_response_bundle(out, tenant, &response)?;
    progress.save(kit, Step::Registered)?;
    seal_step(kit, op, &mut progress)?;
    progress.finish(kit)?;
    Ok((response, pin))
}

/// Put `item` into the response bundle at `out` (replacing an item for the same
/// key label), rewriting the file atomically.
pub fn add_to_response_bundle(
    out: &std::path::Path,
    tenant: &str,
    item: &ResponseItem,
) -> Result<()> {
    let mut items = if out.exists() {
        ResponseBundle::read(out, Some(tenant))?.items
    } else {
        Vec::new()
    };
    items.retain(|i| i.key.label.is_none() || i.key.label != item.key.label);
    items.push(item.clone());
    let bundle = ResponseBundle::new(tenant, items);
    let bytes = serde_json::to_vec_pretty(&bundle)
        .map_err(|e| Error::input(format!("cannot encode the response bundle: {e}"), ""))?;
    journal::write_atomic(out, &bytes).map_err(|e| {
        Error::device(
            format!("cannot write the response bundle {} ({e})", out.display()),
            "free space or fix permissions, then run `glasskey resume`: the finished key's response is kept in the journal",
        )
    })
}

/// What the preflight settled: the label, seal, model and PIN rules.
pub(super) struct Prepared {
    pub(super) label: String,
    pub(super) seal: String,
    pub(super) model: String,
    /// The kit policy's PIN length, raised to the key's own minimum.
    pub(super) min_pin_length: usize,
    pub(super) pin_alphabet: PinAlphabet,
    /// What the key accepts as a PIN (lengths, complexity policy).
    pub(super) pin_rules: PinRules,
    /// Entra's attestation enforcement, predicted from the kit's MDS BLOB.
    pub(super) entra_attestation: EntraPrediction,
    /// For the PIN slip: the tenant and where its accounts sign in.
    pub(super) tenant: String,
    pub(super) sign_in_url: String,
}

impl Prepared {
    fn progress(&self, ceremony: Ceremony, plan: &EnrollPlan) -> Progress {
        Progress {
            seal: (!self.seal.is_empty()).then(|| self.seal.clone()),
            ..Progress::new(
                ceremony,
                Step::Started,
                &self.label,
                plan.account.clone(),
                plan.location.clone(),
                self.model.clone(),
                &plan.operators,
            )
        }
    }

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

/// Every check that needs neither the network nor a change to the key.
fn offline_checks(
    kit: &Kit,
    key: &KeySession,
    trust: &TrustStore,
    printer: &dyn SlipPrinter,
    plan: &EnrollPlan,
    graph_is_emulator: Option<bool>,
) -> (Preflight, Prepared) {
    let mut pf = Preflight::new();
    let config = kit.config();
    pf.record("kit_writable", preflight::kit_writable(kit));
    if config
        .accounts
        .iter()
        .any(|a| a.upn.eq_ignore_ascii_case(&plan.account))
    {
        pf.pass(
            "account",
            format!("{} is a break-glass account of the kit", plan.account),
        );
    } else {
        pf.fail(
            "account",
            format!(
                "{} is not a break-glass account in {}",
                plan.account,
                kit.dir().display()
            ),
            "add it under [[accounts]] in glasskey.toml, or check the spelling",
        );
    }
    if config.location(&plan.location).is_some() {
        pf.pass("location", format!("location '{}'", plan.location));
    } else {
        let known: Vec<&str> = config.locations.iter().map(|l| l.id.as_str()).collect();
        pf.fail(
            "location",
            format!("unknown location '{}'", plan.location),
            format!("use one of: {}", known.join(", ")),
        );
    }
    let state = match kit.state() {
        Ok(s) => s,
        Err(e) => {
            let e: Error = e.into();
            pf.fail("ledger", e.what, e.next);
            crate::ledger::State::default()
        }
    };
    let label = plan
        .label
        .clone()
        .unwrap_or_else(|| preflight::default_label(&plan.account, &plan.location, &state));
    pf.record("label", preflight::label_valid(&label));
    if state.keys.get(&label).is_some_and(|k| k.retired.is_none()) {
        pf.fail(
            "label_unused",
            format!("a key labelled '{label}' is already in the ledger"),
            "choose another --label, or retire the old key first",
        );
    }
    let seal = plan.seal.clone().unwrap_or_default();
    if !seal.is_empty() {
        pf.record("seal", preflight::seal_unused(&state, &seal));
    }
    pf.record("printer", printer.preflight());

    let (model, entra_attestation) = match super::key_fit::mds_preflight(kit.dir(), &key.aaguid()) {
        Ok(mds) => (
            mds.model_name.clone().unwrap_or_else(|| key.model_name()),
            mds.entra,
        ),
        Err(e) => {
            pf.fail("mds", e.what.clone(), e.next.clone());
            (
                key.model_name(),
                EntraPrediction::Unknown { reason: e.what },
            )
        }
    };
    let problems = key.fitness_problems();
    if problems.is_empty() {
        pf.pass("key_fit", format!("{model} is fit for Entra"));
    } else {
        pf.fail(
            "key_fit",
            format!("this key ({model}) is not fit for Entra: {}", problems.join("; ")),
            "use a FIDO2 security key with resident keys, a PIN and ES256 (see vendor-attestation/aaguids.tsv)",
        );
    }
    if !plan.reset && key.has_pin() {
        pf.fail(
            "key_blank",
            format!("key {} already has a PIN", key.name()),
            "a break-glass key must carry a fresh PIN known only to its slip: run enroll again with --reset (erases the key)",
        );
    }
    let allowed = &config.policy.allowed_aaguids;
    if !allowed.is_empty() && !allowed.contains(&key.aaguid()) {
        pf.fail(
            "kit_policy",
            format!("the kit policy does not allow this model ({model}, AAGUID {})", key.aaguid()),
            "add its AAGUID to policy.allowed_aaguids in glasskey.toml if it is approved, or use an allowed model",
        );
    }
    pf.record(
        "trust_anchor",
        preflight::trust_anchor_known(
            trust,
            &key.aaguid(),
            config.policy.allow_unknown_root,
            config.policy.allow_self_attestation,
        ),
    );
    if let Some(emulator) = graph_is_emulator {
        pf.record(
            "virtual_guard",
            preflight::virtual_key_guard(&key.aaguid(), emulator),
        );
    }
    let pin_alphabet = match PinAlphabet::parse(&config.policy.pin_alphabet) {
        Some(a) => a,
        None => {
            pf.fail(
                "pin_policy",
                format!(
                    "unknown policy.pin_alphabet '{}'",
                    config.policy.pin_alphabet
                ),
                "set policy.pin_alphabet in glasskey.toml to digits or unambiguous",
            );
            PinAlphabet::Digits
        }
    };
    let policy_length = usize::try_from(config.policy.pin_length).unwrap_or(usize::MAX);
    pf.record(
        "pin_policy",
        preflight::pin_policy_fits(policy_length, key.min_pin_length()),
    );
    let prepared = Prepared {
        label,
        seal,
        model,
        min_pin_length: key.min_pin_length().max(policy_length),
        pin_alphabet,
        pin_rules: PinRules::of(key.device_info()),
        entra_attestation,
        tenant: config.tenant.clone(),
        sign_in_url: config.sign_in_url().to_string(),
    };
    (pf, prepared)
}

/// The request's size against the key's limits, and ES256 on offer.
fn options_checks(pf: &mut Preflight, key: &KeySession, options: &CreationOptions) {
    if let Err(e) = super::key_fit::plan_creation(key.device_info(), options) {
        pf.fail("key_plan", e.what, e.next);
    }
    let fixed = options.rp_id.len()
        + options.rp_name.len()
        + options.user_handle.len()
        + options.user_name.len()
        + options.user_display_name.len();
    pf.record(
        "request_fits_key",
        preflight::request_fits(
            key.info(),
            &RequestShape {
                exclude_ids: &options.exclude_credentials,
                fixed_text_bytes: fixed,
            },
        ),
    );
    if options.algorithms.is_empty()
        || options
            .algorithms
            .contains(&crate::webauthn::cose::ALG_ES256)
    {
        pf.pass("algorithms", "ES256 is on offer");
    } else {
        pf.fail(
            "algorithms",
            "the creation options do not offer ES256",
            "glasskey verifies ES256 credentials offline; check the tenant's passkey profile",
        );
    }
}

/// A request item of a split ceremony: not expired, readable, fits the key.
fn request_item_checks(pf: &mut Preflight, key: &KeySession, item: &RequestItem) {
    match item.options() {
        Ok(options) => {
            if options.is_expired(time::OffsetDateTime::now_utc()) {
                pf.fail(
                    "challenge",
                    format!("the challenge for {} has expired", item.account.user_principal_name),
                    "fetch new options with `glasskey graph fetch-options` (a longer --challenge-timeout) and run again",
                );
            } else {
                pf.pass("challenge", format!("valid until {}", options.expires));
            }
            options_checks(pf, key, &options);
        }
        Err(e) => {
            let e: Error = e.into();
            pf.fail("request_item", e.what, e.next);
        }
    }
}

/// The tenant side: the account exists, the FIDO2 policy admits the model, the
/// emulator guard, and fresh creation options that fit the key.
fn online_checks(
    pf: &mut Preflight,
    graph: &GraphClient,
    key: &KeySession,
    plan: &EnrollPlan,
    prepared: &Prepared,
) -> Option<Tenant> {
    let user = match graph.user(&plan.account) {
        Ok(u) => u,
        Err(e) => {
            let e: Error = e.into();
            pf.fail("entra_account", e.what, e.next);
            return None;
        }
    };
    pf.pass(
        "entra_account",
        format!("{} exists in Entra", user.user_principal_name),
    );
    if let EntraPrediction::Refuses { reason } = &prepared.entra_attestation {
        pf.fail(
            "entra_attestation",
            format!("Entra's attestation enforcement would refuse this model: {reason}"),
            "use a FIDO-certified model without a security notice, or turn attestation enforcement off in the tenant's FIDO2 policy if approved",
        );
    }
    let attests = !matches!(prepared.entra_attestation, EntraPrediction::Refuses { .. });
    let verdict = graph.fido2_policy().and_then(|policy| {
        let groups = graph.group_ids(&user.id)?;
        Ok(crate::graph::policy::preflight(
            &policy,
            &groups,
            key.aaguid(),
            attests,
        ))
    });
    match verdict {
        Ok(v) if v.allowed => pf.pass("tenant_policy", "the FIDO2 policy admits this model"),
        Ok(v) => {
            let why: Vec<String> = v.blockers.iter().map(|b| b.explain()).collect();
            pf.fail(
                "tenant_policy",
                format!(
                    "the tenant's FIDO2 policy would refuse this key ({}) for {}: {}",
                    prepared.model,
                    plan.account,
                    why.join("; ")
                ),
                "fix the FIDO2 authentication-method policy in Entra (or use an allowed model)",
            );
        }
        Err(e) => {
            let e: Error = e.into();
            pf.fail("tenant_policy", e.what, e.next);
        }
    }
    let options = match graph.creation_options(&user.id, None) {
        Ok(o) => o,
        Err(e) => {
            let e: Error = e.into();
            pf.fail("creation_options", e.what, e.next);
            return None;
        }
    };
    options_checks(pf, key, &options);
    Some(Tenant { user, options })
}

/// Add "then run `glasskey resume`" to an error after the key was changed.
fn resumable(mut e: Error, progress: &Progress) -> Error {
    e.next = format!(
        "{}; key {} is at step {:?}: fix that, then run `glasskey resume` to finish from there",
        if e.next.is_empty() {
            "fix the cause"
        } else {
            &e.next
        },
        progress.label,
        progress.step
    );
    e
}

/// Record that this enrollment cannot be continued; the key must be reset.
pub(super) fn abandon(kit: &Kit, progress: &Progress, reason: &str) {
    // Best effort: the operator must see the original error even if the ledger cannot be written.
    let _ = kit.append(
        &progress.operators,
        Event::EnrollmentAbandoned {
            key: progress.label.clone(),
            account: progress.account.clone(),
            reason: reason.to_string(),
            next: "reset the key (`glasskey resume` offers it, or `glasskey keys reset`) and shred its PIN slip before enrolling it again".into(),
        },
    );
}

/// Reset the key if asked (journaled first). Nothing else is changed.
fn ready_key(
    kit: &Kit,
    key: &mut KeySession,
    op: &mut dyn Operator,
    plan: &EnrollPlan,
    progress: &mut Progress,
) -> Result<()> {
    if plan.reset {
        progress.save(kit, Step::ResetPending)?;
        let naming = key.naming(Some(&progress.label), None);
        super::key::confirm_and_reset(key, op, plan.assume_yes, &naming)?;
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
/// PIN never exists only in memory. Journaled before (the PIN may be set) and after.
#[allow(clippy::too_many_arguments)]
fn set_pin_and_print(
    kit: &Kit,
    key: &mut KeySession,
    op: &mut dyn Operator,
    printer: &mut dyn SlipPrinter,
    plan: &EnrollPlan,
    prepared: &Prepared,
    pin: &Pin,
    progress: &mut Progress,
) -> Result<()> {
    progress.save(kit, Step::PinPending)?;
    let set = key.set_pin(pin).and_then(|()| {
        if key.supports_min_pin_length() {
            key.set_min_pin_length(pin, prepared.min_pin_length)
        } else {
            Ok(())
        }
    });
    if let Err(e) = set {
        // The PIN may or may not be on the key, and no slip was printed.
        return Err(resumable(e, progress));
    }
    op.say("PIN set; printing the PIN slip");
    let slip = PinSlip {
        account: plan.account.clone(),
        key_label: prepared.label.clone(),
        model: prepared.model.clone(),
        tenant: prepared.tenant.clone(),
        sign_in_url: prepared.sign_in_url.clone(),
    };
    let pdf = report::pin_slips(&[(slip, pin)], report::Paper::A4)?;
    loop {
        match printer.print(&pdf) {
            Ok(()) => break,
            Err(e) => {
                op.say(&format!("printing the PIN slip failed: {e}"));
                if !op.confirm("fix the printer and try again?")? {
                    abandon(
                        kit,
                        progress,
                        "the PIN slip could not be printed, so the PIN is lost",
                    );
                    return Err(Error::device(
                        "the PIN slip was not printed, so the PIN on the key is lost",
                        "fix the printer, then run `glasskey resume` and choose to reset the key",
                    ));
                }
            }
        }
    }
    progress.save(kit, Step::PinSet)
}

/// makeCredential, offline attestation check, ledger record; returns the response
/// item (also kept in the journal) and the attestation summary.
#[allow(clippy::too_many_arguments)]
pub(super) fn make_and_record(
    kit: &Kit,
    key: &mut KeySession,
    trust: &TrustStore,
    op: &mut dyn Operator,
    plan: &EnrollPlan,
    prepared: &Prepared,
    pin: &Pin,
    item: &RequestItem,
    options: &CreationOptions,
    progress: &mut Progress,
) -> Result<(ResponseItem, String)> {
    progress.save(kit, Step::CredentialPending)?;
    let made = match create_and_verify(kit, key, trust, op, options, pin, prepared) {
        Ok(m) => m,
        Err(Refusal::KeyAnswered(e)) => {
            // The key refused: no credential was made. Back to "PIN set".
            let _ = progress.save(kit, Step::PinSet);
            return Err(resumable(e, progress));
        }
        Err(Refusal::Unacceptable(e)) => {
            abandon(kit, progress, &e.what);
            return Err(e);
        }
        Err(Refusal::Unknown(e)) => return Err(resumable(e, progress)),
    };
    record_creation(kit, plan, prepared, &made, options)?;
    let response = bundle::response_item(
        item,
        &made.attestation_object_webauthn,
        &made.credential_id,
        &made.client_data_json,
        &prepared.label,
        prepared.key_facts(key),
    )?;
    progress.response_item = serde_json::to_value(&response).ok();
    progress.save(kit, Step::CredentialRecorded)?;
    Ok((response, made.attestation_summary))
}

/// Why makeCredential did not give a usable credential.
enum Refusal {
    /// The key answered with an error: nothing was made.
    KeyAnswered(Error),
    /// A credential was made but must not be used (attestation, credProtect).
    Unacceptable(Error),
    /// The key stopped answering: a credential may exist.
    Unknown(Error),
}

fn create_and_verify(
    kit: &Kit,
    key: &mut KeySession,
    trust: &TrustStore,
    op: &mut dyn Operator,
    options: &CreationOptions,
    pin: &Pin,
    prepared: &Prepared,
) -> std::result::Result<MadeCredential, Refusal> {
    let client_data_json = client_data_json(&options.challenge, &options.rp_id);
    let client_data_hash: [u8; 32] = Sha256::digest(&client_data_json).into();
    let wait = op.waiting(&format!(
        "creating the credential on key {}: touch the key when it blinks",
        prepared.label
    ));
    let answer = key.make_credential(pin, options, &client_data_hash);
    drop(wait);
    let mut made = answer.map_err(|e| match e.class {
        crate::error::ExitClass::DeviceOrNetwork if e.what.contains("credential protection") => {
            Refusal::Unacceptable(e)
        }
        crate::error::ExitClass::DeviceOrNetwork if !key.answers() => Refusal::Unknown(e),
        _ => Refusal::KeyAnswered(e),
    })?;
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
    if let Some(blob) = attestation::mds::load(kit.dir()).map_err(Refusal::Unknown)? {
        blob.add_roots_for(&made.aaguid, &mut trust);
    }
    let report = attestation::verify_attestation(
        &made.attestation_object,
        &client_data_hash,
        &trust,
        &policy,
        std::time::SystemTime::now(),
    )
    .map_err(|e| Refusal::Unacceptable(e.into()))?;
    if !report.accepted() {
        return Err(Refusal::Unacceptable(Error::check(
            format!("the key's attestation is not acceptable: {}", report.problems.join("; ")),
            "use a genuine key of an approved model; if this model is approved anyway, set policy.allow_self_attestation or policy.allow_unknown_root in glasskey.toml. Reset this key before reusing it (it now holds an unregistered credential and the PIN on the slip)",
        )));
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
    kit.ledger().append_batch(
        &plan.operators,
        [
            (
                crate::ledger::Timestamp::now(),
                Event::KeyEnrolled {
                    key: prepared.label.clone(),
                    model: prepared.model.clone(),
                    aaguid: made.aaguid,
                    firmware: made.firmware.clone(),
                    serial: made.serial.clone(),
                    attestation_fingerprint: made.attestation_fingerprint.clone(),
                },
            ),
            (
                crate::ledger::Timestamp::now(),
                Event::CredentialCreated {
                    key: prepared.label.clone(),
                    account: plan.account.clone(),
                    rp_id: options.rp_id.clone(),
                    credential_id: Bytes(made.credential_id.clone()),
                    cose_public_key: Bytes(made.public_key_cbor.clone()),
                    sign_count: made.sign_count,
                    cred_protect: made.cred_protect,
                },
            ),
        ],
    )?;
    // The evidence, so the enrollment can be re-verified offline later.
    kit.append(
        &plan.operators,
        super::witness::attestation_event(
            &prepared.label,
            &made.credential_id,
            &made.attestation_object_webauthn,
            &made.client_data_json,
            &made.attestation_summary,
        ),
    )?;
    Ok(())
}

/// Register the recorded credential in Entra and record that; the journal moves
/// to `Registered`. A failure leaves the journal at `CredentialRecorded`.
pub(super) fn register_step(
    kit: &Kit,
    graph: &GraphClient,
    op: &mut dyn Operator,
    progress: &mut Progress,
    response: &ResponseItem,
) -> Result<String> {
    let user_id = progress
        .user_id
        .clone()
        .unwrap_or_else(|| response.account.id.clone());
    let wait = op.waiting(&format!(
        "registering the credential on {} in Entra",
        progress.account
    ));
    let method = graph.register_in(response.version(), &user_id, &response.fido2_method);
    drop(wait);
    let method = method.map_err(|e| resumable(e.into(), progress))?;
    let credential_id = response.credential_id().unwrap_or_default();
    kit.append(
        &progress.operators,
        Event::RegisteredInEntra {
            key: progress.label.clone(),
            account: progress.account.clone(),
            credential_id: Bytes(credential_id),
            method_id: method.id.clone(),
            created_date_time: method.created_date_time.clone().unwrap_or_default(),
            model: method.model.clone(),
            attestation_level: method.attestation_level.clone(),
        },
    )?;
    progress.save(kit, Step::Registered)?;
    Ok(method.id)
}

/// Ask for (or announce) the seal and record it. An empty answer is not an
/// abandonment: the journal stays at `Registered` and `resume` asks again.
pub(super) fn seal_step(kit: &Kit, op: &mut dyn Operator, progress: &mut Progress) -> Result<()> {
    let seal = match &progress.seal {
        Some(s) => {
            op.say(&format!(
                "put key {} and its PIN slip in envelope {s} and seal it",
                progress.label
            ));
            s.clone()
        }
        None => {
            let s = op
                .text(&format!(
                    "put key {} and its PIN slip in an envelope, seal it, and type the seal number",
                    progress.label
                ))
                .map_err(|e| resumable(e, progress))?;
            preflight::seal_unused(&kit.state()?, &s).map_err(|e| resumable(e, progress))?;
            s
        }
    };
    kit.append(
        &progress.operators,
        Event::EnvelopeSealed {
            key: progress.label.clone(),
            location: progress.location.clone(),
            seal,
            custodians: progress.operators.clone(),
        },
    )?;
    Ok(())
}

fn sealed_with(kit: &Kit, label: &str) -> Result<String> {
    Ok(
        match kit.state()?.keys.get(label).map(|k| k.custody.clone()) {
            Some(crate::ledger::Custody::Sealed { seal, .. }) => seal,
            _ => String::new(),
        },
    )
}

/// The accounts whose items the response bundle at `out` already holds (a re-run
/// of a split ceremony skips them).
pub fn finished_accounts(out: &std::path::Path, tenant: &str) -> Result<Vec<String>> {
    if !out.exists() {
        return Ok(Vec::new());
    }
    Ok(ResponseBundle::read(out, Some(tenant))?
        .items
        .iter()
        .map(|i| i.account.user_principal_name.clone())
        .collect())
}
