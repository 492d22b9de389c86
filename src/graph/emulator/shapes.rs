//! How the emulator dresses its stored objects the way Graph answers:
//! the FIDO2 policy after Entra's passkey-profile migration, and methods with
//! the version-specific properties.

use serde_json::{json, Value};

use super::routes::World;

/// Id Entra gives the profile it creates at migration (live capture in
/// tests/fixtures/graph/fido2-policy.v1-live-profiles.json).
pub const DEFAULT_PASSKEY_PROFILE: &str = "00000000-0000-0000-0000-000000000001";

impl World {
    /// The FIDO2 configuration as served. A state that sets `passkeyProfiles`
    /// (even to null, the documented revert) is served as written. Otherwise
    /// the tenant looks migrated, as live tenants do: the legacy fields stay
    /// and a default profile mirrors them (`passkeyTypes` `deviceBound,synced`,
    /// attestation and key restrictions copied), allowed on every include
    /// target. Either way the answer carries `@odata.context`.
    pub(super) fn served_fido2_policy(&self, beta: bool) -> Value {
        let mut p = self.state.fido2_policy.clone();
        let version = if beta { "beta" } else { "v1.0" };
        if let Some(obj) = p.as_object_mut() {
            obj.insert(
                "@odata.context".into(),
                format!(
                    "{}/{version}/$metadata#authenticationMethodConfigurations/$entity",
                    self.base_url
                )
                .into(),
            );
            if !obj.contains_key("passkeyProfiles") {
                let legacy_attest = obj.get("isAttestationEnforced") == Some(&Value::Bool(true));
                let restrictions = obj.get("keyRestrictions").cloned().unwrap_or(Value::Null);
                obj.insert(
                    "defaultPasskeyProfile".into(),
                    DEFAULT_PASSKEY_PROFILE.into(),
                );
                obj.insert(
                    "passkeyProfiles".into(),
                    json!([{
                        "id": DEFAULT_PASSKEY_PROFILE,
                        "name": "Default passkey profile",
                        "passkeyTypes": "deviceBound,synced",
                        "attestationEnforcement": if legacy_attest { "registrationOnly" } else { "disabled" },
                        "keyRestrictions": restrictions,
                    }]),
                );
                if let Some(targets) = obj.get_mut("includeTargets").and_then(Value::as_array_mut) {
                    for t in targets {
                        if t.get("allowedPasskeyProfiles").is_none() {
                            t["allowedPasskeyProfiles"] = json!([DEFAULT_PASSKEY_PROFILE]);
                        }
                    }
                }
            }
            obj.insert(
                "includeTargets@odata.context".into(),
                format!(
                    "{}/{version}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations('Fido2')/microsoft.graph.fido2AuthenticationMethodConfiguration/includeTargets",
                    self.base_url
                )
                .into(),
            );
        }
        p
    }
}

/// A stored method as one API version shows it: beta documents the nullable
/// `lastUsedDateTime` (null until the key signs in), v1.0 does not list it.
pub(super) fn method_for_version(stored: &Value, beta: bool) -> Value {
    let mut m = stored.clone();
    if beta {
        if let Some(obj) = m.as_object_mut() {
            obj.entry("lastUsedDateTime").or_insert(Value::Null);
        }
    }
    m
}
