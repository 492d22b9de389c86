//! Authenticator logic driven at the CTAP2 level by a minimal host written
//! here with the shared PIN protocol code (python-fido2 and libfido2 judge
//! the same paths independently in tests/virtual_peers.rs).

use std::time::{Duration, Instant};

use ciborium::Value;

use super::authenticator::{Authenticator, Immediate};
use super::cbor::{bytes, encode, int, text};
use super::{create_key, KeyState, ModelId, PresenceMode};
use crate::ctap::pin_protocol::{PinProtocol, SharedSecret};
use crate::ctap::Status;
use crate::webauthn::cose::CoseKey;

const RP: &str = "example.com";

struct Host {
    auth: Authenticator,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn fresh(model: ModelId) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    let state = create_key(&path, model, PresenceMode::Approve).unwrap();
    Host {
        auth: Authenticator::new(state, Some(path.clone())).unwrap(),
        _dir: dir,
        path,
    }
}

fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

impl Host {
    fn call(&mut self, cmd: u8, params: Option<Value>) -> Result<Value, Status> {
        self.call_up(cmd, params, Ok(()))
    }

    fn call_up(
        &mut self,
        cmd: u8,
        params: Option<Value>,
        up: Result<(), Status>,
    ) -> Result<Value, Status> {
        let mut req = vec![cmd];
        if let Some(p) = params {
            req.extend_from_slice(&encode(&p));
        }
        let resp = self.auth.handle(&req, &mut Immediate(up));
        match resp[0] {
            0 if resp.len() == 1 => Ok(Value::Null),
            0 => Ok(ciborium::de::from_reader(&resp[1..]).unwrap()),
            s => Err(Status::from_byte(s)),
        }
    }

    fn shared(&mut self, protocol: PinProtocol) -> (Value, SharedSecret) {
        let r = self
            .call(
                0x06,
                Some(map(vec![
                    (int(1), int(protocol.number().into())),
                    (int(2), int(2)),
                ])),
            )
            .unwrap();
        let peer = CoseKey::from_value(super::cbor::get(r.as_map().unwrap(), 1).unwrap()).unwrap();
        let (ours, secret) = protocol.encapsulate(&peer).unwrap();
        let ours: Value = ciborium::de::from_reader(ours.to_cbor().as_slice()).unwrap();
        (ours, secret)
    }

    fn set_pin(&mut self, pin: &str) -> Result<Value, Status> {
        let p = PinProtocol::V2;
        let (ka, s) = self.shared(p);
        let enc = s.encrypt(&crate::ctap::pin_protocol::padded_pin(pin).unwrap());
        let auth = s.authenticate(&enc);
        self.call(
            0x06,
            Some(map(vec![
                (int(1), int(2)),
                (int(2), int(3)),
                (int(3), ka),
                (int(4), bytes(&auth)),
                (int(5), bytes(&enc)),
            ])),
        )
    }

    /// getPinUvAuthTokenUsingPinWithPermissions; returns the token.
    fn token(&mut self, pin: &str, permissions: u8) -> Result<Vec<u8>, Status> {
        let p = PinProtocol::V2;
        let (ka, s) = self.shared(p);
        let hash_enc = s.encrypt(&crate::ctap::pin_protocol::pin_hash(pin));
        let r = self.call(
            0x06,
            Some(map(vec![
                (int(1), int(2)),
                (int(2), int(9)),
                (int(3), ka),
                (int(6), bytes(&hash_enc)),
                (int(9), int(permissions.into())),
                (int(10), text(RP)),
            ])),
        )?;
        let enc = super::cbor::get(r.as_map().unwrap(), 2)
            .unwrap()
            .as_bytes()
            .unwrap();
        Ok(s.decrypt(enc).unwrap().to_vec())
    }

    fn retries(&mut self) -> i64 {
        let r = self
            .call(0x06, Some(map(vec![(int(1), int(2)), (int(2), int(1))])))
            .unwrap();
        i64::try_from(
            super::cbor::get(r.as_map().unwrap(), 3)
                .unwrap()
                .as_integer()
                .unwrap(),
        )
        .unwrap()
    }

    fn make_credential(
        &mut self,
        token: Option<&[u8]>,
        rk: bool,
        cred_protect: Option<i64>,
        exclude: Option<&[u8]>,
    ) -> Result<Vec<u8>, Status> {
        let cdh = [1u8; 32];
        let mut params = vec![
            (int(1), bytes(&cdh)),
            (int(2), map(vec![(text("id"), text(RP))])),
            (int(3), map(vec![(text("id"), bytes(b"user-1"))])),
            (
                int(4),
                Value::Array(vec![map(vec![
                    (text("alg"), int(-7)),
                    (text("type"), text("public-key")),
                ])]),
            ),
        ];
        if let Some(id) = exclude {
            params.push((
                int(5),
                Value::Array(vec![map(vec![
                    (text("id"), bytes(id)),
                    (text("type"), text("public-key")),
                ])]),
            ));
        }
        if let Some(level) = cred_protect {
            params.push((int(6), map(vec![(text("credProtect"), int(level))])));
        }
        params.push((int(7), map(vec![(text("rk"), Value::Bool(rk))])));
        if let Some(t) = token {
            params.push((int(8), bytes(&PinProtocol::V2.authenticate(t, &cdh))));
            params.push((int(9), int(2)));
        }
        let r = self.call(0x01, Some(map(params)))?;
        let ad = super::cbor::get(r.as_map().unwrap(), 2)
            .unwrap()
            .as_bytes()
            .unwrap();
        let parsed = crate::webauthn::auth_data::AuthenticatorData::parse(ad).unwrap();
        Ok(parsed.attested.unwrap().credential_id.clone())
    }

    fn get_assertion(
        &mut self,
        token: Option<&[u8]>,
        allow: Option<&[u8]>,
    ) -> Result<Value, Status> {
        let cdh = [2u8; 32];
        let mut params = vec![(int(1), text(RP)), (int(2), bytes(&cdh))];
        if let Some(id) = allow {
            params.push((
                int(3),
                Value::Array(vec![map(vec![
                    (text("id"), bytes(id)),
                    (text("type"), text("public-key")),
                ])]),
            ));
        }
        if let Some(t) = token {
            params.push((int(6), bytes(&PinProtocol::V2.authenticate(t, &cdh))));
            params.push((int(7), int(2)));
        }
        self.call(0x02, Some(map(params)))
    }
}

const MC_GA: u8 = 0x03;

#[test]
fn wrong_pins_block_per_power_up_and_then_for_good() {
    let mut h = fresh(ModelId::A);
    h.set_pin("123456").unwrap();
    assert_eq!(h.set_pin("654321"), Err(Status::NotAllowed));
    assert_eq!(h.token("0000", MC_GA), Err(Status::PinInvalid));
    assert_eq!(h.token("0000", MC_GA), Err(Status::PinInvalid));
    assert_eq!(h.token("0000", MC_GA), Err(Status::PinAuthBlocked));
    // even the right PIN is refused until a power cycle
    assert_eq!(h.token("123456", MC_GA), Err(Status::PinAuthBlocked));
    assert_eq!(h.retries(), 5);
    // power cycle: retries persisted, the per-power-up block is gone
    let state = KeyState::load(&h.path).unwrap();
    assert_eq!(state.pin_retries, 5);
    h.auth = Authenticator::new(state, Some(h.path.clone())).unwrap();
    assert!(h.token("123456", MC_GA).is_ok());
    assert_eq!(h.retries(), 8);
    for _ in 0..3 {
        for _ in 0..3 {
            if h.retries() == 0 {
                break;
            }
            let _ = h.token("0000", MC_GA);
        }
        let state = KeyState::load(&h.path).unwrap();
        h.auth = Authenticator::new(state, Some(h.path.clone())).unwrap();
    }
    assert_eq!(h.retries(), 0);
    assert_eq!(h.token("123456", MC_GA), Err(Status::PinBlocked));
}

#[test]
fn pin_policy_and_force_pin_change() {
    let mut h = fresh(ModelId::B);
    assert_eq!(h.set_pin("12345"), Err(Status::PinPolicyViolation)); // model B: min 6
    h.set_pin("123456").unwrap();
    let t = h.token("123456", 0x20).unwrap();
    let sub_params = map(vec![(int(1), int(8))]);
    let mut msg = vec![0xff; 32];
    msg.extend_from_slice(&[0x0d, 0x03]);
    msg.extend_from_slice(&encode(&sub_params));
    h.call(
        0x0d,
        Some(map(vec![
            (int(1), int(3)),
            (int(2), sub_params),
            (int(3), int(2)),
            (int(4), bytes(&PinProtocol::V2.authenticate(&t, &msg))),
        ])),
    )
    .unwrap();
    assert!(h.auth.state().force_pin_change);
    assert_eq!(h.token("123456", MC_GA), Err(Status::PinPolicyViolation));
    assert!(KeyState::load(&h.path).unwrap().force_pin_change);
}

#[test]
fn cred_protect_levels_are_enforced_without_uv() {
    let mut h = fresh(ModelId::A);
    let id1 = h.make_credential(None, true, Some(1), None).unwrap();
    let mut h2 = fresh(ModelId::A);
    let l2 = h2.make_credential(None, true, Some(2), None).unwrap();
    assert_eq!(h2.get_assertion(None, None), Err(Status::NoCredentials));
    assert!(h2.get_assertion(None, Some(&l2)).is_ok());
    let mut h3 = fresh(ModelId::A);
    let l3 = h3.make_credential(None, true, Some(3), None).unwrap();
    assert_eq!(h3.get_assertion(None, None), Err(Status::NoCredentials));
    assert_eq!(
        h3.get_assertion(None, Some(&l3)),
        Err(Status::NoCredentials)
    );
    h3.set_pin("123456").unwrap();
    let t = h3.token("123456", MC_GA).unwrap();
    assert!(h3.get_assertion(Some(&t), None).is_ok());
    assert!(h.get_assertion(None, Some(&id1)).is_ok());
}

#[test]
fn exclude_list_and_pin_requirements_for_resident_credentials() {
    let mut h = fresh(ModelId::A);
    let id = h.make_credential(None, true, None, None).unwrap();
    assert_eq!(
        h.make_credential(None, true, None, Some(&id)),
        Err(Status::CredentialExcluded)
    );
    h.set_pin("123456").unwrap();
    assert_eq!(
        h.make_credential(None, true, None, None),
        Err(Status::PuatRequired)
    );
    assert!(h.make_credential(None, false, None, None).is_ok()); // makeCredUvNotRqd
    let t = h.token("123456", MC_GA).unwrap();
    assert!(h.make_credential(Some(&t), true, None, None).is_ok());
    assert_eq!(
        h.make_credential(Some(&[0u8; 32]), true, None, None),
        Err(Status::PinAuthInvalid)
    );
    // a denied touch surfaces as the presence error
    assert_eq!(
        h.call_up(0x0b, None, Err(Status::UserActionTimeout)),
        Err(Status::UserActionTimeout)
    );
}

#[test]
fn sign_count_grows_and_persists() {
    let mut h = fresh(ModelId::A);
    let id = h.make_credential(None, false, None, None).unwrap();
    for _ in 0..3 {
        h.get_assertion(None, Some(&id)).unwrap();
    }
    let state = KeyState::load(&h.path).unwrap();
    assert_eq!(state.credentials[0].sign_count, 1); // saved on the first use
                                                    // after a power cycle the counter continues above every value already used
    h.auth = Authenticator::new(state, Some(h.path.clone())).unwrap();
    let r = h.get_assertion(None, Some(&id)).unwrap();
    let ad = super::cbor::get(r.as_map().unwrap(), 2)
        .unwrap()
        .as_bytes()
        .unwrap();
    let counter = u32::from_be_bytes([ad[33], ad[34], ad[35], ad[36]]);
    assert!(counter > 3, "counter {counter} went backwards");
}

#[test]
fn reset_only_in_the_window_and_with_a_touch() {
    let mut h = fresh(ModelId::A);
    h.set_pin("123456").unwrap();
    h.make_credential(None, false, None, None).unwrap();
    assert_eq!(
        h.call_up(0x07, None, Err(Status::UserActionTimeout)),
        Err(Status::UserActionTimeout)
    );
    h.auth.powered_up = Instant::now() - Duration::from_secs(6);
    assert_eq!(h.call(0x07, None), Err(Status::NotAllowed));
    h.auth.powered_up = Instant::now();
    h.call(0x07, None).unwrap();
    let state = KeyState::load(&h.path).unwrap();
    assert!(state.pin.is_none() && state.credentials.is_empty());
}

#[test]
fn malformed_requests_get_typed_ctap_errors() {
    let mut h = fresh(ModelId::A);
    let raw = |h: &mut Host, req: &[u8]| h.auth.handle(req, &mut Immediate(Ok(())))[0];
    assert_eq!(raw(&mut h, &[]), Status::InvalidLength.code());
    assert_eq!(raw(&mut h, &[0x55]), Status::InvalidCommand.code());
    assert_eq!(raw(&mut h, &[0x01, 0xa1]), Status::InvalidCbor.code());
    assert_eq!(
        raw(&mut h, &[0x01, 0x80]),
        Status::CborUnexpectedType.code()
    );
    assert_eq!(raw(&mut h, &[0x01, 0xa0]), Status::MissingParameter.code());
    // rp must be a map
    assert_eq!(
        h.call(
            0x01,
            Some(map(vec![
                (int(1), bytes(&[0; 32])),
                (int(2), int(5)),
                (int(3), int(1)),
                (int(4), int(1))
            ]))
        ),
        Err(Status::CborUnexpectedType)
    );
    assert_eq!(
        h.call(0x06, Some(map(vec![(int(1), int(7)), (int(2), int(2))]))),
        Err(Status::InvalidParameter)
    );
    let big = vec![0x04; 5000];
    assert_eq!(raw(&mut h, &big), Status::RequestTooLarge.code());
}

#[test]
fn state_file_never_holds_the_pin() {
    let mut h = fresh(ModelId::A);
    h.set_pin("correct-horse-9").unwrap();
    let text = std::fs::read_to_string(&h.path).unwrap();
    assert!(!text.contains("correct-horse-9"));
    assert_eq!(h.auth.state().pin.as_ref().unwrap().hash.len(), 16);
}
