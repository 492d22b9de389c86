//! `glasskey demo`: the whole story with no hardware and no network — a Graph
//! emulator on loopback with a tenant of two break-glass accounts, virtual keys
//! of two models, onboarding of four keys (two accounts x two models, one per
//! location), a quarterly check, an audit, and the sheets as PDFs.
//!
//! It runs the same ceremony code as the real commands; only the key (virtual)
//! and the tenant (emulator) are stand-ins, and PINs stay in memory.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use super::audit::{self, AuditReport};
use super::check::{self, CheckPlan};
use super::enroll::{self, EnrollPlan, PinChoice, SlipPrinter};
use super::key::KeySession;
use super::operator::Operator;
use super::sheets::{print_sheet, Sheet};
use crate::aaguid::Aaguid;
use crate::attestation::TrustStore;
use crate::ctap::device::Device;
use crate::error::{Error, Result};
use crate::graph::auth::{Credentials, TokenSource};
use crate::graph::emulator::{Emulator, State as TenantState};
use crate::graph::{Endpoints, GraphClient};
use crate::ledger::{Custodian, Kit, KitConfig, Timestamp};
use crate::report::Paper;
use crate::secret::Pin;
use crate::virtual_key::{self, ModelId, PresenceMode};

const TENANT: &str = "contoso.onmicrosoft.com";
const DEMO_CLIENT_ID: &str = "11111111-1111-1111-1111-111111111111";
const DEMO_SECRET: &str = "emulator-secret";
/// Marks a folder as a demo output, so a re-run may clear it and nothing else.
const MARKER: &str = ".glasskey-demo";

/// What the demo did and where the files are.
#[derive(Debug, serde::Serialize)]
pub struct DemoReport {
    pub out: PathBuf,
    pub kit: PathBuf,
    pub keys: Vec<String>,
    pub sheets: Vec<PathBuf>,
    pub checks_passed: usize,
    pub audit_healthy: bool,
}

/// An operator that answers from a script; it records what it was told.
struct ScriptedOperator<'a> {
    pins: VecDeque<Pin>,
    texts: VecDeque<String>,
    log: &'a mut dyn FnMut(&str),
}

impl Operator for ScriptedOperator<'_> {
    fn pin(&mut self, prompt: &str) -> Result<Pin> {
        (self.log)(&format!("    ? {prompt}: (typed from the slip)"));
        self.pins.pop_front().ok_or_else(|| {
            Error::input(
                "the demo script ran out of PINs",
                "this is a bug in the demo",
            )
        })
    }
    fn confirm(&mut self, _question: &str) -> Result<bool> {
        Ok(true)
    }
    fn text(&mut self, prompt: &str) -> Result<String> {
        let answer = self.texts.pop_front().ok_or_else(|| {
            Error::input(
                "the demo script ran out of answers",
                "this is a bug in the demo",
            )
        })?;
        (self.log)(&format!("    ? {prompt}: {answer}"));
        Ok(answer)
    }
    fn say(&mut self, message: &str) {
        (self.log)(&format!("    {message}"));
    }
}

/// In the demo the PIN slip is rendered and checked, then dropped: no file holds the PIN.
struct DemoPrinter {
    printed: usize,
}

impl SlipPrinter for DemoPrinter {
    fn print(&mut self, pdf: &[u8]) -> Result<()> {
        if !pdf.starts_with(b"%PDF") {
            return Err(Error::input("the PIN slip is not a PDF", "this is a bug"));
        }
        self.printed += 1;
        Ok(())
    }
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::input(
        format!("cannot use {}: {e}", path.display()),
        "choose another --out folder",
    )
}

fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let is_demo = out.join(MARKER).exists();
        let empty = std::fs::read_dir(out)
            .map_err(|e| io_err(out, e))?
            .next()
            .is_none();
        if !is_demo && !empty {
            return Err(Error::input(
                format!("{} exists and is not a glasskey demo folder", out.display()),
                "give --out a new or empty folder",
            ));
        }
        for sub in ["kit", "keys", "sheets"] {
            let p = out.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(|e| io_err(&p, e))?;
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    std::fs::write(out.join(MARKER), "glasskey demo output; safe to delete\n")
        .map_err(|e| io_err(out, e))
}

fn open_virtual(path: &Path, name: &str) -> Result<KeySession> {
    let device = virtual_key::open_device(path, None)?;
    let transport = virtual_key::InProcessTransport::spawn(device, format!("virtual:{name}"));
    Ok(KeySession::new(name, Device::open(Box::new(transport))?))
}

/// Run the demo into `out`, reporting each step through `log`.
pub fn run(out: &Path, log: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    prepare_out(out)?;
    let keys_dir = out.join("keys");
    let kit_dir = out.join("kit");
    let sheets_dir = out.join("sheets");
    std::fs::create_dir_all(&sheets_dir).map_err(|e| io_err(&sheets_dir, e))?;

    log("1. Virtual keys of two models (stand-ins for two vendors' keys)");
    let plan: [(&str, &str, ModelId); 4] = [
        ("bg1", "vault", ModelId::A),
        ("bg1", "office-safe", ModelId::B),
        ("bg2", "vault", ModelId::B),
        ("bg2", "office-safe", ModelId::A),
    ];
    let mut key_files = Vec::new();
    for (account, location, model) in plan {
        let letter = if model == ModelId::A { "a" } else { "b" };
        let name = format!("{account}-{location}-{letter}");
        let path = keys_dir.join(format!("{name}.json"));
        virtual_key::create_key(&path, model, PresenceMode::Approve)?;
        log(&format!(
            "   created virtual key {name} (model {})",
            letter.to_uppercase()
        ));
        key_files.push((
            name,
            path,
            format!("{account}@{TENANT}"),
            location.to_string(),
        ));
    }

    log("2. Local Graph emulator (tenant contoso.onmicrosoft.com), attestation enforced");
    let roots = virtual_key::model_roots(&keys_dir)?;
    let emulator = Emulator::start(TenantState::demo(), "127.0.0.1:0").map_err(|e| {
        Error::network(
            format!("cannot start the Graph emulator: {e}"),
            "free a loopback port and retry",
        )
    })?;
    emulator.with_world(|w| {
        for pem in &roots {
            w.trust_root(pem, true);
        }
    });
    let base = emulator.base_url();
    log(&format!("   serving at {base}"));
    let endpoints = Endpoints::new(&base, &base)?;
    let credentials = Credentials::ClientSecret {
        client_id: DEMO_CLIENT_ID.into(),
        secret: zeroize::Zeroizing::new(DEMO_SECRET.into()),
    };
    let token = TokenSource::new(endpoints.clone(), TENANT, credentials).acquire(&mut |_| {})?;
    let graph = GraphClient::new(endpoints, token);

    log("3. Custody kit and ledger");
    let mut config = KitConfig::example(TENANT);
    config.custodians = vec![
        Custodian {
            name: "Alice Admin".into(),
            role: Some("security officer".into()),
            phone: Some("+1 555 0100".into()),
        },
        Custodian {
            name: "Bob Backup".into(),
            role: Some("IT operations".into()),
            phone: Some("+1 555 0101".into()),
        },
    ];
    config.policy.allowed_aaguids = vec![Aaguid::virtual_model(1), Aaguid::virtual_model(2)];
    let kit = Kit::init(&kit_dir, &config)?;
    let operators = vec!["Alice Admin".to_string(), "Bob Backup".to_string()];
    let mut trust = TrustStore::production();
    for (i, pem) in roots.iter().enumerate() {
        trust.add_root_pem(&format!("glasskey virtual root {}", i + 1), pem)?;
    }

    log("4. Onboarding: four keys, two accounts x two models, one per location");
    let mut pins: BTreeMap<String, Pin> = BTreeMap::new();
    let mut printer = DemoPrinter { printed: 0 };
    for (i, (name, path, account, location)) in key_files.iter().enumerate() {
        log(&format!("   enroll {name} for {account} -> {location}"));
        let mut key = open_virtual(path, name)?;
        let mut op = ScriptedOperator {
            pins: VecDeque::new(),
            texts: VecDeque::new(),
            log,
        };
        let plan = EnrollPlan {
            account: account.clone(),
            location: location.clone(),
            label: Some(name.clone()),
            seal: Some(format!("SEAL-{:04}", 1001 + i)),
            reset: false,
            assume_yes: true,
            operators: operators.clone(),
            pin: PinChoice::Generate,
        };
        let (enrolled, pin) =
            enroll::enroll(&kit, &mut key, &graph, &trust, &mut op, &mut printer, &plan)?;
        log(&format!(
            "   -> registered method {} ({}; {})",
            enrolled.method_id.as_deref().unwrap_or("?"),
            enrolled.model,
            enrolled.attestation
        ));
        pins.insert(name.clone(), pin);
    }

    log(
        "5. Quarterly liveness check of every sealed key (PIN from the slip, offline verification)",
    );
    let mut passed = 0;
    let state = kit.state()?;
    for (i, (name, path, _, _)) in key_files.iter().enumerate() {
        let ks = state.keys.get(name).ok_or_else(|| {
            Error::input(format!("{name} missing from the ledger"), "this is a bug")
        })?;
        let pin = pins
            .get(name)
            .cloned()
            .ok_or_else(|| Error::input("PIN missing", "this is a bug"))?;
        let mut op = ScriptedOperator {
            pins: VecDeque::from([pin]),
            texts: VecDeque::new(),
            log,
        };
        let online = crate::ceremony::online::read_before_opening(&graph, ks)?;
        check::open_envelope(&kit, ks, &mut op, &operators)?;
        let mut key = open_virtual(path, name)?;
        let plan = CheckPlan {
            presence_only: false,
            force: false,
            new_seal: Some(format!("SEAL-{:04}", 2001 + i)),
            operators: operators.clone(),
            defer_reseal: false,
        };
        let outcome = check::check_key(&kit, ks, &mut key, &mut op, &plan, Some(&online))?;
        let verdict = if outcome.passed { "PASSED" } else { "FAILED" };
        log(&format!(
            "   {name}: {verdict} ({}), counter {}, resealed as {}",
            outcome
                .checks
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            outcome
                .counter
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            outcome.new_seal.as_deref().unwrap_or("-")
        ));
        passed += usize::from(outcome.passed);
    }

    log("6. Audit (ledger, policy, and the tenant: posture, roles, Conditional Access, methods)");
    let mut report: AuditReport = audit::audit_offline(&kit, Timestamp::now())?;
    audit::audit_online(&kit, &graph, &mut report)?;
    for f in &report.findings {
        log(&format!("   [{:?}] {}: {}", f.severity, f.subject, f.message).to_lowercase_severity());
    }

    log("7. Sheets for the binder");
    let mut sheets = Vec::new();
    let locations: Vec<String> = kit.config().location_ids();
    let all = locations
        .into_iter()
        .map(|location| Sheet::Custody { location })
        .chain([Sheet::Check]);
    for sheet in all {
        let path = sheets_dir.join(sheet.file_name());
        print_sheet(&kit, &sheet, Paper::A4, &path, &operators)?;
        log(&format!("   {}", path.display()));
        sheets.push(path);
    }
    log(&format!(
        "   ({} PIN slips rendered for the printer; none written to disk)",
        printer.printed
    ));
    emulator.shutdown();
    Ok(DemoReport {
        out: out.to_path_buf(),
        kit: kit_dir,
        keys: key_files.into_iter().map(|(n, ..)| n).collect(),
        sheets,
        checks_passed: passed,
        audit_healthy: report.healthy(),
    })
}

trait LowercaseSeverity {
    fn to_lowercase_severity(self) -> String;
}

impl LowercaseSeverity for String {
    fn to_lowercase_severity(self) -> String {
        match self.find(']') {
            Some(end) => format!("{}{}", self[..end].to_lowercase(), &self[end..]),
            None => self,
        }
    }
}
