//! Current custody state: a fold over the events, never stored.
//!
//! The fold is lenient: an event about an unknown key or an envelope that is not
//! where the ledger says becomes a warning, not a failure, so a sheet can still be
//! printed and the anomaly is visible on it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aaguid::Aaguid;

use super::chain::Record;
use super::event::{Bytes, CheckItem, Event, Timestamp};
use super::store::Head;

#[derive(Clone, Debug, Default, Serialize)]
pub struct State {
    pub events: u64,
    pub head: Option<Head>,
    /// Keys by label.
    pub keys: BTreeMap<String, KeyState>,
    /// Anomalies found while folding, in event order.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct KeyState {
    pub label: String,
    pub model: String,
    pub aaguid: Aaguid,
    pub firmware: Option<String>,
    pub serial: Option<String>,
    pub attestation_fingerprint: Option<String>,
    pub enrolled: Timestamp,
    pub credentials: Vec<CredentialState>,
    /// Where the key is (last sealed or moved to).
    pub location: Option<String>,
    pub custody: Custody,
    /// Every liveness check, oldest first.
    pub checks: Vec<CheckRecord>,
    pub retired: Option<Retirement>,
    /// The last ledger head this key signed (its last witnessed check).
    pub last_witness: Option<WitnessMark>,
}

/// Where a key last witnessed the ledger: the `check_witnessed` event `seq`
/// signed the head `head_seq` / `head_hash`. Whether the signature verifies is
/// `glasskey ledger verify`'s business, not the fold's.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct WitnessMark {
    pub seq: u64,
    pub time: Timestamp,
    pub head_seq: u64,
    pub head_hash: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Custody {
    /// Never sealed.
    Unsealed,
    Sealed {
        location: String,
        seal: String,
        custodians: Vec<String>,
        since: Timestamp,
    },
    Opened {
        location: String,
        seal: String,
        reason: String,
        since: Timestamp,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct CredentialState {
    pub account: String,
    pub rp_id: String,
    pub credential_id: Bytes,
    pub cose_public_key: Bytes,
    pub sign_count: u32,
    pub cred_protect: Option<u8>,
    pub created: Timestamp,
    pub entra: Option<EntraRegistration>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EntraRegistration {
    pub method_id: String,
    pub created_date_time: String,
    pub model: Option<String>,
    pub attestation_level: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckRecord {
    pub seq: u64,
    pub time: Timestamp,
    pub operators: Vec<String>,
    pub passed: bool,
    pub counter: Option<u32>,
    pub checks: Vec<CheckItem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Retirement {
    pub time: Timestamp,
    pub reason: String,
    /// When the retired key's envelope was recorded destroyed (`retire --envelope-destroyed`).
    pub envelope_destroyed: Option<Timestamp>,
}

/// `t + days`, or the latest time `time` can represent when that overflows.
pub fn add_days_saturating(t: time::OffsetDateTime, days: u32) -> time::OffsetDateTime {
    t.checked_add(time::Duration::days(i64::from(days)))
        .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc())
}

impl KeyState {
    pub fn last_check(&self) -> Option<&CheckRecord> {
        self.checks.last()
    }

    /// When the next liveness check is due: last check (or enrollment) + interval.
    /// Checked: a date past the end of the calendar (an event dated 9999-12-31)
    /// is "never", the latest representable time, not a panic.
    pub fn next_check_due(&self, interval_days: u32) -> Timestamp {
        let from = self.last_check().map_or(self.enrolled, |c| c.time);
        Timestamp::from_datetime(add_days_saturating(from.datetime(), interval_days))
    }

    pub fn is_overdue(&self, interval_days: u32, now: Timestamp) -> bool {
        self.retired.is_none() && self.next_check_due(interval_days) < now
    }

    /// The accounts this key holds credentials for.
    pub fn accounts(&self) -> Vec<&str> {
        let mut a: Vec<&str> = self
            .credentials
            .iter()
            .map(|c| c.account.as_str())
            .collect();
        a.dedup();
        a
    }
}

impl State {
    /// Fold events in order.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>) -> State {
        let mut s = State::default();
        for r in records {
            s.apply(r);
        }
        s
    }

    /// Keys sealed at `location` and not retired, by label.
    pub fn sealed_at<'a>(&'a self, location: &'a str) -> impl Iterator<Item = &'a KeyState> + 'a {
        self.keys.values().filter(move |k| {
            k.retired.is_none()
                && matches!(&k.custody, Custody::Sealed { location: l, .. } if l == location)
        })
    }

    /// Accounts (UPN) with the labels of the keys in service holding a credential for them.
    pub fn accounts(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for k in self.active_keys() {
            for a in k.accounts() {
                out.entry(a).or_default().push(&k.label);
            }
        }
        out
    }

    /// An abandoned enrollment's warning no longer applies once that key was
    /// reset, enrolled again or retired.
    fn clear_abandoned(&mut self, key: &str) {
        let marker = format!("enrollment of key '{key}' for ");
        self.warnings.retain(|w| !w.contains(&marker));
    }

    /// Keys that are in the program (not retired).
    pub fn active_keys(&self) -> impl Iterator<Item = &KeyState> {
        self.keys.values().filter(|k| k.retired.is_none())
    }

    pub fn apply(&mut self, r: &Record) {
        self.events = r.seq;
        self.head = Some(Head {
            seq: r.seq,
            hash: r.hash,
        });
        let seq = r.seq;
        if let Event::KeyEnrolled {
            key,
            model,
            aaguid,
            firmware,
            serial,
            attestation_fingerprint,
        } = &r.event
        {
            self.clear_abandoned(key);
            if self.keys.contains_key(key) {
                self.warnings.push(format!(
                    "event {seq}: key '{key}' enrolled again; the later record wins"
                ));
            }
            self.keys.insert(
                key.clone(),
                KeyState {
                    label: key.clone(),
                    model: model.clone(),
                    aaguid: *aaguid,
                    firmware: firmware.clone(),
                    serial: serial.clone(),
                    attestation_fingerprint: attestation_fingerprint.clone(),
                    enrolled: r.time,
                    credentials: Vec::new(),
                    location: None,
                    custody: Custody::Unsealed,
                    checks: Vec::new(),
                    retired: None,
                    last_witness: None,
                },
            );
            return;
        }
        if let Event::EnrollmentAbandoned {
            key,
            account,
            reason,
            next,
        } = &r.event
        {
            self.warnings.push(format!(
                "event {seq}: enrollment of key '{key}' for {account} was abandoned ({reason}); {next}"
            ));
            return;
        }
        match &r.event {
            Event::KeyReset { key, .. } | Event::KeyRetired { key, .. } => {
                self.clear_abandoned(key)
            }
            _ => {}
        }
        let Some(label) = r.event.key() else {
            return; // sheet printed: no key state changes
        };
        let Some(k) = self.keys.get_mut(label) else {
            self.warnings.push(format!(
                "event {seq}: {} for key '{label}', which was never enrolled",
                r.event.kind()
            ));
            return;
        };
        let mut warn = None;
        match &r.event {
            Event::CredentialCreated {
                account,
                rp_id,
                credential_id,
                cose_public_key,
                sign_count,
                cred_protect,
                ..
            } => k.credentials.push(CredentialState {
                account: account.clone(),
                rp_id: rp_id.clone(),
                credential_id: credential_id.clone(),
                cose_public_key: cose_public_key.clone(),
                sign_count: *sign_count,
                cred_protect: *cred_protect,
                created: r.time,
                entra: None,
            }),
            Event::RegisteredInEntra {
                credential_id,
                method_id,
                created_date_time,
                model,
                attestation_level,
                ..
            } => match k
                .credentials
                .iter_mut()
                .find(|c| &c.credential_id == credential_id)
            {
                Some(c) => {
                    c.entra = Some(EntraRegistration {
                        method_id: method_id.clone(),
                        created_date_time: created_date_time.clone(),
                        model: model.clone(),
                        attestation_level: attestation_level.clone(),
                    })
                }
                None => {
                    warn = Some(format!(
                        "event {seq}: Entra registration for an unknown credential on '{label}'"
                    ))
                }
            },
            Event::EnvelopeSealed {
                location,
                seal,
                custodians,
                ..
            } => {
                if let Custody::Sealed { seal: old, .. } = &k.custody {
                    warn = Some(format!(
                        "event {seq}: '{label}' sealed as {seal} while envelope {old} was never \
                         recorded as opened"
                    ));
                }
                k.location = Some(location.clone());
                k.custody = Custody::Sealed {
                    location: location.clone(),
                    seal: seal.clone(),
                    custodians: custodians.clone(),
                    since: r.time,
                };
            }
            Event::EnvelopeOpened {
                location,
                seal,
                reason,
                ..
            } => {
                match &k.custody {
                    Custody::Sealed { seal: s, .. } if s == seal => {}
                    _ => {
                        warn = Some(format!(
                            "event {seq}: envelope {seal} of '{label}' opened, but the ledger \
                             does not show it sealed"
                        ))
                    }
                }
                k.custody = Custody::Opened {
                    location: location.clone(),
                    seal: seal.clone(),
                    reason: reason.clone(),
                    since: r.time,
                };
            }
            Event::LivenessChecked {
                passed,
                counter,
                checks,
                ..
            } => {
                if let (Some(new), Some(old)) = (counter, k.checks.last().and_then(|c| c.counter)) {
                    if *new != 0 && *new <= old {
                        warn = Some(format!(
                            "event {seq}: signature counter of '{label}' did not increase \
                             ({old} -> {new})"
                        ));
                    }
                }
                k.checks.push(CheckRecord {
                    seq,
                    time: r.time,
                    operators: r.operators.clone(),
                    passed: *passed,
                    counter: *counter,
                    checks: checks.clone(),
                });
            }
            Event::KeyMoved { from, to, .. } => {
                if k.location.as_deref() != Some(from.as_str()) {
                    warn = Some(format!(
                        "event {seq}: '{label}' moved from {from}, but the ledger had it at {}",
                        k.location.as_deref().unwrap_or("no location")
                    ));
                }
                k.location = Some(to.clone());
                match &mut k.custody {
                    Custody::Sealed { location, .. } | Custody::Opened { location, .. } => {
                        *location = to.clone()
                    }
                    Custody::Unsealed => {}
                }
            }
            Event::KeyRetired { reason, .. } => {
                k.retired = Some(Retirement {
                    time: r.time,
                    reason: reason.clone(),
                    envelope_destroyed: None,
                })
            }
            Event::EnvelopeDestroyed { .. } => match &mut k.retired {
                Some(retirement) => {
                    retirement.envelope_destroyed = Some(r.time);
                    k.custody = Custody::Unsealed;
                }
                None => {
                    warn = Some(format!(
                        "event {seq}: the envelope of key '{label}' was recorded destroyed, but the key is not retired"
                    ))
                }
            },
            Event::CheckWitnessed {
                head_seq,
                head_hash,
                ..
            } => {
                k.last_witness = Some(WitnessMark {
                    seq,
                    time: r.time,
                    head_seq: *head_seq,
                    head_hash: head_hash.clone(),
                })
            }
            Event::KeyEnrolled { .. }
            | Event::SheetPrinted { .. }
            | Event::SignInEvidence { .. }
            | Event::SignInsReviewed { .. }
            | Event::EnrollmentAbandoned { .. }
            | Event::KeyReset { .. }
            | Event::CredentialAttested { .. } => {}
        }
        if let Some(w) = warn {
            self.warnings.push(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::{encode, Hash};

    fn records(events: Vec<(&str, Event)>) -> Vec<Record> {
        let mut prev = Hash::GENESIS;
        let mut out = Vec::new();
        for (i, (time, e)) in events.into_iter().enumerate() {
            let (_, r) = encode(
                i as u64 + 1,
                time.parse().unwrap(),
                vec!["op".into()],
                prev,
                e,
            )
            .unwrap();
            prev = r.hash;
            out.push(r);
        }
        out
    }

    fn enrolled(key: &str) -> Event {
        Event::KeyEnrolled {
            key: key.into(),
            model: "m".into(),
            aaguid: Aaguid::virtual_model(1),
            firmware: None,
            serial: None,
            attestation_fingerprint: None,
        }
    }

    #[test]
    fn fold_tracks_custody_checks_moves_and_retirement() {
        let sealed = |seal: &str, loc: &str| Event::EnvelopeSealed {
            key: "a".into(),
            location: loc.into(),
            seal: seal.into(),
            custodians: vec!["x".into(), "y".into()],
        };
        let recs = records(vec![
            ("2026-01-01T00:00:00Z", enrolled("a")),
            (
                "2026-01-01T00:00:00Z",
                Event::CredentialCreated {
                    key: "a".into(),
                    account: "bg1@t".into(),
                    rp_id: "login.microsoft.com".into(),
                    credential_id: Bytes(vec![1]),
                    cose_public_key: Bytes(vec![2]),
                    sign_count: 0,
                    cred_protect: None,
                },
            ),
            ("2026-01-01T00:00:00Z", sealed("S1", "vault")),
            (
                "2026-02-01T00:00:00Z",
                Event::KeyMoved {
                    key: "a".into(),
                    from: "vault".into(),
                    to: "office-safe".into(),
                },
            ),
            (
                "2026-03-01T00:00:00Z",
                Event::LivenessChecked {
                    key: "a".into(),
                    passed: true,
                    counter: Some(5),
                    checks: vec![],
                },
            ),
            (
                "2026-03-02T00:00:00Z",
                Event::KeyRetired {
                    key: "ghost".into(),
                    reason: "r".into(),
                },
            ),
        ]);
        let s = State::fold(&recs);
        assert_eq!(s.events, 6);
        let a = &s.keys["a"];
        assert_eq!(a.location.as_deref(), Some("office-safe"));
        assert_eq!(s.sealed_at("office-safe").count(), 1);
        assert_eq!(s.sealed_at("vault").count(), 0);
        assert_eq!(a.next_check_due(30).to_string(), "2026-03-31T00:00:00Z");
        assert!(a.is_overdue(30, "2026-04-01T00:00:00Z".parse().unwrap()));
        assert_eq!(s.accounts()["bg1@t"], vec!["a"]);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("ghost"));

        let retired = records(vec![
            ("2026-01-01T00:00:00Z", enrolled("a")),
            (
                "2026-01-02T00:00:00Z",
                Event::KeyRetired {
                    key: "a".into(),
                    reason: "lost".into(),
                },
            ),
        ]);
        let s = State::fold(&retired);
        assert!(s.keys["a"].retired.is_some());
        assert_eq!(s.active_keys().count(), 0);
        assert!(!s.keys["a"].is_overdue(1, "2030-01-01T00:00:00Z".parse().unwrap()));
    }
}
