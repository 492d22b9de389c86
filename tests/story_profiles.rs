//! The operator story — enroll, check, retire — through the real binary on
//! every virtual key profile (`keys virtual-create --profile`), each imitating
//! a kind of real key: CTAP 2.0, 2.1-PRE, bio, small limits, strict PIN rules.

#[path = "story_support/mod.rs"]
mod support;

use support::{Story, BG1};

/// Digits all different, no run of three, not a palindrome: fits every profile.
const PIN: &str = "5718293046";

fn key_with_profile(story: &mut Story, name: &str, profile: &str) {
    let path = story.dir().join("keys").join(format!("{name}.json"));
    let out = story.ok(
        &[
            "--json",
            "keys",
            "virtual-create",
            "--model",
            "a",
            "--profile",
            profile,
            "--out",
            path.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.contains(&format!("\"profile\": \"{profile}\"")),
        "{out}"
    );
}

fn enroll_check_retire(profile: &str) {
    let mut story = Story::new(true, None);
    key_with_profile(&mut story, "k", profile);
    let out = story.enroll_output("k", BG1, "vault", "k", "S-1", PIN, &[]);
    assert!(
        out.status.success(),
        "{profile}: enroll: {}",
        support::text(&out)
    );
    let out = story.check(0, "k", "k", "S-2", Some(PIN), &[]);
    assert!(
        out.contains("PASS") || out.contains("passed"),
        "{profile}: {out}"
    );
    let out = story.ok(
        &[
            "retire",
            "--key",
            "k",
            "--reason",
            "rehearsal",
            "--operator",
            "Alice",
            "--yes",
        ],
        "",
    );
    assert!(out.contains("deleted method"), "{profile}: {out}");
    story.ledger_verifies();
    story.assert_no_pin_anywhere(&[PIN]);
}

#[test]
fn story_on_a_ctap20_key() {
    enroll_check_retire("ctap2.0");
}

#[test]
fn story_on_a_ctap21_pre_key() {
    enroll_check_retire("ctap2.1-pre");
}

#[test]
fn story_on_a_bio_key() {
    enroll_check_retire("bio");
}

#[test]
fn story_on_a_key_with_small_limits() {
    enroll_check_retire("small-limits");
}

#[test]
fn story_on_a_strict_pin_key_refuses_a_weak_pin_before_touching_the_key() {
    let mut story = Story::new(true, None);
    key_with_profile(&mut story, "k", "strict-pin");
    let out = story.enroll_output("k", BG1, "vault", "k", "S-1", "1234567890", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", support::text(&out));
    let text = support::text(&out);
    assert!(text.contains("would refuse this PIN"), "{text}");
    // The key was not touched: it still has no PIN, and a fitting PIN enrolls it.
    let info = story.ok(&["--device", "k", "--json", "keys", "info"], "");
    assert!(info.contains("\"pin_set\": false"), "{info}");
    let out = story.enroll_output("k", BG1, "vault", "k", "S-1", PIN, &[]);
    assert!(out.status.success(), "{}", support::text(&out));
    let out = story.check(0, "k", "k", "S-2", Some(PIN), &[]);
    assert!(out.contains("PASS") || out.contains("passed"), "{out}");
    story.ok(
        &[
            "retire",
            "--key",
            "k",
            "--reason",
            "rehearsal",
            "--operator",
            "Alice",
            "--yes",
        ],
        "",
    );
    story.ledger_verifies();
}

#[test]
fn unknown_profiles_are_refused_by_the_cli() {
    let mut story = Story::new(true, None);
    let path = story.dir().join("keys").join("x.json");
    let out = story.run(
        &[
            "keys",
            "virtual-create",
            "--profile",
            "ctap9",
            "--out",
            path.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    let text = support::text(&out);
    assert!(
        text.contains("ctap2.1-pre") && text.contains("strict-pin"),
        "{text}"
    );
}
