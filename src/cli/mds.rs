//! `glasskey mds import FILE`: verify a FIDO Metadata Service BLOB and keep it in the kit.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::session;

#[derive(Subcommand, Debug)]
pub enum MdsCmd {
    /// Verify an MDS3 BLOB (downloaded on a connected machine) and store it in the kit.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The BLOB as https://mds3.fidoalliance.org/ serves it (a JWT).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(cmd: MdsCmd, g: &super::GlobalArgs) -> crate::Result<()> {
    let MdsCmd::Import(args) = cmd;
    let kit = session::open_kit(g)?;
    let today = time::OffsetDateTime::now_utc().date();
    let done = crate::attestation::mds::import(kit.dir(), &args.file, today)?;
    if g.json {
        super::print_json(&done)?;
    } else {
        println!(
            "imported MDS BLOB no {} ({} models, verified as of {}; next update {}) into {}",
            done.no,
            done.entries,
            done.as_of,
            done.next_update,
            done.path.display()
        );
        if done.skipped > 0 {
            println!("skipped {} unreadable entries", done.skipped);
        }
    }
    if done.stale {
        eprintln!(
            "warning: this BLOB is past its nextUpdate ({}): download the current one from https://mds3.fidoalliance.org/ and import it",
            done.next_update
        );
    }
    Ok(())
}
