//! The clap front end: parses arguments, dispatches to one module per command
//! family, prints errors with their next step and maps them to exit codes.
//! No logic lives here beyond argument shaping and output formatting.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::error::{Error, Result};

pub mod attest;
pub mod audit;
pub mod check;
#[cfg(feature = "rehearsal")]
pub mod demo;
pub mod enroll;
pub mod graph;
pub mod keys;
pub mod kit;
pub mod ledger;
pub mod mds;
pub mod output;
pub mod report;
pub mod resume;
pub mod retire;
pub mod session;
pub mod spinner;
pub mod suggest;
#[cfg(feature = "rehearsal")]
pub mod virtual_keys;

/// glasskey — set up, check and account for the FIDO2 keys of break-glass accounts.
#[derive(Parser, Debug)]
#[command(name = "glasskey", version, about, long_about = None, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The heading of the options every command accepts, in `--help`.
const GLOBAL: &str = "Global options";
/// The heading of the Graph sign-in options (global too), in `--help`.
const GRAPH_HEADING: &str = "Graph sign-in (global options)";

const MAIN_EXAMPLES: &str = "\
Examples:
  glasskey kit init                                   set up a kit (asks for everything)
  glasskey enroll --account bg1@contoso.onmicrosoft.com --location vault
  glasskey check                                      check every key that is due
  glasskey report custody --location vault -o vault.pdf --print
  glasskey report emergency -o emergency.pdf          the sheet for the front of the binder
  glasskey audit --online                             is the program healthy?
  glasskey ledger show | head                         the ledger, page by page

The kit is ./glasskey-kit unless --kit DIR or GLASSKEY_KIT says otherwise.
Exit codes: 0 success, 1 a check failed, 2 usage or input error, 3 device or network failure.";

const ENROLL_EXAMPLES: &str = "\
Examples:
  glasskey enroll --account bg1@contoso.onmicrosoft.com --location vault --operator Ana --operator Ben
  glasskey enroll --account bg2@contoso.onmicrosoft.com --location office-safe --reset --seal 004512
  glasskey enroll --request req.json --out resp.json --location vault   (offline half)";

const CHECK_EXAMPLES: &str = "\
Examples:
  glasskey check                              every key that is due, one after another
  glasskey check --key bg1-vault-a --new-seal 004513 --operator Ana --operator Ben
  glasskey check --all --online               every key, and confirm each in Entra";

const AUDIT_EXAMPLES: &str = "\
Examples:
  glasskey audit                              offline: ledger, policy, overdue keys
  glasskey audit --online                     also the tenant: posture, methods, policy
  glasskey audit --kql --out monitoring/      alert queries and importable alert rules (offline)";

const REPORT_EXAMPLES: &str = "\
Examples:
  glasskey report custody --location vault -o vault.pdf
  glasskey report check -o check.pdf --print --printer binder-printer
  glasskey report emergency -o emergency.pdf --print";

const LEDGER_EXAMPLES: &str = "\
Examples:
  glasskey ledger verify                      is the hash chain intact?
  glasskey ledger verify --sheet vault.pdf    does this paper match the ledger?
  glasskey ledger show | less";

/// Options every command accepts.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Kit directory holding glasskey.toml, the ledger and generated sheets.
    #[arg(
        long,
        global = true,
        env = "GLASSKEY_KIT",
        default_value = "./glasskey-kit",
        value_name = "DIR",
        help_heading = GLOBAL
    )]
    pub kit: PathBuf,
    /// Print results as one JSON object on stdout (shapes: docs/json.md).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Use the virtual keys whose state files live in DIR instead of USB keys.
    #[arg(
        long = "virtual",
        global = true,
        env = "GLASSKEY_VIRTUAL",
        value_name = "DIR",
        help_heading = GLOBAL
    )]
    pub virtual_dir: Option<PathBuf>,
    /// One device: a hidraw path (/dev/hidrawN) or a socket (unix:PATH, tcp:127.0.0.1:PORT).
    #[arg(long, global = true, value_name = "PATH|ADDRESS", help_heading = GLOBAL)]
    pub device: Option<String>,
    #[command(flatten)]
    pub graph: GraphArgs,
}

/// Where Graph and the login service are, and how to sign in.
/// Secrets are never flags: a client secret comes from `GLASSKEY_CLIENT_SECRET`
/// or `--client-secret-file`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = GRAPH_HEADING)]
pub struct GraphArgs {
    /// National cloud: global, usgov, usgov-dod, china.
    #[arg(long, global = true, help_heading = GRAPH_HEADING, value_name = "NAME")]
    pub cloud: Option<String>,
    /// Graph base URL (overrides --cloud), e.g. http://127.0.0.1:8080 for the emulator.
    #[arg(long, global = true, help_heading = GRAPH_HEADING, value_name = "URL")]
    pub graph_url: Option<String>,
    /// Login (authority) base URL (overrides --cloud).
    #[arg(long, global = true, help_heading = GRAPH_HEADING, value_name = "URL")]
    pub login_url: Option<String>,
    /// Tenant id or domain.
    #[arg(long, global = true, help_heading = GRAPH_HEADING)]
    pub tenant: Option<String>,
    /// Application (client) id used to sign in.
    #[arg(long, global = true, help_heading = GRAPH_HEADING, value_name = "ID")]
    pub client_id: Option<String>,
    /// File holding the client secret (client credentials flow).
    #[arg(long, global = true, help_heading = GRAPH_HEADING, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,
    /// PEM file with the certificate and private key (client credentials with a certificate).
    #[arg(long, global = true, help_heading = GRAPH_HEADING, value_name = "PEM")]
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
    /// Set up a kit: glasskey.toml and the empty ledger.
    #[command(subcommand)]
    Kit(kit::KitCmd),
    /// Print custody, check and emergency sheets (PDF).
    #[command(subcommand, after_help = REPORT_EXAMPLES)]
    Report(report::ReportCmd),
    /// Verify or show the custody ledger.
    #[command(subcommand, after_help = LEDGER_EXAMPLES)]
    Ledger(ledger::LedgerCmd),
    /// Verify attestation objects offline.
    #[command(subcommand)]
    Attest(attest::AttestCmd),
    /// Onboard one key onto one break-glass account (or the offline half of a split ceremony).
    #[command(after_help = ENROLL_EXAMPLES)]
    Enroll(enroll::EnrollArgs),
    /// The quarterly liveness check of sealed keys.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(check::CheckArgs),
    /// Is the break-glass program healthy? (ledger, policy, and with --online the tenant)
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(audit::AuditArgs),
    /// Take a key out of the program.
    Retire(retire::RetireArgs),
    /// Finish whatever ceremony was interrupted, from its exact step.
    Resume(resume::ResumeArgs),
    /// The FIDO Metadata Service BLOB the kit trusts (import a downloaded one).
    #[command(subcommand)]
    Mds(mds::MdsCmd),
    /// The whole story on virtual keys and the local Graph emulator.
    #[cfg(feature = "rehearsal")]
    Demo(demo::DemoArgs),
    /// Print shell completions.
    #[command(hide = true)]
    Completions {
        /// The shell to write completions for.
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
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    output::set_command(&command_words(&matches));
    let json = cli.global.json;
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            if json {
                output::print_json_error(&e);
            }
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

/// clap's own errors (unknown option, missing value): exit 2, and under `--json` also the
/// error document on stdout, so a script reading stdout always gets JSON. Help and version
/// are text by nature and exit 0.
fn usage_error(e: clap::Error) -> i32 {
    let _ = e.print();
    match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
        _ => {
            let json = std::env::args_os()
                .skip(1)
                .take_while(|a| a != "--")
                .any(|a| a == "--json");
            if json {
                output::print_json_error(&usage_error_of(&e));
            }
            2
        }
    }
}

/// clap's message as glasskey's error: its first line is what went wrong; its usage line,
/// what to type instead.
fn usage_error_of(e: &clap::Error) -> Error {
    let text = e.render().to_string();
    let what = text
        .lines()
        .next()
        .unwrap_or("the command line is not valid")
        .trim_start_matches("error: ")
        .to_string();
    let usage = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| format!("usage: {u}; "))
        .unwrap_or_default();
    Error::input(what, format!("{usage}see `glasskey --help`"))
}

/// The subcommand path as typed: "ledger show", "report custody".
fn command_words(matches: &clap::ArgMatches) -> String {
    let mut words = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        words.push(name.to_string());
        m = sub;
    }
    words.join(" ")
}

fn run(cli: Cli) -> Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Keys(cmd) => keys::run(cmd, g),
        Command::Graph(cmd) => graph::run(cmd, g),
        Command::Kit(cmd) => kit::run(cmd, g),
        Command::Report(cmd) => report::run(cmd, g),
        Command::Ledger(cmd) => ledger::run(cmd, g),
        Command::Attest(cmd) => attest::run(cmd, g),
        Command::Enroll(args) => enroll::run(args, g),
        Command::Check(args) => check::run(args, g),
        Command::Audit(args) => audit::run(args, g),
        Command::Retire(args) => retire::run(args, g),
        Command::Resume(args) => resume::run(args, g),
        Command::Mds(cmd) => mds::run(cmd, g),
        #[cfg(feature = "rehearsal")]
        Command::Demo(args) => demo::run(args, g),
        Command::Completions { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "glasskey", &mut text);
            output::write_text(&String::from_utf8_lossy(&text));
            Ok(())
        }
        Command::Man => {
            let mut text = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut text)
                .map_err(|e| Error::input(format!("could not write the man page: {e}"), ""))?;
            output::write_text(&String::from_utf8_lossy(&text));
            Ok(())
        }
    }
}

pub use output::print_json;
