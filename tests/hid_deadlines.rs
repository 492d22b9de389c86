//! Per-request deadlines: a key that answers KEEPALIVE(PROCESSING) forever holds
//! a request that needs no touch only for the short deadline (then gets CANCEL),
//! while a request that waits for a touch keeps waiting under the long one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glasskey::ctap::{CtapCommand, CtapError, Device};
use glasskey::hid::packet::{fragment, Command, Packet};
use glasskey::hid::transport::Report;
use glasskey::hid::{Channel, Deadlines, HidError, Transport, TransportError};

const CID: u32 = 0x1122_3344;
const NONCE: [u8; 8] = [8, 7, 6, 5, 4, 3, 2, 1];

/// getInfo {1: ["FIDO_2_0"], 3: AAGUID}: the least a key must say.
const GET_INFO: [u8; 31] = [
    0x00, 0xa2, 0x01, 0x81, 0x68, b'F', b'I', b'D', b'O', b'_', b'2', b'_', b'0', 0x03, 0x50, 1, 2,
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
];

/// Answers INIT; then for each CBOR request either answers at once (getInfo when
/// `answers_get_info`), or sends keepalives until `answer_after` (never when None).
struct SlowKey {
    queue: Vec<Report>,
    answers_get_info: bool,
    keepalive: u8,
    answer_after: Option<Duration>,
    busy_since: Option<Instant>,
    cancelled: Arc<AtomicBool>,
}

impl SlowKey {
    fn new(answers_get_info: bool, keepalive: u8, answer_after: Option<Duration>) -> Self {
        SlowKey {
            queue: Vec::new(),
            answers_get_info,
            keepalive,
            answer_after,
            busy_since: None,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Transport for SlowKey {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        if let Packet::Init { cmd, data, .. } = Packet::parse(report) {
            if cmd == Command::Init as u8 {
                let mut a = NONCE.to_vec();
                a.extend(CID.to_be_bytes());
                a.extend([2, 1, 0, 0, 0x04]);
                self.queue
                    .extend(fragment(0xffff_ffff, Command::Init as u8, &a).unwrap());
            } else if cmd == Command::Cancel as u8 {
                self.cancelled.store(true, Ordering::SeqCst);
                self.busy_since = None;
            } else if cmd == Command::Cbor as u8 {
                if data[0] == CtapCommand::GetInfo as u8 && self.answers_get_info {
                    self.queue
                        .extend(fragment(CID, Command::Cbor as u8, &GET_INFO).unwrap());
                } else {
                    self.busy_since = Some(Instant::now());
                }
            }
        }
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        if !self.queue.is_empty() {
            return Ok(Some(self.queue.remove(0)));
        }
        std::thread::sleep(timeout.min(Duration::from_millis(20)));
        let Some(since) = self.busy_since else {
            return Ok(None);
        };
        if self.answer_after.is_some_and(|a| since.elapsed() >= a) {
            self.busy_since = None;
            return Ok(Some(
                fragment(CID, Command::Cbor as u8, &[0x00]).unwrap()[0],
            ));
        }
        Ok(Some(
            fragment(CID, Command::Keepalive as u8, &[self.keepalive]).unwrap()[0],
        ))
    }

    fn describe(&self) -> String {
        "scripted slow key".into()
    }
}

fn short_deadlines() -> Deadlines {
    Deadlines {
        no_touch: Duration::from_millis(400),
        touch: Duration::from_secs(5),
    }
}

#[test]
fn endless_processing_on_get_info_ends_at_the_short_deadline_with_cancel() {
    let key = SlowKey::new(false, 1, None);
    let cancelled = key.cancelled.clone();
    let mut ch = Channel::open_with_nonce(Box::new(key), NONCE).unwrap();
    ch.set_deadlines(short_deadlines());
    let started = Instant::now();
    let err = Device::from_channel(ch).err().expect("a stuck key fails");
    let took = started.elapsed();
    assert!(
        matches!(err, CtapError::Hid(HidError::Deadline { touch: false, .. })),
        "{err:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the key was told to stop (CANCEL)"
    );
    let said = glasskey::Error::from(err).to_string();
    assert!(said.contains("needs no touch"), "{said}");
}

#[test]
fn the_default_no_touch_deadline_is_short_and_touch_gets_the_keys_timeout_plus_margin() {
    let d = Deadlines::default();
    assert!(d.no_touch <= Duration::from_secs(20), "{d:?}");
    assert!(d.touch > Duration::from_secs(30), "{d:?}");
    assert!(d.touch <= Duration::from_secs(60), "{d:?}");
}

#[test]
fn a_touch_request_outlives_the_short_deadline() {
    let key = SlowKey::new(true, 2, Some(Duration::from_millis(1200)));
    let mut ch = Channel::open_with_nonce(Box::new(key), NONCE).unwrap();
    ch.set_deadlines(short_deadlines());
    let mut dev = Device::from_channel(ch).expect("getInfo answered");
    let ups = Arc::new(AtomicUsize::new(0));
    let seen = ups.clone();
    dev.set_keepalive_handler(Box::new(move |s| {
        if s == glasskey::hid::KeepaliveStatus::UpNeeded {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let body = dev
        .call_raw(CtapCommand::MakeCredential, None)
        .expect("answered after the touch");
    assert!(body.is_empty());
    assert!(
        ups.load(Ordering::SeqCst) > 10,
        "the touch prompt was driven"
    );
}

#[test]
fn a_touch_request_past_its_deadline_fails_and_cancels() {
    let key = SlowKey::new(true, 2, None);
    let mut ch = Channel::open_with_nonce(Box::new(key), NONCE).unwrap();
    ch.set_deadlines(Deadlines {
        no_touch: Duration::from_millis(200),
        touch: Duration::from_millis(600),
    });
    let mut dev = Device::from_channel(ch).expect("getInfo answered");
    let err = dev.call_raw(CtapCommand::GetAssertion, None).unwrap_err();
    assert!(
        matches!(err, CtapError::Hid(HidError::Deadline { touch: true, .. })),
        "{err:?}"
    );
}
