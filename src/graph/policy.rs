//! The FIDO2 authentication-method policy and the preflight that says, before
//! any key is touched, whether a key model (AAGUID) can be registered for an
//! account and why not (GRAPH.md §4). Both the legacy fields and passkey
//! profiles are understood; profiles win when present.

use serde::{Deserialize, Serialize};

use super::types::null_as_default;
use crate::aaguid::Aaguid;

/// `fido2AuthenticationMethodConfiguration`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Fido2Policy {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    /// `enabled` | `disabled`.
    #[serde(deserialize_with = "null_as_default")]
    pub state: String,
    pub is_self_service_registration_allowed: Option<bool>,
    /// Legacy (deprecated, removal 2027).
    pub is_attestation_enforced: Option<bool>,
    /// Legacy (deprecated, removal 2027).
    pub key_restrictions: Option<KeyRestrictions>,
    #[serde(deserialize_with = "null_as_default")]
    pub include_targets: Vec<Target>,
    #[serde(deserialize_with = "null_as_default")]
    pub exclude_targets: Vec<Target>,
    pub default_passkey_profile: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub passkey_profiles: Vec<PasskeyProfile>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyRestrictions {
    #[serde(deserialize_with = "null_as_default")]
    pub is_enforced: bool,
    /// `allow` | `block`.
    #[serde(deserialize_with = "null_as_default")]
    pub enforcement_type: String,
    #[serde(deserialize_with = "null_as_default")]
    pub aa_guids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    /// `all_users` or a group id.
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    pub target_type: Option<String>,
    pub is_registration_required: Option<bool>,
    #[serde(deserialize_with = "null_as_default")]
    pub allowed_passkey_profiles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PasskeyProfile {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// Flags string, e.g. `deviceBound,synced`.
    #[serde(deserialize_with = "null_as_default")]
    pub passkey_types: String,
    /// `disabled` | `registrationOnly`.
    #[serde(deserialize_with = "null_as_default")]
    pub attestation_enforcement: String,
    pub key_restrictions: Option<KeyRestrictions>,
}

/// Why a key cannot be registered for an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Blocker {
    MethodDisabled,
    /// The known issue: the provisioning API needs "Allow self-service set up".
    SelfServiceSetupOff,
    NotTargeted,
    ExcludedByGroup {
        group: String,
    },
    DeviceBoundNotAllowed {
        profile: String,
    },
    KeyRestricted {
        profile: String,
        enforcement: String,
    },
    AttestationRequired {
        profile: String,
    },
}

impl Blocker {
    /// One sentence for the operator: what is wrong and what to change.
    pub fn explain(&self) -> String {
        match self {
            Blocker::MethodDisabled => "the FIDO2/passkey method is disabled in the tenant: enable it under Authentication methods > Passkey (FIDO2)".into(),
            Blocker::SelfServiceSetupOff => "'Allow self-service set up' is off in the FIDO2 policy; Graph's provisioning API needs it on (a documented known issue)".into(),
            Blocker::NotTargeted => "the account is not targeted by the FIDO2 policy: add it (or a group holding it) to the policy's targets".into(),
            Blocker::ExcludedByGroup { group } => format!("the account is excluded from the FIDO2 policy through group {group}: remove it from that group or the exclusion"),
            Blocker::DeviceBoundNotAllowed { profile } => format!("passkey profile '{profile}' does not allow device-bound passkeys"),
            Blocker::KeyRestricted { profile, enforcement } => format!("key restrictions in '{profile}' ({enforcement} list) do not allow this key model: add its AAGUID to the allow list or remove it from the block list"),
            Blocker::AttestationRequired { profile } => format!("'{profile}' enforces attestation and this key cannot present attestation Entra trusts"),
        }
    }
}

/// The preflight verdict for one account and one key model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    pub aaguid: Aaguid,
    pub allowed: bool,
    pub blockers: Vec<Blocker>,
    /// The profile (or "legacy policy") that admits the key, when allowed.
    pub admitted_by: Option<String>,
    /// Attestation will be checked at registration.
    pub attestation_enforced: bool,
}

/// One effective rule set: a passkey profile or the legacy top-level fields.
struct Rules<'a> {
    name: String,
    device_bound: bool,
    attestation: bool,
    restrictions: Option<&'a KeyRestrictions>,
}

/// Decide whether `aaguid` can be registered for an account in `groups`.
/// `key_attests` says whether the key presents attestation the tenant trusts.
pub fn preflight(
    policy: &Fido2Policy,
    groups: &[String],
    aaguid: Aaguid,
    key_attests: bool,
) -> Preflight {
    let mut blockers = Vec::new();
    if !policy.state.eq_ignore_ascii_case("enabled") {
        blockers.push(Blocker::MethodDisabled);
    }
    if policy.is_self_service_registration_allowed != Some(true) {
        blockers.push(Blocker::SelfServiceSetupOff);
    }
    let in_group = |id: &str| groups.iter().any(|g| g.eq_ignore_ascii_case(id));
    let matching: Vec<&Target> = policy
        .include_targets
        .iter()
        .filter(|t| t.id == "all_users" || in_group(&t.id))
        .collect();
    if matching.is_empty() {
        blockers.push(Blocker::NotTargeted);
    }
    for t in &policy.exclude_targets {
        if t.id == "all_users" || in_group(&t.id) {
            blockers.push(Blocker::ExcludedByGroup {
                group: t.id.clone(),
            });
        }
    }
    let rules: Vec<Rules> = if policy.passkey_profiles.is_empty() {
        vec![Rules {
            name: "legacy policy".into(),
            device_bound: true,
            attestation: policy.is_attestation_enforced == Some(true),
            restrictions: policy.key_restrictions.as_ref(),
        }]
    } else {
        let mut ids: Vec<&str> = matching
            .iter()
            .flat_map(|t| t.allowed_passkey_profiles.iter().map(String::as_str))
            .collect();
        if ids.is_empty() {
            ids.extend(policy.default_passkey_profile.as_deref());
        }
        policy
            .passkey_profiles
            .iter()
            .filter(|p| ids.iter().any(|id| id.eq_ignore_ascii_case(&p.id)))
            .map(|p| Rules {
                name: p.name.clone(),
                device_bound: p
                    .passkey_types
                    .split(',')
                    .any(|t| t.trim() == "deviceBound"),
                attestation: p.attestation_enforcement == "registrationOnly",
                restrictions: p.key_restrictions.as_ref(),
            })
            .collect()
    };
    let text = aaguid.to_string();
    let mut admitted_by = None;
    let mut attestation_enforced = false;
    let mut profile_blockers = Vec::new();
    for r in &rules {
        let mut ok = true;
        if !r.device_bound {
            ok = false;
            profile_blockers.push(Blocker::DeviceBoundNotAllowed {
                profile: r.name.clone(),
            });
        }
        if let Some(k) = r.restrictions.filter(|k| k.is_enforced) {
            let listed = k
                .aa_guids
                .iter()
                .any(|a| a.trim().eq_ignore_ascii_case(&text));
            let allowed = if k.enforcement_type.eq_ignore_ascii_case("block") {
                !listed
            } else {
                listed
            };
            if !allowed {
                ok = false;
                profile_blockers.push(Blocker::KeyRestricted {
                    profile: r.name.clone(),
                    enforcement: k.enforcement_type.clone(),
                });
            }
        }
        if r.attestation && !key_attests {
            ok = false;
            profile_blockers.push(Blocker::AttestationRequired {
                profile: r.name.clone(),
            });
        }
        if ok && admitted_by.is_none() {
            admitted_by = Some(r.name.clone());
            attestation_enforced = r.attestation;
        }
    }
    if admitted_by.is_none() && !matching.is_empty() {
        if profile_blockers.is_empty() {
            profile_blockers.push(Blocker::NotTargeted);
        }
        blockers.extend(profile_blockers);
    }
    Preflight {
        aaguid,
        allowed: blockers.is_empty(),
        blockers,
        admitted_by,
        attestation_enforced,
    }
}

/// What stops provisioning for an account whatever the key model: the method
/// disabled, self-service set up off (the known issue), the account not
/// targeted or excluded, no profile allowing device-bound passkeys. Read
/// before creationOptions is fetched (`graph fetch-options`), when no key is
/// at hand yet.
pub fn account_blockers(policy: &Fido2Policy, groups: &[String]) -> Vec<Blocker> {
    preflight(policy, groups, Aaguid::ZERO, true)
        .blockers
        .into_iter()
        .filter(|b| {
            !matches!(
                b,
                Blocker::KeyRestricted { .. } | Blocker::AttestationRequired { .. }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Fido2Policy {
        Fido2Policy {
            id: "Fido2".into(),
            state: "enabled".into(),
            is_self_service_registration_allowed: Some(true),
            include_targets: vec![Target {
                id: "all_users".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn legacy_fields_gate_registration() {
        let a: Aaguid = "8bc54968-07b1-4d5f-b249-607f5d527da2".parse().unwrap();
        assert!(preflight(&base(), &[], a, false).allowed);
        let mut p = base();
        p.is_self_service_registration_allowed = Some(false);
        p.key_restrictions = Some(KeyRestrictions {
            is_enforced: true,
            enforcement_type: "allow".into(),
            aa_guids: vec![],
        });
        let r = preflight(&p, &[], a, true);
        assert!(!r.allowed);
        assert!(r.blockers.contains(&Blocker::SelfServiceSetupOff));
        assert!(matches!(
            r.blockers.last(),
            Some(Blocker::KeyRestricted { .. })
        ));
        p = base();
        p.is_attestation_enforced = Some(true);
        assert_eq!(
            preflight(&p, &[], a, false).blockers,
            vec![Blocker::AttestationRequired {
                profile: "legacy policy".into()
            }]
        );
        assert!(preflight(&p, &[], a, true).attestation_enforced);
        p = base();
        p.include_targets = vec![Target {
            id: "g1".into(),
            ..Default::default()
        }];
        p.exclude_targets = vec![Target {
            id: "g2".into(),
            ..Default::default()
        }];
        assert_eq!(
            preflight(&p, &[], a, true).blockers,
            vec![Blocker::NotTargeted]
        );
        assert_eq!(
            preflight(&p, &["g1".into(), "g2".into()], a, true).blockers,
            vec![Blocker::ExcludedByGroup { group: "g2".into() }]
        );
    }

    #[test]
    fn account_blockers_ignore_the_model() {
        let mut p = base();
        p.key_restrictions = Some(KeyRestrictions {
            is_enforced: true,
            enforcement_type: "allow".into(),
            aa_guids: vec![],
        });
        assert!(account_blockers(&p, &[]).is_empty());
        p.is_self_service_registration_allowed = None;
        assert_eq!(
            account_blockers(&p, &[]),
            vec![Blocker::SelfServiceSetupOff]
        );
    }

    #[test]
    fn passkey_profiles_override_legacy_fields() {
        let a = Aaguid::virtual_model(1);
        let mut p = base();
        p.key_restrictions = Some(KeyRestrictions {
            is_enforced: true,
            enforcement_type: "block".into(),
            aa_guids: vec![a.to_string()],
        });
        p.default_passkey_profile = Some("p1".into());
        p.passkey_profiles = vec![
            PasskeyProfile {
                id: "p1".into(),
                name: "Default".into(),
                passkey_types: "synced".into(),
                attestation_enforcement: "disabled".into(),
                key_restrictions: None,
            },
            PasskeyProfile {
                id: "p2".into(),
                name: "BG".into(),
                passkey_types: "deviceBound".into(),
                attestation_enforcement: "registrationOnly".into(),
                key_restrictions: Some(KeyRestrictions {
                    is_enforced: true,
                    enforcement_type: "allow".into(),
                    aa_guids: vec![a.to_string().to_uppercase()],
                }),
            },
        ];
        let r = preflight(&p, &[], a, true);
        assert_eq!(
            r.blockers,
            vec![Blocker::DeviceBoundNotAllowed {
                profile: "Default".into()
            }]
        );
        p.include_targets[0].allowed_passkey_profiles = vec!["p1".into(), "p2".into()];
        let r = preflight(&p, &[], a, true);
        assert!(r.allowed, "{r:?}");
        assert_eq!(r.admitted_by.as_deref(), Some("BG"));
        assert!(r.attestation_enforced);
    }
}
