//! The binder's paper with awkward, realistic data: long model names and
//! addresses, custodians with roles and phones, a key registered nowhere, an
//! envelope left open, a retired key, a failed check corrected the same day.
//! Every sheet is rendered (pdftoppm) and its text read back (pdftotext): every
//! value must be there whole — nothing cut, nothing shortened with "…".
//! Set GLASSKEY_KEEP_SHEETS=DIR to keep the PDFs and PNGs.

#[path = "support/skip.rs"]
mod skip;

use std::path::Path;
use std::process::Command;

use glasskey::aaguid::Aaguid;
use glasskey::ledger::{Bytes, CheckItem, Custodian, Event, Kit, KitConfig, State, Timestamp};
use glasskey::report::{check_sheet, custody_sheet, emergency_sheet, Paper, SheetContext};

const LONG_MODEL: &str = "Yubico YubiKey 5Ci FIPS Series with USB-C and Lightning connectors";
const VAULT_ADDRESS: &str = "Northbridge Safe Deposit Ltd, Vault level -2, box 1142, \
                             17 Threadneedle Street, London EC2R 8AY, United Kingdom";
const SAFE_ADDRESS: &str = "Contoso House, 2nd floor server room, fireproof safe behind the \
                            UPS rack, 1 Harbour Exchange Square, London E14 9GE";
const LONG_NAMES: [&str; 3] = [
    "Maximiliana Featherstonehaugh-Okonkwo",
    "Bartholomew Quinlan-Ashworth",
    "Ana Lima",
];

fn tools() -> bool {
    let ok = ["pdftoppm", "pdftotext"]
        .iter()
        .all(|t| Command::new(t).arg("-v").output().is_ok());
    if !ok {
        skip::skip("poppler-utils is not installed; apt-get install -y poppler-utils");
    }
    ok
}

fn at(t: &str) -> Timestamp {
    t.parse().unwrap()
}

fn ops(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn config() -> KitConfig {
    let mut c = KitConfig::example("contoso.onmicrosoft.com");
    c.accounts[0].object_id = Some("0f1e2d3c-4b5a-4697-8887-a9b8c7d6e5f4".into());
    c.accounts[1].object_id = Some("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d".into());
    c.locations[0].name = "Northbridge bank vault".into();
    c.locations[0].address = Some(VAULT_ADDRESS.into());
    c.locations[1].address = Some(SAFE_ADDRESS.into());
    c.custodians = vec![
        Custodian {
            name: LONG_NAMES[0].into(),
            role: Some("Chief Information Security Officer".into()),
            phone: Some("+44 20 7946 0958".into()),
        },
        Custodian {
            name: LONG_NAMES[1].into(),
            role: Some("Head of IT operations".into()),
            phone: Some("+44 7700 900123".into()),
        },
    ];
    c
}

/// A ledger with every situation the binder must show.
fn kit(dir: &Path) -> Kit {
    let kit = Kit::init(&dir.join("kit"), &config()).unwrap();
    let l = kit.ledger();
    let t0 = at("2026-01-05T09:00:00Z");
    let present = ops(&LONG_NAMES);
    let enroll =
        |label: &str, model: &str, account: &str, location: &str, seal: &str, register: bool| {
            let cred = Bytes(format!("cred-{label}").into_bytes());
            let mut events = vec![
                Event::KeyEnrolled {
                    key: label.into(),
                    model: model.into(),
                    aaguid: Aaguid::virtual_model(1),
                    firmware: Some("5.7.1".into()),
                    serial: Some("SN-31415926".into()),
                    attestation_fingerprint: None,
                },
                Event::CredentialCreated {
                    key: label.into(),
                    account: account.into(),
                    rp_id: "login.microsoft.com".into(),
                    credential_id: cred.clone(),
                    cose_public_key: Bytes(vec![1, 2, 3]),
                    sign_count: 0,
                    cred_protect: Some(2),
                },
            ];
            if register {
                events.push(Event::RegisteredInEntra {
                    key: label.into(),
                    account: account.into(),
                    credential_id: cred,
                    method_id: format!("method-{label}"),
                    created_date_time: "2026-01-05T09:01:00Z".into(),
                    model: None,
                    attestation_level: None,
                });
            }
            events.push(Event::EnvelopeSealed {
                key: label.into(),
                location: location.into(),
                seal: seal.into(),
                custodians: ops(&LONG_NAMES[..2]),
            });
            for e in events {
                l.append_at(&present, e, t0).unwrap();
            }
        };
    let bg1 = "bg1@contoso.onmicrosoft.com";
    let bg2 = "bg2@contoso.onmicrosoft.com";
    enroll("bg1-vault-a", LONG_MODEL, bg1, "vault", "TE-100001", true);
    enroll(
        "bg2-safe-b",
        "glasskey virtual model B",
        bg2,
        "office-safe",
        "TE-100002",
        true,
    );
    // An expired split bundle: created on the key, never registered.
    enroll(
        "bg2-vault-orphan",
        "glasskey virtual model A",
        bg2,
        "vault",
        "TE-100003",
        false,
    );
    enroll(
        "bg1-safe-open",
        "glasskey virtual model B",
        bg1,
        "office-safe",
        "TE-100004",
        true,
    );
    enroll(
        "bg1-vault-old",
        "glasskey virtual model A",
        bg1,
        "vault",
        "TE-100005",
        true,
    );

    let t1 = at("2026-04-01T10:00:00Z");
    let check = |label: &str, passed: bool, pin_ok: bool, t: Timestamp| {
        l.append_at(
            &present,
            Event::LivenessChecked {
                key: label.into(),
                passed,
                counter: Some(7),
                checks: [
                    "assertion_signature",
                    "counter_increased",
                    "credential_present",
                    "entra_registered",
                ]
                .iter()
                .map(|n| CheckItem {
                    name: n.to_string(),
                    passed: true,
                })
                .chain([CheckItem {
                    name: "pin_unlocks_key".into(),
                    passed: pin_ok,
                }])
                .collect(),
            },
            t,
        )
        .unwrap();
    };
    // A mistyped PIN, then the right one: a corrected mistake.
    l.append_at(
        &present,
        Event::EnvelopeOpened {
            key: "bg1-vault-a".into(),
            location: "vault".into(),
            seal: "TE-100001".into(),
            reason: "quarterly check".into(),
        },
        t1,
    )
    .unwrap();
    check("bg1-vault-a", false, false, t1);
    check("bg1-vault-a", true, true, at("2026-04-01T10:05:00Z"));
    l.append_at(
        &present,
        Event::EnvelopeSealed {
            key: "bg1-vault-a".into(),
            location: "vault".into(),
            seal: "TE-200001".into(),
            custodians: ops(&LONG_NAMES[..2]),
        },
        t1,
    )
    .unwrap();
    // Opened, never resealed.
    l.append_at(
        &present,
        Event::EnvelopeOpened {
            key: "bg1-safe-open".into(),
            location: "office-safe".into(),
            seal: "TE-100004".into(),
            reason: "emergency sign-in".into(),
        },
        t1,
    )
    .unwrap();
    // Retired while sealed in the vault.
    l.append_at(
        &present,
        Event::KeyRetired {
            key: "bg1-vault-old".into(),
            reason: "replaced by a newer model".into(),
        },
        t1,
    )
    .unwrap();
    kit
}

/// The sheet's text with every run of whitespace as one space (wrapped lines joined).
fn words(pdf: &[u8], dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, pdf).unwrap();
    let png = Command::new("pdftoppm")
        .args(["-r", "60", "-png"])
        .arg(&path)
        .arg(dir.join(name))
        .output()
        .unwrap();
    assert!(png.status.success(), "pdftoppm could not render {name}");
    if let Ok(keep) = std::env::var("GLASSKEY_KEEP_SHEETS") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(Path::new(&keep).join(format!("{name}.pdf")), pdf).unwrap();
        Command::new("pdftoppm")
            .args(["-r", "90", "-png"])
            .arg(&path)
            .arg(Path::new(&keep).join(name))
            .output()
            .unwrap();
    }
    let out = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_has(text: &str, needles: &[&str], sheet: &str) {
    for n in needles {
        let n = n.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains(&n),
            "{sheet}: '{n}' missing or cut in:\n{text}"
        );
    }
    assert!(
        !text.contains('…'),
        "{sheet}: something was shortened:\n{text}"
    );
}

fn pages(dir: &Path, name: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let n = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .to_string();
            n.starts_with(&format!("{name}-")) && n.ends_with(".png")
        })
        .count()
}

fn context<'a>(config: &'a KitConfig, state: &'a State) -> SheetContext<'a> {
    SheetContext {
        config,
        state,
        now: at("2026-04-02T08:00:00Z"),
        paper: Paper::A4,
    }
}

#[test]
fn custody_sheet_shows_custodians_addresses_unusable_open_and_retired_envelopes() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let state = kit.state().unwrap();
    let ctx = context(kit.config(), &state);

    let vault = words(
        &custody_sheet(&ctx, "vault").unwrap(),
        dir.path(),
        "custody-vault",
    );
    assert_has(
        &vault,
        &[
            VAULT_ADDRESS,
            "Maximiliana Featherstonehaugh-Okonkwo (Chief Information Security Officer)",
            "Bartholomew Quinlan-Ashworth (Head of IT operations)",
            LONG_MODEL,
            "TE-200001", // the current seal, after the check
            "TE-100003",
            "NOT usable: registered nowhere",
            "REMOVE AND DESTROY",
            "remove and destroy — key bg1-vault-old, envelope TE-100005",
        ],
        "custody vault",
    );
    assert!(
        !vault.contains("TE-100001"),
        "an old seal number is shown: {vault}"
    );

    let safe = words(
        &custody_sheet(&ctx, "office-safe").unwrap(),
        dir.path(),
        "custody-safe",
    );
    assert_has(
        &safe,
        &[
            SAFE_ADDRESS,
            "OPEN — key bg1-safe-open: envelope TE-100004 opened 2026-04-01 (emergency sign-in) and not resealed",
            "TE-100002",
        ],
        "custody office-safe",
    );
}

#[test]
fn check_sheet_cuts_no_column_and_shows_corrected_mistakes_as_corrected() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let state = kit.state().unwrap();
    let ctx = context(kit.config(), &state);
    let text = words(&check_sheet(&ctx).unwrap(), dir.path(), "check");
    assert_has(
        &text,
        &[
            LONG_MODEL,
            "pin_unlocks_key failed",
            "failed, corrected 2026-04-01",
            "assertion_signature, counter_increased, credential_present, entra_registered, pin_unlocks_key",
            "Maximiliana Featherstonehaugh-Okonkwo, Bartholomew Quinlan-Ashworth, Ana Lima",
            "office-safe (OPEN)",
        ],
        "check",
    );
}

#[test]
fn emergency_sheet_is_one_page_with_every_account_location_and_phone() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let state = kit.state().unwrap();
    let ctx = context(kit.config(), &state);
    let pdf = emergency_sheet(&ctx).unwrap();
    let text = words(&pdf, dir.path(), "emergency");
    assert_eq!(
        pages(dir.path(), "emergency"),
        1,
        "one page for the binder's front"
    );
    let c = kit.config();
    let mut needles: Vec<String> = vec![
        "https://entra.microsoft.com".into(),
        "Two custodians".into(),
        "glasskey check".into(),
        "Reseal".into(),
        "Review the sign-in".into(),
        "Rotate".into(),
        "TE-200001".into(),
    ];
    for a in &c.accounts {
        needles.push(a.upn.clone());
        needles.push(a.object_id.clone().unwrap());
    }
    for l in &c.locations {
        needles.push(l.name.clone());
        needles.push(l.address.clone().unwrap());
    }
    for p in &c.custodians {
        needles.push(p.name.clone());
        needles.push(p.phone.clone().unwrap());
    }
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_has(&text, &needles, "emergency");
    assert!(
        text.contains("NOT usable"),
        "the orphan key is flagged: {text}"
    );
    assert!(
        !text.contains("bg1-vault-old"),
        "a retired key is no way in: {text}"
    );
    let head = state.head.unwrap();
    assert_eq!(glasskey::report::head_in_pdf(&pdf), Some(head));
    assert!(text.contains(&format!("head event {}", head.seq)), "{text}");
}

#[test]
fn sheets_print_through_a_stand_in_lp_and_a_missing_lp_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kit = kit(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let captured = dir.path().join("lp-captured");
    let lp = bin.join("lp");
    std::fs::write(
        &lp,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{0}.args'\ncat > '{0}.pdf'\n",
            captured.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&lp, std::fs::Permissions::from_mode(0o755)).unwrap();
    let events_before = kit.ledger().records().unwrap().len();
    let glasskey = |path: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_glasskey"))
            .arg("--kit")
            .arg(kit.dir())
            .args(args)
            .env("USER", "tester")
            .env("PATH", path)
            .output()
            .unwrap()
    };
    let out_pdf = dir.path().join("e.pdf");
    let out_s = out_pdf.to_str().unwrap();

    // No lp: refused before the sheet is written or the ledger records a print.
    let out = glasskey(
        "/nonexistent",
        &["report", "emergency", "-o", out_s, "--print"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lp"));
    assert!(!out_pdf.exists());
    assert_eq!(kit.ledger().records().unwrap().len(), events_before);

    let path = format!("{}:/usr/bin:/bin", bin.display());
    for (sheet, extra) in [
        ("emergency", vec![]),
        ("check", vec![]),
        ("custody", vec!["--location", "vault"]),
    ] {
        let mut args = vec![
            "report",
            sheet,
            "-o",
            out_s,
            "--print",
            "--printer",
            "binder-laser",
        ];
        args.extend(extra);
        let out = glasskey(&path, &args);
        assert!(
            out.status.success(),
            "{sheet}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sent = std::fs::read(captured.with_extension("pdf")).unwrap();
        assert_eq!(
            sent,
            std::fs::read(&out_pdf).unwrap(),
            "{sheet}: lp got the sheet as written"
        );
        let args = std::fs::read_to_string(captured.with_extension("args")).unwrap();
        assert!(args.starts_with("-d\nbinder-laser\n-t\n"), "{args}");
    }
}
