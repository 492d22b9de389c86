//! The split (air-gapped) ceremony through the binary: fetch-options online, enroll
//! offline from the request bundle, register online — then re-register (nothing
//! duplicated) and check that the ledger knows the Entra method.

mod story_support;

use story_support::Story;

const PIN: &str = "4417095528";

#[test]
fn fetch_enroll_offline_register_and_rerun() {
    let mut story = Story::new(true, None);
    story.virtual_key("bg2-vault-a", "a");
    let req = story.dir().join("req.json");
    let resp = story.dir().join("resp.json");
    let (req_s, resp_s) = (
        req.to_str().unwrap().to_string(),
        resp.to_str().unwrap().to_string(),
    );
    story.ok(
        &[
            "graph",
            "fetch-options",
            "--account",
            "bg2@contoso.onmicrosoft.com",
            "--challenge-timeout",
            "60",
            "--out",
            &req_s,
        ],
        "",
    );
    story.ok(
        &[
            "enroll",
            "--request",
            &req_s,
            "--out",
            &resp_s,
            "--location",
            "vault",
            "--seal",
            "S-77",
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
        ],
        &format!("y\n{PIN}\n{PIN}\n"),
    );
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&resp).unwrap()).unwrap();
    assert_eq!(bundle["format"], "glasskey-response/1");
    story.ok(&["graph", "register", "--response", &resp_s], "");
    let again = story.ok(&["graph", "register", "--response", &resp_s], "");
    assert!(again.contains("already registered"), "{again}");
    let shown = story.ok(&["--json", "ledger", "show"], "");
    assert_eq!(shown.matches("registered_in_entra").count(), 1, "{shown}");
    // One key for one account fails the program policy, but raises no rogue-method alert.
    let audit = story.exits(1, &["audit", "--online"], "");
    assert!(!audit.contains("RED ALERT"), "{audit}");
    story.assert_no_pin_anywhere(&[PIN]);
}

/// Retire K1 offline (its method stays in Entra), enroll a replacement K2 of the
/// same model with the same label through the split ceremony: `graph register`
/// must POST K2, not mistake K1's method (same AAGUID, same display name) for it.
#[test]
fn a_replacement_with_the_same_label_is_registered_not_mistaken_for_the_retired_key() {
    let mut story = Story::new(true, None);
    let split = |story: &mut Story, n: u32| -> String {
        let req = story.dir().join(format!("req{n}.json"));
        let resp = story.dir().join(format!("resp{n}.json"));
        let (req_s, resp_s) = (
            req.to_str().unwrap().to_string(),
            resp.to_str().unwrap().to_string(),
        );
        story.ok(
            &[
                "graph",
                "fetch-options",
                "--account",
                "bg2@contoso.onmicrosoft.com",
            ]
            .into_iter()
            .chain(["--challenge-timeout", "60", "--out", &req_s])
            .collect::<Vec<_>>(),
            "",
        );
        story.ok(
            &[
                "enroll",
                "--request",
                &req_s,
                "--out",
                &resp_s,
                "--location",
                "vault",
                "--label",
                "bg2-vault-a",
                "--seal",
                &format!("S-{n}"),
                "--pin-prompt",
                "--pin-slip-cmd",
                "cat > /dev/null",
            ],
            &format!("y\n{PIN}\n{PIN}\n"),
        );
        resp_s
    };
    story.virtual_key("k1", "a");
    let resp1 = split(&mut story, 1);
    let first = story.ok(&["--json", "graph", "register", "--response", &resp1], "");
    assert!(first.contains("\"registered\""), "{first}");
    story.ok(
        &["retire", "--key", "bg2-vault-a", "--offline", "--yes"],
        "",
    );
    std::fs::remove_file(story.dir().join("keys/k1.json")).unwrap();
    story.virtual_key("k2", "a");
    let resp2 = split(&mut story, 2);
    let second = story.ok(&["--json", "graph", "register", "--response", &resp2], "");
    assert!(!second.contains("alreadyRegistered"), "{second}");
    assert!(second.contains("\"registered\""), "{second}");
    // The ledger records K2's credential with K2's own method, not K1's.
    let ledger = story.ledger_json();
    let regs: Vec<&serde_json::Value> = ledger["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "registered_in_entra")
        .collect();
    assert_eq!(regs.len(), 2, "{ledger}");
    assert_ne!(regs[0]["event"]["method_id"], regs[1]["event"]["method_id"]);
    assert_ne!(
        regs[0]["event"]["credential_id"],
        regs[1]["event"]["credential_id"]
    );
}
