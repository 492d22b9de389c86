//! `glasskey graph ...`: the online half of the split ceremony (fetch-options,
//! register), read-only Graph checks (methods, preflight, posture) and the
//! local emulator.

use std::path::PathBuf;

use clap::Subcommand;

use super::output::snake_case_keys;
use super::{print_json, GlobalArgs, GraphArgs};
use crate::aaguid::Aaguid;
use crate::error::{Error, Result};
use crate::graph::bundle::{Account, RequestBundle, RequestItem, ResponseBundle};
#[cfg(feature = "rehearsal")]
use crate::graph::emulator::{Emulator, State};
use crate::graph::permissions::plans;
use crate::graph::register::{register_bundle, Outcome};
use crate::graph::{ClientCertificate, Credentials, Endpoints, GraphClient, TokenSource};

#[derive(Subcommand, Debug)]
pub enum GraphCmd {
    /// Fetch creation options for accounts and write the request bundle (online).
    FetchOptions {
        /// Account UPN or object id; repeat for several.
        #[arg(long = "account", required = true, num_args = 1..)]
        accounts: Vec<String>,
        /// Challenge lifetime in minutes (5..43200, beta API); without it v1.0's fixed 5 minutes.
        #[arg(long, value_name = "MIN")]
        challenge_timeout: Option<u32>,
        /// Where to write the request bundle (for the offline `enroll --request`).
        #[arg(long, value_name = "REQ.json")]
        out: PathBuf,
    },
    /// Register the credentials of a response bundle (online; safe to re-run).
    Register {
        /// The response bundle written by the offline `enroll --request … --out`.
        #[arg(long, value_name = "RESP.json")]
        response: PathBuf,
    },
    /// List an account's FIDO2 methods.
    Methods {
        /// The account: userPrincipalName or object id.
        #[arg(long, value_name = "UPN")]
        account: String,
    },
    /// Say whether a key model can be registered for an account, and why not.
    Preflight {
        /// The account: userPrincipalName or object id.
        #[arg(long, value_name = "UPN")]
        account: String,
        /// The key model's AAGUID (`glasskey keys info` shows it).
        #[arg(long)]
        aaguid: Aaguid,
        /// The key presents vendor attestation Entra trusts.
        #[arg(long)]
        attested: bool,
    },
    /// Read and evaluate a break-glass account's posture.
    Posture {
        /// The account: userPrincipalName or object id.
        #[arg(long, value_name = "UPN")]
        account: String,
    },
    /// Run the local Graph emulator (login and Graph on one loopback URL).
    #[cfg(feature = "rehearsal")]
    Emulator {
        /// Tenant state (JSON); without it the built-in demo tenant.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Loopback address to serve on (port 0: any free port, printed in READY).
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        listen: String,
        /// Print the state as JSON (a starting point for --state files) and exit.
        #[arg(long)]
        print_state: bool,
    },
}

pub fn run(cmd: GraphCmd, g: &GlobalArgs) -> Result<()> {
    match cmd {
        #[cfg(feature = "rehearsal")]
        GraphCmd::Emulator {
            state,
            listen,
            print_state,
        } => emulator(state, &listen, print_state),
        GraphCmd::FetchOptions {
            accounts,
            challenge_timeout,
            out,
        } => {
            // What the docs say works on this cloud, before signing in.
            let endpoints = Endpoints::resolve(
                g.graph.cloud.as_deref(),
                g.graph.login_url.as_deref(),
                g.graph.graph_url.as_deref(),
            )?;
            if let Some(why) = endpoints.provisioning_unavailable(challenge_timeout.is_some()) {
                return Err(Error::input(
                    why,
                    "run the online half in the global cloud, or try the beta API with --challenge-timeout (its national-cloud availability is not documented)",
                ));
            }
            if let Some(cloud) = endpoints.cloud_name().filter(|c| *c != "global") {
                eprintln!("note: beta creationOptions on '{cloud}' is not documented either way; Graph will say");
            }
            let (client, tenant) = sign_in(&g.graph)?;
            client.require_permissions(if challenge_timeout.is_some() {
                plans::FETCH_OPTIONS_BETA
            } else {
                plans::FETCH_OPTIONS_V1
            })?;
            // Preflight first: a policy that refuses the account makes every challenge useless.
            let policy = client.fido2_policy()?;
            let mut users = Vec::new();
            for a in &accounts {
                let user = client.user(a)?;
                let groups = client.group_ids(&user.id)?;
                let blockers = crate::graph::policy::account_blockers(&policy, &groups);
                if !blockers.is_empty() {
                    let why: Vec<String> = blockers.iter().map(|b| b.explain()).collect();
                    return Err(Error::check(
                        format!(
                            "the tenant's FIDO2 policy refuses provisioning for {}: {}",
                            user.user_principal_name,
                            why.join("; ")
                        ),
                        "change the FIDO2 policy as described, then fetch options again; nothing was fetched",
                    ));
                }
                users.push(user);
            }
            let mut items = Vec::new();
            for user in users {
                let options = client.creation_options(&user.id, challenge_timeout)?;
                eprintln!(
                    "{}: challenge valid until {}",
                    user.user_principal_name,
                    crate::graph::types::format_time(options.expires)
                );
                items.push(RequestItem {
                    account: Account {
                        id: user.id,
                        user_principal_name: user.user_principal_name,
                    },
                    creation_options: options.raw,
                    graph_version: Some(
                        if challenge_timeout.is_some() {
                            "beta"
                        } else {
                            "v1.0"
                        }
                        .into(),
                    ),
                });
            }
            let bundle = RequestBundle::new(&tenant, items);
            bundle.validate(Some(&tenant), time::OffsetDateTime::now_utc())?;
            bundle.write(&out)?;
            if g.json {
                print_json(&serde_json::json!({"out": out, "item_count": bundle.items.len()}))
            } else {
                crate::outln!("wrote {} item(s) to {}", bundle.items.len(), out.display());
                Ok(())
            }
        }
        GraphCmd::Register { response } => {
            let tenant = g.graph.tenant.clone();
            let bundle = ResponseBundle::read(&response, tenant.as_deref())?;
            // The kit's policy, trust roots and ledger judge every item before it is sent.
            let kit = crate::ledger::Kit::open(&g.kit)?;
            let state = kit.state()?;
            let trust = super::session::trust(g)?;
            let rp_id = crate::graph::bundle::entra_rp_id(g.graph.cloud.as_deref())?;
            let (client, _) = sign_in(&g.graph)?;
            let beta = bundle
                .items
                .iter()
                .any(|i| i.graph_version.as_deref() == Some("beta"));
            client.require_permissions(if beta {
                plans::REGISTER_BETA
            } else {
                plans::REGISTER_V1
            })?;
            let reports = register_bundle(
                &client,
                &bundle,
                time::OffsetDateTime::now_utc(),
                &mut |item| {
                    crate::ceremony::register::vet_response(
                        &kit, &state, &trust, &client, rp_id, item,
                    )
                },
            );
            let operators = super::session::operators(&[])?;
            let added = crate::ceremony::register::record_registrations(
                &kit, &operators, &bundle, &reports,
            )?;
            eprintln!(
                "recorded {added} registration(s) in the ledger at {}",
                g.kit.display()
            );
            if g.json {
                print_graph_json(&reports)?;
            } else {
                for r in &reports {
                    let (word, detail) = match &r.outcome {
                        Outcome::Registered { method } => ("registered", method.id.clone()),
                        Outcome::AlreadyRegistered { method } => {
                            ("already registered", method.id.clone())
                        }
                        Outcome::Expired { error, next } | Outcome::Failed { error, next } => {
                            ("NOT registered", format!("{error}\n    next: {next}"))
                        }
                        Outcome::Refused { error, next } => {
                            ("REFUSED, not sent:", format!("{error}\n    next: {next}"))
                        }
                    };
                    crate::outln!(
                        "{}  '{}'  {}: {word} {detail}",
                        r.account,
                        r.display_name,
                        r.aaguid
                    );
                }
            }
            let bad = reports.iter().filter(|r| !r.ok()).count();
            let refused = reports
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Refused { .. }))
                .count();
            if bad == 0 {
                Ok(())
            } else if refused > 0 {
                Err(Error::input(
                    format!(
                        "{refused} of {} item(s) were refused before sending (see above)",
                        reports.len()
                    ),
                    "enroll those keys again from a fresh request bundle and carry the files unmodified",
                ))
            } else if reports
                .iter()
                .all(|r| r.ok() || matches!(r.outcome, Outcome::Expired { .. }))
            {
                Err(Error::input(
                    format!(
                        "{bad} of {} item(s) expired before registration",
                        reports.len()
                    ),
                    "fetch options again for those accounts and enroll those keys again",
                ))
            } else {
                Err(Error::network(format!("{bad} of {} item(s) were not registered", reports.len()), "fix the cause shown above and run the same command again: registered items are recognised, not duplicated"))
            }
        }
        GraphCmd::Methods { account } => {
            let (client, _) = sign_in(&g.graph)?;
            client.require_permissions(plans::METHODS)?;
            let methods = client.list_methods(&account)?;
            if g.json {
                return print_graph_json(&methods);
            }
            for m in &methods {
                crate::outln!(
                    "{}  {}  {}  {}  {}",
                    m.id,
                    m.display_name.as_deref().unwrap_or(""),
                    m.aa_guid.as_deref().unwrap_or(""),
                    m.model.as_deref().unwrap_or(""),
                    m.created_date_time.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        GraphCmd::Preflight {
            account,
            aaguid,
            attested,
        } => {
            let (client, _) = sign_in(&g.graph)?;
            client.require_permissions(plans::PREFLIGHT)?;
            let user = client.user(&account)?;
            let groups = client.group_ids(&user.id)?;
            let verdict =
                crate::graph::policy::preflight(&client.fido2_policy()?, &groups, aaguid, attested);
            if g.json {
                print_graph_json(&verdict)?;
            } else if verdict.allowed {
                crate::outln!(
                    "{aaguid} can be registered for {}: admitted by {}",
                    user.user_principal_name,
                    verdict.admitted_by.as_deref().unwrap_or("policy")
                );
            } else {
                for b in &verdict.blockers {
                    crate::outln!("blocked: {}", b.explain());
                }
            }
            if verdict.allowed {
                Ok(())
            } else {
                Err(Error::check(
                    format!(
                        "{aaguid} cannot be registered for {}",
                        user.user_principal_name
                    ),
                    "change the FIDO2 policy as described above, then run the preflight again",
                ))
            }
        }
        GraphCmd::Posture { account } => {
            let (client, _) = sign_in(&g.graph)?;
            client.require_permissions(plans::POSTURE)?;
            let facts = crate::graph::posture::read_posture(&client, &account)?;
            let findings = crate::graph::posture::evaluate(&facts);
            if g.json {
                print_graph_json(&serde_json::json!({"facts": facts, "findings": findings}))?;
            } else {
                for f in &findings {
                    crate::outln!(
                        "[{}] {}: {}",
                        match (f.ok, f.warning) {
                            (false, _) => "FAIL",
                            (true, true) => "WARN",
                            (true, false) => "OK",
                        },
                        f.check,
                        f.detail
                    );
                }
            }
            match findings.iter().filter(|f| !f.ok).count() {
                0 => Ok(()),
                n => Err(Error::check(
                    format!("{n} posture check(s) failed for {account}"),
                    "fix the findings marked FAIL (docs/graph.md explains each)",
                )),
            }
        }
    }
}

/// Graph's objects in glasskey's output follow glasskey's naming (snake_case).
fn print_graph_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let value = serde_json::to_value(value)
        .map_err(|e| Error::input(format!("could not encode JSON output: {e}"), ""))?;
    print_json(&snake_case_keys(value))
}

#[cfg(feature = "rehearsal")]
fn emulator(state: Option<PathBuf>, listen: &str, print_state: bool) -> Result<()> {
    let state = match state {
        Some(path) => {
            let text = crate::fsutil::read_regular_text(&path, 64 * 1024 * 1024).map_err(|e| {
                Error::input(
                    format!("cannot read emulator state {}: {e}", path.display()),
                    "give a readable JSON state file (docs/graph.md)",
                )
            })?;
            State::from_json(&text).map_err(|e| {
                Error::input(e, "fix the state file (docs/graph.md describes the format)")
            })?
        }
        None => State::demo(),
    };
    if print_state {
        return super::output::print_json_document(&state);
    }
    let handle = Emulator::start(state, listen).map_err(|e| {
        Error::input(
            format!("cannot listen on {listen}: {e}"),
            "give a free loopback address, e.g. --listen 127.0.0.1:8400",
        )
    })?;
    crate::outln!("READY {}", handle.base_url());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    loop {
        std::thread::park();
    }
}

/// Sign in with what the flags and environment give: a certificate, a client
/// secret (GLASSKEY_CLIENT_SECRET or --client-secret-file), else device code.
pub(crate) fn sign_in(g: &GraphArgs) -> Result<(GraphClient, String)> {
    let endpoints = Endpoints::resolve(
        g.cloud.as_deref(),
        g.login_url.as_deref(),
        g.graph_url.as_deref(),
    )?;
    let tenant = g.tenant.clone().ok_or_else(|| {
        Error::input(
            "no tenant given",
            "pass --tenant with the tenant id or its .onmicrosoft.com domain",
        )
    })?;
    let client_id = g.client_id.clone().ok_or_else(|| {
        Error::input(
            "no application (client) id given",
            "pass --client-id of the app registration glasskey signs in with",
        )
    })?;
    let creds = if let Some(path) = &g.client_cert {
        let pem = crate::fsutil::read_regular_text(path, 1024 * 1024).map_err(|e| {
            Error::input(
                format!("cannot read {}: {e}", path.display()),
                "give the PEM with the certificate and its private key",
            )
        })?;
        Credentials::Certificate {
            client_id,
            cert: Box::new(ClientCertificate::from_pem(&zeroize::Zeroizing::new(pem))?),
        }
    } else if let Some(c) = Credentials::client_secret(&client_id, g.client_secret_file.as_deref())?
    {
        c
    } else {
        Credentials::DeviceCode { client_id }
    };
    let source = TokenSource::new(endpoints.clone(), &tenant, creds);
    let token = source.acquire(&mut |p| {
        eprintln!(
            "To sign in, open {} and enter the code {} (valid {} minutes).",
            p.verification_uri,
            p.user_code,
            p.expires_in.as_secs() / 60
        );
    })?;
    Ok((
        GraphClient::new(endpoints, token).with_token_source(source),
        tenant,
    ))
}
