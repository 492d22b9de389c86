//! The in-process transport hands each answer over as one batch: once the
//! first report of an answer has arrived, the rest are readable without
//! waiting, in order, and nothing else is. Through the real CTAP client, the
//! signature counter advances on every assertion and survives an unplug.

use std::time::Duration;

use glasskey::attestation::assertion::verify_assertion;
use glasskey::ctap::get_assertion::{get_assertion, GetAssertionRequest};
use glasskey::ctap::make_credential::{make_credential, MakeCredentialRequest, RelyingParty, User};
use glasskey::ctap::Device;
use glasskey::hid::packet::{fragment, Packet, BROADCAST_CID};
use glasskey::hid::transport::Transport;
use glasskey::virtual_key::{create_key, open_dir, ModelId, PresenceMode};

const PING: u8 = 0x01;
const INIT: u8 = 0x06;

fn key_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    create_key(
        &dir.path().join("vk.json"),
        ModelId::A,
        PresenceMode::Approve,
    )
    .unwrap();
    dir
}

fn open(dir: &tempfile::TempDir) -> Box<dyn Transport> {
    open_dir(dir.path()).unwrap().remove(0).transport
}

#[test]
fn a_multi_report_answer_is_readable_at_once_and_in_order() {
    let dir = key_dir();
    let mut t = open(&dir);
    for r in fragment(BROADCAST_CID, INIT, &[9; 8]).unwrap() {
        t.write_report(&r).unwrap();
    }
    let init = t.read_report(Duration::from_secs(5)).unwrap().unwrap();
    let Packet::Init { data, .. } = Packet::parse(&init) else {
        panic!("expected the INIT answer");
    };
    let cid = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);

    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    let sent = fragment(cid, PING, &payload).unwrap();
    assert!(sent.len() > 10);
    for r in &sent {
        t.write_report(r).unwrap();
    }
    let first = t.read_report(Duration::from_secs(5)).unwrap().unwrap();
    let mut echoed = vec![first];
    for _ in 1..sent.len() {
        let r = t
            .read_report(Duration::ZERO)
            .unwrap()
            .expect("the rest of the answer is there without waiting");
        echoed.push(r);
    }
    // PING echoes the same frames: same channel, command, sequence and data.
    assert_eq!(echoed, sent);
    assert_eq!(t.read_report(Duration::from_millis(20)).unwrap(), None);
}

#[test]
fn assertions_verify_and_their_counter_never_repeats_across_unplugs() {
    let dir = key_dir();
    let mut dev = Device::open(open(&dir)).unwrap();
    let made = make_credential(
        &mut dev,
        &MakeCredentialRequest {
            client_data_hash: [3; 32],
            rp: Some(RelyingParty {
                id: "perf.example".into(),
                name: None,
            }),
            user: Some(User {
                id: vec![1],
                name: None,
                display_name: None,
            }),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let req = GetAssertionRequest {
        rp_id: "perf.example".into(),
        client_data_hash: [4; 32],
        allow_list: vec![made.credential_id.clone()],
        up: None,
        uv: None,
    };
    let public_key = made.public_key.to_cbor();
    let mut last = 0;
    drop(dev);
    for _plug in 0..3 {
        let mut dev = Device::open(open(&dir)).unwrap();
        for _ in 0..21 {
            let a = get_assertion(&mut dev, &req, None).unwrap();
            let facts = verify_assertion(
                &public_key,
                &a.auth_data_raw,
                &req.client_data_hash,
                &a.signature,
            )
            .unwrap();
            assert!(facts.sign_count > last, "{} after {last}", facts.sign_count);
            last = facts.sign_count;
        }
    }
}
