//! Is this key fit for an Entra break-glass credential, and what exactly do we
//! ask of it? Decided from the key's getInfo and Entra's creationOptions, not
//! from a wish list: a CTAP 2.0 key (Security Key by Yubico, older Feitian)
//! without credProtect is fine when Entra asks only for
//! `userVerificationOptional` — what Entra does not enforce is applied when the
//! key can, and otherwise reported as "not applied" instead of refused.

use std::path::Path;

use crate::aaguid::Aaguid;
use crate::attestation::mds::{self, EntraPrediction};
use crate::ctap::make_credential::CredProtect;
use crate::ctap::pin::{token_route, TokenRoute};
use crate::ctap::Info;
use crate::error::{Error, Result};
use crate::graph::types::CreationOptions;

/// ES256: the algorithm glasskey verifies offline and Entra accepts.
const ES256: i64 = crate::webauthn::cose::ALG_ES256;

/// The verdict on a key before anything is asked of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fitness {
    /// Each one alone makes the key unusable for Entra.
    pub problems: Vec<String>,
    /// Worth saying, not worth refusing (e.g. a CTAP 2.0 key without credProtect).
    pub notes: Vec<String>,
}

/// What the key must offer whatever the creationOptions say: FIDO2, discoverable
/// credentials, a PIN (the slip is the break-glass secret), ES256, a PIN
/// protocol glasskey speaks, a free slot, and PIN-based mc/ga permissions.
pub fn assess(info: &Info) -> Fitness {
    let mut f = Fitness::default();
    if !info.versions.iter().any(|v| v.starts_with("FIDO_2_")) {
        f.problems
            .push("it does not speak FIDO2 (CTAP2)".to_string());
    }
    if info.option("rk") != Some(true) {
        f.problems
            .push("it cannot store discoverable credentials (rk)".into());
    }
    if info.option("clientPin").is_none() {
        f.problems
            .push("it does not support a PIN (clientPin)".into());
    }
    if !info.algorithms.is_empty() && !info.algorithms.iter().any(|a| a.alg == ES256) {
        f.problems.push(format!(
            "it does not offer ES256 credentials (only {})",
            info.algorithm_names().join(", ")
        ));
    }
    if info.remaining_discoverable_credentials == Some(0) {
        f.problems
            .push("it has no free discoverable-credential slot (reset it or delete one)".into());
    }
    if info.preferred_pin_protocol().is_none() {
        f.problems
            .push("it offers no PIN/UV auth protocol glasskey knows (1 or 2)".into());
    }
    if info.option("noMcGaPermissionsWithClientPin") == Some(true) {
        // The PIN on the slip alone could never sign in with this key.
        f.problems.push(
            "it refuses to create or use credentials with the PIN alone (noMcGaPermissionsWithClientPin): the PIN slip could not unlock it in an emergency".into(),
        );
    }
    if info.option("alwaysUv") == Some(true) {
        f.notes.push(
            "it verifies the user on every use (alwaysUv): presence-only checks will ask for the PIN".into(),
        );
    }
    if !info.supports_extension("credProtect") {
        f.notes.push(
            "it lacks credProtect (a CTAP 2.0 key): fine while Entra asks only for userVerificationOptional".into(),
        );
    }
    if !info.supports_extension("hmac-secret") {
        f.notes
            .push("it lacks hmac-secret: Entra does not enforce it, it will not be applied".into());
    }
    if info.option("uv").is_some() {
        f.notes.push(format!(
            "it has built-in user verification (fingerprint{}); glasskey uses the PIN",
            if info.has_builtin_uv() {
                ", enrolled"
            } else {
                ", none enrolled"
            }
        ));
    }
    f
}

/// What to send in makeCredential for these creationOptions on this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationRequest {
    /// The credProtect level to send (None: the key lacks the extension or Entra asked none).
    pub cred_protect: Option<CredProtect>,
    /// The level Entra asked for, whether or not it can be sent.
    pub requested_cred_protect: Option<CredProtect>,
    pub enforce_cred_protect: bool,
    pub hmac_secret: bool,
    /// The way the key gives glasskey its makeCredential permission.
    pub token_route: TokenRoute,
    /// Requests Entra made that this key will not honour, in words.
    pub not_applied: Vec<String>,
}

fn requested_cred_protect(options: &CreationOptions) -> Option<CredProtect> {
    match options.extensions["credentialProtectionPolicy"].as_str() {
        Some("userVerificationOptional") => Some(CredProtect::UserVerificationOptional),
        Some("userVerificationOptionalWithCredentialIDList") => {
            Some(CredProtect::UserVerificationOptionalWithCredentialIdList)
        }
        Some("userVerificationRequired") => Some(CredProtect::UserVerificationRequired),
        _ => None,
    }
}

/// Follow the creationOptions as far as the key goes; refuse only what Entra
/// enforces (ES256 in its list, credProtect above level 1 with
/// `enforceCredentialProtectionPolicy`, as CTAP 2.1 §12.1 tells platforms).
/// Touches nothing: the preflight calls this before the key is changed.
pub fn plan_creation(info: &Info, options: &CreationOptions) -> Result<CreationRequest> {
    if !options.algorithms.is_empty() && !options.algorithms.contains(&ES256) {
        return Err(Error::input(
            "Entra's creation options do not offer ES256",
            "glasskey verifies ES256 credentials offline; check the tenant's passkey profile",
        ));
    }
    let requested = requested_cred_protect(options);
    let enforce = options.extensions["enforceCredentialProtectionPolicy"].as_bool() == Some(true);
    let has_cp = info.supports_extension("credProtect");
    let mut not_applied = Vec::new();
    let cred_protect = match requested {
        Some(level) if has_cp => Some(level),
        Some(CredProtect::UserVerificationOptional) | None => None,
        Some(level) if enforce => {
            return Err(Error::input(
                format!(
                    "Entra requires credential protection level {} (enforceCredentialProtectionPolicy) and this key lacks the credProtect extension",
                    level as u8
                ),
                "use a CTAP 2.1 key (with credProtect) for this tenant; the key was not touched",
            ))
        }
        Some(level) => {
            not_applied.push(format!(
                "credProtect level {} (the key lacks the extension; Entra does not enforce it)",
                level as u8
            ));
            None
        }
    };
    let wants_hmac = options.extensions["hmacCreateSecret"]
        .as_bool()
        .unwrap_or(true);
    let hmac_secret = wants_hmac && info.supports_extension("hmac-secret");
    if wants_hmac && !hmac_secret {
        not_applied
            .push("hmac-secret (the key lacks the extension; Entra does not enforce it)".into());
    }
    let permissions = crate::ctap::command::permission::MAKE_CREDENTIAL
        | crate::ctap::command::permission::GET_ASSERTION;
    let route = token_route(info, permissions).map_err(|e| {
        Error::input(
            format!("this key cannot create the credential: {e}"),
            "use a key that accepts its PIN for new credentials; the key was not touched",
        )
    })?;
    Ok(CreationRequest {
        cred_protect,
        requested_cred_protect: requested,
        enforce_cred_protect: enforce,
        hmac_secret,
        token_route: route,
        not_applied,
    })
}

/// After makeCredential: a key may apply a stricter credProtect than asked
/// (CTAP 2.1 §12.1 lets it); less than an enforced level is refused.
pub fn check_applied(req: &CreationRequest, reported: Option<u8>) -> Result<()> {
    let (Some(asked), true) = (req.cred_protect, req.enforce_cred_protect) else {
        return Ok(());
    };
    // A key that reports nothing applied the default, level 1.
    let applied = reported.unwrap_or(1);
    if applied < asked as u8 {
        return Err(Error::device(
            format!(
                "the key applied credential protection level {applied}, below the level {} Entra requires",
                asked as u8
            ),
            "use a key that supports credProtect; reset this one before reuse",
        ));
    }
    Ok(())
}

/// What the kit's FIDO Metadata Service BLOB says about a model, before the key is touched.
#[derive(Debug, Clone)]
pub struct MdsVerdict {
    /// The catalogue's name, else the BLOB's description of the model.
    pub model_name: Option<String>,
    pub entra: EntraPrediction,
}

/// Refuse a model with an MDS security notice (REVOKED, ATTESTATION_KEY_COMPROMISE,
/// ...) and predict Entra's attestation enforcement; touches no key. Without a
/// BLOB in the kit nothing is refused and the prediction is "unknown".
pub fn mds_preflight(kit_dir: &Path, aaguid: &Aaguid) -> Result<MdsVerdict> {
    let blob = mds::load(kit_dir)?;
    mds_verdict(blob.as_ref(), aaguid)
}

/// [`mds_preflight`] on a BLOB already loaded.
pub fn mds_verdict(blob: Option<&mds::Blob>, aaguid: &Aaguid) -> Result<MdsVerdict> {
    mds::refuse_security_notice(blob, aaguid)?;
    let described = blob
        .and_then(|b| b.entry(aaguid))
        .and_then(|e| e.description.clone());
    let entra = if aaguid.is_virtual() {
        EntraPrediction::Unknown {
            reason: "a virtual model (the Graph emulator decides)".into(),
        }
    } else {
        mds::predict_entra(blob, aaguid)
    };
    Ok(MdsVerdict {
        model_name: super::keys::model_name(aaguid).or(described),
        entra,
    })
}

/// A finding of the audit from the MDS BLOB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdsFinding {
    /// True for a security notice on an enrolled model (or a BLOB that no longer verifies).
    pub alert: bool,
    pub subject: String,
    pub message: String,
}

/// The audit's view: every enrolled key whose model now has a security notice
/// ("one of your break-glass key models has a FIDO security notice"), and a
/// stale BLOB.
pub fn mds_findings(
    kit_dir: &Path,
    state: &crate::ledger::State,
    today: time::Date,
) -> Vec<MdsFinding> {
    let blob = match mds::load(kit_dir) {
        Ok(Some(b)) => b,
        Ok(None) => return Vec::new(),
        Err(e) => {
            return vec![MdsFinding {
                alert: true,
                subject: "mds".into(),
                message: format!("{} ({})", e.what, e.next),
            }]
        }
    };
    let keys: Vec<(String, Aaguid, String)> = state
        .active_keys()
        .map(|k| (k.label.clone(), k.aaguid, k.model.clone()))
        .collect();
    blob_findings(&blob, &keys, today)
}

/// [`mds_findings`] for enrolled keys given as (label, AAGUID, model).
pub fn blob_findings(
    blob: &mds::Blob,
    keys: &[(String, Aaguid, String)],
    today: time::Date,
) -> Vec<MdsFinding> {
    let mut out = Vec::new();
    if blob.stale_at(today) {
        out.push(MdsFinding {
            alert: false,
            subject: "mds".into(),
            message: format!(
                "the kit's MDS BLOB (no {}) is past its nextUpdate {}: import the current one (`glasskey mds import FILE`)",
                blob.no, blob.next_update
            ),
        });
    }
    for (label, aaguid, model) in keys {
        let Some(entry) = blob.entry(aaguid) else {
            continue;
        };
        if let Some(notice) = entry.security_notice() {
            out.push(MdsFinding {
                alert: true,
                subject: label.clone(),
                message: format!(
                    "one of your break-glass key models has a FIDO security notice: {} ({}) is {} since {} (MDS BLOB no {}); enroll a key of another model and retire this one",
                    label,
                    entry.description.as_deref().unwrap_or(model),
                    notice.status,
                    notice.effective_date.as_deref().unwrap_or("an unknown date"),
                    blob.no
                ),
            });
        }
    }
    out
}
