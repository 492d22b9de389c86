//! The fault matrix: each ceremony (online enroll, split enroll of two items,
//! register, check, retire) is interrupted at each of its step boundaries by
//! each fault (SIGINT, SIGKILL, a failing printer, Graph 503, a read-only kit,
//! the key pulled out under the open device). Afterwards `glasskey resume` (or a re-run) must reach the
//! same end state as an uninterrupted run — or stop with exactly one next step —
//! and no key may be left with a PIN that neither the ledger nor the journal knows.
//! The matrix size and its results are printed at the end.

#[path = "story_support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{text, Story, BG1};

const PIN: &str = "5718293046";

#[derive(Clone, Copy, Debug)]
enum Fault {
    Sigint,
    Sigkill,
    /// The key pulled out of its port (`keys virtual-unplug` under the open device),
    /// then put back once glasskey has ended.
    KeyRemoved,
}

/// A glasskey run whose stdin we feed and whose stderr we watch.
struct Run {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    seen: Arc<Mutex<String>>,
}

impl Run {
    fn start(story: &Story, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(support::bin());
        cmd.arg("--kit").arg(&story.kit);
        cmd.arg("--virtual")
            .arg(story.virtual_dir.as_ref().unwrap());
        let url = story.emulator.address.clone();
        cmd.args([
            "--graph-url",
            &url,
            "--login-url",
            &url,
            "--tenant",
            support::TENANT,
        ]);
        cmd.args(["--client-id", "11111111-1111-1111-1111-111111111111"]);
        cmd.env("GLASSKEY_CLIENT_SECRET", "emulator-secret");
        cmd.env_remove("GLASSKEY_VIRTUAL");
        // Events name who was present: $USER when no --operator is given.
        cmd.env("USER", "story-operator");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let seen = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let stdin = child.stdin.take();
        Run { child, stdin, seen }
    }

    fn say(&mut self, line: &str) {
        if let Some(s) = &mut self.stdin {
            let _ = writeln!(s, "{line}");
        }
    }

    /// Wait until the output shows `text` (or the run ended); true when shown.
    fn wait_for(&mut self, text: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if self.seen.lock().unwrap().contains(text) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                return self.seen.lock().unwrap().contains(text);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn hit(&mut self, fault: Fault) -> Option<i32> {
        let sig = match fault {
            Fault::Sigint => "-INT",
            Fault::Sigkill | Fault::KeyRemoved => "-KILL",
        };
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
        self.finish()
    }

    fn finish(&mut self) -> Option<i32> {
        self.stdin = None;
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!(
                    "glasskey hung after the fault:\n{}",
                    self.seen.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> String {
        self.seen.lock().unwrap().clone()
    }
}

fn key_file(story: &Story, name: &str) -> PathBuf {
    story
        .virtual_dir
        .as_ref()
        .unwrap()
        .join(format!("{name}.json"))
}

fn key_state(story: &Story, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(key_file(story, name)).unwrap()).unwrap()
}

/// No key with a PIN that neither the ledger nor the journal knows.
fn no_orphan_pin(story: &mut Story, key: &str, label: &str) -> bool {
    if key_state(story, key)["pin"].is_null() {
        return true;
    }
    let in_ledger = story.ledger_json()["events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["event"]["key"] == label));
    let in_journal = story
        .kit
        .join("journal")
        .join(format!("{label}.json"))
        .exists();
    in_ledger || in_journal
}

/// Answer `resume` until nothing is half done; a reset is done by re-plugging.
fn resume_to_the_end(story: &mut Story, key: &str) -> String {
    let mut log = String::new();
    for _ in 0..4 {
        let out = story.ok(&["resume", "--dry-run"], "");
        if out.contains("nothing is half done") {
            return log;
        }
        log.push_str(&out);
        let mut run = Run::start(story, &["--device", key, "resume"], &[]);
        if out.contains("abandoned — reset the key") {
            run.say("y");
            if run.wait_for("remove key") {
                let _ = story.run(&["keys", "virtual-unplug", key], "");
                if run.wait_for("insert it again") {
                    let _ = story.run(&["keys", "virtual-insert", key], "");
                }
            }
        } else if out.contains("continue with the PIN") {
            run.say("y");
            run.say(PIN);
            run.say("S-R");
        } else {
            run.say("S-R");
        }
        let code = run.finish();
        log.push_str(&run.output());
        assert!(code.is_some(), "resume died:\n{log}");
    }
    panic!("resume did not finish:\n{log}");
}

/// The end state of an online enrollment of `label`: sealed, registered, in Entra
/// once — or, when the journal said it must be reset, reset with no PIN.
fn enrolled_or_reset(story: &mut Story, key: &str, label: &str) -> &'static str {
    let ledger = story.ledger_json();
    let k = &ledger["state"]["keys"][label];
    if k.is_object() && k["retired"].is_null() {
        assert_eq!(k["custody"]["status"], "sealed", "{k}");
        let method = k["credentials"][0]["entra"]["method_id"]
            .as_str()
            .expect("registered")
            .to_string();
        let methods = story.ok(&["--json", "graph", "methods", "--account", BG1], "");
        assert_eq!(methods.matches(&method).count(), 1, "{methods}");
        "enrolled"
    } else {
        assert!(key_state(story, key)["pin"].is_null(), "the key kept a PIN");
        "no key change left"
    }
}

struct Tally {
    cells: usize,
    outcomes: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn add(&mut self, outcome: &str) {
        self.cells += 1;
        *self.outcomes.entry(outcome.to_string()).or_default() += 1;
    }
}

/// Online enroll, interrupted at each step boundary by SIGINT and SIGKILL.
#[test]
fn fault_matrix_online_enroll() {
    let mut tally = Tally {
        cells: 0,
        outcomes: Default::default(),
    };
    // Boundaries, each with the output that marks it and the env that holds it open.
    let boundaries: [(&str, &str, &str); 4] = [
        ("pin_prompt", "new PIN for the key", ""),
        (
            "printing",
            "printing the PIN slip",
            "sleep 3; cat > /dev/null",
        ),
        ("touch", "creating the credential", ""),
        ("seal_prompt", "type the seal number", ""),
    ];
    for (i, (boundary, marker, printer)) in boundaries.iter().enumerate() {
        for fault in [Fault::Sigint, Fault::Sigkill, Fault::KeyRemoved] {
            let mut story = Story::new(true, None);
            let key = format!("k{i}");
            story.virtual_key(&key, "a");
            let label = "BG1-VAULT-A";
            let printer = if printer.is_empty() {
                "cat > /dev/null"
            } else {
                printer
            };
            // Long enough that the fault lands while the key still waits for the touch,
            // however loaded the machine (the faults end the run at once, so it costs nothing).
            let up = if *boundary == "touch" {
                "delay:8000"
            } else {
                "approve"
            };
            let mut run = Run::start(
                &story,
                &[
                    "--device",
                    &key,
                    "enroll",
                    "--account",
                    BG1,
                    "--location",
                    "vault",
                    "--label",
                    label,
                    "--pin-prompt",
                    "--pin-slip-cmd",
                    printer,
                    "--operator",
                    "Alice",
                ],
                &[("GLASSKEY_VIRTUAL_UP", up)],
            );
            if *boundary != "pin_prompt" {
                run.say(PIN);
                run.say(PIN);
            }
            assert!(run.wait_for(marker), "{boundary}: {}", run.output());
            if let Fault::KeyRemoved = fault {
                // Pulled out at once (a rename, as `keys virtual-unplug` does), not after
                // starting another process.
                glasskey::virtual_key::unplug(story.virtual_dir.as_ref().unwrap(), &key).unwrap();
                // Answer the prompt glasskey waits at, so it goes on to meet the missing key.
                match *boundary {
                    "pin_prompt" => {
                        run.say(PIN);
                        run.say(PIN);
                    }
                    "seal_prompt" => run.say("S-1"),
                    _ => {}
                }
                let code = run.finish();
                // At the seal prompt the key's work is done: the run ends well. Elsewhere
                // the key is gone: a device failure (3) naming `resume` — or, on a machine
                // so loaded that the key finished its step before the pull, the run stops
                // at the seal prompt (2, stdin closed), which `resume` finishes too. Never a
                // hang or a panic; the end state is checked below either way.
                if *boundary == "seal_prompt" {
                    assert_eq!(code, Some(0), "{boundary} key removed: {}", run.output());
                } else {
                    assert!(
                        matches!(code, Some(2 | 3)),
                        "{boundary} key removed: exit {code:?}: {}",
                        run.output()
                    );
                    assert!(
                        run.output().contains("glasskey resume"),
                        "{boundary}: the next step is named: {}",
                        run.output()
                    );
                }
                story.ok(&["keys", "virtual-insert", &key], "");
            } else {
                let code = run.hit(fault);
                if matches!(fault, Fault::Sigint) {
                    assert_eq!(code, Some(130), "{boundary} SIGINT: {}", run.output());
                }
            }
            assert!(
                no_orphan_pin(&mut story, &key, label),
                "{boundary} {fault:?}: orphan PIN"
            );
            let log = resume_to_the_end(&mut story, &key);
            let mut end = enrolled_or_reset(&mut story, &key, label);
            if end == "no key change left" {
                // One clear next step: enroll again; it reaches the same end state.
                enroll_clean(&mut story, &key, label, "S-2");
                assert_eq!(
                    enrolled_or_reset(&mut story, &key, label),
                    "enrolled",
                    "{log}"
                );
                end = "nothing to finish (untouched or reset): re-run enrolled it";
            }
            story.ledger_verifies();
            tally.add(&format!("{boundary}/{fault:?}: {end}"));
        }
    }
    eprintln!("online enroll fault matrix: {} cells", tally.cells);
    for (k, v) in &tally.outcomes {
        eprintln!("  {k}: {v}");
    }
}

/// Printer failing and Graph failing (503) during online enroll.
#[test]
fn fault_matrix_printer_and_graph_failures() {
    // A printer that fails: the PIN is lost, resume resets the key, a re-run enrolls.
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let out = story.run(
        &[
            "--device",
            "k",
            "enroll",
            "--account",
            BG1,
            "--location",
            "vault",
            "--label",
            "K",
            "--seal",
            "S-1",
            "--pin-prompt",
            "--pin-slip-cmd",
            "exit 1",
            "--operator",
            "Alice",
        ],
        &format!("{PIN}\n{PIN}\nn\n"),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(no_orphan_pin(&mut story, "k", "K"));
    let plan = story.ok(&["resume", "--dry-run"], "");
    assert!(plan.contains("abandoned — reset the key"), "{plan}");
    let audit = text(&story.run(&["audit"], ""));
    assert!(audit.contains("abandoned"), "{audit}");
    resume_to_the_end(&mut story, "k");
    assert!(key_state(&story, "k")["pin"].is_null());
    let audit = text(&story.run(&["audit"], ""));
    assert!(
        !audit.contains("was abandoned"),
        "the warning must clear after the reset: {audit}"
    );
}

/// Enroll one key the uninterrupted way.
fn enroll_clean(story: &mut Story, key: &str, label: &str, seal: &str) {
    story.ok(
        &[
            "--device",
            key,
            "enroll",
            "--account",
            BG1,
            "--location",
            "vault",
            "--label",
            label,
            "--seal",
            seal,
            "--pin-prompt",
            "--pin-slip-cmd",
            "cat > /dev/null",
            "--operator",
            "Alice",
        ],
        &format!("{PIN}\n{PIN}\n"),
    );
}

/// check, interrupted at each boundary: the open envelope shows as OPEN; `resume`
/// names the one next step (check again, or reseal), which reaches a passed,
/// resealed check.
#[test]
fn fault_matrix_check() {
    let mut tally = Tally {
        cells: 0,
        outcomes: Default::default(),
    };
    let boundaries: [(&str, &str, &str); 3] = [
        ("plugged_prompt", "plugged in", ""),
        ("pin_prompt", "PIN from the slip", "y"),
        ("reseal_prompt", "new seal number", "y"),
    ];
    for (boundary, marker, first) in boundaries {
        for fault in [Fault::Sigint, Fault::Sigkill, Fault::KeyRemoved] {
            let mut story = Story::new(true, None);
            story.virtual_key("k", "a");
            enroll_clean(&mut story, "k", "K", "S-1");
            let mut run = Run::start(&story, &["--device", "k", "check", "--key", "K"], &[]);
            if !first.is_empty() {
                run.say(first);
            }
            if boundary == "reseal_prompt" {
                run.say(PIN);
            }
            assert!(run.wait_for(marker), "{boundary}: {}", run.output());
            let retries_before = key_state(&story, "k")["pin_retries"].clone();
            let mut resealed = false;
            if let Fault::KeyRemoved = fault {
                story.ok(&["keys", "virtual-unplug", "k"], "");
                run.say(match boundary {
                    "plugged_prompt" => "y",
                    "pin_prompt" => PIN,
                    _ => "S-2",
                });
                let code = run.finish();
                resealed = boundary == "reseal_prompt";
                // Once the check has its answer the key is not needed to reseal.
                let want = if resealed { 0 } else { 3 };
                assert_eq!(code, Some(want), "{boundary} key removed: {}", run.output());
                story.ok(&["keys", "virtual-insert", "k"], "");
                // A pulled key spends no PIN retry.
                assert_eq!(key_state(&story, "k")["pin_retries"], retries_before);
            } else {
                let code = run.hit(fault);
                if matches!(fault, Fault::Sigint) {
                    assert_eq!(code, Some(130), "{boundary} SIGINT: {}", run.output());
                }
            }
            let audit = text(&story.run(&["audit"], ""));
            assert_eq!(audit.contains("OPEN"), !resealed, "{boundary}: {audit}");
            let plan = story.ok(&["resume", "--dry-run"], "");
            let end = if resealed {
                assert!(plan.contains("nothing is half done"), "{plan}");
                "finished: the key was not needed to reseal"
            } else if plan.contains("check --key") {
                story.check(0, "k", "K", "S-2", Some(PIN), &[]);
                "one next step: check again, passed"
            } else {
                assert!(plan.contains("type the new seal"), "{plan}");
                story.ok(&["resume"], "S-2\n");
                "resume resealed the checked key"
            };
            let ledger = story.ledger_json();
            assert_eq!(ledger["state"]["keys"]["K"]["custody"]["seal"], "S-2");
            assert_eq!(
                ledger["state"]["keys"]["K"]["checks"]
                    .as_array()
                    .and_then(|c| c.last())
                    .map(|c| c["passed"].clone()),
                Some(serde_json::Value::Bool(true)),
                "{boundary}"
            );
            assert!(story
                .ok(&["resume", "--dry-run"], "")
                .contains("nothing is half done"));
            let audit = text(&story.run(&["audit"], ""));
            assert!(!audit.contains("OPEN:"), "{audit}");
            story.ledger_verifies();
            tally.add(&format!("{boundary}/{fault:?}: {end}"));
        }
    }
    eprintln!("check fault matrix: {} cells", tally.cells);
    for (k, v) in &tally.outcomes {
        eprintln!("  {k}: {v}");
    }
}

/// Inject faults into the running emulator (its control endpoint).
fn emulator_faults(story: &Story, faults: serde_json::Value) {
    let addr = story
        .emulator
        .address
        .trim_start_matches("http://")
        .to_string();
    let body = serde_json::json!({ "faults": faults }).to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /.glasskey-emulator/control HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
}

/// Make `key` the only virtual key plugged in.
fn plug_only(story: &mut Story, key: &str, all: &[&str]) {
    for k in all {
        let plugged = key_file(story, k).exists();
        if *k == key && !plugged {
            story.ok(&["keys", "virtual-insert", k], "");
        } else if *k != key && plugged {
            story.ok(&["keys", "virtual-unplug", k], "");
        }
    }
}

fn bundle_accounts(path: &std::path::Path) -> Vec<String> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["account"]["userPrincipalName"].as_str().map(String::from))
        .collect()
}

/// Split enroll with two items (one key each), interrupted at each boundary;
/// `resume` and a re-run (which skips finished items) reach a bundle with both
/// items, and `graph register` then registers both.
#[test]
fn fault_matrix_split_enroll_and_register() {
    let mut tally = Tally {
        cells: 0,
        outcomes: Default::default(),
    };
    let bg2 = "bg2@contoso.onmicrosoft.com";
    let accounts = [(BG1, "k1"), (bg2, "k2")];
    // (boundary, marker, answers before it: "swap" plugs key 2 in)
    let boundaries: [(&str, &str, &[&str]); 4] = [
        ("item1_pin_prompt", "new PIN for the key", &["y"]),
        (
            "item1_seal_prompt",
            "type the seal number",
            &["y", PIN, PIN],
        ),
        ("item2_ready_prompt", "for bg2@", &["y", PIN, PIN, "S-1"]),
        (
            "item2_seal_prompt",
            "type the seal number",
            &["y", PIN, PIN, "S-1", "swap", "y", PIN, PIN],
        ),
    ];
    for (boundary, marker, answers) in boundaries {
        for fault in [Fault::Sigint, Fault::Sigkill] {
            let mut story = Story::new(true, None);
            story.virtual_key("k1", "a");
            story.virtual_key("k2", "b");
            plug_only(&mut story, "k1", &["k1", "k2"]);
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
                    BG1,
                    "--account",
                    bg2,
                    "--challenge-timeout",
                    "60",
                    "--out",
                    &req_s,
                ],
                "",
            );
            let args = [
                "enroll",
                "--request",
                &req_s,
                "--out",
                &resp_s,
                "--location",
                "vault",
                "--pin-prompt",
                "--pin-slip-cmd",
                "cat > /dev/null",
                "--operator",
                "Alice",
            ];
            let mut run = Run::start(&story, &args, &[]);
            for a in answers {
                if *a == "swap" {
                    assert!(run.wait_for("for bg2@"), "{}", run.output());
                    plug_only(&mut story, "k2", &["k1", "k2"]);
                } else {
                    run.say(a);
                }
            }
            if boundary == "item2_seal_prompt" {
                // Wait for the second seal prompt, not the first.
                let start = Instant::now();
                while run.output().matches("type the seal number").count() < 2
                    && start.elapsed() < Duration::from_secs(30)
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            assert!(run.wait_for(marker), "{boundary}: {}", run.output());
            let code = run.hit(fault);
            if matches!(fault, Fault::Sigint) {
                assert_eq!(code, Some(130), "{boundary} SIGINT: {}", run.output());
            }
            for (_, key) in accounts {
                if key_file(&story, key).exists() {
                    let label = if key == "k1" {
                        "BG1-VAULT-A"
                    } else {
                        "BG2-VAULT-A"
                    };
                    assert!(
                        no_orphan_pin(&mut story, key, label),
                        "{boundary} {fault:?}"
                    );
                }
            }
            let plugged = if key_file(&story, "k1").exists() {
                "k1"
            } else {
                "k2"
            };
            resume_to_the_end(&mut story, plugged);
            let mut reruns = 0;
            for (account, key) in accounts {
                if bundle_accounts(&resp).iter().any(|a| a == account) {
                    continue;
                }
                plug_only(&mut story, key, &["k1", "k2"]);
                let out = story.run(&args, &format!("y\n{PIN}\n{PIN}\nS-{key}\n"));
                assert!(
                    bundle_accounts(&resp).iter().any(|a| a == account),
                    "{boundary} {fault:?}: re-run did not finish {account}: {}",
                    text(&out)
                );
                reruns += 1;
            }
            assert_eq!(bundle_accounts(&resp).len(), 2);
            story.ok(&["graph", "register", "--response", &resp_s], "");
            let ledger = story.ledger_json();
            for label in ["BG1-VAULT-A", "BG2-VAULT-A"] {
                let k = &ledger["state"]["keys"][label];
                assert_eq!(
                    k["custody"]["status"], "sealed",
                    "{boundary} {fault:?} {label}: {k}"
                );
                assert!(
                    k["credentials"][0]["entra"].is_object(),
                    "{boundary}: {label} not registered"
                );
            }
            story.ledger_verifies();
            tally.add(&format!(
                "{boundary}/{fault:?}: both registered after resume + {reruns} re-run(s)"
            ));
        }
    }
    // register itself: the answer lost after Entra applied it, then a hang; re-runs.
    for (name, fault) in [
        (
            "register_answer_lost",
            serde_json::json!([{ "route": "register", "drop_after_apply": true, "times": 1 }]),
        ),
        (
            "register_503",
            serde_json::json!([{ "route": "register", "status": 503, "times": 5 }]),
        ),
    ] {
        let mut story = Story::new(true, None);
        story.virtual_key("k1", "a");
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
                BG1,
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
                "S-1",
                "--pin-prompt",
                "--pin-slip-cmd",
                "cat > /dev/null",
                "--operator",
                "Alice",
            ],
            &format!("y\n{PIN}\n{PIN}\n"),
        );
        emulator_faults(&story, fault);
        let first = story.run(&["graph", "register", "--response", &resp_s], "");
        let mut runs = 1;
        while !story
            .run(&["graph", "register", "--response", &resp_s], "")
            .status
            .success()
        {
            runs += 1;
            assert!(
                runs < 6,
                "{name}: register never succeeded: {}",
                text(&first)
            );
        }
        let methods = story.ok(&["--json", "graph", "methods", "--account", BG1], "");
        let ledger = story.ledger_json();
        let method = ledger["state"]["keys"]["BG1-VAULT-A"]["credentials"][0]["entra"]["method_id"]
            .as_str()
            .expect("registered")
            .to_string();
        assert_eq!(methods.matches(&method).count(), 1, "{name}: {methods}");
        tally.add(&format!("{name}: registered once after {runs} re-run(s)"));
    }
    eprintln!(
        "split enroll + register fault matrix: {} cells",
        tally.cells
    );
    for (k, v) in &tally.outcomes {
        eprintln!("  {k}: {v}");
    }
}

/// retire, interrupted at its confirmation and at the re-plug of its reset.
#[test]
fn fault_matrix_retire() {
    let mut tally = Tally {
        cells: 0,
        outcomes: Default::default(),
    };
    for (boundary, args, marker) in [
        (
            "confirm_prompt",
            vec!["--device", "k", "retire", "--key", "K"],
            "retire key K",
        ),
        (
            "reset_replug",
            vec!["--device", "k", "retire", "--key", "K", "--reset", "--yes"],
            "remove key K",
        ),
    ] {
        for fault in [Fault::Sigint, Fault::Sigkill] {
            let mut story = Story::new(true, None);
            story.virtual_key("k", "a");
            enroll_clean(&mut story, "k", "K", "S-1");
            let method = story.ledger_json()["state"]["keys"]["K"]["credentials"][0]["entra"]
                ["method_id"]
                .as_str()
                .unwrap()
                .to_string();
            let mut run = Run::start(&story, &args, &[]);
            assert!(run.wait_for(marker), "{boundary}: {}", run.output());
            let code = run.hit(fault);
            if matches!(fault, Fault::Sigint) {
                assert_eq!(code, Some(130), "{boundary} SIGINT: {}", run.output());
            }
            let log = resume_to_the_end(&mut story, "k");
            let retired = !story.ledger_json()["state"]["keys"]["K"]["retired"].is_null();
            let end = if retired {
                "resume finished the retirement"
            } else {
                story.ok(&["--device", "k", "retire", "--key", "K", "--yes"], "");
                "nothing changed: re-run retired it"
            };
            assert!(
                !story.ledger_json()["state"]["keys"]["K"]["retired"].is_null(),
                "{log}"
            );
            let methods = story.ok(&["--json", "graph", "methods", "--account", BG1], "");
            assert!(
                !methods.contains(&method),
                "{boundary}: method still in Entra"
            );
            story.ledger_verifies();
            tally.add(&format!("{boundary}/{fault:?}: {end}"));
        }
    }
    eprintln!("retire fault matrix: {} cells", tally.cells);
    for (k, v) in &tally.outcomes {
        eprintln!("  {k}: {v}");
    }
}

/// A kit on its own small tmpfs, so the disk can fill up or turn read-only under a run.
/// Unmounted on drop. `None` where this test cannot mount (not root).
struct KitDisk {
    mount: PathBuf,
}

impl KitDisk {
    fn put_kit_on_it(story: &mut Story) -> Option<KitDisk> {
        let mount = story.dir().join("kitfs");
        std::fs::create_dir_all(&mount).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"])
            .arg(&mount)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            return None;
        }
        let disk = KitDisk { mount };
        let copied = Command::new("cp")
            .arg("-a")
            .arg(story.kit.join("."))
            .arg(&disk.mount)
            .status()
            .is_ok_and(|s| s.success());
        assert!(copied, "cannot copy the kit onto the tmpfs");
        story.kit = disk.mount.clone();
        Some(disk)
    }

    /// Fill every free byte (as a full disk is).
    fn fill(&self) {
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", self.mount.join("filler").display()))
            .stderr(Stdio::null())
            .status();
    }

    fn read_only(&self, on: bool) {
        let opt = if on { "remount,ro" } else { "remount,rw" };
        let ok = Command::new("mount")
            .args(["-o", opt])
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -o {opt} failed");
    }

    fn heal(&self) {
        self.read_only(false);
        let _ = std::fs::remove_file(self.mount.join("filler"));
    }
}

impl Drop for KitDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Online enroll while the kit's disk fills up or turns read-only at each step boundary:
/// glasskey stops with a clear next step (never a panic or a hang), no key is left with a
/// PIN nobody knows of, and once the disk is healed `resume` (or a re-run) finishes it.
#[test]
fn fault_matrix_kit_disk_full_or_read_only() {
    let mut tally = Tally {
        cells: 0,
        outcomes: Default::default(),
    };
    let boundaries: [(&str, &str, &str); 3] = [
        (
            "printing",
            "printing the PIN slip",
            "sleep 2; cat > /dev/null",
        ),
        ("touch", "creating the credential", "cat > /dev/null"),
        ("seal_prompt", "type the seal number", "cat > /dev/null"),
    ];
    for (i, (boundary, marker, printer)) in boundaries.iter().enumerate() {
        for full in [true, false] {
            let mut story = Story::new(true, None);
            let Some(disk) = KitDisk::put_kit_on_it(&mut story) else {
                eprintln!(
                    "SKIPPED: fault_matrix_kit_disk_full_or_read_only needs root to mount a tmpfs"
                );
                return;
            };
            let key = format!("d{i}");
            story.virtual_key(&key, "a");
            let label = "BG1-VAULT-A";
            let up = if *boundary == "touch" {
                "delay:6000"
            } else {
                "approve"
            };
            let mut run = Run::start(
                &story,
                &[
                    "--device",
                    &key,
                    "enroll",
                    "--account",
                    BG1,
                    "--location",
                    "vault",
                    "--label",
                    label,
                    "--pin-prompt",
                    "--pin-slip-cmd",
                    printer,
                    "--operator",
                    "Alice",
                ],
                &[("GLASSKEY_VIRTUAL_UP", up)],
            );
            run.say(PIN);
            run.say(PIN);
            assert!(run.wait_for(marker), "{boundary}: {}", run.output());
            if full {
                disk.fill();
            } else {
                disk.read_only(true);
            }
            if *boundary == "seal_prompt" {
                run.say("S-1");
            }
            let code = run.finish();
            let fault = if full { "disk full" } else { "read-only" };
            assert!(
                matches!(code, Some(2 | 3)),
                "{boundary} {fault}: exit {code:?}: {}",
                run.output()
            );
            assert!(
                run.output().contains("next:"),
                "{boundary} {fault}: no next step: {}",
                run.output()
            );
            disk.heal();
            assert!(
                no_orphan_pin(&mut story, &key, label),
                "{boundary} {fault}: orphan PIN: {}",
                run.output()
            );
            let log = resume_to_the_end(&mut story, &key);
            let mut end = enrolled_or_reset(&mut story, &key, label);
            if end == "no key change left" {
                enroll_clean(&mut story, &key, label, "S-2");
                assert_eq!(
                    enrolled_or_reset(&mut story, &key, label),
                    "enrolled",
                    "{log}"
                );
                end = "nothing to finish: re-run enrolled it";
            }
            story.ledger_verifies();
            tally.add(&format!("{boundary}/{fault}: {end}"));
        }
    }
    eprintln!("kit disk fault matrix: {} cells", tally.cells);
    for (k, v) in &tally.outcomes {
        eprintln!("  {k}: {v}");
    }
}
