//! The operator story with two independent authenticators as the two key
//! models: trussed's fido-authenticator (Nitrokey 3 / Solo 2 firmware, test
//! attestation certificate) and Google's OpenSK (self attestation). glasskey
//! must refuse both by default — neither proves a trusted model — and accept
//! them when the kit policy knowingly allows it; then enroll bg1 and bg2 at the
//! vault and the office safe, check, audit, and catch a swap and a wrong PIN.
//! Skips loudly when the peers are not built (`eval "$(../shared/peers/build.sh)"`).

#[path = "support/skip.rs"]
mod skip;
#[path = "story_support/mod.rs"]
mod support;

use std::process::Command;

use support::{spawn_ready, text, Proc, Story, BG1, BG2};

const PIN_T1: &str = "6403917258";
const PIN_O1: &str = "3829176045";
const PIN_O2: &str = "9157320864";
const PIN_T2: &str = "2750486139";
const PIN_REFUSED: &str = "8014695273";

#[derive(Clone, Copy)]
enum Model {
    Trussed,
    OpenSk,
}

/// A fresh peer authenticator on a Unix socket ("plugged in"); None when not built.
fn plug(model: Model, dir: &std::path::Path, name: &str) -> Option<Proc> {
    let var = match model {
        Model::Trussed => "TRUSSED_PEER",
        Model::OpenSk => "OPENSK_PEER",
    };
    let Ok(bin) = std::env::var(var) else {
        skip::skip(&format!(
            "{var} is not set; build the peers with `eval \"$(../shared/peers/build.sh)\"` to run the peer story"
        ));
        return None;
    };
    let mut cmd = Command::new(bin);
    cmd.arg("--unix").arg(dir.join(format!("{name}.sock")));
    Some(spawn_ready(cmd))
}

/// Turn on the kit policy switches that accept the peers' attestations.
fn allow_peer_attestation(story: &Story) {
    let path = story.kit.join("glasskey.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    assert!(toml.contains("allow_self_attestation = false"), "{toml}");
    let toml = toml
        .replace(
            "allow_self_attestation = false",
            "allow_self_attestation = true",
        )
        .replace("allow_unknown_root = false", "allow_unknown_root = true");
    std::fs::write(&path, toml).unwrap();
}

#[test]
fn story_peers_as_the_two_models() {
    let sockets = tempfile::tempdir().unwrap();
    let (Some(t0), Some(o0)) = (
        plug(Model::Trussed, sockets.path(), "t0"),
        plug(Model::OpenSk, sockets.path(), "o0"),
    ) else {
        return;
    };
    let mut story = Story::new(false, None);

    // Default policy: a test certificate and self attestation are both refused (exit 1).
    let out = story.enroll_output(
        &t0.address,
        BG1,
        "vault",
        "refused-t",
        "R-1",
        PIN_REFUSED,
        &[],
    );
    // Refused by the preflight, before the key is touched (exit 2).
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("no attestation root"), "{said}");
    assert!(
        said.contains("allow_unknown_root"),
        "the next step names the switch: {said}"
    );
    let out = story.enroll_output(
        &o0.address,
        BG1,
        "vault",
        "refused-o",
        "R-2",
        PIN_REFUSED,
        &[],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("no attestation root"), "{said}");
    assert!(said.contains("allow_self_attestation"), "{said}");
    let ledger = story.ledger_json();
    assert!(
        ledger["state"]["keys"].as_object().unwrap().is_empty(),
        "a refused key is not in the ledger: {ledger}"
    );
    // …and nothing was abandoned: the keys were never touched.
    let warnings = ledger["state"]["warnings"].to_string();
    assert!(!warnings.contains("abandoned"), "{warnings}");
    let out = story.ok(&["--json", "graph", "methods", "--account", BG1], "");
    assert!(!out.contains("\"id\""), "nothing was registered: {out}");
    drop((t0, o0));

    // The kit knowingly accepts them: two models, two locations, two accounts.
    allow_peer_attestation(&story);
    let plan = [
        (Model::Trussed, "bg1-vault", BG1, "vault", "S-1", PIN_T1),
        (Model::OpenSk, "bg1-safe", BG1, "office-safe", "S-2", PIN_O1),
        (Model::OpenSk, "bg2-vault", BG2, "vault", "S-3", PIN_O2),
        (
            Model::Trussed,
            "bg2-safe",
            BG2,
            "office-safe",
            "S-4",
            PIN_T2,
        ),
    ];
    let mut keys = Vec::new();
    for (model, label, account, location, seal, pin) in plan {
        let Some(peer) = plug(model, sockets.path(), label) else {
            return;
        };
        story.enroll(&peer.address, account, location, label, seal, pin);
        keys.push(peer);
    }
    let ledger = story.ledger_json();
    let models: std::collections::BTreeSet<String> = ledger["state"]["keys"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["aaguid"].to_string())
        .collect();
    assert_eq!(models.len(), 2, "two models: {models:?}");

    for (i, (_, label, _, _, _, pin)) in plan.iter().enumerate() {
        let seal = format!("C-{i}");
        let out = story.check(0, &keys[i].address, label, &seal, Some(pin), &["--online"]);
        assert!(
            out.contains("PASSED") && out.contains("[OK] entra_registered"),
            "{out}"
        );
    }
    let out = story.ok(&["audit", "--online"], "");
    assert!(out.contains("2 keys, 2 models, 2 locations"), "{out}");

    // The OpenSK key in the trussed key's envelope: another model.
    let out = story.check(1, &keys[1].address, "bg1-vault", "C-9", Some(PIN_T1), &[]);
    assert!(
        out.contains("[FAIL] model") && out.contains("swapped"),
        "{out}"
    );
    // A slip with the wrong PIN, on each model: retyped once, refused again —
    // only that repeated refusal is evidence for re-enrolling.
    for (i, label) in [(0, "bg1-vault"), (1, "bg1-safe")] {
        let seal = format!("W-{i}");
        let out = story.exits(
            1,
            &[
                "--device",
                &keys[i].address,
                "check",
                "--key",
                label,
                "--new-seal",
                &seal,
            ],
            "y\n0000000000\ny\n0000000000\nn\n",
        );
        assert!(
            out.contains("[FAIL] pin")
                && out.contains("refused 2 times")
                && out.to_lowercase().contains("re-enroll"),
            "{out}"
        );
    }
    // The right PIN still works (the wrong ones cost two retries, not the key).
    let out = story.check(0, &keys[0].address, "bg1-vault", "C-10", Some(PIN_T1), &[]);
    assert!(out.contains("PASSED"), "{out}");
    story.exits(1, &["audit"], "");
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN_T1, PIN_O1, PIN_O2, PIN_T2, PIN_REFUSED]);
}
