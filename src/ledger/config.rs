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
    /// The national cloud the tenant lives in (global, usgov, usgov-dod, china);
    /// absent means global. It decides the sign-in URL printed on the sheets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
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
    /// Entra object id, when known (`kit init` fills it in after a Graph lookup);
    /// printed on the emergency sheet next to the UPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
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
    /// Who to call in an emergency: printed on the emergency sheet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
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
    /// The ids of the kit's locations, in the order the config lists them.
    pub fn location_ids(&self) -> Vec<String> {
        self.locations.iter().map(|l| l.id.clone()).collect()
    }

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

    pub fn account(&self, upn: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.upn.eq_ignore_ascii_case(upn))
    }

    /// Where a break-glass account signs in to administer the tenant: the Entra
    /// admin center of the kit's cloud.
    pub fn sign_in_url(&self) -> &'static str {
        match self.cloud.as_deref().unwrap_or("global") {
            "usgov" | "usgov-dod" => "https://entra.microsoft.us",
            "china" => "https://entra.microsoftonline.cn",
            _ => "https://entra.microsoft.com",
        }
    }

    /// The configuration as `glasskey.toml` text with a comment on every setting,
    /// ending in a newline. It reads back as the same configuration.
    pub fn to_commented_toml(&self) -> Result<String, String> {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut t = String::new();
        t += "# glasskey kit: the break-glass program this folder accounts for.\n";
        t += "# Every field is described in docs/ledger.md. Edit with care: the ledger next\n";
        t += "# to this file records what happened; this file says what should be true.\n\n";
        t += "# Tenant id or primary domain.\n";
        t += &format!("tenant = {}\n", q(&self.tenant));
        if let Some(cloud) = &self.cloud {
            t += "# National cloud: global, usgov, usgov-dod or china.\n";
            t += &format!("cloud = {}\n", q(cloud));
        }
        // Empty lists are top-level keys, so they come before the first table.
        if self.accounts.is_empty() {
            t += "# No break-glass accounts yet: add [[accounts]] tables (upn = \"...\").\n";
            t += "accounts = []\n";
        }
        if self.custodians.is_empty() {
            t += "# No custodians yet: add [[custodians]] tables (name, role, phone).\n";
            t += "custodians = []\n";
        }
        t += "\n# The break-glass accounts: cloud-only, permanent Global Administrators,\n";
        t += "# excluded from Conditional Access, signing in with the keys in this kit.\n";
        for a in &self.accounts {
            t += "[[accounts]]\n";
            t += &format!("upn = {}\n", q(&a.upn));
            if let Some(n) = &a.display_name {
                t += &format!("display_name = {}\n", q(n));
            }
            if let Some(id) = &a.object_id {
                t += &format!("object_id = {}  # Entra object id\n", q(id));
            }
        }
        t += "\n# Where the sealed envelopes are kept. `id` is what commands take\n";
        t += "# (--location); vault and office-safe are required.\n";
        for l in &self.locations {
            t += "[[locations]]\n";
            t += &format!("id = {}\n", q(&l.id));
            t += &format!("name = {}\n", q(&l.name));
            if let Some(a) = &l.address {
                t += &format!("address = {}\n", q(a));
            }
        }
        if !self.custodians.is_empty() {
            t += "\n# Who holds the envelopes and who to call in an emergency.\n";
        }
        for c in &self.custodians {
            t += "[[custodians]]\n";
            t += &format!("name = {}\n", q(&c.name));
            if let Some(r) = &c.role {
                t += &format!("role = {}\n", q(r));
            }
            if let Some(p) = &c.phone {
                t += &format!("phone = {}\n", q(p));
            }
        }
        let p = &self.policy;
        t += "\n# The program's rules; `glasskey audit` holds the kit to them.\n[policy]\n";
        t += &format!(
            "min_accounts = {}  # break-glass accounts with keys\n",
            p.min_accounts
        );
        t += &format!("keys_per_account = {}\n", p.keys_per_account);
        t += &format!(
            "distinct_models = {}  # key models (vendors): one recall cannot lock the tenant out\n",
            p.distinct_models
        );
        t += &format!("distinct_locations = {}\n", p.distinct_locations);
        t += &format!(
            "check_interval_days = {}  # the liveness check's rhythm\n",
            p.check_interval_days
        );
        let aaguids: Vec<String> = p
            .allowed_aaguids
            .iter()
            .map(|a| q(&a.to_string()))
            .collect();
        t += &format!(
            "allowed_aaguids = [{}]  # empty: any model the attestation check accepts\n",
            aaguids.join(", ")
        );
        t += &format!(
            "allow_self_attestation = {}  # accept keys without a vendor certificate\n",
            p.allow_self_attestation
        );
        t += &format!(
            "allow_unknown_root = {}  # accept attestation reaching no trusted root\n",
            p.allow_unknown_root
        );
        t += &format!("pin_length = {}  # generated PINs\n", p.pin_length);
        t += &format!(
            "pin_alphabet = {}  # {}\n",
            q(&p.pin_alphabet),
            PIN_ALPHABETS.join(" or ")
        );
        let back = KitConfig::from_toml(&t)?;
        if &back != self {
            return Err("the commented configuration does not read back the same".into());
        }
        Ok(t)
    }

    /// A starting configuration for `tenant` with the two required locations.
    pub fn example(tenant: &str) -> KitConfig {
        let domain = tenant.to_string();
        KitConfig {
            tenant: domain.clone(),
            cloud: None,
            accounts: ["bg1", "bg2"]
                .iter()
                .map(|a| Account {
                    upn: format!("{a}@{domain}"),
                    display_name: None,
                    object_id: None,
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
    fn commented_toml_reads_back_the_same_and_ends_in_a_newline() {
        let mut c = KitConfig::example("contoso.onmicrosoft.com");
        c.cloud = Some("usgov".into());
        c.accounts[0].object_id = Some("0f1e2d3c-0000-4000-8000-000000000001".into());
        c.locations[0].address = Some("1 Bank St, \"Vault\" level -2\nLondon".into());
        c.custodians.push(Custodian {
            name: "Ana Lima".into(),
            role: Some("security lead".into()),
            phone: Some("+44 20 7946 0000".into()),
        });
        c.policy.allowed_aaguids = vec![Aaguid::virtual_model(1)];
        let text = c.to_commented_toml().unwrap();
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text}");
        assert!(text.contains("# The break-glass accounts"), "{text}");
        assert_eq!(KitConfig::from_toml(&text).unwrap(), c);
        assert_eq!(c.sign_in_url(), "https://entra.microsoft.us");
        assert_eq!(
            KitConfig::example("t").sign_in_url(),
            "https://entra.microsoft.com"
        );
    }

    #[test]
    fn commented_toml_with_empty_lists_reads_back() {
        let mut c = KitConfig::example("t.onmicrosoft.com");
        c.accounts.clear();
        let text = c.to_commented_toml().unwrap();
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
