//! Our CTAP2 client against two independent authenticators: trussed's
//! fido-authenticator (Nitrokey 3 / Solo 2 firmware) and Google's OpenSK.
//! One fresh peer process per test. Skips loudly when the peers are not built
//! (`eval "$(../shared/peers/build.sh)"` sets TRUSSED_PEER and OPENSK_PEER).

#[path = "support/skip.rs"]
mod skip;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use glasskey::ctap::command::permission;
use glasskey::ctap::config::set_min_pin_length;
use glasskey::ctap::credman::CredentialManagement;
use glasskey::ctap::get_assertion::{get_all_assertions, get_assertion, GetAssertionRequest};
use glasskey::ctap::make_credential::{
    make_credential, CredProtect, MakeCredentialRequest, MakeCredentialResponse, RelyingParty, User,
};
use glasskey::ctap::pin::{self, PinToken};
use glasskey::ctap::pin_protocol::PinProtocol;
use glasskey::ctap::{reset, CtapError, Device, Status};
use glasskey::hid::{open_device, CancelToken, KeepaliveStatus};
use glasskey::secret::Pin;
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Trussed,
    OpenSk,
}

struct Peer {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peer(kind: Kind, extra: &[&str]) -> Option<Peer> {
    let var = match kind {
        Kind::Trussed => "TRUSSED_PEER",
        Kind::OpenSk => "OPENSK_PEER",
    };
    let Ok(bin) = std::env::var(var) else {
        skip::skip(&format!("{var} is not set; build the peers with `make interop` (../shared/peers/build.sh) to run interop tests"));
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("k.sock");
    let mut child = Command::new(bin)
        .arg("--unix")
        .arg(&sock)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn peer");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("READY line");
    let address = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("peer said {line:?}, not READY"))
        .to_string();
    Some(Peer {
        child,
        address,
        _dir: dir,
    })
}

fn open(p: &Peer) -> Device {
    Device::open(open_device(&p.address).expect("connect")).expect("INIT + getInfo")
}

fn pin(s: &str) -> Pin {
    Pin::new(s.to_string())
}

const RP: &str = "login.microsoft.com";

fn cdh(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn mc_request(user: &[u8], exclude: Vec<Vec<u8>>) -> MakeCredentialRequest {
    MakeCredentialRequest {
        client_data_hash: cdh("make"),
        rp: Some(RelyingParty {
            id: RP.into(),
            name: Some("Microsoft".into()),
        }),
        user: Some(User {
            id: user.to_vec(),
            name: Some("bg1@contoso.com".into()),
            display_name: Some("Break glass 1".into()),
        }),
        algorithms: vec![-7],
        exclude_list: exclude,
        resident_key: true,
        cred_protect: Some(CredProtect::UserVerificationRequired),
        hmac_secret: true,
    }
}

/// The P-256 key of an X.509 certificate: the point after the id-ecPublicKey/prime256v1 SPKI header.
fn cert_p256_point(der: &[u8]) -> Vec<u8> {
    let header = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let at = der
        .windows(header.len())
        .position(|w| w == header)
        .expect("P-256 SPKI in the attestation certificate");
    der[at + header.len()..at + header.len() + 65].to_vec()
}

fn verify_p256(point: &[u8], message: &[u8], der_sig: &[u8]) -> bool {
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("P-256 point");
    let sig = p256::ecdsa::Signature::from_der(der_sig).expect("DER signature");
    key.verify(message, &sig).is_ok()
}

fn token(dev: &mut Device, p: &str, perms: u8, rp: Option<&str>) -> PinToken {
    pin::get_token(dev, &pin(p), perms, rp).expect("PIN token")
}

fn both(test: impl Fn(Kind)) {
    test(Kind::Trussed);
    test(Kind::OpenSk);
}

#[test]
fn interop_get_info() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let dev = open(&p);
        let info = dev.info();
        assert!(
            info.supports_version("FIDO_2_1"),
            "{kind:?}: {:?}",
            info.versions
        );
        assert_eq!(
            info.pin_set(),
            Some(false),
            "{kind:?}: fresh key has no PIN"
        );
        assert!(info.supports_extension("credProtect"));
        assert!(info.supports_extension("hmac-secret"));
        assert!(info.algorithms.iter().any(|a| a.alg == -7));
        assert!(info.max_msg_size.unwrap_or(0) >= 1024);
        let expected_aaguid = match kind {
            Kind::Trussed => "8bc54968-07b1-4d5f-b249-607f5d527da2",
            Kind::OpenSk => "00000000-0000-0000-0000-000000000000",
        };
        assert_eq!(info.aaguid.to_string(), expected_aaguid);
        assert!(!info.pin_uv_auth_protocols.is_empty());
    });
}

#[test]
fn interop_ping_and_wink() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        let data: Vec<u8> = (0..300).map(|i| i as u8).collect();
        assert_eq!(dev.channel().ping(&data).expect("ping"), data, "{kind:?}");
        if dev.channel().info().supports_wink() {
            dev.channel().wink().expect("wink");
        }
    });
}

#[test]
fn interop_selection() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        reset::selection(&mut dev).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    });
}

#[test]
fn interop_set_change_pin_both_protocols_and_wrong_pin_retries() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        pin::set_pin(&mut dev, PinProtocol::V2, &pin("1234")).expect("setPIN v2");
        dev.refresh_info().unwrap();
        assert_eq!(dev.info().pin_set(), Some(true));
        let before = pin::get_retries(&mut dev).unwrap().retries;
        for protocol in [PinProtocol::V2, PinProtocol::V1] {
            pin::get_pin_uv_auth_token(
                &mut dev,
                protocol,
                &pin("1234"),
                permission::MAKE_CREDENTIAL,
                Some(RP),
            )
            .unwrap_or_else(|e| panic!("{kind:?} token {protocol:?}: {e}"));
            pin::get_pin_token(&mut dev, protocol, &pin("1234")).expect("legacy getPinToken");
        }
        match pin::get_pin_token(&mut dev, PinProtocol::V2, &pin("9999")) {
            Err(CtapError::PinInvalid { retries: Some(n) }) => {
                assert_eq!(n, before - 1, "{kind:?}")
            }
            other => panic!("{kind:?}: wrong PIN gave {other:?}"),
        }
        let err = pin::get_pin_token(&mut dev, PinProtocol::V2, &pin("9998")).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("{} attempts left", before - 2)),
            "{err}"
        );
        pin::change_pin(&mut dev, PinProtocol::V1, &pin("1234"), &pin("56789"))
            .expect("changePIN v1");
        // a correct PIN resets the counter
        pin::get_pin_token(&mut dev, PinProtocol::V2, &pin("56789")).expect("new PIN works");
        assert_eq!(pin::get_retries(&mut dev).unwrap().retries, before);
        assert!(matches!(
            pin::get_pin_token(&mut dev, PinProtocol::V2, &pin("1234")),
            Err(CtapError::PinInvalid { .. })
        ));
        pin::change_pin(&mut dev, PinProtocol::V2, &pin("56789"), &pin("2468"))
            .expect("changePIN v2");
        assert!(matches!(
            pin::set_pin(&mut dev, PinProtocol::V2, &pin("12")),
            Err(CtapError::PinPolicy(_))
        ));
    });
}

fn enroll(dev: &mut Device, user: &[u8]) -> MakeCredentialResponse {
    let t = token(
        dev,
        "1234",
        permission::MAKE_CREDENTIAL | permission::GET_ASSERTION,
        Some(RP),
    );
    make_credential(dev, &mc_request(user, vec![]), Some(&t)).expect("makeCredential")
}

#[test]
fn interop_make_credential_attestation_verifies_and_assertion_verifies() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        pin::set_pin(&mut dev, PinProtocol::V2, &pin("1234")).unwrap();
        dev.refresh_info().unwrap();
        let resp = enroll(&mut dev, b"user-1");
        let att = &resp.attestation;
        assert_eq!(att.fmt, "packed");
        let flags = att.auth_data.flags;
        assert!(flags.user_present() && flags.user_verified() && flags.attested());
        assert_eq!(
            att.auth_data.rp_id_hash,
            <[u8; 32]>::from(Sha256::digest(RP))
        );
        assert_eq!(att.auth_data.cred_protect(), Some(3), "{kind:?}");
        assert!(att.auth_data.extension("hmac-secret").is_some(), "{kind:?}");
        // raw bytes preserved and re-parsable; the WebAuthn form keeps authData exact
        assert_eq!(
            MakeCredentialResponse::parse(&resp.raw)
                .unwrap()
                .credential_id,
            resp.credential_id
        );
        let webauthn = resp.attestation_object();
        assert!(webauthn
            .windows(att.auth_data_raw.len())
            .any(|w| w == att.auth_data_raw));

        let mut signed = att.auth_data_raw.clone();
        signed.extend_from_slice(&cdh("make"));
        let sig = att.sig().expect("packed sig");
        let x5c = att.x5c().unwrap();
        let point = match kind {
            Kind::Trussed => {
                assert!(!x5c.is_empty(), "trussed attests with a certificate");
                cert_p256_point(x5c[0])
            }
            Kind::OpenSk => {
                assert!(x5c.is_empty(), "OpenSK self-attests");
                resp.public_key.sec1_uncompressed().unwrap()
            }
        };
        assert!(
            verify_p256(&point, &signed, sig),
            "{kind:?}: attestation signature"
        );
        let mut tampered = signed.clone();
        tampered[40] ^= 1;
        assert!(!verify_p256(&point, &tampered, sig));

        // getAssertion with allowList, uv by token, verified with the credential key
        let t = token(&mut dev, "1234", permission::GET_ASSERTION, Some(RP));
        let req = GetAssertionRequest {
            rp_id: RP.into(),
            client_data_hash: cdh("get"),
            allow_list: vec![resp.credential_id.clone()],
            up: None,
            uv: None,
        };
        let a = get_assertion(&mut dev, &req, Some(&t)).expect("getAssertion");
        assert!(a.auth_data.flags.user_verified());
        let key = resp.public_key.sec1_uncompressed().unwrap();
        assert!(
            verify_p256(&key, &a.signed_message(&cdh("get")), &a.signature),
            "{kind:?}"
        );

        // without uv, a credProtect=3 credential stays invisible
        let err = get_assertion(&mut dev, &req, None).unwrap_err();
        assert_eq!(err.status(), Some(Status::NoCredentials), "{kind:?}: {err}");

        // excludeList: the key already holds it
        let t = token(&mut dev, "1234", permission::MAKE_CREDENTIAL, Some(RP));
        let err = make_credential(
            &mut dev,
            &mc_request(b"user-1", vec![resp.credential_id.clone()]),
            Some(&t),
        )
        .unwrap_err();
        assert_eq!(err.status(), Some(Status::CredentialExcluded), "{kind:?}");
    });
}

#[test]
fn interop_discoverable_assertions_and_credential_management() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        pin::set_pin(&mut dev, PinProtocol::V2, &pin("1234")).unwrap();
        dev.refresh_info().unwrap();
        let c1 = enroll(&mut dev, b"user-1");
        let c2 = enroll(&mut dev, b"user-2");
        let t = token(&mut dev, "1234", permission::GET_ASSERTION, Some(RP));
        let all = get_all_assertions(
            &mut dev,
            &GetAssertionRequest {
                rp_id: RP.into(),
                client_data_hash: cdh("d"),
                allow_list: vec![],
                up: None,
                uv: None,
            },
            Some(&t),
        )
        .expect("discoverable getAssertion");
        assert_eq!(all.len(), 2, "{kind:?}");

        let t = token(&mut dev, "1234", permission::CREDENTIAL_MANAGEMENT, None);
        let mut cm = CredentialManagement::new(&mut dev, &t).expect("credMgmt");
        assert_eq!(cm.metadata().unwrap().existing, 2);
        let rps = cm.rps().unwrap();
        assert_eq!(rps.len(), 1);
        assert_eq!(rps[0].id.as_deref(), Some(RP));
        let creds = cm.credentials(&rps[0].rp_id_hash).unwrap();
        assert_eq!(creds.len(), 2);
        let mut ids: Vec<_> = creds.iter().map(|c| c.credential_id.clone()).collect();
        ids.sort();
        let mut want = vec![c1.credential_id.clone(), c2.credential_id.clone()];
        want.sort();
        assert_eq!(ids, want);
        assert!(creds.iter().all(|c| c.cred_protect == Some(3)), "{kind:?}");
        cm.delete(&c1.credential_id).expect("delete");
        let left = cm.credentials(&rps[0].rp_id_hash).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].credential_id, c2.credential_id);
        assert_eq!(left[0].user_name.as_deref(), Some("bg1@contoso.com"));
    });
}

#[test]
fn interop_set_min_pin_length_forces_change() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        pin::set_pin(&mut dev, PinProtocol::V2, &pin("1234")).unwrap();
        dev.refresh_info().unwrap();
        let t = token(&mut dev, "1234", permission::AUTHENTICATOR_CONFIG, None);
        set_min_pin_length(&mut dev, &t, Some(6), &[], true).expect("setMinPINLength");
        let info = dev.refresh_info().unwrap().clone();
        assert_eq!(info.min_pin_length, Some(6), "{kind:?}");
        assert!(info.force_pin_change, "{kind:?}");
        // too short for the new minimum: refused before it reaches the key
        assert!(matches!(
            pin::change_pin(&mut dev, PinProtocol::V2, &pin("1234"), &pin("12345")),
            Err(CtapError::PinPolicy(_))
        ));
        pin::change_pin(&mut dev, PinProtocol::V2, &pin("1234"), &pin("123456"))
            .expect("changePIN");
        assert!(!dev.refresh_info().unwrap().force_pin_change);
    });
}

#[test]
fn interop_reset_erases_pin_and_credentials() {
    both(|kind| {
        let Some(p) = peer(kind, &[]) else { return };
        let mut dev = open(&p);
        if kind == Kind::Trussed {
            pin::set_pin(&mut dev, PinProtocol::V2, &pin("1234")).unwrap();
            dev.refresh_info().unwrap();
        }
        reset::reset(&mut dev).unwrap_or_else(|e| panic!("{kind:?}: reset: {e}"));
        assert_eq!(dev.info().pin_set(), Some(false));
    });
}

#[test]
fn interop_opensk_refuses_reset_after_other_commands() {
    let Some(p) = peer(Kind::OpenSk, &[]) else {
        return;
    };
    let mut dev = open(&p);
    pin::set_pin(&mut dev, PinProtocol::V2, &pin("1234")).unwrap();
    let err = reset::reset(&mut dev).unwrap_err();
    assert_eq!(err.status(), Some(Status::NotAllowed), "{err}");
    assert!(err.to_string().contains("10 seconds"), "{err}");
}

#[test]
fn interop_trussed_keepalive_then_cancel() {
    let Some(p) = peer(Kind::Trussed, &["--up", "delay:3000"]) else {
        return;
    };
    let mut dev = open(&p);
    let upneeded = Arc::new(AtomicUsize::new(0));
    let seen = upneeded.clone();
    dev.set_keepalive_handler(Box::new(move |s| {
        if s == KeepaliveStatus::UpNeeded {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let cancel = CancelToken::new();
    dev.set_cancel_token(cancel.clone());
    let c = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        c.cancel();
    });
    let started = std::time::Instant::now();
    let mut req = mc_request(b"u", vec![]);
    req.resident_key = false;
    let err = make_credential(&mut dev, &req, None).unwrap_err();
    canceller.join().unwrap();
    assert_eq!(err.status(), Some(Status::KeepaliveCancel), "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "cancel did not cut the wait short"
    );
    assert!(
        upneeded.load(Ordering::SeqCst) >= 1,
        "no KEEPALIVE UPNEEDED seen"
    );
}

#[test]
fn interop_trussed_touch_delay_succeeds_with_keepalives() {
    let Some(p) = peer(Kind::Trussed, &["--up", "delay:800"]) else {
        return;
    };
    let mut dev = open(&p);
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    dev.set_keepalive_handler(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let mut req = mc_request(b"u", vec![]);
    req.resident_key = false;
    make_credential(&mut dev, &req, None).expect("makeCredential after the delayed touch");
    assert!(count.load(Ordering::SeqCst) >= 2);
}

#[test]
fn interop_trussed_user_presence_denied_times_out() {
    let Some(p) = peer(Kind::Trussed, &["--up", "deny", "--up-timeout-ms", "600"]) else {
        return;
    };
    let mut dev = open(&p);
    let mut req = mc_request(b"u", vec![]);
    req.resident_key = false;
    let err = make_credential(&mut dev, &req, None).unwrap_err();
    assert_eq!(err.status(), Some(Status::UserActionTimeout), "{err}");
    let operator: glasskey::Error = err.into();
    assert!(operator.to_string().contains("touch"), "{operator}");
}
