//! `glasskey keys ...` as an operator runs it: the binary, its exit codes and output.

#[path = "support/skip.rs"]
mod skip;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

fn glasskey(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .args(args)
        .env_remove("GLASSKEY_VIRTUAL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run glasskey");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn usb_keys_present() -> bool {
    std::fs::read_dir("/sys/class/hidraw")
        .map(|d| d.count() > 0)
        .unwrap_or(false)
}

#[test]
fn keys_list_json_with_nothing_plugged_in_is_an_empty_array() {
    let out = glasskey(&["keys", "list", "--json"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    if usb_keys_present() {
        eprintln!("NOTE: hidraw devices exist here; only checking that the output is an array");
        assert!(v.is_array());
    } else {
        assert_eq!(v, serde_json::json!([]));
    }
}

#[test]
fn a_bad_device_address_is_an_input_error() {
    let out = glasskey(&["keys", "info", "--device", "tcp:192.0.2.1:80"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    let out = glasskey(
        &["keys", "info", "--device", "unix:/nonexistent/k.sock"],
        "",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "an absent key is a device error"
    );
}

/// A peer process and its address; the directory holding its socket lives as long.
struct Peer {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn trussed() -> Option<Peer> {
    trussed_with(&[])
}

fn trussed_with(extra: &[&str]) -> Option<Peer> {
    let Ok(bin) = std::env::var("TRUSSED_PEER") else {
        skip::skip("TRUSSED_PEER is not set; build the peers with `make interop` (../shared/peers/build.sh)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("k.sock");
    let mut child = Command::new(bin)
        .arg("--unix")
        .arg(&sock)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("READY ")
        .expect("READY")
        .to_string();
    Some(Peer {
        child,
        address: addr,
        _dir: dir,
    })
}

#[test]
fn keys_info_set_pin_change_pin_and_reset_against_a_peer() {
    let Some(p) = trussed() else { return };
    let dev = p.address.as_str();
    let info = |json: bool| {
        let mut a = vec!["keys", "info", "--device", dev];
        if json {
            a.push("--json");
        }
        glasskey(&a, "")
    };
    let out = info(true);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["aaguid"], "8bc54968-07b1-4d5f-b249-607f5d527da2");
    assert_eq!(v["pin_set"], false);
    assert!(v["info"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "FIDO_2_1"));

    let out = glasskey(&["keys", "set-pin", "--device", dev], "1234\n1234\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&info(false).stdout).to_string();
    assert!(text.contains("PIN:        set, 8 retries left"), "{text}");

    let out = glasskey(
        &["keys", "change-pin", "--device", dev],
        "0000\n5678\n5678\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PIN is wrong") && err.contains("7 attempts left"),
        "{err}"
    );
    let out = glasskey(
        &["keys", "change-pin", "--device", dev],
        "1234\n5678\n5678\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = glasskey(&["keys", "reset", "--device", dev], "no\n");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unconfirmed reset changes nothing"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("10 seconds"));
    let v: serde_json::Value = serde_json::from_slice(&info(true).stdout).unwrap();
    assert_eq!(v["pin_set"], true);

    let out = glasskey(&["keys", "reset", "--device", dev], "yes\n");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&info(true).stdout).unwrap();
    assert_eq!(v["pin_set"], false);

    let out = glasskey(&["keys", "list", "--json", "--device", dev], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["source"]["kind"], "socket");
}

#[test]
fn ctrl_c_while_waiting_for_touch_cancels_on_the_key_and_exits_promptly() {
    let Some(p) = trussed_with(&["--up", "delay:20000"]) else {
        return;
    };
    let child = Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .args(["keys", "reset", "--yes", "--device", &p.address])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "did not stop promptly"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("touch the key now").count(), 1, "{err}");
    assert!(err.contains("cancelled"), "{err}");
    // exits as a SIGINT-ended process would, after CANCEL and cleanup
    assert_eq!(out.status.code(), Some(130), "{err}");
    // the key is usable straight away: the CANCEL reached it
    let out = glasskey(&["keys", "info", "--json", "--device", &p.address], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keys_commands_on_virtual_keys_pick_one_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (model, name) in [("a", "vk-a1"), ("b", "vk-b1")] {
        let out = glasskey(
            &[
                "keys",
                "virtual-create",
                "--model",
                model,
                "--out",
                &format!("{d}/{name}.json"),
            ],
            "",
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = glasskey(&["keys", "list", "--json", "--virtual", d], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["vk-a1", "vk-b1"]);
    assert!(v[0]["model"].as_str().unwrap().contains("model A"), "{v}");

    let out = glasskey(&["keys", "set-pin", "--virtual", d], "1234\n1234\n");
    assert_eq!(
        out.status.code(),
        Some(2),
        "two keys: the operator must pick one"
    );
    let out = glasskey(
        &["keys", "set-pin", "--virtual", d, "--device", "vk-b1"],
        "123456\n123456\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = glasskey(&["keys", "list", "--json", "--virtual", d], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v[0]["pin_set"].as_bool(), v[1]["pin_set"].as_bool()),
        (Some(false), Some(true))
    );
    let out = glasskey(&["keys", "info", "--virtual", d, "--device", "vk-z9"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_at_a_pin_prompt_ends_the_program() {
    let Some(p) = trussed() else { return };
    let mut child = Command::new(env!("CARGO_BIN_EXE_glasskey"))
        .args(["keys", "set-pin", "--device", &p.address])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin_kept_open = child.stdin.take();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "still waiting at the prompt"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!status.success());
}
