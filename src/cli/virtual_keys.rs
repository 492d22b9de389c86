//! `glasskey keys virtual-create` and `glasskey keys virtual-serve`: make and
//! serve software keys for tests and rehearsals (flattened into `keys`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::error::{Error, Result};
use crate::virtual_key::{self, serve::ListenAddress, ModelId, PresenceMode, Profile};

#[derive(Subcommand, Debug)]
pub enum VirtualKeysCmd {
    /// Create a virtual key (a software FIDO2 authenticator stored in one JSON file).
    VirtualCreate(CreateArgs),
    /// Serve one virtual key over a socket (64-byte CTAPHID reports), for other FIDO tools.
    VirtualServe(ServeArgs),
    /// Unplug a virtual key of --virtual DIR (its file moves to DIR/unplugged/).
    VirtualUnplug(PlugArgs),
    /// Insert an unplugged virtual key again: it powers up now (its reset window opens).
    VirtualInsert(PlugArgs),
}

#[derive(Args, Debug)]
pub struct PlugArgs {
    /// The key's name (its state file's stem).
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Model: a or b (distinct AAGUIDs and attestation roots).
    #[arg(long, value_name = "M", default_value = "a")]
    pub model: String,
    /// Behaviour: which kind of real key to imitate (docs/virtual-key.md).
    #[arg(long, value_name = "NAME", default_value = "standard",
          value_parser = clap::builder::PossibleValuesParser::new(
              ["standard", "ctap2.0", "ctap2.1-pre", "bio", "small-limits", "strict-pin"]))]
    pub profile: String,
    /// The key's state file, e.g. DIR/vk-a1.json (DIR then holds the model roots too).
    #[arg(long, value_name = "DIR/NAME.json")]
    pub out: PathBuf,
    /// Simulated user presence: approve, deny, deny:MS or delay:MS.
    #[arg(long = "up", default_value = "approve", value_name = "MODE")]
    pub presence: String,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The key's state file.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// unix:/path/to.sock or tcp:127.0.0.1:PORT.
    #[arg(long, value_name = "ADDRESS")]
    pub listen: String,
    /// Override the stored presence mode: approve, deny, deny:MS or delay:MS.
    #[arg(long = "up", value_name = "MODE")]
    pub presence: Option<String>,
}

fn parse_presence(s: &str) -> Result<PresenceMode> {
    s.parse().map_err(|e: String| {
        Error::input(
            format!("--up: {e}"),
            "use --up approve, --up deny, --up deny:500 or --up delay:1500",
        )
    })
}

pub fn run(cmd: VirtualKeysCmd, g: &GlobalArgs) -> Result<()> {
    let inserting = matches!(cmd, VirtualKeysCmd::VirtualInsert(_));
    match cmd {
        VirtualKeysCmd::VirtualCreate(a) => {
            let model = ModelId::parse(&a.model).ok_or_else(|| {
                Error::input(
                    format!("unknown virtual model '{}'", a.model),
                    "use --model a or --model b",
                )
            })?;
            let profile = Profile::parse(&a.profile).ok_or_else(|| {
                Error::input(
                    format!("unknown virtual key profile '{}'", a.profile),
                    "use one of: standard, ctap2.0, ctap2.1-pre, bio, small-limits, strict-pin",
                )
            })?;
            let state = virtual_key::create_key_with_profile(
                &a.out,
                model,
                profile,
                parse_presence(&a.presence)?,
            )?;
            let m = model.model();
            if g.json {
                super::print_json(&serde_json::json!({
                    "path": a.out,
                    "model": m.name,
                    "aaguid": state.aaguid,
                    "profile": profile.name(),
                    "serial": state.serial,
                    "presence": state.presence.to_string(),
                }))?;
            } else {
                crate::outln!(
                    "created {} ({}, profile {}, AAGUID {}, serial {}) at {}",
                    m.short,
                    m.name,
                    profile,
                    state.aaguid,
                    state.serial,
                    a.out.display()
                );
            }
            Ok(())
        }
        VirtualKeysCmd::VirtualUnplug(a) | VirtualKeysCmd::VirtualInsert(a) => {
            let dir = g.virtual_dir.as_deref().ok_or_else(|| {
                Error::input(
                    "no --virtual folder given",
                    "pass --virtual DIR (or set GLASSKEY_VIRTUAL)",
                )
            })?;
            if inserting {
                virtual_key::insert(dir, &a.name)?;
                eprintln!("virtual key {} inserted", a.name);
            } else {
                virtual_key::unplug(dir, &a.name)?;
                eprintln!("virtual key {} removed", a.name);
            }
            if g.json {
                super::print_json(&serde_json::json!({
                    "key": a.name,
                    "done": if inserting { "inserted" } else { "removed" },
                }))?;
            }
            Ok(())
        }
        VirtualKeysCmd::VirtualServe(a) => {
            let address: ListenAddress = a.listen.parse()?;
            let presence = a.presence.as_deref().map(parse_presence).transpose()?;
            let device = virtual_key::open_device(&a.state, presence)?;
            virtual_key::serve::serve(device, &address)
        }
    }
}
