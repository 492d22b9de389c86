//! Render every sheet, rasterize it with pdftoppm, read the QR codes back with
//! zbarimg and the text with pdftotext. Skips loudly when poppler-utils or
//! zbar-tools are missing. Set GLASSKEY_KEEP_SHEETS=DIR to keep PDFs and PNGs.

#[path = "support/skip.rs"]
mod skip;

#[path = "ledger_fixture/mod.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use glasskey::ledger::{Custody, State};
use glasskey::report::{
    check_sheet, credential_fingerprint, custody_sheet, head_in_pdf, pin_slips, EnvelopeRecord,
    Paper, PinSlip, SheetContext,
};
use glasskey::secret::Pin;

fn have_tools() -> bool {
    let ok = ["pdftoppm", "zbarimg", "pdftotext", "pdffonts", "pdfinfo"]
        .iter()
        .all(|t| Command::new(t).arg("-v").output().is_ok());
    if !ok {
        skip::skip(
            "poppler-utils and zbar-tools are not installed; \
             apt-get install -y poppler-utils zbar-tools (or `make test`) to run the sheet tests",
        );
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success() || cmd.get_program() == "zbarimg",
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn save(dir: &Path, name: &str, pdf: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    if let Ok(keep) = std::env::var("GLASSKEY_KEEP_SHEETS") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(Path::new(&keep).join(name), pdf).unwrap();
        run(Command::new("pdftoppm")
            .args(["-r", "100", "-png"])
            .arg(&path)
            .arg(Path::new(&keep).join(name.trim_end_matches(".pdf"))));
    }
    path
}

fn text_of(pdf: &Path) -> String {
    run(Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-"))
}

/// Every QR code on every page, decoded.
fn qr_codes(pdf: &Path, dpi: u32) -> Vec<String> {
    let prefix = pdf.with_extension(format!("{dpi}dpi"));
    run(Command::new("pdftoppm")
        .args(["-r", &dpi.to_string(), "-png"])
        .arg(pdf)
        .arg(&prefix));
    let dir = pdf.parent().unwrap();
    let stem = prefix.file_name().unwrap().to_string_lossy().to_string();
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&format!("{stem}-")) && n.ends_with(".png")
        })
        .collect();
    pngs.sort();
    assert!(!pngs.is_empty(), "pdftoppm made no pages");
    let mut codes = Vec::new();
    for png in pngs {
        let out = run(Command::new("zbarimg")
            .args(["-q", "--raw", "-Sdisable", "-Sqrcode.enable"])
            .arg(&png));
        codes.extend(out.lines().filter(|l| !l.is_empty()).map(str::to_string));
    }
    codes
}

fn kit_with(n: usize) -> (tempfile::TempDir, glasskey::ledger::Kit, State) {
    let dir = tempfile::tempdir().unwrap();
    let kit = fixture::new_kit(dir.path());
    fixture::populate(&kit, n);
    let state = kit.state().unwrap();
    (dir, kit, state)
}

fn check_custody(n: usize, location: &str, paper: Paper, dpis: &[u32]) -> usize {
    let (dir, kit, state) = kit_with(n);
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: fixture::at("2026-06-01T00:00:00Z"),
        paper,
    };
    let pdf = custody_sheet(&ctx, location).unwrap();
    let path = save(dir.path(), &format!("custody-{location}-{n}.pdf"), &pdf);
    let head = state.head.unwrap();
    assert_eq!(head_in_pdf(&pdf), Some(head));

    let sealed: Vec<_> = state.sealed_at(location).collect();
    let text = text_of(&path);
    assert!(text.contains("contoso.onmicrosoft.com"), "{text}");
    assert!(
        text.contains(&head.hash.to_hex()),
        "footer must carry the full head hash"
    );
    let pages = text.matches('\u{c}').count().max(1);
    assert!(text.contains(&format!("Page {pages} of {pages}")), "{text}");
    for k in &sealed {
        let Custody::Sealed { seal, .. } = &k.custody else {
            unreachable!()
        };
        assert!(text.contains(seal.as_str()), "seal {seal} missing");
        assert!(text.contains(&k.label), "key {} missing", k.label);
    }
    assert!(text.contains("OVERDUE"), "overdue keys must be marked");

    for &dpi in dpis {
        let mut records: Vec<EnvelopeRecord> = qr_codes(&path, dpi)
            .iter()
            .map(|c| EnvelopeRecord::decode(c).unwrap())
            .collect();
        records.sort_by(|a, b| a.key.cmp(&b.key));
        assert_eq!(
            records.len(),
            sealed.len(),
            "one readable QR code per envelope at {dpi} dpi"
        );
        for (r, k) in records.iter().zip(&sealed) {
            let Custody::Sealed { seal, .. } = &k.custody else {
                unreachable!()
            };
            assert_eq!(
                (&r.key, &r.seal, r.location.as_str()),
                (&k.label, seal, location)
            );
            assert_eq!(r.aaguid, k.aaguid.to_string());
            assert_eq!(
                r.credential_fp,
                Some(credential_fingerprint(&k.credentials[0].credential_id.0))
            );
            assert_eq!(r.serial, k.serial);
            assert_eq!(
                (r.head_seq, r.head_hash16.as_str()),
                (head.seq, &head.hash.to_hex()[..16])
            );
        }
    }
    let info = run(Command::new("pdfinfo").arg(&path));
    let want = if paper == Paper::A4 {
        "(A4)"
    } else {
        "(letter)"
    };
    assert!(info.contains(want), "{info}");
    let fonts = run(Command::new("pdffonts").arg(&path));
    assert_eq!(
        fonts
            .lines()
            .filter(|l| l.contains("CID TrueType") && l.contains(" yes "))
            .count(),
        2,
        "{fonts}"
    );
    pages
}

#[test]
fn custody_sheet_one_page_reads_back() {
    if !have_tools() {
        return;
    }
    assert_eq!(check_custody(6, "vault", Paper::A4, &[100, 150]), 1);
}

#[test]
fn custody_sheet_many_envelopes_over_pages_letter() {
    if !have_tools() {
        return;
    }
    assert!(check_custody(40, "office-safe", Paper::Letter, &[150]) >= 4);
}

#[test]
fn custody_sheet_of_empty_location_says_so() {
    if !have_tools() {
        return;
    }
    let (dir, kit, state) = kit_with(0);
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: fixture::at("2026-06-01T00:00:00Z"),
        paper: Paper::A4,
    };
    let path = save(
        dir.path(),
        "custody-empty.pdf",
        &custody_sheet(&ctx, "vault").unwrap(),
    );
    assert!(text_of(&path).contains("No sealed envelopes"));
    assert!(custody_sheet(&ctx, "garage").is_err());
}

#[test]
fn check_sheet_lists_every_key_and_flags_overdue_and_failed() {
    if !have_tools() {
        return;
    }
    let (dir, kit, state) = kit_with(14);
    let ctx = SheetContext {
        config: kit.config(),
        state: &state,
        now: fixture::at("2026-06-01T00:00:00Z"),
        paper: Paper::A4,
    };
    let pdf = check_sheet(&ctx).unwrap();
    let path = save(dir.path(), "check.pdf", &pdf);
    let text = text_of(&path);
    for k in state.keys.values() {
        assert!(text.contains(&k.label), "key {} missing", k.label);
    }
    let overdue = state
        .keys
        .values()
        .filter(|k| k.is_overdue(90, ctx.now))
        .count();
    assert!(overdue > 0);
    assert_eq!(text.matches("OVERDUE").count(), overdue, "{text}");
    assert!(text.contains("FAILED"));
    assert!(text.contains("Alice Adams, Bob Brown"), "who was present");
    assert!(text.contains("Every liveness check recorded in the last 90 days"));
    let checks: usize = state.keys.values().map(|k| k.checks.len()).sum();
    assert!(checks > 0);
    assert_eq!(
        text.matches("2026-04-01 10:00:00").count(),
        checks,
        "one history row per check"
    );
    assert_eq!(head_in_pdf(&pdf), state.head);
}

#[test]
fn pin_slip_prints_the_pin_large_and_nothing_else_keeps_it() {
    if !have_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pin = Pin::new("80O1lI27".into());
    let slip = PinSlip {
        account: "bg1@contoso.onmicrosoft.com".into(),
        key_label: "bg1-vault-A".into(),
        model: "glasskey virtual model A".into(),
        tenant: "contoso.onmicrosoft.com".into(),
        sign_in_url: "https://entra.microsoft.com".into(),
    };
    let other = Pin::new("246813".into());
    let pdf = pin_slips(&[(slip.clone(), &pin), (slip, &other)], Paper::A4).unwrap();
    let path = save(dir.path(), "pin-slip.pdf", &pdf);
    let text = text_of(&path);
    assert!(text.contains("8 0 O 1 l I 2 7"), "{text}");
    assert!(text.contains("2 4 6 8 1 3"), "{text}");
    assert!(
        text.contains("zero, capital O, one, small L, capital i"),
        "{text}"
    );
    assert!(text.contains("Place inside the envelope with the key"));
    assert!(text.contains("bg1@contoso.onmicrosoft.com"), "{text}");
    assert!(
        text.contains("contoso.onmicrosoft.com") && text.contains("https://entra.microsoft.com"),
        "{text}"
    );
    assert!(text.contains("see the envelope"), "{text}");
    assert_eq!(text.matches('\u{c}').count(), 2, "one page per key");
    assert_eq!(head_in_pdf(&pdf), None);
}
