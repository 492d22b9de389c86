//! `glasskey.toml`: the tenant, its break-glass accounts, the custody locations,
//! the custodians and the policy the program is held to.

use serde::{Deserialize, Serialize};

use crate::aaguid::Aaguid;

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
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_accounts: 2,
            keys_per_account: 2,
            distinct_models: 2,
            distinct_locations: 2,
            check_interval_days: 90,
            allowed_aaguids: Vec::new(),
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
        if self.policy.check_interval_days == 0 {
            return Err("policy.check_interval_days must be at least 1".into());
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
}
