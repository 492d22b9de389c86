//! The `--json` contract (docs/json.md): every command that prints results, run
//! with `--json`, leaves exactly one JSON object on stdout — with a `"schema"`
//! naming the command, snake_case keys, lists under `"items"` — whether it
//! succeeds, finds nothing to do, or fails.

mod story_support;

use std::collections::BTreeSet;
use std::process::Output;

use clap::CommandFactory;
use serde_json::Value;
use story_support::{text, Story, BG1, BG2};

const PIN: &str = "4417095528";

/// Commands that print no results: servers and generators of other formats.
const NOT_RESULTS: [&str; 4] = [
    "graph emulator", // a server: prints READY <url> (and --print-state, a state file)
    "keys virtual-serve", // a server
    "completions",    // shell code
    "man",            // roff
];

/// Every leaf command of the CLI, as words ("ledger show").
fn leaf_commands() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
        let mut subs = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .peekable();
        if subs.peek().is_none() {
            out.insert(prefix.trim().to_string());
        }
        for sub in subs {
            walk(sub, &format!("{prefix} {}", sub.get_name()), out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&glasskey::cli::Cli::command(), "", &mut out);
    out
}

/// stdout is one JSON object of `command`'s schema, keys in snake_case.
fn json_of(command: &str, out: &Output) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command}: stdout is not one JSON document ({e}):\n{}",
            text(out)
        )
    });
    let schema = format!("glasskey-{}/1", command.replace(' ', "-"));
    assert_eq!(v["schema"], Value::String(schema), "{command}: {v}");
    assert_snake_case(command, "", &v);
    v
}

fn assert_snake_case(command: &str, path: &str, v: &Value) {
    match v {
        Value::Object(map) => {
            // Maps keyed by data (key labels) are not field names.
            let data_keyed = path.ends_with("/state/keys") || path.ends_with("/info/options");
            for (k, child) in map {
                if !data_keyed {
                    assert!(
                        glasskey::cli::output::is_snake_case(k),
                        "{command}: key '{k}' at {path} is not snake_case"
                    );
                }
                assert_snake_case(command, &format!("{path}/{k}"), child);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_snake_case(command, &format!("{path}/{i}"), item);
            }
        }
        _ => {}
    }
}

/// `keys reset --json` on virtual key `name`, unplugging it when glasskey says
/// "remove" and inserting it when glasskey says "insert".
fn reset_by_replug(story: &Story, name: &str) -> Output {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let dir = story.virtual_dir.clone().unwrap();
    let glasskey = |args: &[&str]| {
        Command::new(story_support::bin())
            .arg("--kit")
            .arg(&story.kit)
            .arg("--virtual")
            .arg(&dir)
            .env("USER", "story-operator")
            .env_remove("GLASSKEY_VIRTUAL")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = glasskey(&["--json", "--device", name, "keys", "reset", "--yes"]);
    let mut stderr = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("remove ") {
            let done = glasskey(&["keys", "virtual-unplug", name]).wait_with_output();
            assert!(done.unwrap().status.success());
        } else if line.starts_with("insert it again") {
            let done = glasskey(&["keys", "virtual-insert", name]).wait_with_output();
            assert!(done.unwrap().status.success());
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    Output {
        status,
        stdout,
        stderr: stderr.into_bytes(),
    }
}

#[test]
fn every_command_with_json_prints_one_object_with_its_schema() {
    let mut covered: BTreeSet<String> = BTreeSet::new();
    let mut story = Story::new(true, None);
    let dir = story.dir().to_path_buf();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let run = |story: &mut Story,
               covered: &mut BTreeSet<String>,
               command: &str,
               args: &[&str],
               stdin: &str,
               code: i32| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = story.run(&all, stdin);
        assert_eq!(out.status.code(), Some(code), "{command}: {}", text(&out));
        covered.insert(command.to_string());
        json_of(command, &out)
    };

    // Nothing is due in an empty kit: still a JSON object, with an empty list.
    let v = run(&mut story, &mut covered, "check", &["check"], "", 0);
    assert_eq!(v["items"], serde_json::json!([]));
    let out = story.run_in(&dir.join("kit2"), &["--json", "ledger", "init"], "");
    assert!(out.status.success(), "{}", text(&out));
    covered.insert("ledger init".into());
    // kit init, signed in to the emulator: the accounts are looked up in Graph.
    let kit_out = story.run_in(
        &dir.join("kit3"),
        &[
            "--json",
            "kit",
            "init",
            "--account",
            BG1,
            "--account",
            BG2,
            "--no-input",
        ],
        "",
    );
    assert!(kit_out.status.success(), "{}", text(&kit_out));
    covered.insert("kit init".into());
    let kv = json_of("kit init", &kit_out);
    assert_eq!(kv["graph_lookup"], "done", "{kv}");
    let kit3 = glasskey::ledger::Kit::open(&dir.join("kit3")).unwrap();
    assert!(kit3.config().accounts.iter().all(|a| a.object_id.is_some()));
    let v = json_of("ledger init", &out);
    assert!(
        v["config"].as_str().unwrap().ends_with("glasskey.toml"),
        "{v}"
    );

    story.virtual_key("bg1-vault-a", "a");
    story.virtual_key("k2", "b");
    let v = run(
        &mut story,
        &mut covered,
        "keys list",
        &["keys", "list"],
        "",
        0,
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 2, "{v}");
    let v = run(
        &mut story,
        &mut covered,
        "keys info",
        &["--device", "k2", "keys", "info"],
        "",
        0,
    );
    let aaguid_b = v["aaguid"].as_str().unwrap().to_string();
    run(
        &mut story,
        &mut covered,
        "keys virtual-create",
        &[
            "keys",
            "virtual-create",
            "--model",
            "b",
            "--out",
            &p("spare.json"),
        ],
        "",
        0,
    );
    let v = run(
        &mut story,
        &mut covered,
        "keys set-pin",
        &["--device", "k2", "keys", "set-pin"],
        "123456\n123456\n",
        0,
    );
    assert_eq!(v["done"], "pin_set");
    run(
        &mut story,
        &mut covered,
        "keys change-pin",
        &["--device", "k2", "keys", "change-pin"],
        "123456\n654321\n654321\n",
        0,
    );
    // A reset is accepted only just after power-up: the key is pulled out and
    // plugged back in when glasskey asks, as an operator would.
    let out = reset_by_replug(&story, "k2");
    assert_eq!(out.status.code(), Some(0), "keys reset: {}", text(&out));
    covered.insert("keys reset".into());
    assert_eq!(json_of("keys reset", &out)["done"], "reset");

    let out = story.enroll_output(
        "bg1-vault-a",
        BG1,
        "vault",
        "bg1-vault-a",
        "S-1",
        PIN,
        &["--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    covered.insert("enroll".into());
    json_of("enroll", &out);

    run(
        &mut story,
        &mut covered,
        "check",
        &[
            "--device",
            "bg1-vault-a",
            "check",
            "--key",
            "bg1-vault-a",
            "--new-seal",
            "S-2",
        ],
        &format!("y\n{PIN}\n"),
        0,
    );
    run(
        &mut story,
        &mut covered,
        "ledger verify",
        &["ledger", "verify"],
        "",
        0,
    );
    let v = run(
        &mut story,
        &mut covered,
        "ledger show",
        &["ledger", "show"],
        "",
        0,
    );
    assert!(v["state"]["keys"]["bg1-vault-a"].is_object(), "{v}");
    run(
        &mut story,
        &mut covered,
        "ledger repair",
        &["ledger", "repair"],
        "",
        0,
    );
    run(
        &mut story,
        &mut covered,
        "report custody",
        &[
            "report",
            "custody",
            "--location",
            "vault",
            "-o",
            &p("c.pdf"),
        ],
        "",
        0,
    );
    run(
        &mut story,
        &mut covered,
        "report check",
        &["report", "check", "-o", &p("r.pdf")],
        "",
        0,
    );
    let v = run(
        &mut story,
        &mut covered,
        "report emergency",
        &["report", "emergency", "-o", &p("e.pdf")],
        "",
        0,
    );
    assert_eq!(
        (v["sheet"].as_str(), v["printed_to"].is_null()),
        (Some("emergency"), true)
    );
    // The program is below policy (one key): the audit answers "no", in JSON.
    let v = run(&mut story, &mut covered, "audit", &["audit"], "", 1);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "fail"));
    run(
        &mut story,
        &mut covered,
        "audit",
        &["audit", "--online"],
        "",
        1,
    );
    let v = run(
        &mut story,
        &mut covered,
        "audit",
        &["audit", "--kql"],
        "",
        0,
    );
    assert!(v["kql"].as_str().unwrap().contains("SigninLogs"), "{v}");

    run(
        &mut story,
        &mut covered,
        "graph methods",
        &["graph", "methods", "--account", BG1],
        "",
        0,
    );
    run(
        &mut story,
        &mut covered,
        "graph preflight",
        &[
            "graph",
            "preflight",
            "--account",
            BG2,
            "--aaguid",
            &aaguid_b,
            "--attested",
        ],
        "",
        0,
    );
    run(
        &mut story,
        &mut covered,
        "graph posture",
        &["graph", "posture", "--account", BG1],
        "",
        0,
    );
    run(
        &mut story,
        &mut covered,
        "graph fetch-options",
        &[
            "graph",
            "fetch-options",
            "--account",
            BG2,
            "--challenge-timeout",
            "60",
            "--out",
            &p("req.json"),
        ],
        "",
        0,
    );
    run(
        &mut story,
        &mut covered,
        "enroll",
        &[
            "--device",
            "k2",
            "enroll",
            "--request",
            &p("req.json"),
            "--out",
            &p("resp.json"),
            "--location",
            "office-safe",
            "--seal",
            "S-9",
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
        ],
        &format!("y\n{PIN}\n{PIN}\n"),
        0,
    );
    let v = run(
        &mut story,
        &mut covered,
        "graph register",
        &["graph", "register", "--response", &p("resp.json")],
        "",
        0,
    );
    assert_eq!(v["items"][0]["outcome"], "registered", "{v}");
    run(
        &mut story,
        &mut covered,
        "retire",
        &[
            "retire",
            "--key",
            "bg1-vault-a",
            "--reason",
            "test",
            "--yes",
        ],
        "",
        0,
    );

    // resume: nothing is half done, still one JSON document.
    let v = run(&mut story, &mut covered, "resume", &["resume"], "", 0);
    assert_eq!(v["items"], serde_json::json!([]), "{v}");
    // A virtual key pulled out and plugged back in.
    for (command, words) in [
        ("keys virtual-unplug", ["keys", "virtual-unplug", "k2"]),
        ("keys virtual-insert", ["keys", "virtual-insert", "k2"]),
    ] {
        run(&mut story, &mut covered, command, &words, "", 0);
    }

    // mds import: the real FIDO Metadata Service BLOB from the test vectors.
    let v = run(
        &mut story,
        &mut covered,
        "mds import",
        &[
            "mds",
            "import",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/vectors/mds/real/blob.jwt"
            ),
        ],
        "",
        0,
    );
    assert!(v["no"].as_u64().is_some(), "{v}");

    // attest verify: a real key's attestation from the test vectors.
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/attestation/py_webauthn-packed-yubico-security-key-nfc.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let hex = vector["attestationObject_hex"].as_str().unwrap();
    let raw: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    std::fs::write(p("att.cbor"), raw).unwrap();
    let cdh = vector["clientDataHash_hex"].as_str().unwrap().to_string();
    run(
        &mut story,
        &mut covered,
        "attest verify",
        &[
            "attest",
            "verify",
            "--attestation-object",
            &p("att.cbor"),
            "--client-data-hash",
            &cdh,
        ],
        "",
        0,
    );

    let v = run(
        &mut story,
        &mut covered,
        "demo",
        &["demo", "--out", &p("demo")],
        "",
        0,
    );
    assert!(v["keys"].is_array(), "{v}");

    // A failure under --json: the error, its next step and exit code, as JSON.
    let out = story.run_in(&dir.join("nowhere"), &["--json", "ledger", "show"], "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "glasskey-error/1");
    assert_eq!(
        (v["command"].as_str(), v["exit_code"].as_i64()),
        (Some("ledger show"), Some(2))
    );
    assert!(v["next"].as_str().unwrap().contains("--kit"), "{v}");

    let missing: Vec<String> = leaf_commands()
        .into_iter()
        .filter(|c| !covered.contains(c) && !NOT_RESULTS.contains(&c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "commands not run with --json here: {missing:?}"
    );
}

/// A command line clap refuses is still answered in JSON under `--json`: the error object,
/// exit 2 — a script never has to parse clap's text.
#[test]
fn usage_errors_under_json_are_the_error_object() {
    for args in [
        vec!["--json", "keys", "lsit"],
        vec!["enroll", "--json", "--no-such-option"],
        vec!["--json", "report", "custody", "-o"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_glasskey"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", text(&out)));
        assert_eq!(v["schema"], "glasskey-error/1", "{v}");
        assert_eq!(v["exit_code"], 2);
        assert!(!v["error"].as_str().unwrap().is_empty(), "{v}");
        assert!(v["next"].as_str().unwrap().contains("--help"), "{v}");
        // clap's own message still reaches the terminal.
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    }
    // Without --json, stdout stays empty.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .args(["keys", "lsit"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
