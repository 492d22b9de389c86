//! `glasskey kit init`: a kit in one command.
//!
//! Whatever the flags did not give is asked of the operator (tenant, accounts,
//! locations with addresses, custodians with roles and phone numbers, policy);
//! the answers are checked offline first, then — only when a Graph sign-in is at
//! hand — each account is looked up to confirm it exists and is cloud-only. The
//! kit is written last: a commented `glasskey.toml` and the empty ledger.

use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::ledger::{Account, Custodian, Kit, KitConfig, Location, Policy, REQUIRED_LOCATIONS};

use super::operator::Operator;

/// What the flags already say; `None`/empty means "ask".
#[derive(Debug, Clone, Default)]
pub struct KitAnswers {
    pub tenant: Option<String>,
    pub cloud: Option<String>,
    pub accounts: Vec<String>,
    /// (id, name) pairs.
    pub locations: Vec<(String, String)>,
    /// (location id, address) pairs.
    pub addresses: Vec<(String, String)>,
    pub custodians: Vec<Custodian>,
    pub check_interval_days: Option<u32>,
    pub keys_per_account: Option<u32>,
    pub pin_length: Option<u32>,
    /// Use the defaults for everything the flags leave out, asking nothing.
    pub no_input: bool,
}

/// Parse `NAME|ROLE|PHONE` (role and phone optional) as given to `--custodian`.
pub fn parse_custodian(text: &str) -> Result<Custodian> {
    let mut parts = text.split('|').map(str::trim);
    let name = parts.next().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(Error::input(
            format!("custodian '{text}' has no name"),
            "write it as 'NAME|ROLE|PHONE', e.g. 'Ana Lima|security lead|+44 20 7946 0000'",
        ));
    }
    let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    Ok(Custodian {
        name,
        role: opt(parts.next()),
        phone: opt(parts.next()),
    })
}

/// Parse `ID=TEXT` as given to `--location` and `--address`.
pub fn parse_pair(flag: &str, text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((id, value)) if !id.trim().is_empty() && !value.trim().is_empty() => {
            Ok((id.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(Error::input(
            format!("--{flag} '{text}' is not ID=TEXT"),
            format!("write it as --{flag} 'vault=Bank vault, box 1142'"),
        )),
    }
}

fn ask_optional(op: &mut dyn Operator, prompt: &str) -> Result<Option<String>> {
    if !op.confirm(&format!("{prompt}?"))? {
        return Ok(None);
    }
    Ok(Some(op.text(prompt)?))
}

fn ask_number(op: &mut dyn Operator, prompt: &str, default: u32) -> Result<u32> {
    loop {
        let answer = op.text_or(prompt, &default.to_string())?;
        match answer.trim().parse::<u32>() {
            Ok(n) => return Ok(n),
            Err(_) => op.say(&format!(
                "'{answer}' is not a number; type digits, or Enter for {default}"
            )),
        }
    }
}

/// Build the configuration: the flags' values, the rest asked (or defaulted with
/// `no_input`). Checked offline before it is returned.
pub fn gather(op: &mut dyn Operator, given: &KitAnswers) -> Result<KitConfig> {
    let ask = !given.no_input;
    let tenant = match &given.tenant {
        Some(t) => t.clone(),
        None if ask => {
            op.text("Tenant (primary domain or tenant id, e.g. contoso.onmicrosoft.com)")?
        }
        None => {
            return Err(Error::input(
                "kit init needs the tenant",
                "pass --tenant contoso.onmicrosoft.com",
            ))
        }
    };
    let mut config = KitConfig::example(&tenant);
    config.cloud = given.cloud.clone().filter(|c| c != "global");

    config.accounts = given
        .accounts
        .iter()
        .map(|upn| Account {
            upn: upn.clone(),
            display_name: None,
            object_id: None,
        })
        .collect();
    if config.accounts.is_empty() && ask {
        op.say("Break-glass accounts: cloud-only Global Administrators (two or more).");
        loop {
            let n = config.accounts.len() + 1;
            let upn = op.text(&format!("Account {n} (userPrincipalName)"))?;
            config.accounts.push(Account {
                upn,
                display_name: None,
                object_id: None,
            });
            if n >= 2 && !op.confirm("Another account?")? {
                break;
            }
        }
    }

    if !given.locations.is_empty() {
        for (id, name) in &given.locations {
            match config.locations.iter_mut().find(|l| &l.id == id) {
                Some(l) => l.name = name.clone(),
                None => config.locations.push(Location {
                    id: id.clone(),
                    name: name.clone(),
                    address: None,
                }),
            }
        }
    } else if ask {
        op.say(
            "Locations: where the sealed envelopes are kept (vault and office-safe are required).",
        );
        for l in &mut config.locations {
            l.name = op.text_or(&format!("Name of location '{}'", l.id), &l.name)?;
        }
    }
    for (id, address) in &given.addresses {
        match config.locations.iter_mut().find(|l| &l.id == id) {
            Some(l) => l.address = Some(address.clone()),
            None => {
                let known: Vec<&str> = config.locations.iter().map(|l| l.id.as_str()).collect();
                return Err(Error::input(
                    format!("--address names location '{id}', which is not defined"),
                    format!("use one of: {}", known.join(", ")),
                ));
            }
        }
    }
    if given.addresses.is_empty() && ask {
        for l in &mut config.locations {
            l.address = ask_optional(op, &format!("Address of {}", l.name))?;
        }
    }

    config.custodians = given.custodians.clone();
    if config.custodians.is_empty() && ask {
        op.say("Custodians: who holds the envelopes and who to call in an emergency.");
        loop {
            let name = op.text("Custodian's name")?;
            let role = ask_optional(op, &format!("Role of {name}"))?;
            let phone = op.text(&format!("Phone number of {name} (for the emergency sheet)"))?;
            config.custodians.push(Custodian {
                name,
                role,
                phone: Some(phone),
            });
            if config.custodians.len() >= 2 && !op.confirm("Another custodian?")? {
                break;
            }
        }
    }

    let defaults = Policy::default();
    config.policy.check_interval_days = match given.check_interval_days {
        Some(n) => n,
        None if ask => ask_number(
            op,
            "Days between liveness checks",
            defaults.check_interval_days,
        )?,
        None => defaults.check_interval_days,
    };
    config.policy.keys_per_account = match given.keys_per_account {
        Some(n) => n,
        None if ask => ask_number(op, "Keys per account", defaults.keys_per_account)?,
        None => defaults.keys_per_account,
    };
    if let Some(n) = given.pin_length {
        config.policy.pin_length = n;
    }
    check_offline(&config)?;
    Ok(config)
}

/// Everything that can be checked without the network.
pub fn check_offline(config: &KitConfig) -> Result<()> {
    config.validate().map_err(|problem| {
        Error::input(
            format!("the kit is not valid: {problem}"),
            "correct that answer or flag and run kit init again",
        )
    })?;
    if config.accounts.is_empty() {
        return Err(Error::input(
            "the kit names no break-glass account",
            "pass --account UPN (once per account)",
        ));
    }
    for a in &config.accounts {
        let ok = a
            .upn
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
        if !ok {
            return Err(Error::input(
                format!("'{}' is not a userPrincipalName", a.upn),
                "write accounts as name@domain, e.g. bg1@contoso.onmicrosoft.com",
            ));
        }
    }
    let mut upns: Vec<String> = config
        .accounts
        .iter()
        .map(|a| a.upn.to_lowercase())
        .collect();
    upns.sort();
    if upns.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::input(
            "an account is named twice",
            "name each break-glass account once",
        ));
    }
    for id in REQUIRED_LOCATIONS {
        if config.location(id).is_none() {
            return Err(Error::input(
                format!("location '{id}' is missing"),
                "keep the vault and office-safe locations",
            ));
        }
    }
    Ok(())
}

/// One account as Entra knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountLookup {
    pub upn: String,
    pub object_id: String,
    pub display_name: Option<String>,
    pub cloud_only: bool,
}

/// Confirm each account exists and is cloud-only; fill in object ids and names.
/// A synced (on-premises) account is refused: it would fail with the directory
/// it is meant to survive.
pub fn look_up_accounts(graph: &GraphClient, config: &mut KitConfig) -> Result<Vec<AccountLookup>> {
    let mut found = Vec::new();
    for a in &mut config.accounts {
        let user = graph.user(&a.upn).map_err(|e| {
            let e: Error = e.into();
            Error::new(
                e.class,
                format!("looking up {} in Entra: {}", a.upn, e.what),
                "check the UPN (or create the account), or run kit init without signing in",
            )
        })?;
        let cloud_only = user.on_premises_sync_enabled != Some(true);
        if !cloud_only {
            return Err(Error::input(
                format!("{} is synced from on-premises Active Directory", a.upn),
                "break-glass accounts must be cloud-only (*.onmicrosoft.com, not synced): create one in Entra",
            ));
        }
        a.object_id = Some(user.id.clone());
        if a.display_name.is_none() {
            a.display_name = user.display_name.clone();
        }
        found.push(AccountLookup {
            upn: a.upn.clone(),
            object_id: user.id,
            display_name: user.display_name,
            cloud_only,
        });
    }
    Ok(found)
}

/// Write the kit: the commented glasskey.toml and the empty ledger.
pub fn write_kit(dir: &std::path::Path, config: &KitConfig) -> Result<Kit> {
    Ok(Kit::init(dir, config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custodian_and_pair_flags_parse() {
        let c = parse_custodian("Ana Lima|security lead|+44 20 7946 0000").unwrap();
        assert_eq!(
            (c.name.as_str(), c.role.as_deref(), c.phone.as_deref()),
            ("Ana Lima", Some("security lead"), Some("+44 20 7946 0000"))
        );
        let c = parse_custodian("Ben").unwrap();
        assert!(c.role.is_none() && c.phone.is_none());
        assert!(parse_custodian("|x").is_err());
        assert_eq!(
            parse_pair("location", "vault=Bank vault, box 1").unwrap(),
            ("vault".into(), "Bank vault, box 1".into())
        );
        assert!(parse_pair("address", "vault").is_err());
    }

    #[test]
    fn offline_checks_name_the_problem() {
        let mut c = KitConfig::example("contoso.onmicrosoft.com");
        assert!(check_offline(&c).is_ok());
        c.accounts[1].upn = "BG1@contoso.onmicrosoft.com".into();
        assert!(check_offline(&c).unwrap_err().what.contains("twice"));
        c.accounts[1].upn = "bg2".into();
        assert!(check_offline(&c)
            .unwrap_err()
            .what
            .contains("userPrincipalName"));
    }
}
