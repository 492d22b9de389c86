//! `glasskey.toml`: the tenant, its break-glass accounts, the custody locations,
//! the custodians and the policy the program is held to.

use serde::{Deserialize, Serialize};

use crate::aaguid::Aaguid;

/// Accepted liveness-check intervals, in days: at least daily, at most ten
/// years (date arithmetic on larger values overflows the calendar).
pub const CHECK_INTERVAL_DAYS: std::ops::RangeInclusive<u32> = 1..=3660;

/// Locations every kit must define (DESIGN: keys in two places).
pub const REQUIRED_LOCATIONS: [&str; 2] = ["vault", "office-safe"];

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KitConfig {
    /// Tenant id or primary domain, e.g. `contoso.onmicrosoft.com`.
    pub tenant: String,
    pub accounts: Vec<Account>,
    pub locations: Vec<Location>,
    #[serde(default)]
    pub custodians: Vec<Custodian>,
    #[serde(default)]
    pub policy: Policy,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// userPrincipalName.
    pub upn: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Short id used on the command line and in the ledger (`vault`, `office-safe`).
    pub id: String,
    /// What a custodian would call it ("Bank vault, box 1142").
    pub name: String,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Custodian {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub min_accounts: u32,
    pub keys_per_account: u32,
    pub distinct_models: u32,
    pub distinct_locations: u32,
    pub check_interval_days: u32,
    /// Empty means "any AAGUID the attestation layer accepts".
    pub allowed_aaguids: Vec<Aaguid>,
    /// Accept keys whose attestation is self-signed (no vendor certificate).
    /// It proves nothing about the model: off unless the program knowingly
    /// uses such keys (OpenSK builds, some test keys).
    pub allow_self_attestation: bool,
    /// Accept an attestation chain that reaches none of the trusted roots
    /// (e.g. a vendor's test certificate). Off unless knowingly allowed.
    pub allow_unknown_root: bool,
    /// Length of generated PINs (and the minimum for typed ones); at least 4.
    pub pin_length: u32,
    /// Characters of generated PINs: one of [`PIN_ALPHABETS`].
    pub pin_alphabet: String,
}

/// The PIN alphabets a kit may name (see `ceremony::pin_gen`).
pub const PIN_ALPHABETS: [&str; 2] = ["digits", "unambiguous"];
/// CTAP's bounds on a PIN's length in code points.
pub const PIN_LENGTH_RANGE: std::ops::RangeInclusive<u32> = 4..=63;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_accounts: 2,
            keys_per_account: 2,
            distinct_models: 2,
            distinct_locations: 2,
            check_interval_days: 90,
            allowed_aaguids: Vec::new(),
            allow_self_attestation: false,
            allow_unknown_root: false,
            pin_length: 10,
            pin_alphabet: "digits".into(),
        }
    }
}

impl KitConfig {
    /// Parse and validate TOML text. The error names the problem in operator terms.
    pub fn from_toml(text: &str) -> Result<KitConfig, String> {
        let config: KitConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.tenant.trim().is_empty() {
            return Err("tenant is empty".into());
        }
        for required in REQUIRED_LOCATIONS {
            if self.location(required).is_none() {
                return Err(format!("location '{required}' is missing"));
            }
        }
        let mut ids: Vec<&str> = self.locations.iter().map(|l| l.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err("two locations share the same id".into());
        }
        if !CHECK_INTERVAL_DAYS.contains(&self.policy.check_interval_days) {
            return Err(format!(
                "policy.check_interval_days must be between {} and {} (ten years); it is {}",
                CHECK_INTERVAL_DAYS.start(),
                CHECK_INTERVAL_DAYS.end(),
                self.policy.check_interval_days
            ));
        }
        if !PIN_LENGTH_RANGE.contains(&self.policy.pin_length) {
            return Err(format!(
                "policy.pin_length must be between {} and {}",
                PIN_LENGTH_RANGE.start(),
                PIN_LENGTH_RANGE.end()
            ));
        }
        if !PIN_ALPHABETS.contains(&self.policy.pin_alphabet.as_str()) {
            return Err(format!(
                "policy.pin_alphabet must be one of: {}",
                PIN_ALPHABETS.join(", ")
            ));
        }
        Ok(())
    }

    pub fn location(&self, id: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.id == id)
    }

    /// A starting configuration for `tenant` with the two required locations.
    pub fn example(tenant: &str) -> KitConfig {
        let domain = tenant.to_string();
        KitConfig {
            tenant: domain.clone(),
            accounts: ["bg1", "bg2"]
                .iter()
                .map(|a| Account {
                    upn: format!("{a}@{domain}"),
                    display_name: None,
                })
                .collect(),
            locations: vec![
                Location {
                    id: "vault".into(),
                    name: "Off-site vault".into(),
                    address: None,
                },
                Location {
                    id: "office-safe".into(),
                    name: "Office fireproof safe".into(),
                    address: None,
                },
            ],
            custodians: Vec::new(),
            policy: Policy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_round_trips_and_validates() {
        let c = KitConfig::example("contoso.onmicrosoft.com");
        let text = c.to_toml().unwrap();
        assert_eq!(KitConfig::from_toml(&text).unwrap(), c);
    }

    #[test]
    fn missing_location_and_typos_are_refused() {
        let mut c = KitConfig::example("contoso.onmicrosoft.com");
        c.locations.retain(|l| l.id != "vault");
        let err = KitConfig::from_toml(&c.to_toml().unwrap()).unwrap_err();
        assert!(err.contains("'vault'"), "{err}");
        let text = KitConfig::example("t").to_toml().unwrap() + "\ncolour = 1\n";
        assert!(KitConfig::from_toml(&text).is_err());
    }

    #[test]
    fn attestation_and_pin_policy_default_strict_and_validate() {
        let old = "tenant = \"t\"\naccounts = []\n[[locations]]\nid = \"vault\"\nname = \"V\"\n\
                   [[locations]]\nid = \"office-safe\"\nname = \"S\"\n[policy]\nmin_accounts = 2\n";
        let c = KitConfig::from_toml(old).unwrap();
        assert!(!c.policy.allow_self_attestation && !c.policy.allow_unknown_root);
        assert_eq!(
            (c.policy.pin_length, c.policy.pin_alphabet.as_str()),
            (10, "digits")
        );
        let short = format!("{old}pin_length = 3\n");
        assert!(KitConfig::from_toml(&short)
            .unwrap_err()
            .contains("pin_length"));
        let odd = format!("{old}pin_alphabet = \"emoji\"\n");
        assert!(KitConfig::from_toml(&odd)
            .unwrap_err()
            .contains("pin_alphabet"));
        let lax = format!("{old}allow_self_attestation = true\npin_alphabet = \"unambiguous\"\n");
        let c = KitConfig::from_toml(&lax).unwrap();
        assert!(c.policy.allow_self_attestation && c.policy.pin_alphabet == "unambiguous");
    }
}
