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
