//! The udev rule's fallback FIDO check (for systems without systemd's
//! ID_FIDO_TOKEN) run as udev would run it, on real HID report descriptors:
//! FIDO interfaces match, keyboards and OTP interfaces do not.

use std::path::Path;
use std::process::Command;

fn rules() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("udev/70-glasskey-fido.rules"),
    )
    .unwrap()
}

/// The shell command inside PROGRAM="/bin/sh -c '...'".
fn fallback_check() -> String {
    let rules = rules();
    let line = rules
        .lines()
        .find(|l| l.starts_with("PROGRAM="))
        .expect("a PROGRAM fallback");
    let start = line.find("-c '").unwrap() + 4;
    let end = start + line[start..].find("'\"").unwrap();
    line[start..end].replace("\\\"", "\"")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rules_grant_uaccess_and_the_glasskey_group_to_fido_hidraw_only() {
    let r = rules();
    assert!(r.contains("SUBSYSTEM!=\"hidraw\""));
    assert!(r.contains("ENV{ID_FIDO_TOKEN}==\"1\", GOTO=\"glasskey_fido_grant\""));
    assert!(r.contains("TAG+=\"uaccess\", GROUP=\"glasskey\", MODE=\"0660\""));
}

#[test]
fn fallback_check_matches_fido_descriptors_only() {
    if !Path::new("/bin/sh").exists() {
        eprintln!("SKIPPED: no /bin/sh to run the udev PROGRAM with");
        return;
    }
    let check = fallback_check();
    let tsv = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/wiredata/hid-report-descriptors.tsv"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut fido, mut other) = (0, 0);
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, is_fido, desc) = (cols[0], cols[1] == "true", hex(cols[2]));
        // udev's %p is the devpath under /sys; point it at a fake device directory.
        let devpath = dir.path().join(format!("d{}", fido + other));
        std::fs::create_dir_all(devpath.join("device")).unwrap();
        std::fs::write(devpath.join("device/report_descriptor"), &desc).unwrap();
        let cmd = check.replace("/sys%p", &devpath.to_string_lossy());
        let matched = Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .status()
            .unwrap()
            .success();
        assert_eq!(matched, is_fido, "{name}");
        if is_fido {
            fido += 1
        } else {
            other += 1
        }
    }
    assert!(fido >= 1 && other >= 2);
}
