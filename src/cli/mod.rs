//! The clap front end: parses arguments, dispatches to one module per command
//! family, prints errors with their next step and maps them to exit codes.
//! No logic lives here beyond argument shaping and output formatting.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::error::{Error, Result};

pub mod attest;
pub mod audit;
pub mod check;
pub mod demo;
pub mod enroll;
pub mod graph;
pub mod keys;
pub mod ledger;
pub mod mds;
pub mod report;
pub mod resume;
pub mod retire;
pub mod session;
pub mod virtual_keys;

/// glasskey — set up, check and account for the FIDO2 keys of break-glass accounts.
#[derive(Parser, Debug)]
#[command(name = "glasskey", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Kit directory holding glasskey.toml, the ledger and generated sheets.
    #[arg(long, global = true, default_value = "./glasskey-kit")]
    pub kit: PathBuf,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Use the virtual keys whose state files live in DIR instead of USB keys.
    #[arg(
        long = "virtual",
        global = true,
        env = "GLASSKEY_VIRTUAL",
        value_name = "DIR"
    )]
    pub virtual_dir: Option<PathBuf>,
    /// One device: a hidraw path (/dev/hidrawN) or a socket (unix:PATH, tcp:127.0.0.1:PORT).
    #[arg(long, global = true, value_name = "PATH|ADDRESS")]
    pub device: Option<String>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

/// Where Graph and the login service are, and how to sign in.
/// Secrets are never flags: a client secret comes from `GLASSKEY_CLIENT_SECRET`
/// or `--client-secret-file`.
#[derive(Args, Debug, Clone, Default)]
pub struct GraphArgs {
    /// National cloud: global, usgov, usgov-dod, china.
    #[arg(long, global = true, value_name = "NAME")]
    pub cloud: Option<String>,
    /// Graph base URL (overrides --cloud), e.g. http://127.0.0.1:8080 for the emulator.
    #[arg(long, global = true, value_name = "URL")]
    pub graph_url: Option<String>,
    /// Login (authority) base URL (overrides --cloud).
    #[arg(long, global = true, value_name = "URL")]
    pub login_url: Option<String>,
    /// Tenant id or domain.
    #[arg(long, global = true)]
    pub tenant: Option<String>,
    /// Application (client) id used to sign in.
    #[arg(long, global = true, value_name = "ID")]
    pub client_id: Option<String>,
    /// File holding the client secret (client credentials flow).
    #[arg(long, global = true, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// PEM file with the certificate and private key (client credentials with a certificate).
    #[arg(long, global = true, value_name = "PEM")]
    pub client_cert: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List, inspect, reset and set PINs on security keys.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Microsoft Graph: fetch creation options, register responses, run the emulator.
    #[command(subcommand)]
    Graph(graph::GraphCmd),
    /// Print custody and check sheets (PDF).
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Verify or show the custody ledger.
    #[command(subcommand)]
    Ledger(ledger::LedgerCmd),
    /// Verify attestation objects offline.
    #[command(subcommand)]
    Attest(attest::AttestCmd),
    /// Onboard one key onto one break-glass account (or the offline half of a split ceremony).
    Enroll(enroll::EnrollArgs),
    /// The quarterly liveness check of sealed keys.
    Check(check::CheckArgs),
    /// Is the break-glass program healthy? (ledger, policy, and with --online the tenant)
    Audit(audit::AuditArgs),
    /// Take a key out of the program.
    Retire(retire::RetireArgs),
    /// Finish whatever ceremony was interrupted, from its exact step.
    Resume(resume::ResumeArgs),
    /// The FIDO Metadata Service BLOB the kit trusts (import a downloaded one).
    #[command(subcommand)]
    Mds(mds::MdsCmd),
    /// The whole story on virtual keys and the local Graph emulator.
    Demo(demo::DemoArgs),
    /// Print shell completions.
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

/// Parse the arguments, run the command, print any error, return the exit code.
pub fn main() -> i32 {
    // Ctrl-C exits 130 everywhere: at a prompt at once (the journal already holds
    // every finished step), during a key wait after cancelling it on the key.
    let _ = crate::hid::CancelToken::ctrl_c();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            // Ctrl-C during a key request was turned into CTAPHID_CANCEL, after the
            // step was recorded; exit as SIGINT would, everywhere.
            if crate::hid::cancel::ctrl_c_pressed() {
                eprintln!("interrupted: run `glasskey resume` to see what is half done");
                return 130;
            }
            e.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Keys(cmd) => keys::run(cmd, g),
        Command::Graph(cmd) => graph::run(cmd, g),
        Command::Report(cmd) => report::run(cmd, g),
        Command::Ledger(cmd) => ledger::run(cmd, g),
        Command::Attest(cmd) => attest::run(cmd, g),
        Command::Enroll(args) => enroll::run(args, g),
        Command::Check(args) => check::run(args, g),
        Command::Audit(args) => audit::run(args, g),
        Command::Retire(args) => retire::run(args, g),
        Command::Resume(args) => resume::run(args, g),
        Command::Mds(cmd) => mds::run(cmd, g),
        Command::Demo(args) => demo::run(args, g),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "glasskey",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|e| Error::input(format!("could not write the man page: {e}"), "")),
    }
}

/// Print a serializable value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(value)
        .map_err(|e| Error::input(format!("could not encode JSON output: {e}"), ""))?;
    println!("{s}");
    Ok(())
}
