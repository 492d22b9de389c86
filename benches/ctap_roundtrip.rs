//! getAssertion round trips per second against the in-process virtual key,
//! through full CTAPHID framing (fragment, channel, reassembly) and the state
//! file update that follows every assertion (the signature counter).
//! Goal: >= 5,000/s in release. Run: `cargo bench --bench ctap_roundtrip`.

use std::time::{Duration, Instant};

use glasskey::hid::packet::{fragment, Packet, BROADCAST_CID};
use glasskey::hid::transport::Transport;
use glasskey::virtual_key::{create_key, open_dir, ModelId, PresenceMode};

const CBOR: u8 = 0x10;
const INIT: u8 = 0x06;

fn send(t: &mut dyn Transport, cid: u32, cmd: u8, payload: &[u8]) {
    for r in fragment(cid, cmd, payload).expect("fits") {
        t.write_report(&r).expect("write");
    }
}

fn recv(t: &mut dyn Transport) -> (u8, Vec<u8>) {
    let r = t
        .read_report(Duration::from_secs(5))
        .expect("read")
        .expect("a report");
    let Packet::Init {
        cmd, bcnt, data, ..
    } = Packet::parse(&r)
    else {
        panic!("expected an init packet");
    };
    let mut out = data[..bcnt.min(data.len())].to_vec();
    while out.len() < bcnt {
        let r = t
            .read_report(Duration::from_secs(5))
            .expect("read")
            .expect("a report");
        let Packet::Cont { data, .. } = Packet::parse(&r) else {
            panic!("expected a continuation");
        };
        out.extend_from_slice(&data[..(bcnt - out.len()).min(data.len())]);
    }
    (cmd, out)
}

fn cbor(v: &ciborium::Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("encode");
    out
}

fn main() {
    use ciborium::Value::{Array, Bytes, Integer, Map, Text};
    let dir = tempfile::tempdir().expect("tempdir");
    create_key(
        &dir.path().join("bench.json"),
        ModelId::A,
        PresenceMode::Approve,
    )
    .expect("create");
    let mut t = open_dir(dir.path()).expect("open").remove(0).transport;
    let t = t.as_mut();
    send(t, BROADCAST_CID, INIT, &[0; 8]);
    let (_, init) = recv(t);
    let cid = u32::from_be_bytes([init[8], init[9], init[10], init[11]]);

    let t_str = |s: &str| Text(s.into());
    let mc = Map(vec![
        (Integer(1.into()), Bytes(vec![0; 32])),
        (
            Integer(2.into()),
            Map(vec![(t_str("id"), t_str("bench.example"))]),
        ),
        (
            Integer(3.into()),
            Map(vec![(t_str("id"), Bytes(b"u".to_vec()))]),
        ),
        (
            Integer(4.into()),
            Array(vec![Map(vec![
                (t_str("alg"), Integer((-7).into())),
                (t_str("type"), t_str("public-key")),
            ])]),
        ),
    ]);
    let mut req = vec![0x01];
    req.extend_from_slice(&cbor(&mc));
    send(t, cid, CBOR, &req);
    let (_, resp) = recv(t);
    assert_eq!(resp[0], 0, "makeCredential failed");
    let att: ciborium::Value = ciborium::de::from_reader(&resp[1..]).expect("cbor");
    let ad = att.as_map().expect("map")[1]
        .1
        .as_bytes()
        .expect("authData")
        .clone();
    let id_len = usize::from(u16::from_be_bytes([ad[53], ad[54]]));
    let cred_id = ad[55..55 + id_len].to_vec();

    let ga = Map(vec![
        (Integer(1.into()), t_str("bench.example")),
        (Integer(2.into()), Bytes(vec![1; 32])),
        (
            Integer(3.into()),
            Array(vec![Map(vec![
                (t_str("id"), Bytes(cred_id)),
                (t_str("type"), t_str("public-key")),
            ])]),
        ),
    ]);
    let mut req = vec![0x02];
    req.extend_from_slice(&cbor(&ga));

    for _ in 0..200 {
        send(t, cid, CBOR, &req);
        recv(t);
    }
    let n = 5000;
    let started = Instant::now();
    for _ in 0..n {
        send(t, cid, CBOR, &req);
        let (cmd, resp) = recv(t);
        assert!(cmd == CBOR && resp[0] == 0, "getAssertion failed");
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = f64::from(n) / secs;
    println!(
        "ctap_roundtrip: {n} getAssertion round trips in {secs:.3} s = {rate:.0}/s ({:.1} us each; goal >= 5000/s: {})",
        secs * 1e6 / f64::from(n),
        if rate >= 5000.0 { "met" } else { "NOT met" }
    );
}
