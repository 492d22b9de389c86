//! What the ceremony commands share: the terminal operator, the kit, the
//! plugged key, Graph sign-in with the kit's tenant, the trust store, the printer.

use std::io::Write;
use std::process::{Command, Stdio};

use super::GlobalArgs;
use crate::attestation::TrustStore;
use crate::ceremony::devices;
use crate::ceremony::enroll::SlipPrinter;
use crate::ceremony::key::KeySession;
use crate::ceremony::operator::Operator;
use crate::error::{Error, Result};
use crate::graph::GraphClient;
use crate::ledger::Kit;
use crate::secret::{read_pin, Pin};

/// The operator at this terminal: prompts on stderr, answers from stdin.
pub struct TerminalOperator {
    pub assume_yes: bool,
}

fn read_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    let line = crate::secret::read_stdin_line(crate::secret::MAX_ANSWER_LINE).map_err(|e| {
        Error::input(
            format!("cannot read an answer from stdin: {e}"),
            "run glasskey from a terminal",
        )
    })?;
    let Some(line) = line else {
        return Err(Error::input(
            format!("stdin ended while asking: {prompt}"),
            "answer every prompt (or pass the matching flag)",
        ));
    };
    Ok(String::from_utf8_lossy(&line).trim().to_string())
}

impl Operator for TerminalOperator {
    fn pin(&mut self, prompt: &str) -> Result<Pin> {
        read_pin(prompt)
    }
    fn confirm(&mut self, question: &str) -> Result<bool> {
        if self.assume_yes {
            return Ok(true);
        }
        let answer = read_line(&format!("{question} [y/N]"))?;
        Ok(matches!(answer.as_str(), "y" | "Y" | "yes" | "YES"))
    }
    fn text(&mut self, prompt: &str) -> Result<String> {
        let answer = read_line(prompt)?;
        if answer.is_empty() {
            return Err(Error::input(
                format!("no answer to: {prompt}"),
                "run the command again and answer",
            ));
        }
        Ok(answer)
    }
    fn say(&mut self, message: &str) {
        eprintln!("{message}");
    }
    fn touch_needed(&mut self, key: &str) {
        eprintln!("touch key {key} now");
    }
}

/// Sends the PIN slip PDF to a print command's stdin (default `lp`); glasskey
/// itself never writes it to a file.
pub struct CommandPrinter {
    pub command: String,
}

impl SlipPrinter for CommandPrinter {
    fn preflight(&self) -> Result<String> {
        crate::ceremony::preflight::printer_exists(&self.command)
    }
    fn print(&mut self, pdf: &[u8]) -> Result<()> {
        let mut child = crate::secret::scrub_child_env(&mut Command::new("sh"))
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error::device(
                    format!("cannot run the print command '{}': {e}", self.command),
                    "install CUPS (lp) or pass --pin-slip-cmd",
                )
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(pdf).map_err(|e| {
                Error::device(
                    format!("the print command did not take the slip: {e}"),
                    "check the printer",
                )
            })?;
        }
        let status = child.wait().map_err(|e| {
            Error::device(
                format!("the print command failed: {e}"),
                "check the printer",
            )
        })?;
        if !status.success() {
            return Err(Error::device(
                format!("the print command '{}' failed ({status})", self.command),
                "check the printer and its queue",
            ));
        }
        Ok(())
    }
}

pub fn operators(given: &[String]) -> Vec<String> {
    if given.is_empty() {
        vec![std::env::var("USER").unwrap_or_else(|_| "operator".into())]
    } else {
        given.to_vec()
    }
}

pub fn open_kit(g: &GlobalArgs) -> Result<Kit> {
    Ok(Kit::open(&g.kit)?)
}

/// The one plugged key (or the one --device / --virtual names).
pub fn open_key(g: &GlobalArgs) -> Result<KeySession> {
    let (key_ref, dev) = devices::open_one(g.device.as_deref(), g.virtual_dir.as_deref())?;
    let session = KeySession::new(key_ref.label, dev);
    // A socket peer cannot be unplugged; USB and virtual keys can be found again.
    if matches!(key_ref.source, devices::KeySource::Socket { .. }) {
        return Ok(session);
    }
    let (device, virtual_dir) = (g.device.clone(), g.virtual_dir.clone());
    let finder = move || devices::find_one(device.as_deref(), virtual_dir.as_deref());
    Ok(session.with_finder(Box::new(finder)))
}

/// Whether the Graph and login endpoints are on loopback (known before signing in).
pub fn endpoint_is_loopback(g: &GlobalArgs) -> Result<bool> {
    let endpoints = crate::graph::endpoint::Endpoints::resolve(
        g.graph.cloud.as_deref(),
        g.graph.login_url.as_deref(),
        g.graph.graph_url.as_deref(),
    )?;
    Ok(endpoints.is_loopback())
}

/// Sign in to Graph; the kit's tenant fills in a missing --tenant.
pub fn graph(g: &GlobalArgs, kit: &Kit) -> Result<GraphClient> {
    let mut args = g.graph.clone();
    if args.tenant.is_none() {
        args.tenant = Some(kit.config().tenant.clone());
    }
    Ok(super::graph::sign_in(&args)?.0)
}

/// Vendor roots, the kit's roots/ folder, and (with --virtual) the virtual models' roots.
pub fn trust(g: &GlobalArgs) -> Result<TrustStore> {
    let mut trust = TrustStore::production();
    let roots = g.kit.join("roots");
    if roots.is_dir() {
        trust.add_roots_dir(&roots)?;
    }
    if let Some(dir) = &g.virtual_dir {
        for (i, pem) in crate::virtual_key::model_roots(dir)?.iter().enumerate() {
            trust.add_root_pem(&format!("glasskey virtual root {}", i + 1), pem)?;
        }
    }
    Ok(trust)
}
