//! The operator story's failure paths through the real binary, on virtual keys
//! and the Graph emulator: check (low PIN retries, a swapped key of another
//! model and of the same model, a cloned key whose counter does not advance,
//! presence only), audit (a rogue FIDO2 method, a PIM-eligible-only account),
//! retire. Every failure must exit 1, say what failed and what to do, be
//! recorded, and leave the ledger verifying; no PIN may appear in anything the
//! run wrote.

#[path = "support/skip.rs"]
mod skip;
#[path = "story_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use support::{Story, BG1, BG2};

const PIN_A: &str = "5718293046";
const PIN_B: &str = "8203946175";
const PIN_C: &str = "4630918257";
const PIN_D: &str = "7392016485";

/// The result of the last check of `label` in the ledger: (passed, failed check names).
fn last_check(story: &mut Story, label: &str) -> (bool, Vec<String>) {
    let ledger = story.ledger_json();
    let last = ledger["state"]["keys"][label]["checks"]
        .as_array()
        .and_then(|c| c.last())
        .cloned()
        .unwrap_or_else(|| panic!("no check of {label} recorded"));
    let failed = last["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    (last["passed"] == true, failed)
}

/// Two virtual models, four keys: bg1 and bg2 each at vault (model a) and office-safe (model b).
fn enrolled_program(story: &mut Story) {
    for (name, model, account, location, seal, pin) in [
        ("bg1-vault", "a", BG1, "vault", "S-1", PIN_A),
        ("bg1-safe", "b", BG1, "office-safe", "S-2", PIN_B),
        ("bg2-vault", "a", BG2, "vault", "S-3", PIN_C),
        ("bg2-safe", "b", BG2, "office-safe", "S-4", PIN_D),
    ] {
        story.virtual_key(name, model);
        story.enroll(name, account, location, name, seal, pin);
    }
}

#[test]
fn story_check_refuses_low_retries_then_force_passes() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.enroll("k", BG1, "vault", "k", "S-1", PIN_A);
    // Six wrong PINs, three per power-up (a key blocks PIN entry after three in a row).
    for _ in 0..6 {
        let out = story.run(
            &["--device", "k", "keys", "change-pin"],
            "0000000000\n1111111111\n1111111111\n",
        );
        assert!(!out.status.success(), "a wrong current PIN must fail");
    }
    let out = story.ok(&["--device", "k", "--json", "keys", "info"], "");
    assert!(
        out.contains("\"pin_retries\": 2") || out.contains("\"retries\": 2"),
        "{out}"
    );

    let out = story.check(1, "k", "k", "S-2", Some(PIN_A), &[]);
    assert!(out.contains("[FAIL] pin_retries"), "{out}");
    assert!(
        out.contains("only 2 PIN retries") && out.contains("--force"),
        "{out}"
    );
    assert_eq!(
        last_check(&mut story, "k"),
        (false, vec!["pin_retries".into()])
    );
    story.ledger_verifies();
    // The refusal did not touch the PIN: still two retries, and the right PIN with --force passes.
    let out = story.check(0, "k", "k", "S-3", Some(PIN_A), &["--force"]);
    assert!(out.contains("PASSED"), "{out}");
    assert_eq!(last_check(&mut story, "k"), (true, vec![]));
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_A]);
}

#[test]
fn story_check_catches_swapped_keys_of_either_model() {
    let mut story = Story::new(true, None);
    story.virtual_key("a1", "a");
    story.virtual_key("b1", "b");
    story.virtual_key("a2", "a");
    story.enroll("a1", BG1, "vault", "a1", "S-1", PIN_A);
    story.enroll("b1", BG1, "office-safe", "b1", "S-2", PIN_B);

    // Another model in the envelope.
    let out = story.check(1, "b1", "a1", "S-3", Some(PIN_A), &[]);
    assert!(out.contains("[FAIL] model"), "{out}");
    assert!(out.contains("swapped"), "{out}");
    assert_eq!(last_check(&mut story, "a1"), (false, vec!["model".into()]));

    // The same model with the same PIN, but not the enrolled credential.
    story.ok(
        &["--device", "a2", "keys", "set-pin"],
        &format!("{PIN_A}\n{PIN_A}\n"),
    );
    let out = story.check(1, "a2", "a1", "S-4", Some(PIN_A), &[]);
    assert!(out.contains("[FAIL] credential"), "{out}");
    assert!(out.contains("holds no glasskey credential"), "{out}");
    assert!(
        !out.contains("PIN from the slip"),
        "no PIN may be tried: {out}"
    );
    assert_eq!(
        last_check(&mut story, "a1"),
        (false, vec!["credential".into()])
    );

    // The right key still passes.
    let out = story.check(0, "a1", "a1", "S-5", Some(PIN_A), &[]);
    assert!(out.contains("PASSED"), "{out}");
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_A, PIN_B]);
}

#[test]
fn story_check_warns_of_a_clone_whose_counter_did_not_advance() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.enroll("k", BG1, "vault", "k", "S-1", PIN_A);
    let state = story.virtual_dir.clone().unwrap().join("k.json");
    let copy = story.dir().join("k-copy-at-enrollment.json");
    std::fs::copy(&state, &copy).unwrap();

    let out = story.check(0, "k", "k", "S-2", Some(PIN_A), &[]);
    assert!(out.contains("PASSED"), "{out}");
    // The copy is a clone: same credential, counter from before the last check.
    std::fs::copy(&copy, &state).unwrap();
    let out = story.check(1, "k", "k", "S-3", Some(PIN_A), &[]);
    assert!(out.contains("[FAIL] counter"), "{out}");
    assert!(
        out.contains("CLONE WARNING") && out.contains("incident"),
        "{out}"
    );
    assert_eq!(last_check(&mut story, "k"), (false, vec!["counter".into()]));
    story.ledger_verifies();
    let out = story.exits(1, &["audit"], "");
    assert!(out.contains("FAILED"), "{out}");
    story.assert_no_pin_anywhere(&[PIN_A]);
}

#[test]
fn story_check_presence_only_proves_the_credential_without_the_pin() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    story.virtual_key("other", "a");
    story.enroll("k", BG1, "vault", "k", "S-1", PIN_A);
    let out = story.check(0, "k", "k", "S-2", None, &["--presence-only"]);
    assert!(
        out.contains("PASSED") && out.contains("[OK] signature"),
        "{out}"
    );
    assert!(!out.contains("] pin"), "no PIN was asked for: {out}");
    // A blank key of the same model holds no such credential.
    let out = story.check(1, "other", "k", "S-3", None, &["--presence-only"]);
    assert!(out.contains("[FAIL] credential"), "{out}");
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_A]);
}

#[test]
fn story_audit_raises_a_red_alert_for_a_rogue_method() {
    let mut story = Story::new(true, None);
    enrolled_program(&mut story);
    let out = story.ok(&["audit", "--online"], "");
    assert!(!out.contains("ALERT"), "{out}");

    // Someone with Graph rights registers their own key on bg1, through a kit glasskey never saw.
    let rogue_kit = story.dir().join("rogue-kit");
    let req = story.dir().join("req.json");
    let resp = story.dir().join("resp.json");
    let o = story.run_in(&rogue_kit, &["ledger", "init"], "");
    assert!(o.status.success(), "{}", support::text(&o));
    story.virtual_key("rogue", "a");
    let o = story.run_in(
        &rogue_kit,
        &[
            "graph",
            "fetch-options",
            "--account",
            BG1,
            "--out",
            req.to_str().unwrap(),
        ],
        "",
    );
    assert!(o.status.success(), "{}", support::text(&o));
    let o = story.run_in(
        &rogue_kit,
        &[
            "--device",
            "rogue",
            "enroll",
            "--request",
            req.to_str().unwrap(),
            "--out",
            resp.to_str().unwrap(),
            "--location",
            "vault",
            "--label",
            "rogue",
            "--seal",
            "X-1",
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
        ],
        "y\n9999999999\n9999999999\n",
    );
    assert!(o.status.success(), "{}", support::text(&o));
    let o = story.run_in(
        &rogue_kit,
        &["graph", "register", "--response", resp.to_str().unwrap()],
        "",
    );
    assert!(o.status.success(), "{}", support::text(&o));

    let out = story.exits(1, &["audit", "--online"], "");
    let alert = out
        .lines()
        .find(|l| l.contains("RED ALERT"))
        .unwrap_or_else(|| panic!("no RED ALERT: {out}"));
    assert!(
        alert.contains(BG1) && alert.contains("not in the ledger"),
        "{alert}"
    );
    assert!(out.contains("security incident"), "{out}");
    assert_eq!(
        out.matches("RED ALERT").count(),
        1,
        "only the rogue method: {out}"
    );
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_A, PIN_B, PIN_C, PIN_D]);
}

#[test]
fn story_audit_online_fails_a_pim_eligible_only_account() {
    // bg2 holds Global Administrator only as a PIM eligibility.
    let mut state = support::demo_state();
    let bg2_id = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["userPrincipalName"] == BG2)
        .unwrap()["id"]
        .clone();
    for list in ["roleAssignments", "roleAssignmentSchedules"] {
        state[list]
            .as_array_mut()
            .unwrap()
            .retain(|a| a["principalId"] != bg2_id);
    }
    state["roleEligibilitySchedules"] = json!([{
        "id": "es-bg2", "principalId": bg2_id, "directoryScopeId": "/",
        "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10", "memberType": "Direct",
        "status": "Provisioned",
        "scheduleInfo": {"startDateTime": "2025-01-01T00:00:00Z", "expiration": {"type": "noExpiration"}}
    }]);
    let mut story = Story::new(true, Some(&state));
    enrolled_program(&mut story);
    let out = story.exits(1, &["audit", "--online"], "");
    let failing: Vec<&str> = out.lines().filter(|l| l.starts_with("[FAIL]")).collect();
    assert!(!failing.is_empty(), "{out}");
    assert!(
        failing.iter().all(|l| l.contains(BG2)),
        "only bg2 fails: {failing:#?}"
    );
    assert!(
        failing.iter().any(|l| l.contains("only PIM-eligible")),
        "{failing:#?}"
    );
    story.ledger_verifies();
}

/// The label column of a custody sheet, via pdftotext (skips without poppler).
fn sheet_text(story: &mut Story, location: &str) -> Option<String> {
    let pdf = story.dir().join(format!("custody-{location}.pdf"));
    story.ok(
        &[
            "report",
            "custody",
            "--location",
            location,
            "-o",
            pdf.to_str().unwrap(),
        ],
        "",
    );
    let out = std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn story_retire_deletes_the_method_records_it_and_drops_it_from_the_sheet() {
    let mut story = Story::new(true, None);
    enrolled_program(&mut story);
    let ledger = story.ledger_json();
    let method = ledger["state"]["keys"]["bg1-vault"]["credentials"][0]["entra"]["method_id"]
        .as_str()
        .expect("method id")
        .to_string();
    let before = sheet_text(&mut story, "vault");

    let out = story.ok(
        &[
            "retire",
            "--key",
            "bg1-vault",
            "--reason",
            "lost seal",
            "--operator",
            "Alice",
        ],
        "y\n",
    );
    assert!(out.contains(&format!("deleted method {method}")), "{out}");
    assert!(out.contains("remove and destroy"), "{out}");

    let out = story.ok(&["--json", "graph", "methods", "--account", BG1], "");
    assert!(
        !out.contains(&method),
        "Entra still lists the method: {out}"
    );
    let out = story.ok(&["ledger", "show"], "");
    let line = out
        .lines()
        .find(|l| l.starts_with("bg1-vault "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("retired"), "{line}");
    let ledger = story.ledger_json();
    let retired: Value = ledger["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["type"] == "key_retired")
        .cloned()
        .expect("key_retired event");
    assert_eq!(retired["event"]["key"], "bg1-vault");
    assert_eq!(retired["event"]["reason"], "lost seal");
    // The audit no longer expects the method in Entra (no "missing" finding, no alert).
    let out = story.run(&["audit", "--online"], "");
    let out = support::text(&out);
    assert!(!out.contains(&method), "{out}");
    assert!(!out.contains("RED ALERT"), "{out}");
    story.ledger_verifies();

    match (before, sheet_text(&mut story, "vault")) {
        (Some(before), Some(after)) => {
            assert!(before.contains("bg1-vault"), "{before}");
            // Out of the envelopes to count; listed once, as an envelope to destroy.
            assert_eq!(after.matches("bg1-vault").count(), 1, "{after}");
            assert!(after.contains("REMOVE AND DESTROY"), "{after}");
            assert!(after.contains("bg2-vault"), "{after}");
        }
        _ => skip::skip("the custody-sheet part: pdftotext (poppler-utils) is not installed"),
    }

    // Destroying the envelope is recorded once, for a retired key only; the sheet then
    // stops asking for it.
    let out = story.exits(
        2,
        &[
            "retire",
            "--key",
            "bg2-vault",
            "--envelope-destroyed",
            "--yes",
        ],
        "",
    );
    assert!(out.contains("not retired"), "{out}");
    let out = story.exits(
        2,
        &["retire", "--key", "bg1-vault", "--envelope-destroyed"],
        "n\n",
    );
    assert!(out.contains("not confirmed"), "{out}");
    let out = story.ok(
        &[
            "retire",
            "--key",
            "bg1-vault",
            "--envelope-destroyed",
            "--operator",
            "Alice",
            "--operator",
            "Bob",
        ],
        "y\n",
    );
    assert!(out.contains("destroyed"), "{out}");
    let ledger = story.ledger_json();
    let destroyed = ledger["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["type"] == "envelope_destroyed")
        .cloned()
        .expect("envelope_destroyed event");
    assert_eq!(destroyed["event"]["key"], "bg1-vault");
    assert_eq!(destroyed["operators"], serde_json::json!(["Alice", "Bob"]));
    story.exits(
        2,
        &[
            "retire",
            "--key",
            "bg1-vault",
            "--envelope-destroyed",
            "--yes",
        ],
        "",
    );
    if let Some(after) = sheet_text(&mut story, "vault") {
        assert!(!after.contains("bg1-vault"), "{after}");
        assert!(!after.contains("REMOVE AND DESTROY"), "{after}");
    }
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_A, PIN_B, PIN_C, PIN_D]);
}

#[test]
fn story_generated_pin_follows_the_kit_policy_and_only_reaches_the_slip() {
    let mut story = Story::new(true, None);
    let path = story.kit.join("glasskey.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    assert!(toml.contains("pin_length = 10"), "{toml}");
    let toml = toml.replace("pin_length = 10", "pin_length = 12").replace(
        "pin_alphabet = \"digits\"",
        "pin_alphabet = \"unambiguous\"",
    );
    std::fs::write(&path, toml).unwrap();
    story.virtual_key("k", "a");
    // The "printer" keeps the slip outside the story's dir, where the PIN may be.
    let printer = tempfile::tempdir().unwrap();
    let slip = printer.path().join("slip.pdf");
    let cmd = format!("cat > {}", slip.display());
    story.ok(
        &[
            "--device",
            "k",
            "enroll",
            "--account",
            BG1,
            "--location",
            "vault",
            "--label",
            "k",
            "--seal",
            "S-1",
            "--pin-slip-cmd",
            &cmd,
        ],
        "",
    );
    let Ok(out) = std::process::Command::new("pdftotext")
        .arg(&slip)
        .arg("-")
        .output()
    else {
        skip::skip("reading the PIN slip: pdftotext (poppler-utils) is not installed");
        return;
    };
    let slip_text = String::from_utf8_lossy(&out.stdout).into_owned();
    let unambiguous = |c: char| "34679ACDEFGHJKLMNPQRTUVWXY".contains(c);
    // The slip prints the PIN spaced out: "A 7 K ...".
    let pin: String = slip_text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() == 12 && w.iter().all(|c| c.len() == 1 && c.chars().all(unambiguous)))
        .unwrap_or_else(|| panic!("no 12-character unambiguous PIN on the slip: {slip_text}"))
        .concat();
    let out = story.check(0, "k", "k", "S-2", Some(&pin), &[]);
    assert!(out.contains("PASSED"), "{out}");
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[&pin]);
}
