//! The CTAPHID channel against scripted misbehaviour: busy keys (including the
//! usbd-ctaphid `ERROR 0x00`), foreign channels, broken sequences, lies about
//! lengths, errors, silence and cancellation.

use std::time::Duration;

use glasskey::hid::packet::{fragment, Command, Packet, MAX_MESSAGE_LEN};
use glasskey::hid::replay::ReplayTransport;
use glasskey::hid::transport::Report;
use glasskey::hid::{CancelToken, Channel, HidError, Transport, TransportError};

const NONCE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const CID: u32 = 0x0102_0304;

fn init_answer(nonce: [u8; 8], cid: u32) -> Report {
    let mut payload = nonce.to_vec();
    payload.extend(cid.to_be_bytes());
    payload.extend([2, 1, 0, 0, 0x05]);
    fragment(0xffff_ffff, Command::Init as u8, &payload).unwrap()[0]
}

fn frames(cid: u32, cmd: Command, payload: &[u8]) -> Vec<Report> {
    fragment(cid, cmd as u8, payload).unwrap()
}

fn channel(script: Vec<Report>) -> Channel {
    let mut all = vec![init_answer(NONCE, CID)];
    all.extend(script);
    let mut ch = Channel::open_with_nonce(Box::new(ReplayTransport::new(all)), NONCE).unwrap();
    ch.set_idle_timeout(Duration::from_millis(200));
    ch
}

#[test]
fn init_ignores_answers_for_other_nonces_and_reserved_channels_are_refused() {
    let script = vec![init_answer([9; 8], 0x0505_0505), init_answer(NONCE, CID)];
    let ch = Channel::open_with_nonce(Box::new(ReplayTransport::new(script)), NONCE).unwrap();
    assert_eq!(ch.info().cid, CID);
    let bad = Channel::open_with_nonce(
        Box::new(ReplayTransport::new(vec![init_answer(NONCE, 0xffff_ffff)])),
        NONCE,
    );
    assert!(matches!(bad, Err(HidError::Malformed(_))));
}

#[test]
fn reassembles_a_maximal_message_and_ignores_other_channels() {
    let payload: Vec<u8> = (0..MAX_MESSAGE_LEN).map(|i| (i * 7) as u8).collect();
    let mut script = Vec::new();
    for (i, f) in frames(CID, Command::Cbor, &payload).into_iter().enumerate() {
        // another program's traffic interleaved everywhere
        script.extend(frames(0x0909_0909, Command::Cbor, &[i as u8; 100]));
        script.push(f);
    }
    let mut ch = channel(script);
    assert_eq!(ch.cbor(&[4], &mut |_| {}).unwrap(), payload);
}

#[test]
fn usbd_ctaphid_error_zero_and_channel_busy_are_retried() {
    let mut script = frames(CID, Command::Error, &[0x00]);
    script.extend(frames(CID, Command::Error, &[0x06]));
    script.extend(frames(CID, Command::Cbor, &[0x00, 0xa0]));
    let mut ch = channel(script);
    assert_eq!(ch.cbor(&[4], &mut |_| {}).unwrap(), vec![0x00, 0xa0]);
}

#[test]
fn other_ctaphid_errors_are_reported_with_their_code() {
    let mut ch = channel(frames(CID, Command::Error, &[0x03]));
    let e = ch.cbor(&[4], &mut |_| {}).unwrap_err();
    assert_eq!(e, HidError::Device(0x03));
    assert!(e.to_string().contains("INVALID_LEN"));
}

#[test]
fn out_of_order_continuations_are_refused() {
    let payload = vec![0x55; 200];
    let mut f = frames(CID, Command::Cbor, &payload);
    f.swap(1, 2);
    let mut ch = channel(f);
    assert!(matches!(
        ch.cbor(&[4], &mut |_| {}),
        Err(HidError::Malformed(_))
    ));
}

#[test]
fn a_length_beyond_ctaphid_is_refused_without_allocating() {
    let mut r = frames(CID, Command::Cbor, &[0; 10])[0];
    r[5..7].copy_from_slice(&0xffffu16.to_be_bytes());
    let mut ch = channel(vec![r]);
    assert!(matches!(
        ch.cbor(&[4], &mut |_| {}),
        Err(HidError::Malformed(_))
    ));
}

#[test]
fn a_new_message_in_the_middle_is_refused() {
    let mut script = vec![frames(CID, Command::Cbor, &[1; 100])[0]];
    script.extend(frames(CID, Command::Cbor, &[2; 10]));
    let mut ch = channel(script);
    assert!(matches!(
        ch.cbor(&[4], &mut |_| {}),
        Err(HidError::Malformed(_))
    ));
}

#[test]
fn an_answer_to_the_wrong_command_is_refused() {
    let mut ch = channel(frames(CID, Command::Msg, &[0x90, 0x00]));
    assert!(matches!(
        ch.cbor(&[4], &mut |_| {}),
        Err(HidError::Malformed(_))
    ));
}

#[test]
fn silence_is_a_timeout_and_truncated_messages_too() {
    let mut ch = channel(vec![]);
    assert!(matches!(
        ch.cbor(&[4], &mut |_| {}),
        Err(HidError::Timeout { .. })
    ));
    let mut ch = channel(vec![frames(CID, Command::Cbor, &[3; 300])[0]]);
    assert!(matches!(
        ch.cbor(&[4], &mut |_| {}),
        Err(HidError::Timeout { .. })
    ));
}

#[test]
fn requests_beyond_the_keys_max_message_size_are_refused_before_sending() {
    let mut ch = channel(vec![]);
    ch.set_max_request(1200);
    assert_eq!(
        ch.cbor(&[0; 1201], &mut |_| {}),
        Err(HidError::TooLarge {
            len: 1201,
            max: 1200
        })
    );
}

/// A key that keeps saying UPNEEDED until it receives CANCEL, then answers KEEPALIVE_CANCEL.
struct WaitsForTouch {
    inner: ReplayTransport,
    cancelled: bool,
}

impl Transport for WaitsForTouch {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        if let Packet::Init { cmd, .. } = Packet::parse(report) {
            if cmd == Command::Cancel as u8 {
                self.cancelled = true;
                for f in frames(CID, Command::Cbor, &[0x2d]) {
                    self.inner.push(f);
                }
            }
        }
        self.inner.write_report(report)
    }
    fn read_report(&mut self, t: Duration) -> Result<Option<Report>, TransportError> {
        if let Some(r) = self.inner.read_report(Duration::ZERO)? {
            return Ok(Some(r));
        }
        std::thread::sleep(t.min(Duration::from_millis(20)));
        Ok((!self.cancelled).then(|| frames(CID, Command::Keepalive, &[2])[0]))
    }
    fn describe(&self) -> String {
        "scripted".into()
    }
}

#[test]
fn cancellation_sends_ctaphid_cancel_and_returns_the_keys_answer() {
    let t = WaitsForTouch {
        inner: ReplayTransport::new(vec![init_answer(NONCE, CID)]),
        cancelled: false,
    };
    let mut ch = Channel::open_with_nonce(Box::new(t), NONCE).unwrap();
    let token = CancelToken::new();
    ch.set_cancel_token(token.clone());
    let mut ups = 0;
    let answer = ch
        .cbor(&[1], &mut |_| {
            ups += 1;
            if ups == 3 {
                token.cancel();
            }
        })
        .unwrap();
    assert_eq!(answer, vec![0x2d], "CTAP2_ERR_KEEPALIVE_CANCEL");
    assert!(ups >= 3);
}
