//! `glasskey kit init`: set up a kit — asked at the terminal, or all by flags.

use clap::{Args, Subcommand};

use super::{session, GlobalArgs};
use crate::ceremony::kit_init::{self, KitAnswers};
use crate::error::Result;

#[derive(Subcommand, Debug)]
pub enum KitCmd {
    /// Create the kit: a commented glasskey.toml and the empty ledger. Asks for
    /// whatever the flags leave out (tenant from --tenant, cloud from --cloud).
    #[command(after_help = KIT_EXAMPLES)]
    Init(KitInitArgs),
}

const KIT_EXAMPLES: &str = "\
Examples:
  glasskey kit init                                   answer the questions
  GLASSKEY_KIT=/srv/bg-kit glasskey kit init --tenant contoso.onmicrosoft.com \\
      --account bg1@contoso.onmicrosoft.com --account bg2@contoso.onmicrosoft.com \\
      --location 'vault=Bank vault, box 1142' --address 'vault=1 Bank St, London EC2' \\
      --location 'office-safe=Server room safe' --address 'office-safe=HQ, 2nd floor' \\
      --custodian 'Ana Lima|security lead|+44 20 7946 0000' \\
      --custodian 'Ben Okafor|IT operations|+44 20 7946 0001' --no-input
  Signed in (--client-id …), each account is looked up in Entra first.";

#[derive(Args, Debug)]
pub struct KitInitArgs {
    /// A break-glass account (userPrincipalName); repeat for each.
    #[arg(long = "account", value_name = "UPN")]
    pub accounts: Vec<String>,
    /// A location and its name, ID=NAME (vault and office-safe always exist); repeat.
    #[arg(long = "location", value_name = "ID=NAME")]
    pub locations: Vec<String>,
    /// A location's street address, ID=ADDRESS; repeat.
    #[arg(long = "address", value_name = "ID=ADDRESS")]
    pub addresses: Vec<String>,
    /// A custodian: 'NAME|ROLE|PHONE' (role and phone may be empty); repeat.
    #[arg(long = "custodian", value_name = "NAME|ROLE|PHONE")]
    pub custodians: Vec<String>,
    /// Days between liveness checks (default 90).
    #[arg(long, value_name = "DAYS")]
    pub check_interval_days: Option<u32>,
    /// Keys each account must have (default 2).
    #[arg(long, value_name = "N")]
    pub keys_per_account: Option<u32>,
    /// Length of generated PINs (default 10).
    #[arg(long, value_name = "N")]
    pub pin_length: Option<u32>,
    /// Ask nothing: defaults for whatever the flags leave out (scripts).
    #[arg(long)]
    pub no_input: bool,
    /// Do not look the accounts up in Entra even when sign-in details are given.
    #[arg(long)]
    pub offline: bool,
}

pub fn run(cmd: KitCmd, g: &GlobalArgs) -> Result<()> {
    let KitCmd::Init(args) = cmd;
    let given = KitAnswers {
        tenant: g.graph.tenant.clone(),
        cloud: g.graph.cloud.clone(),
        accounts: args.accounts.clone(),
        locations: args
            .locations
            .iter()
            .map(|l| kit_init::parse_pair("location", l))
            .collect::<Result<_>>()?,
        addresses: args
            .addresses
            .iter()
            .map(|a| kit_init::parse_pair("address", a))
            .collect::<Result<_>>()?,
        custodians: args
            .custodians
            .iter()
            .map(|c| kit_init::parse_custodian(c))
            .collect::<Result<_>>()?,
        check_interval_days: args.check_interval_days,
        keys_per_account: args.keys_per_account,
        pin_length: args.pin_length,
        no_input: args.no_input,
    };
    // Refuse an existing kit before asking a single question.
    if g.kit.join(crate::ledger::CONFIG_FILE).exists()
        || g.kit.join(crate::ledger::LEDGER_FILE).exists()
    {
        return Err(crate::ledger::LedgerError::KitExists(g.kit.clone()).into());
    }
    let mut op = session::TerminalOperator { assume_yes: false };
    let mut config = kit_init::gather(&mut op, &given)?;

    // Only with sign-in details at hand, and after every offline check passed.
    let lookup =
        if args.offline || g.graph.client_id.is_none() {
            eprintln!(
            "accounts not looked up in Entra ({}); run `glasskey audit --online` once signed in",
            if args.offline { "--offline" } else { "not signed in: no --client-id" }
        );
            "skipped".to_string()
        } else {
            let mut graph_args = g.graph.clone();
            graph_args.tenant = Some(config.tenant.clone());
            let graph = super::graph::sign_in(&graph_args)?.0;
            for a in kit_init::look_up_accounts(&graph, &mut config)? {
                eprintln!(
                    "found {} in Entra: object id {}, cloud-only",
                    a.upn, a.object_id
                );
            }
            "done".to_string()
        };

    let kit = kit_init::write_kit(&g.kit, &config)?;
    let config_path = kit.dir().join(crate::ledger::CONFIG_FILE);
    if g.json {
        return super::print_json(&serde_json::json!({
            "kit": kit.dir(),
            "config": config_path,
            "ledger": kit.ledger().path(),
            "tenant": config.tenant,
            "accounts": config.accounts.iter().map(|a| &a.upn).collect::<Vec<_>>(),
            "locations": config.locations.iter().map(|l| &l.id).collect::<Vec<_>>(),
            "custodians": config.custodians.iter().map(|c| &c.name).collect::<Vec<_>>(),
            "graph_lookup": lookup,
        }));
    }
    crate::outln!(
        "created kit {} for {}: {} account(s), {} location(s), {} custodian(s)",
        kit.dir().display(),
        config.tenant,
        config.accounts.len(),
        config.locations.len(),
        config.custodians.len()
    );
    crate::outln!(
        "next: review {}, then enroll the first key: glasskey enroll --account {} --location vault",
        config_path.display(),
        config.accounts.first().map_or("UPN", |a| a.upn.as_str())
    );
    Ok(())
}
