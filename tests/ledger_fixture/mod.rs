//! Shared by the ledger_* and report_* integration tests: build kits with a
//! realistic history through the public API.
#![allow(dead_code)]

use std::path::Path;

use glasskey::aaguid::Aaguid;
use glasskey::ledger::{Bytes, CheckItem, Event, Kit, KitConfig, Timestamp};

pub fn ops(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub fn at(text: &str) -> Timestamp {
    text.parse().expect("test timestamp")
}

pub fn new_kit(dir: &Path) -> Kit {
    Kit::init(dir, &KitConfig::example("contoso.onmicrosoft.com")).expect("init kit")
}

/// Enroll, register and seal `n` keys, alternating locations and models; key i is
/// checked (passing) when i % 3 == 0, fails its check when i % 7 == 5, and is
/// otherwise never checked. Times start 2026-01-05.
pub fn populate(kit: &Kit, n: usize) {
    let l = kit.ledger();
    for i in 0..n {
        let label = format!(
            "bg{}-{}-{}",
            i % 2 + 1,
            if i % 2 == 0 { "vault" } else { "safe" },
            i
        );
        let location = if i % 2 == 0 { "vault" } else { "office-safe" };
        let account = format!("bg{}@contoso.onmicrosoft.com", i % 2 + 1);
        let model = if i % 4 < 2 {
            "glasskey virtual model A"
        } else {
            "glasskey virtual model B"
        };
        let t = at("2026-01-05T09:00:00Z");
        let cred = Bytes(format!("credential-{i}").into_bytes());
        let events = [
            Event::KeyEnrolled {
                key: label.clone(),
                model: model.into(),
                aaguid: Aaguid::virtual_model((i % 4 / 2) as u8 + 1),
                firmware: Some("5.7.1".into()),
                serial: (i % 5 != 4).then(|| format!("SN{:08}", 10_000_000 + i)),
                attestation_fingerprint: Some("ab".repeat(32)),
            },
            Event::CredentialCreated {
                key: label.clone(),
                account: account.clone(),
                rp_id: "login.microsoft.com".into(),
                credential_id: cred.clone(),
                cose_public_key: Bytes(vec![0xa5, 1, 2, 3, 0x26]),
                sign_count: 0,
                cred_protect: Some(2),
            },
            Event::RegisteredInEntra {
                key: label.clone(),
                account,
                credential_id: cred,
                method_id: format!("method-{i}"),
                created_date_time: "2026-01-05T09:01:00Z".into(),
                model: Some(model.into()),
                attestation_level: Some("attested".into()),
            },
            Event::EnvelopeSealed {
                key: label.clone(),
                location: location.into(),
                seal: format!("TE-{:06}", 100_000 + i),
                custodians: ops(&["Alice Adams", "Bob Brown"]),
            },
        ];
        for e in events {
            l.append_at(&ops(&["alice"]), e, t).expect("append");
        }
        if i % 3 == 0 || i % 7 == 5 {
            let passed = i % 7 != 5;
            let t = at("2026-04-01T10:00:00Z");
            l.append_at(
                &ops(&["Alice Adams", "Bob Brown"]),
                Event::EnvelopeOpened {
                    key: label.clone(),
                    location: location.into(),
                    seal: format!("TE-{:06}", 100_000 + i),
                    reason: "quarterly check".into(),
                },
                t,
            )
            .expect("append");
            l.append_at(
                &ops(&["Alice Adams", "Bob Brown"]),
                Event::LivenessChecked {
                    key: label.clone(),
                    passed,
                    counter: Some(3),
                    checks: vec![
                        CheckItem {
                            name: "assertion".into(),
                            passed,
                        },
                        CheckItem {
                            name: "counter".into(),
                            passed: true,
                        },
                        CheckItem {
                            name: "pin".into(),
                            passed: true,
                        },
                    ],
                },
                t,
            )
            .expect("append");
            l.append_at(
                &ops(&["Alice Adams", "Bob Brown"]),
                Event::EnvelopeSealed {
                    key: label.clone(),
                    location: location.into(),
                    seal: format!("TE-{:06}", 200_000 + i),
                    custodians: ops(&["Alice Adams", "Bob Brown"]),
                },
                t,
            )
            .expect("append");
        }
    }
}
