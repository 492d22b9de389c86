//! The virtual key's CTAPHID device side through the in-process transport
//! (`open_dir`), driven report by report: channel allocation, PING, the
//! ERROR codes for malformed framing, busy channels, stalled messages,
//! keepalives, CANCEL, a denied touch, and state surviving an unplug.

use std::time::{Duration, Instant};

use glasskey::hid::packet::{error_code, fragment, Packet, BROADCAST_CID};
use glasskey::hid::transport::{Report, Transport};
use glasskey::virtual_key::{create_key, open_dir, ModelId, PresenceMode};

const CBOR: u8 = 0x10;
const PING: u8 = 0x01;
const INIT: u8 = 0x06;
const CANCEL: u8 = 0x11;
const ERROR: u8 = 0x3f;
const KEEPALIVE: u8 = 0x3b;

fn open_one(presence: PresenceMode) -> (tempfile::TempDir, Box<dyn Transport>) {
    let dir = tempfile::tempdir().unwrap();
    create_key(&dir.path().join("vk.json"), ModelId::A, presence).unwrap();
    let mut devices = open_dir(dir.path()).unwrap();
    assert_eq!(devices.len(), 1);
    let t = devices.remove(0).transport;
    (dir, t)
}

fn send(t: &mut dyn Transport, cid: u32, cmd: u8, payload: &[u8]) {
    for r in fragment(cid, cmd, payload).unwrap() {
        t.write_report(&r).unwrap();
    }
}

/// Read one whole message: (cid, cmd, payload).
fn recv(t: &mut dyn Transport) -> (u32, u8, Vec<u8>) {
    let r = t
        .read_report(Duration::from_secs(5))
        .unwrap()
        .expect("a report");
    let Packet::Init {
        cid,
        cmd,
        bcnt,
        data,
    } = Packet::parse(&r)
    else {
        panic!("expected an init packet");
    };
    let mut out = data[..bcnt.min(data.len())].to_vec();
    while out.len() < bcnt {
        let r = t.read_report(Duration::from_secs(5)).unwrap().unwrap();
        let Packet::Cont { data, .. } = Packet::parse(&r) else {
            panic!("expected a continuation");
        };
        out.extend_from_slice(&data[..(bcnt - out.len()).min(data.len())]);
    }
    (cid, cmd, out)
}

fn init(t: &mut dyn Transport) -> u32 {
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
    send(t, BROADCAST_CID, INIT, &nonce);
    let (cid, cmd, data) = recv(t);
    assert_eq!((cid, cmd), (BROADCAST_CID, INIT));
    assert_eq!(&data[..8], &nonce);
    u32::from_be_bytes([data[8], data[9], data[10], data[11]])
}

fn expect_error(t: &mut dyn Transport, cid: u32, code: u8) {
    assert_eq!(recv(t), (cid, ERROR, vec![code]));
}

#[test]
fn channels_ping_and_framing_errors() {
    let (_dir, mut t) = open_one(PresenceMode::Approve);
    let t = t.as_mut();
    let a = init(t);
    let b = init(t);
    assert_ne!(a, b);
    let payload: Vec<u8> = (0..300).map(|i| i as u8).collect();
    send(t, a, PING, &payload);
    assert_eq!(recv(t), (a, PING, payload.clone()));
    // unknown channel, command, and cid 0
    send(t, 0x7777, PING, b"x");
    expect_error(t, 0x7777, error_code::INVALID_CHANNEL);
    send(t, 0, PING, b"x");
    expect_error(t, 0, error_code::INVALID_CHANNEL);
    send(t, a, 0x03, b"u2f");
    expect_error(t, a, error_code::INVALID_CMD);
    send(t, a, INIT, &[1, 2, 3]);
    expect_error(t, a, error_code::INVALID_LEN);
    send(t, a, CBOR, &[]);
    expect_error(t, a, error_code::INVALID_LEN);
    // a message longer than CTAPHID can carry
    let mut r: Report = [0; 64];
    r[..4].copy_from_slice(&a.to_be_bytes());
    r[4] = 0x80 | PING;
    r[5..7].copy_from_slice(&0xffffu16.to_be_bytes());
    t.write_report(&r).unwrap();
    expect_error(t, a, error_code::INVALID_LEN);
    // wrong sequence number
    let reports = fragment(a, PING, &payload).unwrap();
    t.write_report(&reports[0]).unwrap();
    t.write_report(&reports[2]).unwrap();
    expect_error(t, a, error_code::INVALID_SEQ);
    // channel b is busy while a's message is half sent
    t.write_report(&reports[0]).unwrap();
    send(t, b, PING, b"hi");
    expect_error(t, b, error_code::CHANNEL_BUSY);
    for r in &reports[1..] {
        t.write_report(r).unwrap();
    }
    assert_eq!(recv(t), (a, PING, payload.clone()));
    // a stalled message times out
    let started = Instant::now();
    t.write_report(&reports[0]).unwrap();
    expect_error(t, a, error_code::MSG_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

fn selection(t: &mut dyn Transport, cid: u32) {
    send(t, cid, CBOR, &[0x0b]);
}

#[test]
fn delayed_touch_sends_keepalives_and_cancel_aborts() {
    let (_dir, mut t) = open_one(PresenceMode::Delay { ms: 350 });
    let t = t.as_mut();
    let cid = init(t);
    selection(t, cid);
    let mut keepalives = 0;
    loop {
        let (c, cmd, data) = recv(t);
        assert_eq!(c, cid);
        if cmd == KEEPALIVE {
            assert_eq!(data, vec![2]); // UPNEEDED
            keepalives += 1;
            continue;
        }
        assert_eq!((cmd, data), (CBOR, vec![0]));
        break;
    }
    assert!(keepalives >= 3, "{keepalives} keepalives");
    // CANCEL during the wait; another channel meanwhile is busy
    let other = init(t);
    selection(t, cid);
    let (_, cmd, _) = recv(t);
    assert_eq!(cmd, KEEPALIVE);
    send(t, other, PING, b"x");
    send(t, cid, CANCEL, &[]);
    let mut saw_busy = false;
    loop {
        let (c, cmd, data) = recv(t);
        if c == other {
            assert_eq!((cmd, data), (ERROR, vec![error_code::CHANNEL_BUSY]));
            saw_busy = true;
        } else if cmd == CBOR {
            assert_eq!(data, vec![0x2d]); // CTAP2_ERR_KEEPALIVE_CANCEL
            break;
        }
    }
    assert!(saw_busy);
}

#[test]
fn denied_touch_times_out() {
    let (_dir, mut t) = open_one(PresenceMode::Deny { wait_ms: 200 });
    let t = t.as_mut();
    let cid = init(t);
    selection(t, cid);
    loop {
        let (_, cmd, data) = recv(t);
        if cmd == CBOR {
            assert_eq!(data, vec![0x2f]); // CTAP2_ERR_USER_ACTION_TIMEOUT
            break;
        }
        assert_eq!(cmd, KEEPALIVE);
    }
}

#[test]
fn state_survives_unplug() {
    let (dir, mut t) = open_one(PresenceMode::Approve);
    let cid = init(t.as_mut());
    // makeCredential, non-resident, no PIN: {1: cdh, 2: {id}, 3: {id}, 4: [{alg,type}]}
    let mut req = vec![0x01, 0xa4, 0x01, 0x58, 0x20];
    req.extend_from_slice(&[0u8; 32]);
    req.extend_from_slice(&[0x02, 0xa1, 0x62, b'i', b'd', 0x61, b'x']);
    req.extend_from_slice(&[0x03, 0xa1, 0x62, b'i', b'd', 0x41, 0x01]);
    req.extend_from_slice(&[0x04, 0x81, 0xa2, 0x63, b'a', b'l', b'g', 0x26]);
    req.extend_from_slice(&[0x64, b't', b'y', b'p', b'e']);
    req.push(0x6a);
    req.extend_from_slice(b"public-key");
    send(t.as_mut(), cid, CBOR, &req);
    let (_, cmd, data) = recv(t.as_mut());
    assert_eq!((cmd, data[0]), (CBOR, 0));
    drop(t); // unplug
    let again = open_dir(dir.path()).unwrap();
    let text = std::fs::read_to_string(&again[0].path).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(state["credentials"].as_array().unwrap().len(), 1);
}
