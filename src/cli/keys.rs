//! `glasskey keys list | info | set-pin | change-pin | reset`.

use std::io::{IsTerminal, Write};

use clap::Subcommand;

use super::{print_json, GlobalArgs};
use crate::ceremony::devices::open_one;
use crate::ceremony::keys::{self, KeyReport, KeySummary};
use crate::error::{Error, Result};
use crate::secret::read_pin;

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// List the FIDO security keys plugged in (or the ones --device / --virtual name).
    List,
    /// Show one key: model, versions, options, PIN state and retries, limits.
    Info,
    /// Set the first PIN on a key that has none.
    SetPin {
        /// Check the key only and print the plan; nothing is changed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change a key's PIN (needs the current one).
    ChangePin,
    /// Factory-reset a key: erases every credential and the PIN.
    Reset {
        /// Do not ask for confirmation (scripts).
        #[arg(long)]
        yes: bool,
        /// Name the key and print the plan only; nothing is changed.
        #[arg(long)]
        dry_run: bool,
    },
    #[command(flatten)]
    #[cfg(feature = "rehearsal")]
    Virtual(super::virtual_keys::VirtualKeysCmd),
}

/// The kit's MDS BLOB, for model names the catalogue lacks. Listing keys is a diagnosis:
/// a missing kit or an unreadable BLOB is a warning, never a refusal.
fn kit_blob(g: &GlobalArgs) -> Option<crate::attestation::mds::Blob> {
    crate::attestation::mds::load(&g.kit).unwrap_or_else(|e| {
        eprintln!("warning: model names from the MDS BLOB are unavailable: {e}");
        None
    })
}

pub fn run(cmd: KeysCmd, g: &GlobalArgs) -> Result<()> {
    let device = g.device.as_deref();
    let virtual_dir = g.virtual_dir.as_deref();
    match cmd {
        #[cfg(feature = "rehearsal")]
        KeysCmd::Virtual(c) => super::virtual_keys::run(c, g),
        KeysCmd::List => {
            let found = keys::list(device, virtual_dir, kit_blob(g).as_ref())?;
            if g.json {
                return print_json(&found);
            }
            if found.is_empty() {
                eprintln!("no FIDO security keys found");
            }
            for k in &found {
                crate::outln!("{}", list_line(k));
            }
            Ok(())
        }
        KeysCmd::Info => {
            let (key, mut dev) = open_one(device, virtual_dir)?;
            let report = keys::report(&key.label, key.source, &mut dev, kit_blob(g).as_ref());
            if g.json {
                return print_json(&report);
            }
            print_report(&report);
            Ok(())
        }
        KeysCmd::SetPin { dry_run } => {
            let (key, mut dev) = open_one(device, virtual_dir)?;
            let min = dev.info().min_pin_len();
            let mut pf = crate::ceremony::preflight::Preflight::new();
            if dev.info().pin_set() == Some(true) {
                pf.fail(
                    "key_blank",
                    format!("{} already has a PIN", key.label),
                    "use `glasskey keys change-pin` to change it",
                );
            } else {
                pf.pass("key_blank", format!("{} has no PIN yet", key.label));
            }
            if dry_run {
                super::enroll::print_dry_run(
                    g,
                    &pf,
                    &[format!(
                        "set a PIN of at least {min} characters on {}",
                        key.label
                    )],
                )?;
                return pf.into_result().map(|_| ());
            }
            pf.into_result()?;
            let new_pin = read_pin(&format!(
                "New PIN for {} (at least {min} characters)",
                key.label
            ))?;
            let again = read_pin("Repeat the new PIN")?;
            if new_pin.expose() != again.expose() {
                return Err(Error::input("the two PINs differ", "run the command again"));
            }
            keys::set_pin(&mut dev, &new_pin)?;
            eprintln!("PIN set on {}", key.label);
            done_json(g, &key.label, "pin_set")
        }
        KeysCmd::ChangePin => {
            let (key, mut dev) = open_one(device, virtual_dir)?;
            let current = read_pin(&format!("Current PIN of {}", key.label))?;
            let min = dev.info().min_pin_len();
            let new_pin = read_pin(&format!("New PIN (at least {min} characters)"))?;
            let again = read_pin("Repeat the new PIN")?;
            if new_pin.expose() != again.expose() {
                return Err(Error::input(
                    "the two new PINs differ",
                    "run the command again",
                ));
            }
            keys::change_pin(&mut dev, &current, &new_pin)?;
            eprintln!("PIN changed on {}", key.label);
            done_json(g, &key.label, "pin_changed")
        }
        KeysCmd::Reset { yes, dry_run } => {
            let mut key = super::session::open_key(g)?;
            let naming = key.naming(None, None);
            if dry_run {
                let mut pf = crate::ceremony::preflight::Preflight::new();
                pf.pass("key", format!("{naming} is plugged in"));
                super::enroll::print_dry_run(
                    g,
                    &pf,
                    &[
                        format!("confirm the reset of {naming}"),
                        "remove the key, insert it again (a reset is accepted only just after power-up)".into(),
                        "send the reset at once and touch the key: every credential and the PIN are erased".into(),
                    ],
                )?;
                return Ok(());
            }
            eprintln!(
                "Factory reset of {naming} erases every credential on it and its PIN; \
                 accounts that use it will no longer sign in with it.\n\
                 Keys accept a reset only within 5 to 10 seconds of being plugged in, and \
                 only after a touch: glasskey will ask you to remove and insert the key."
            );
            if !yes && !confirm(&format!("Reset {naming}? Type 'yes' to confirm"))? {
                return Err(Error::input("reset not confirmed; nothing was changed", ""));
            }
            let mut op = super::session::TerminalOperator { assume_yes: true };
            crate::ceremony::key::confirm_and_reset(&mut key, &mut op, true, &naming)?;
            eprintln!("{naming} was reset: no PIN, no credentials");
            done_json(g, &naming, "reset")
        }
    }
}

/// Under --json, what a key command did (the sentence went to stderr).
fn done_json(g: &GlobalArgs, label: &str, done: &str) -> Result<()> {
    if g.json {
        print_json(&serde_json::json!({ "key": label, "done": done }))?;
    }
    Ok(())
}

fn confirm(prompt: &str) -> Result<bool> {
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    if !std::io::stdin().is_terminal() {
        eprintln!("(reading one line from stdin)");
    }
    let line = crate::secret::read_stdin_line(crate::secret::MAX_ANSWER_LINE)
        .map_err(|e| {
            Error::input(
                format!("could not read the confirmation: {e}"),
                "pass --yes in scripts",
            )
        })?
        .unwrap_or_default();
    Ok(String::from_utf8_lossy(&line)
        .trim()
        .eq_ignore_ascii_case("yes"))
}

fn model_or_aaguid(k: &KeySummary) -> String {
    match (&k.model, &k.aaguid) {
        (Some(m), _) => m.clone(),
        (None, Some(a)) => format!("unknown model (AAGUID {a})"),
        (None, None) => "unreadable".into(),
    }
}

fn list_line(k: &KeySummary) -> String {
    if let Some(e) = &k.error {
        return format!("{}\terror: {}", k.label, e.lines().next().unwrap_or(""));
    }
    let pin = match k.pin_set {
        Some(true) => "PIN set",
        Some(false) => "no PIN",
        None => "no PIN support",
    };
    format!("{}\t{}\t{}", k.label, model_or_aaguid(k), pin)
}

fn print_report(r: &KeyReport) {
    let i = &r.info;
    crate::outln!("key:        {}", r.summary.label);
    crate::outln!("model:      {}", model_or_aaguid(&r.summary));
    crate::outln!("aaguid:     {}", i.aaguid);
    crate::outln!("versions:   {}", i.versions.join(", "));
    crate::outln!("extensions: {}", i.extensions.join(", "));
    let opts: Vec<String> = i.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    crate::outln!("options:    {}", opts.join(", "));
    match (r.summary.pin_set, r.pin_retries) {
        (Some(true), Some(n)) => crate::outln!("PIN:        set, {n} retries left"),
        (Some(true), None) => crate::outln!("PIN:        set"),
        (Some(false), _) => crate::outln!("PIN:        not set"),
        (None, _) => crate::outln!("PIN:        not supported"),
    }
    crate::outln!("min PIN:    {}", i.min_pin_len());
    if let Some(n) = i.max_pin_length {
        crate::outln!("max PIN:    {n}");
    }
    if crate::ctap::pin_rules::PinRules::of(i).complexity {
        crate::outln!(
            "            the key enforces a PIN complexity policy{}",
            i.pin_complexity_policy_url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        );
    }
    if i.force_pin_change {
        crate::outln!("            a PIN change is required before the key can be used");
    }
    let protocols: Vec<String> = i.pin_uv_auth_protocols.iter().map(u64::to_string).collect();
    crate::outln!("PIN protocols: {}", protocols.join(", "));
    crate::outln!("algorithms: {}", i.algorithm_names().join(", "));
    if let Some(n) = i.remaining_discoverable_credentials {
        crate::outln!("free discoverable credential slots: {n}");
    }
    if let Some(v) = &r.firmware {
        crate::outln!("firmware:   {v}");
    }
    if let Some(n) = i.max_msg_size {
        crate::outln!("max message: {n} bytes");
    }
    let hints = crate::ctap::reset::ResetHints::of(i);
    if hints.long_touch {
        crate::outln!("reset:      needs a long touch (hold the button)");
    }
    if !hints.transports.is_empty() {
        crate::outln!("reset over: {}", hints.transports.join(", "));
    }
}
