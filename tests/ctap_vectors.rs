//! Our CTAPHID reassembler and CTAP2 parsers on real captured data
//! (tests/vectors, see its README): every message reassembles to the payload the
//! README decodes, every field parses as documented, unknown keys are ignored,
//! and truncated or corrupted copies fail with a typed error, never a panic.

use std::path::{Path, PathBuf};

use glasskey::ctap::credman::{CredentialEntry, RpEntry};
use glasskey::ctap::get_assertion::Assertion;
use glasskey::ctap::make_credential::MakeCredentialResponse;
use glasskey::ctap::{pin, CtapError, Device, Info};
use glasskey::hid::packet::Command;
use glasskey::hid::replay::{hex_decode, ReplayTransport};
use glasskey::hid::{Channel, KeepaliveStatus, REPORT_LEN};
use sha2::{Digest, Sha256};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(vectors().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Reports of a wiredata file; a short last report (as captured) is zero-padded.
fn reports(text: &str) -> Vec<[u8; REPORT_LEN]> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut b = hex_decode(l).expect("hex");
            assert!(b.len() <= REPORT_LEN);
            b.resize(REPORT_LEN, 0);
            b.try_into().unwrap()
        })
        .collect()
}

/// `# Reassembled payload N (hex): ...` lines, in order.
fn payloads(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# Reassembled payload "))
        .map(|l| hex_decode(l.split("(hex):").nth(1).expect("hex part")).expect("payload hex"))
        .collect()
}

/// The CTAPHID command byte of each `# Decoded:` message.
fn decoded_cmds(text: &str) -> Vec<u8> {
    text.lines()
        .filter(|l| l.starts_with("# Decoded: CID"))
        .map(|l| {
            let at = l.find("CMD 0x").expect("CMD") + 6;
            u8::from_str_radix(&l[at..at + 2], 16).expect("cmd hex")
        })
        .collect()
}

const NONCE: [u8; 8] = *b"glasskey";

/// An INIT answer allocating `cid` for our test nonce (the captures start after INIT).
fn init_answer(cid: &[u8]) -> [u8; REPORT_LEN] {
    let mut r = [0u8; REPORT_LEN];
    r[..4].copy_from_slice(&[0xff; 4]);
    r[4] = 0x86;
    r[6] = 17;
    r[7..15].copy_from_slice(&NONCE);
    r[15..19].copy_from_slice(cid);
    r[19..24].copy_from_slice(&[2, 5, 2, 1, 0x05]);
    r
}

fn channel_for(captured: Vec<[u8; REPORT_LEN]>) -> Channel {
    let cid = captured[0][..4].to_vec();
    let mut all = vec![init_answer(&cid)];
    all.extend(captured);
    Channel::open_with_nonce(Box::new(ReplayTransport::new(all)), NONCE).expect("INIT")
}

#[test]
fn ctaphid_init_capture_allocates_its_channel() {
    let text = read("wiredata/libfido2-ctaphid-init-response.hex");
    let nonce: [u8; 8] = hex_decode("80435640b14ed92d").unwrap().try_into().unwrap();
    let channel = Channel::open_with_nonce(Box::new(ReplayTransport::new(reports(&text))), nonce)
        .expect("INIT");
    let info = channel.info();
    assert_eq!(info.cid, 0x0022_0002);
    assert_eq!(info.protocol_version, 2);
    assert_eq!(info.device_version, (5, 2, 1));
    assert!(info.supports_cbor() && info.supports_wink());
    // the same answer for a different nonce belongs to another program
    let other = Channel::open_with_nonce(Box::new(ReplayTransport::new(reports(&text))), NONCE);
    assert!(other.is_err());
}

#[test]
fn every_ctaphid_capture_reassembles_to_the_documented_payloads() {
    let mut files = 0;
    for entry in std::fs::read_dir(vectors().join("wiredata")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".hex") || name.contains("-nfc-") || name.contains("ctaphid-init") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let cmds = decoded_cmds(&text);
        let want = payloads(&text);
        assert_eq!(cmds.len(), want.len(), "{name}: README decode lines");
        let raw = reports(&text);
        let init_cid: [u8; 4] = raw[0][..4].try_into().unwrap();
        if raw.iter().any(|r| r[..4] != init_cid) {
            // libfido2's fuzz corpus gives the continuations of the getAssertion capture another
            // channel id (0092000e). A real key never does that and a strict host must not merge
            // foreign frames: the raw copy has to time out; the README's payload is checked on a
            // copy with the continuations moved to the message's channel.
            let mut strict = channel_for(raw.clone());
            strict.set_idle_timeout(std::time::Duration::from_millis(200));
            let e = strict.call(Command::Cbor, &[], &mut |_| {}).unwrap_err();
            assert!(
                matches!(e, glasskey::hid::HidError::Timeout { .. }),
                "{name}: {e}"
            );
        }
        let normalised: Vec<_> = raw
            .into_iter()
            .map(|mut r| {
                r[..4].copy_from_slice(&init_cid);
                r
            })
            .collect();
        let mut channel = channel_for(normalised);
        channel.set_idle_timeout(std::time::Duration::from_millis(500));
        let mut i = 0;
        while i < cmds.len() {
            let mut keepalives = Vec::new();
            let Some(cmd) = cmds[i..]
                .iter()
                .copied()
                .find(|c| c & 0x7f != Command::Keepalive as u8)
            else {
                // only keepalives left: surfaced to the caller, then silence is a timeout
                let e = channel
                    .call(Command::Cbor, &[], &mut |s| keepalives.push(s))
                    .unwrap_err();
                assert!(
                    matches!(e, glasskey::hid::HidError::Timeout { .. }),
                    "{name}: {e}"
                );
                assert_eq!(keepalives.len(), cmds.len() - i, "{name}");
                assert!(keepalives.iter().all(|k| *k == KeepaliveStatus::UpNeeded));
                break;
            };
            let got = channel
                .call(Command::from_byte(cmd).unwrap(), &[], &mut |s| {
                    keepalives.push(s)
                })
                .unwrap_or_else(|e| panic!("{name}: message {i}: {e}"));
            // keepalives before this message were surfaced, with their status
            for (k, status) in keepalives.iter().enumerate() {
                assert_eq!(want[i + k], vec![2], "{name}");
                assert_eq!(*status, KeepaliveStatus::UpNeeded);
            }
            i += keepalives.len();
            assert_eq!(got, want[i], "{name}: payload {i}");
            i += 1;
        }
        files += 1;
    }
    assert!(files >= 15, "only {files} captures found");
}

fn getinfo_cbor(rel: &str) -> Vec<u8> {
    let text = read(rel);
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap();
    hex_decode(line).unwrap()
}

#[test]
fn getinfo_security_key_by_yubico_decodes_every_field() {
    let info = Info::from_cbor(&getinfo_cbor(
        "getinfo/python-fido2-getinfo-security-key-by-yubico.cbor.hex",
    ))
    .unwrap();
    assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0"]);
    assert_eq!(info.extensions, ["uvm", "hmac-secret"]);
    assert_eq!(
        info.aaguid.to_string(),
        "f8a011f3-8c0a-4d15-8006-17111f9edc7d"
    );
    assert_eq!(info.option("rk"), Some(true));
    assert_eq!(info.option("up"), Some(true));
    assert_eq!(info.option("plat"), Some(false));
    assert_eq!(info.pin_set(), Some(false));
    assert_eq!(info.max_msg_size, Some(1200));
    assert_eq!(info.pin_uv_auth_protocols, [1]);
    assert_eq!(
        info.preferred_pin_protocol(),
        Some(glasskey::ctap::pin_protocol::PinProtocol::V1)
    );
    assert!(info.algorithms.is_empty());
    assert_eq!(info.cred_mgmt_command(), None);

    let extra = Info::from_cbor(&getinfo_cbor(
        "getinfo/python-fido2-getinfo-security-key-by-yubico-EXTRA-KEY-variant.cbor.hex",
    ))
    .unwrap();
    assert_eq!(extra, info, "unknown key 0x63 must be ignored");
}

#[test]
fn getinfo_ctap21pre_decodes_and_picks_the_preview_credman_command() {
    let info = Info::from_cbor(&getinfo_cbor(
        "getinfo/libfido2-fuzz-getinfo-ctap21pre-aaguid-1956e5bd.cbor.hex",
    ))
    .unwrap();
    assert_eq!(info.versions, ["U2F_V2", "FIDO_2_0", "FIDO_2_1_PRE"]);
    assert_eq!(info.extensions, ["credProtect", "hmac-secret"]);
    assert_eq!(
        info.aaguid.to_string(),
        "1956e5bd-a374-45f1-a814-356403fdbc18"
    );
    assert_eq!(info.option("credentialMgmtPreview"), Some(true));
    assert_eq!(info.max_credential_count_in_list, Some(8));
    assert_eq!(info.max_credential_id_length, Some(128));
    let algs: Vec<i64> = info.algorithms.iter().map(|a| a.alg).collect();
    assert_eq!(algs, [-7, -8]);
    assert!(info.algorithms.iter().all(|a| a.kind == "public-key"));
    assert_eq!(
        info.cred_mgmt_command(),
        Some(glasskey::ctap::CtapCommand::CredentialManagementPreview)
    );
}

#[test]
fn getinfo_ctap23_parses_with_new_keys_ignored() {
    let info = Info::from_cbor(&getinfo_cbor(
        "getinfo/libfido2-fuzz-getinfo-ctap23-SEMISYNTHETIC.cbor.hex",
    ))
    .unwrap();
    assert!(info.supports_version("FIDO_2_3"));
    assert_eq!(
        info.aaguid.to_string(),
        "f8a011f3-8c0a-4d15-8006-17111f9edc7d"
    );
    assert_eq!(info.firmware_version, Some(1));
    assert!(!info.transports.is_empty());
}

fn assert_rejects_truncations_and_survives_flips<T>(
    bytes: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, CtapError>,
) {
    assert!(parse(bytes).is_ok());
    for cut in 0..bytes.len() {
        match parse(&bytes[..cut]) {
            Err(CtapError::Malformed { .. }) => {}
            Err(e) => panic!("truncation at {cut}: unexpected error kind {e:?}"),
            Ok(_) => panic!("truncation at {cut} accepted"),
        }
    }
    for i in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut c = bytes.to_vec();
            c[i] ^= mask;
            let _ = parse(&c); // typed result either way; must not panic
        }
    }
}

#[test]
fn getinfo_truncated_or_corrupted_is_a_typed_error() {
    for rel in [
        "getinfo/python-fido2-getinfo-security-key-by-yubico.cbor.hex",
        "getinfo/libfido2-fuzz-getinfo-ctap21pre-aaguid-1956e5bd.cbor.hex",
        "getinfo/libfido2-fuzz-getinfo-ctap23-SEMISYNTHETIC.cbor.hex",
    ] {
        assert_rejects_truncations_and_survives_flips(&getinfo_cbor(rel), Info::from_cbor);
    }
}

fn body_of(rel: &str, n: usize) -> Vec<u8> {
    let p = payloads(&read(rel)).remove(n);
    assert_eq!(p[0], 0, "CTAP2_OK");
    p[1..].to_vec()
}

#[test]
fn captured_assertion_parses_and_rejects_damage() {
    let body = body_of("wiredata/libfido2-getassertion-response.hex", 0);
    let a = Assertion::parse(&body).unwrap();
    assert_eq!(a.credential_id.as_ref().map(Vec::len), Some(64));
    assert_eq!(
        a.auth_data.rp_id_hash,
        <[u8; 32]>::from(Sha256::digest("localhost"))
    );
    assert_eq!(a.auth_data.sign_count, 9);
    assert_eq!(a.signature.len(), 71);
    assert_rejects_truncations_and_survives_flips(&body, Assertion::parse);
}

#[test]
fn captured_make_credential_keeps_bytes_and_parses() {
    let body = body_of("wiredata/libfido2-regress-makecred.hex", 0);
    let r = MakeCredentialResponse::parse(&body).unwrap();
    assert_eq!(r.raw, body);
    assert_eq!(r.attestation.fmt, "packed");
    assert_eq!(r.attestation.alg(), Some(-7));
    assert_eq!(r.attestation.x5c().unwrap().len(), 1);
    assert_eq!(r.credential_id.len(), 64);
    let aaguid = r.attestation.auth_data.attested.as_ref().unwrap().aaguid;
    assert_eq!(aaguid.to_string(), "f8a011f3-8c0a-4d15-8006-17111f9edc7d");
    assert!(r
        .attestation_object()
        .windows(r.attestation.auth_data_raw.len())
        .any(|w| w == r.attestation.auth_data_raw));
    assert_rejects_truncations_and_survives_flips(&body, MakeCredentialResponse::parse);
}

#[test]
fn captured_credman_enumerations_parse() {
    let rel = "wiredata/libfido2-credman-enumeraterps-responses.hex";
    let (first, total) = RpEntry::from_response(&body_of(rel, 0)).unwrap();
    assert_eq!(first.id.as_deref(), Some("yubico.com"));
    assert_eq!(first.rp_id_hash, Sha256::digest("yubico.com").to_vec());
    assert_eq!(total, Some(3));
    let (second, _) = RpEntry::from_response(&body_of(rel, 1)).unwrap();
    assert_eq!(second.id.as_deref(), Some("yubikey.org"));
    assert_eq!(
        RpEntry::from_response(&body_of(rel, 2))
            .unwrap()
            .0
            .id
            .as_deref(),
        Some("webauthn.dev")
    );

    let rel = "wiredata/libfido2-credman-enumeratecredentials-responses.hex";
    let (c, _) = CredentialEntry::from_response(&body_of(rel, 0)).unwrap();
    assert_eq!(c.user_name.as_deref(), Some("bob banana"));
    assert_eq!(c.user_display_name.as_deref(), Some("bbanana"));
    assert_eq!(c.credential_id.len(), 16);
    assert_eq!(c.public_key.as_ref().and_then(|k| k.alg()), Some(-7));
    let (c2, _) = CredentialEntry::from_response(&body_of(rel, 1)).unwrap();
    assert_eq!(c2.public_key.as_ref().and_then(|k| k.alg()), Some(-8));
    assert_rejects_truncations_and_survives_flips(&body_of(rel, 0), |b| {
        CredentialEntry::from_response(b)
    });
}

/// A whole Device over captures: INIT, getInfo (2020 capture), getPINRetries; and
/// the request we wrote is canonical CBOR.
#[test]
fn replayed_device_reads_info_and_pin_retries() {
    let mut captured = reports(&read(
        "wiredata/libfido2-getinfo-response-ctap21pre-2020.hex",
    ));
    captured.extend(reports(&read(
        "wiredata/libfido2-clientpin-getpinretries-response.hex",
    )));
    let cid = captured[0][..4].to_vec();
    let mut all = vec![init_answer(&cid)];
    all.extend(captured);
    let channel = Channel::open_with_nonce(Box::new(ReplayTransport::new(all)), NONCE).unwrap();
    let mut dev = Device::from_channel(channel).unwrap();
    assert_eq!(dev.info().max_msg_size, Some(1200));
    let retries = pin::get_retries(&mut dev).unwrap();
    assert_eq!(retries.retries, 8);
}

/// A tiny deterministic generator (no dependency needed for a smoke fuzz).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_garbage_never_panics_the_parsers_or_the_channel() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let seeds = [
        getinfo_cbor("getinfo/libfido2-fuzz-getinfo-ctap23-SEMISYNTHETIC.cbor.hex"),
        body_of("wiredata/libfido2-getassertion-response.hex", 0),
        body_of("wiredata/libfido2-regress-makecred.hex", 0),
    ];
    for round in 0..3000 {
        // half pure noise, half a real answer with random bytes overwritten
        let data = if round % 2 == 0 {
            let n = (rng.next() % 300) as usize;
            rng.bytes(n)
        } else {
            let mut d = seeds[round % 3].clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() as usize) % d.len();
                d[i] = rng.next() as u8;
            }
            d
        };
        let _ = Info::from_cbor(&data);
        let _ = Assertion::parse(&data);
        let _ = MakeCredentialResponse::parse(&data);
        let _ = RpEntry::from_response(&data);
        let _ = CredentialEntry::from_response(&data);
    }
    for _ in 0..200 {
        let cid = [0, 0x22, 0, 2];
        let reports: Vec<[u8; REPORT_LEN]> = (0..1 + rng.next() % 6)
            .map(|_| {
                let mut r: [u8; REPORT_LEN] = rng.bytes(REPORT_LEN).try_into().unwrap();
                if !rng.next().is_multiple_of(4) {
                    r[..4].copy_from_slice(&cid);
                }
                r
            })
            .collect();
        let mut all = vec![init_answer(&cid)];
        all.extend(reports);
        let mut ch = Channel::open_with_nonce(Box::new(ReplayTransport::new(all)), NONCE).unwrap();
        ch.set_idle_timeout(std::time::Duration::from_millis(20));
        let _ = ch.call(Command::Cbor, &[4], &mut |_| {});
    }
}
