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
            "answer every prompt (or pass the matching flag, e.g. --operator NAME)",
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
    fn text_or(&mut self, prompt: &str, default: &str) -> Result<String> {
        let answer = read_line(&format!("{prompt} [{default}]"))?;
        Ok(if answer.is_empty() {
            default.to_string()
        } else {
            answer
        })
    }
    fn say(&mut self, message: &str) {
        eprintln!("{message}");
    }
    fn waiting(&mut self, what: &str) -> crate::ceremony::operator::Waiting {
        super::spinner::start(what)
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

/// Sends sheets to CUPS with `lp` (no shell: the printer name is an argument).
pub struct LpPrinter {
    lp: std::path::PathBuf,
    printer: Option<String>,
}

impl LpPrinter {
    /// Find `lp` on PATH now, before anything is written or recorded.
    pub fn find(printer: Option<String>) -> Result<LpPrinter> {
        let lp = find_on_path("lp").ok_or_else(|| {
            Error::input(
                "--print needs CUPS's `lp` command, which is not on PATH; nothing was written",
                "install CUPS (Debian/Ubuntu: apt-get install cups-client), or drop --print                  and print the PDF by hand",
            )
        })?;
        Ok(LpPrinter { lp, printer })
    }

    /// Send `pdf` to the printer; returns the printer's name as shown to the operator.
    pub fn print(&self, pdf: &[u8], title: &str) -> Result<String> {
        let mut cmd = Command::new(&self.lp);
        if let Some(p) = &self.printer {
            cmd.arg("-d").arg(p);
        }
        cmd.arg("-t").arg(title).arg("--").arg("-");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                Error::device(
                    format!("cannot run {}: {e}", self.lp.display()),
                    "check the CUPS installation; the PDF was written and can be printed by hand",
                )
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(pdf).map_err(|e| {
                Error::device(
                    format!("lp did not take the sheet: {e}"),
                    "check the printer; the PDF was written and can be printed by hand",
                )
            })?;
        }
        let status = child.wait().map_err(|e| {
            Error::device(format!("lp failed: {e}"), "check the printer and its queue")
        })?;
        if !status.success() {
            return Err(Error::device(
                format!("lp failed ({status})"),
                "check the printer name (lpstat -p) and its queue; the PDF was written",
            ));
        }
        Ok(self
            .printer
            .clone()
            .unwrap_or_else(|| "(default printer)".into()))
    }
}

/// An executable file called `name` in one of PATH's directories.
pub fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Who is present, for the ledger: the `--operator` names, else `$USER`. With
/// neither, ask: an event "by operator" would record nobody in particular.
pub fn operators(given: &[String]) -> Result<Vec<String>> {
    operators_from(given, std::env::var("USER").ok(), &mut || {
        read_line("Who is present? Your name(s), separated by commas")
    })
}

fn operators_from(
    given: &[String],
    user: Option<String>,
    ask: &mut dyn FnMut() -> Result<String>,
) -> Result<Vec<String>> {
    let given: Vec<String> = given
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if !given.is_empty() {
        return Ok(given);
    }
    if let Some(user) = user.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) {
        return Ok(vec![user]);
    }
    let names: Vec<String> = ask()?
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(Error::input(
            "the ledger needs the name of whoever is present, and none was given",
            "pass --operator NAME (once per person present)",
        ));
    }
    Ok(names)
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
    #[cfg(not(feature = "rehearsal"))]
    if g.virtual_dir.is_some() {
        return Err(Error::without_rehearsal("--virtual"));
    }
    #[cfg(feature = "rehearsal")]
    if let Some(dir) = &g.virtual_dir {
        for (i, pem) in crate::virtual_key::model_roots(dir)?.iter().enumerate() {
            trust.add_root_pem(&format!("glasskey virtual root {}", i + 1), pem)?;
        }
    }
    Ok(trust)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Result<String> {
        panic!("must not ask")
    }

    #[test]
    fn names_given_or_user_are_used_without_asking() {
        let got = operators_from(&["Ana ".into()], None, &mut never).unwrap();
        assert_eq!(got, ["Ana"]);
        let got = operators_from(&[], Some("ben".into()), &mut never).unwrap();
        assert_eq!(got, ["ben"]);
    }

    #[test]
    fn without_user_the_operator_is_asked_never_a_placeholder() {
        let got = operators_from(&[], None, &mut || Ok("Ana, Ben".into())).unwrap();
        assert_eq!(got, ["Ana", "Ben"]);
        let got = operators_from(&[], Some("  ".into()), &mut || Ok("Cy".into())).unwrap();
        assert_eq!(got, ["Cy"]);
        let err = operators_from(&[], None, &mut || Ok(" , ".into())).unwrap_err();
        assert!(err.next.contains("--operator"), "{err}");
    }
}
