//! How the emulator checks a registration the way Entra would, with code that
//! is not glasskey's own: webauthn-rs-core verifies clientDataJSON (type,
//! challenge, origin), rpIdHash, UP/UV, the algorithm and the packed/none
//! attestation statement, and, when attestation is enforced, the x5c chain to
//! the trusted roots. The wrapper injects Entra's challenge through a serde
//! round-trip of `RegistrationState` (FINDINGS §3); every registration test
//! in tests/graph_*.rs depends on it, so a field rename upstream fails them.

use std::time::Duration;

use url::Url;
use webauthn_rs_core::proto::{
    AttestationCaList, AttestationConveyancePreference, AttestationMetadata,
    AuthenticatorAttestationResponseRaw, COSEAlgorithm, ParsedAttestationData,
    RegisterPublicKeyCredential, Registration, RegistrationState, UserVerificationPolicy,
};
use webauthn_rs_core::WebauthnCore;

use crate::aaguid::Aaguid;

/// Entra's RP ID and origin for FIDO2 provisioning (GRAPH.md C1).
pub const RP_ID: &str = "login.microsoft.com";
pub const ORIGIN: &str = "https://login.microsoft.com";

/// What a verified registration tells the emulator.
#[derive(Debug, Clone)]
pub struct Verified {
    pub credential_id: Vec<u8>,
    pub aaguid: Aaguid,
    /// Chain verified to a trusted root.
    pub attested: bool,
    /// SHA-1 thumbprints (hex) of the x5c certificates.
    pub thumbprints: Vec<String>,
}

fn ca_list(roots: &[String]) -> Result<Option<AttestationCaList>, String> {
    let mut list: Option<AttestationCaList> = None;
    for pem in roots {
        let one = AttestationCaList::try_from(pem.as_bytes())
            .map_err(|e| format!("a trusted root PEM is not usable: {e:?}"))?;
        match &mut list {
            Some(l) => l.union(&one),
            None => list = Some(one),
        }
    }
    Ok(list)
}

/// Verify one registration against `challenge` (raw bytes). With `enforce`,
/// attestation must chain to one of `roots`; otherwise the chain is only used
/// to label the method `attested`.
pub fn verify_registration(
    challenge: &[u8],
    client_data_json: &[u8],
    attestation_object: &[u8],
    roots: &[String],
    enforce: bool,
) -> Result<Verified, String> {
    let origin = Url::parse(ORIGIN).map_err(|e| e.to_string())?;
    let core = WebauthnCore::new_unsafe_experts_only(
        "Microsoft",
        RP_ID,
        vec![origin],
        Duration::from_secs(300),
        None,
        None,
    );
    let builder = core
        .new_challenge_register_builder(b"entra-user", "entra-user", "entra-user")
        .map_err(|e| format!("{e:?}"))?
        .attestation(AttestationConveyancePreference::Direct)
        .user_verification_policy(UserVerificationPolicy::Required)
        .credential_algorithms(vec![COSEAlgorithm::ES256, COSEAlgorithm::RS256]);
    let (_ccr, state) = core
        .generate_challenge_register(builder)
        .map_err(|e| format!("{e:?}"))?;
    let mut v = serde_json::to_value(&state).map_err(|e| e.to_string())?;
    v["challenge"] = crate::graph::b64::encode(challenge).into();
    let state: RegistrationState = serde_json::from_value(v).map_err(|e| e.to_string())?;

    let cas = ca_list(roots)?;
    if enforce && cas.is_none() {
        return Err("attestation is enforced but no trusted root is configured".into());
    }
    let reg = RegisterPublicKeyCredential {
        id: String::new(),
        raw_id: vec![],
        type_: "public-key".into(),
        response: AuthenticatorAttestationResponseRaw {
            attestation_object: attestation_object.to_vec(),
            client_data_json: client_data_json.to_vec(),
            transports: None,
        },
        extensions: Default::default(),
    };
    let cred = core
        .register_credential(&reg, &state, if enforce { cas.as_ref() } else { None })
        .map_err(|e| format!("{e:?}"))?;
    let attested = match (&cas, enforce) {
        (_, true) => true,
        (Some(c), false) => matches!(cred.verify_attestation(c), Ok(Some(_))),
        (None, false) => false,
    };
    let aaguid = match &cred.attestation.metadata {
        AttestationMetadata::Packed { aaguid } => Aaguid(*aaguid.as_bytes()),
        _ => auth_data_aaguid(attestation_object).ok_or("no AAGUID in authData")?,
    };
    let thumbprints = if matches!(
        cred.attestation.data,
        ParsedAttestationData::Basic(_) | ParsedAttestationData::AttCa(_)
    ) {
        x5c(attestation_object)
            .iter()
            .map(|der| {
                hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())
            })
            .collect()
    } else {
        vec![]
    };
    Ok(Verified {
        credential_id: cred.cred_id.to_vec(),
        aaguid,
        attested,
        thumbprints,
    })
}

fn field<'a>(map: &'a ciborium::Value, name: &str) -> Option<&'a ciborium::Value> {
    map.as_map()?
        .iter()
        .find_map(|(k, v)| (k.as_text() == Some(name)).then_some(v))
}

/// The DER certificates in attStmt.x5c.
fn x5c(attestation_object: &[u8]) -> Vec<Vec<u8>> {
    let v: Option<ciborium::Value> = ciborium::de::from_reader(attestation_object).ok();
    v.as_ref()
        .and_then(|v| field(field(v, "attStmt")?, "x5c")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.as_bytes().cloned())
        .collect()
}

/// AAGUID via webauthn-rs-core's authenticator-data parser.
fn auth_data_aaguid(attestation_object: &[u8]) -> Option<Aaguid> {
    let v: ciborium::Value = ciborium::de::from_reader(attestation_object).ok()?;
    let auth = field(&v, "authData")?.as_bytes()?;
    let ad =
        webauthn_rs_core::internals::AuthenticatorData::<Registration>::try_from(auth.as_slice())
            .ok()?;
    ad.acd.map(|acd| Aaguid(acd.aaguid))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
