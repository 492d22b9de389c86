//! CTAP client costs: CTAPHID reassembly of the largest message and getInfo
//! decoding (CPU only), and, when TRUSSED_PEER is set, whole round trips over a
//! socket (INIT+getInfo, PIN token, makeCredential, getAssertion).
//! Run with `cargo bench --bench ctap_client`.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use glasskey::ctap::command::permission;
use glasskey::ctap::get_assertion::{get_assertion, GetAssertionRequest};
use glasskey::ctap::make_credential::{make_credential, MakeCredentialRequest, RelyingParty, User};
use glasskey::ctap::pin_protocol::PinProtocol;
use glasskey::ctap::{pin, Device, Info};
use glasskey::hid::packet::{fragment, Command as HidCmd, MAX_MESSAGE_LEN};
use glasskey::hid::replay::{hex_decode, ReplayTransport};
use glasskey::hid::{open_device, Channel};
use glasskey::secret::Pin;

/// Run `f` for about `budget` (at least 5 times); print the median.
fn measure(name: &str, budget: Duration, mut f: impl FnMut()) {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{name:<44} median {:>10.1?}  ({} runs)",
        times[times.len() / 2],
        times.len()
    );
}

fn init_answer(nonce: [u8; 8], cid: u32) -> [u8; 64] {
    let mut p = nonce.to_vec();
    p.extend(cid.to_be_bytes());
    p.extend([2, 1, 0, 0, 5]);
    fragment(0xffff_ffff, HidCmd::Init as u8, &p).expect("init")[0]
}

fn main() {
    let payload: Vec<u8> = (0..MAX_MESSAGE_LEN).map(|i| i as u8).collect();
    let frames = fragment(7, HidCmd::Cbor as u8, &payload).expect("fragment");
    measure(
        "reassemble 7609-byte message (129 frames)",
        Duration::from_millis(500),
        || {
            let mut all = vec![init_answer([1; 8], 7)];
            all.extend(frames.iter().copied());
            let mut ch = Channel::open_with_nonce(Box::new(ReplayTransport::new(all)), [1; 8])
                .expect("init");
            black_box(ch.cbor(&[4], &mut |_| {}).expect("message"));
        },
    );

    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/getinfo/libfido2-fuzz-getinfo-ctap23-SEMISYNTHETIC.cbor.hex"
    ))
    .expect("vector");
    let cbor = hex_decode(
        text.lines()
            .find(|l| !l.starts_with('#'))
            .expect("hex line"),
    )
    .expect("hex");
    measure(
        "decode getInfo (CTAP 2.3, 596 bytes)",
        Duration::from_millis(500),
        || {
            black_box(Info::from_cbor(black_box(&cbor)).expect("info"));
        },
    );

    let Ok(bin) = std::env::var("TRUSSED_PEER") else {
        eprintln!("SKIPPED peer round trips: TRUSSED_PEER is not set");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("k.sock");
    let mut child = Command::new(bin)
        .arg("--unix")
        .arg(&sock)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("peer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("READY");
    let addr = line.trim().trim_start_matches("READY ").to_string();
    let budget = Duration::from_secs(2);
    measure("trussed: connect + INIT + getInfo", budget, || {
        black_box(Device::open(open_device(&addr).expect("connect")).expect("open"));
    });
    let mut dev = Device::open(open_device(&addr).expect("connect")).expect("open");
    let p = Pin::new("1234".into());
    pin::set_pin(&mut dev, PinProtocol::V2, &p).expect("setPIN");
    dev.refresh_info().expect("info");
    measure("trussed: PIN token (protocol 2)", budget, || {
        black_box(
            pin::get_token(&mut dev, &p, permission::MAKE_CREDENTIAL, Some("x.test"))
                .expect("token"),
        );
    });
    let req = MakeCredentialRequest {
        client_data_hash: [7; 32],
        rp: Some(RelyingParty {
            id: "x.test".into(),
            name: None,
        }),
        user: Some(User {
            id: vec![1],
            name: Some("u".into()),
            display_name: None,
        }),
        algorithms: vec![-7],
        ..Default::default()
    };
    let mut last = None;
    measure("trussed: makeCredential (non-resident)", budget, || {
        last = Some(make_credential(&mut dev, &req, None).expect("makeCredential"));
    });
    let id = last.expect("a credential").credential_id;
    let ga = GetAssertionRequest {
        rp_id: "x.test".into(),
        client_data_hash: [8; 32],
        allow_list: vec![id],
        up: None,
        uv: None,
    };
    measure("trussed: getAssertion", budget, || {
        black_box(get_assertion(&mut dev, &ga, None).expect("getAssertion"));
    });
    let _ = child.kill();
    let _ = child.wait();
}
