//! The running binary protects its secrets: no core dumps (RLIMIT_CORE 0, seen
//! by the print command through /proc), and the print command's environment
//! holds no client secret.

mod story_support;

use story_support::{Story, BG1};

const PIN: &str = "5170083361";

#[test]
fn the_slip_printer_sees_no_secret_and_glasskey_dumps_no_core() {
    let mut story = Story::new(true, None);
    story.virtual_key("k", "a");
    let probe = story.dir().join("probe");
    let cmd = format!(
        "cat > /dev/null; env > {p}.env; cat /proc/$PPID/limits > {p}.limits",
        p = probe.display()
    );
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
            "bg1-vault-a",
            "--seal",
            "S-1",
            "--pin-prompt",
            "--pin-slip-cmd",
            &cmd,
            "--operator",
            "Alice",
        ],
        &format!("{PIN}\n{PIN}\n"),
    );
    assert!(out.status.success(), "{}", story_support::text(&out));
    let env = std::fs::read_to_string(probe.with_extension("env")).unwrap();
    assert!(!env.contains("GLASSKEY_CLIENT_SECRET"), "{env}");
    assert!(!env.contains("emulator-secret"));
    let limits = std::fs::read_to_string(probe.with_extension("limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
    story.assert_no_pin_anywhere(&[PIN]);
}
