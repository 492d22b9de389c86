//! One function per fuzz target: each feeds untrusted bytes to a glasskey parser the
//! way the program does, and checks nothing but "no panic, no hang, bounded memory"
//! (plus a few round-trip invariants). Used by the libFuzzer targets in
//! `fuzz/fuzz_targets/` and, on stable Rust, by `tests/fuzz_regressions.rs`, which
//! replays every committed input in `fuzz/regressions/<target>/`.
//!
//! Input formats (what the seed corpora in `fuzz/corpus/<target>/` hold):
//! - most targets: the raw bytes the parser reads (a CBOR body, a DER certificate,
//!   a TOML file, a JSON body, an HTTP request);
//! - `ctaphid_reports`: 64-byte input reports, concatenated, after an INIT answer
//!   the harness supplies;
//! - `ctaphid_stream`: structured (`arbitrary`): a script of own-channel messages,
//!   foreign channels, keepalives, errors, stray continuations and raw reports;
//! - `ctap_client_pin`, `ctap_cred_mgmt`, `ctap_config`: a sequence of CTAP
//!   responses (see [`split_messages`]) played to a real `Device` after a fixed
//!   getInfo, so the decoders run in the order the commands call them;
//! - `ledger_file`: the anchor line, then ledger lines; see [`ledger_file`].

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::io::BufReader;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use ciborium::Value;

use glasskey::attestation::certs::Cert;
use glasskey::attestation::{verify_assertion, verify_attestation, Policy, TrustStore};
use glasskey::ctap::credman::{CredentialEntry, CredentialManagement, RpEntry};
use glasskey::ctap::get_assertion::Assertion;
use glasskey::ctap::make_credential::MakeCredentialResponse;
use glasskey::ctap::{config, pin, Device, Info};
use glasskey::hid::packet::{fragment, Command, BROADCAST_CID};
use glasskey::hid::transport::Report;
use glasskey::hid::{Channel, Transport, TransportError, REPORT_LEN};
use glasskey::secret::Pin;
use glasskey::webauthn::{AttestationObject, AuthenticatorData, CoseKey};

/// The nonce every harness channel is opened with (fixed so inputs replay).
pub const NONCE: [u8; 8] = *b"fuzzfuzz";
/// The channel id the harness INIT answer allocates.
pub const CID: u32 = 0x0102_0304;
/// Channel idle timeout inside the harness: short, so a silent script ends fast.
const IDLE: Duration = Duration::from_millis(200);

/// Every target, by name, for the regression test and the seed writer.
/// A fuzz target: its name and the function that takes one input.
pub type Target = (&'static str, fn(&[u8]));

pub const TARGETS: &[Target] = &[
    ("ctaphid_stream", ctaphid_stream),
    ("ctaphid_reports", ctaphid_reports),
    ("ctap_get_info", ctap_get_info),
    ("ctap_make_credential", ctap_make_credential),
    ("ctap_get_assertion", ctap_get_assertion),
    ("ctap_client_pin", ctap_client_pin),
    ("ctap_cred_mgmt", ctap_cred_mgmt),
    ("ctap_config", ctap_config),
    ("attestation_object", attestation_object),
    ("x509_cert", x509_cert),
    ("cose_key", cose_key),
    ("auth_data", auth_data),
    ("ledger_line", ledger_line),
    ("ledger_file", ledger_file),
    ("kit_config", kit_config),
    ("graph_bundles", graph_bundles),
    ("graph_json", graph_json),
    ("graph_emulator", graph_emulator),
    ("mds_blob", mds_blob),
];

// ---------------------------------------------------------------- transport

/// Plays scripted reports to the host; once they run out the key "disconnects",
/// so no harness run waits for a timeout that a real key would end.
pub struct ScriptTransport {
    to_host: VecDeque<Report>,
}

impl ScriptTransport {
    pub fn new(reports: impl IntoIterator<Item = Report>) -> Self {
        ScriptTransport {
            to_host: reports.into_iter().collect(),
        }
    }
}

impl Transport for ScriptTransport {
    fn write_report(&mut self, _report: &Report) -> Result<(), TransportError> {
        Ok(())
    }
    fn read_report(&mut self, _timeout: Duration) -> Result<Option<Report>, TransportError> {
        match self.to_host.pop_front() {
            Some(r) => Ok(Some(r)),
            None => Err(TransportError::Disconnected("the fuzz script".into())),
        }
    }
    fn describe(&self) -> String {
        "fuzz script".into()
    }
}

/// The INIT answer allocating [`CID`] for [`NONCE`] (CTAPHID 2, CBOR + WINK).
pub fn init_answer() -> Report {
    let mut payload = NONCE.to_vec();
    payload.extend(CID.to_be_bytes());
    payload.extend([2, 1, 0, 0, 0x05]);
    fragment(BROADCAST_CID, Command::Init as u8, &payload).unwrap()[0]
}

fn open_channel(reports: Vec<Report>) -> Option<Channel> {
    let mut ch = Channel::open_with_nonce(Box::new(ScriptTransport::new(reports)), NONCE).ok()?;
    ch.set_idle_timeout(IDLE);
    Some(ch)
}

/// Every ERROR initialisation frame (command byte 0xBF on the wire, any channel) in a
/// script gets a code that is not busy: see [`not_busy`].
fn neutralise_busy(reports: &mut [Report]) {
    for r in reports.iter_mut() {
        if r[4] == Command::Error as u8 | 0x80 {
            r[7] = not_busy(r[7]);
        }
    }
}

/// Busy codes make the channel sleep and retry (bounded by design at 5 s); the
/// fuzzer would only learn to be slow with them, so scripts never carry them.
fn not_busy(code: u8) -> u8 {
    match code {
        0x00 | 0x06 => 0x7f,
        c => c,
    }
}

// ---------------------------------------------------------------- CTAPHID

/// One step of a scripted key.
#[derive(Arbitrary, Debug)]
pub enum HidOp {
    /// A whole message on our channel, fragmented properly.
    Message { cmd: u8, payload: Vec<u8> },
    /// A message whose announced length lies (bcnt) and which is cut after `keep` reports.
    Lying {
        cmd: u8,
        bcnt: u16,
        payload: Vec<u8>,
        keep: u8,
    },
    /// A message on another program's channel.
    Foreign { cid: u32, cmd: u8, payload: Vec<u8> },
    /// A keepalive on our channel with this status byte.
    Keepalive(u8),
    /// CTAPHID_ERROR on our channel.
    Error(u8),
    /// A continuation packet on our channel, out of place.
    Cont { seq: u8, data: Vec<u8> },
    /// Any 64 bytes.
    Raw([u8; 32], [u8; 32]),
}

#[derive(Arbitrary, Debug)]
pub struct HidScript {
    /// Reports before our INIT answer (foreign INIT answers, noise).
    pub before_init: Vec<HidOp>,
    /// Which command the host sends (CBOR, PING, MSG, WINK, other).
    pub request_cmd: u8,
    pub request: Vec<u8>,
    pub ops: Vec<HidOp>,
    /// Ask a second time on the same channel.
    pub second_call: bool,
}

fn push_op(out: &mut Vec<Report>, op: &HidOp, cid: u32) {
    match op {
        HidOp::Message { cmd, payload } => {
            let cmd = if *cmd == Command::Error as u8 {
                0x90
            } else {
                *cmd | 0x80
            };
            let p = &payload[..payload.len().min(7609)];
            out.extend(fragment(cid, cmd, p).unwrap_or_default());
        }
        HidOp::Lying {
            cmd,
            bcnt,
            payload,
            keep,
        } => {
            let p = &payload[..payload.len().min(7609)];
            let mut reps = fragment(cid, *cmd | 0x80, p).unwrap_or_default();
            if let Some(first) = reps.first_mut() {
                first[5..7].copy_from_slice(&bcnt.to_be_bytes());
            }
            reps.truncate(usize::from(*keep));
            out.extend(reps);
        }
        HidOp::Foreign {
            cid: other,
            cmd,
            payload,
        } => {
            let other = if *other == cid { other ^ 1 } else { *other };
            let p = &payload[..payload.len().min(1024)];
            out.extend(fragment(other, *cmd | 0x80, p).unwrap_or_default());
        }
        HidOp::Keepalive(status) => {
            out.extend(fragment(cid, Command::Keepalive as u8, &[*status]).unwrap_or_default())
        }
        HidOp::Error(code) => {
            out.extend(fragment(cid, Command::Error as u8, &[not_busy(*code)]).unwrap_or_default())
        }
        HidOp::Cont { seq, data } => {
            let mut r = [0u8; REPORT_LEN];
            r[..4].copy_from_slice(&cid.to_be_bytes());
            r[4] = seq & 0x7f;
            let n = data.len().min(REPORT_LEN - 5);
            r[5..5 + n].copy_from_slice(&data[..n]);
            out.push(r);
        }
        HidOp::Raw(a, b) => {
            let mut r = [0u8; REPORT_LEN];
            r[..32].copy_from_slice(a);
            r[32..].copy_from_slice(b);
            out.push(r);
        }
    }
}

/// CTAPHID reassembly over a structured stream of reports.
pub fn ctaphid_stream(data: &[u8]) {
    let Ok(script) = HidScript::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut reports = Vec::new();
    for op in script.before_init.iter().take(16) {
        push_op(&mut reports, op, BROADCAST_CID);
    }
    reports.push(init_answer());
    for op in script.ops.iter().take(256) {
        push_op(&mut reports, op, CID);
    }
    neutralise_busy(&mut reports);
    let Some(mut ch) = open_channel(reports) else {
        return;
    };
    let cmd = match script.request_cmd % 5 {
        0 => Command::Cbor,
        1 => Command::Ping,
        2 => Command::Msg,
        3 => Command::Wink,
        _ => Command::Cancel,
    };
    let request = &script.request[..script.request.len().min(8000)];
    let first = ch.call(cmd, request, &mut |_| {});
    if let Ok(answer) = &first {
        assert!(
            answer.len() <= 7609,
            "reassembled more than CTAPHID can carry"
        );
    }
    if script.second_call {
        let _ = ch.call(Command::Cbor, &[4], &mut |_| {});
    }
}

/// CTAPHID over raw captured reports (seeded from real wire captures): the bytes
/// are 64-byte reports after our INIT answer; the host asks for getInfo, then
/// reads a second answer.
pub fn ctaphid_reports(data: &[u8]) {
    let mut reports = vec![init_answer()];
    for chunk in data.chunks(REPORT_LEN).take(200) {
        let mut r = [0u8; REPORT_LEN];
        r[..chunk.len()].copy_from_slice(chunk);
        reports.push(r);
    }
    neutralise_busy(&mut reports);
    if let Some(first) = data.get(..4) {
        let theirs = [first[0], first[1], first[2], first[3]];
        for r in reports.iter_mut().skip(1) {
            if r[..4] == theirs {
                r[..4].copy_from_slice(&CID.to_be_bytes());
            }
        }
    }
    let Some(ch) = open_channel(reports) else {
        return;
    };
    // Device::from_channel asks getInfo and parses it; then one more command.
    if let Ok(mut dev) = Device::from_channel(ch) {
        let _ = pin::get_retries(&mut dev);
    }
}

// ---------------------------------------------------------------- CTAP2 decoders

pub fn ctap_get_info(data: &[u8]) {
    if let Ok(info) = Info::from_cbor(data) {
        let _ = info.pin_set();
        let _ = info.preferred_pin_protocol();
        let _ = info.min_pin_len();
        let _ = info.cred_mgmt_command();
        let _ = info.supports_version("FIDO_2_1");
        let _ = info.supports_extension("credProtect");
    }
}

pub fn ctap_make_credential(data: &[u8]) {
    if let Ok(r) = MakeCredentialResponse::parse(data) {
        let again = r.attestation_object();
        // what enrollment writes to Graph must parse again
        AttestationObject::parse(&again).expect("our attestation object re-parses");
        let _ = r.public_key.alg();
        let _ = r.public_key.sec1_uncompressed();
    }
}

pub fn ctap_get_assertion(data: &[u8]) {
    if let Ok(a) = Assertion::parse(data) {
        let msg = a.signed_message(&[7; 32]);
        assert!(msg.len() >= 32);
        let _ = a.auth_data.cred_protect();
    }
}

/// Split `data` into CTAP responses: each is a 2-byte big-endian length, then that
/// many bytes (status byte, then CBOR). A short tail is the last response.
pub fn split_messages(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && out.len() < 16 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = n.min(body.len()).min(7609);
        out.push(body[..take].to_vec());
        rest = &body[take..];
    }
    out
}

/// The inverse of [`split_messages`], for seeds.
pub fn join_messages(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend((m.len() as u16).to_be_bytes());
        out.extend(m);
    }
    out
}

/// A getInfo answer for a CTAP 2.1 key with a PIN, credMgmt and authnrCfg.
pub fn session_info() -> Vec<u8> {
    let text = |s: &str| Value::Text(s.into());
    let info = Value::Map(vec![
        (
            Value::Integer(1.into()),
            Value::Array(vec![text("FIDO_2_0"), text("FIDO_2_1")]),
        ),
        (
            Value::Integer(2.into()),
            Value::Array(vec![text("credProtect"), text("hmac-secret")]),
        ),
        (Value::Integer(3.into()), Value::Bytes(vec![0x11; 16])),
        (
            Value::Integer(4.into()),
            Value::Map(vec![
                (text("rk"), Value::Bool(true)),
                (text("clientPin"), Value::Bool(true)),
                (text("pinUvAuthToken"), Value::Bool(true)),
                (text("credMgmt"), Value::Bool(true)),
                (text("authnrCfg"), Value::Bool(true)),
                (text("setMinPINLength"), Value::Bool(true)),
            ]),
        ),
        (Value::Integer(5.into()), Value::Integer(1200.into())),
        (
            Value::Integer(6.into()),
            Value::Array(vec![Value::Integer(2.into()), Value::Integer(1.into())]),
        ),
    ]);
    let mut body = vec![0u8];
    ciborium::into_writer(&info, &mut body).unwrap();
    body
}

/// A Device that answers getInfo with [`session_info`], then plays `responses`.
fn session(data: &[u8]) -> Option<Device> {
    let mut reports = vec![init_answer()];
    reports.extend(fragment(CID, Command::Cbor as u8, &session_info()).unwrap());
    for m in split_messages(data) {
        reports.extend(fragment(CID, Command::Cbor as u8, &m).ok()?);
    }
    Device::from_channel(open_channel(reports)?).ok()
}

/// clientPin: getPINRetries, then a token (getKeyAgreement + getPinUvAuthToken).
pub fn ctap_client_pin(data: &[u8]) {
    let Some(mut dev) = session(data) else {
        return;
    };
    let _ = pin::get_retries(&mut dev);
    let _ = pin::get_token(&mut dev, &Pin::new("123456".into()), 0x04, None);
}

/// credentialManagement: the raw enumerate-answer decoders, then a whole session
/// (token, metadata, RPs, credentials of the first RP).
pub fn ctap_cred_mgmt(data: &[u8]) {
    let _ = RpEntry::from_response(data);
    let _ = CredentialEntry::from_response(data);
    let Some(mut dev) = session(data) else {
        return;
    };
    let Ok(token) = pin::get_token(&mut dev, &Pin::new("123456".into()), 0x04, None) else {
        return;
    };
    let Ok(mut cm) = CredentialManagement::new(&mut dev, &token) else {
        return;
    };
    let _ = cm.metadata();
    if let Ok(rps) = cm.rps() {
        if let Some(rp) = rps.first() {
            let hash = rp.rp_id_hash.clone();
            let _ = cm.credentials(&hash);
        }
    }
}

/// authenticatorConfig: a token, then setMinPINLength.
pub fn ctap_config(data: &[u8]) {
    let Some(mut dev) = session(data) else {
        return;
    };
    let Ok(token) = pin::get_token(&mut dev, &Pin::new("123456".into()), 0x20, None) else {
        return;
    };
    let _ = config::set_min_pin_length(
        &mut dev,
        &token,
        Some(8),
        &["login.microsoft.com".into()],
        true,
    );
}

// ---------------------------------------------------------------- WebAuthn / attestation

fn trust_store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(TrustStore::production)
}

/// A fixed "now" inside the validity of the shipped roots, so inputs replay alike.
fn fixed_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01
}

/// Attestation objects with their certificate chains, verified against the
/// shipped roots as enrollment does.
pub fn attestation_object(data: &[u8]) {
    let Ok(obj) = AttestationObject::parse(data) else {
        return;
    };
    let _ = obj.x5c();
    let _ = AttestationObject::parse(&obj.to_webauthn_bytes());
    for policy in [
        Policy::default(),
        Policy {
            allow_self_attestation: true,
            allow_unknown_root: true,
        },
    ] {
        if let Ok(report) =
            verify_attestation(&obj, &[0x42; 32], trust_store(), &policy, fixed_now())
        {
            let _ = report.accepted();
        }
    }
}

/// One DER certificate (as found in x5c), every accessor, and its self-signature.
pub fn x509_cert(data: &[u8]) {
    if let Ok(cert) = Cert::from_der(data) {
        let _ = cert.subject();
        let _ = cert.issuer();
        let _ = cert.subject_ou();
        let _ = cert.basic_constraints();
        let _ = cert.extension("1.3.6.1.4.1.45724.1.1.4");
        let _ = cert.valid_at(fixed_now());
        let _ = cert.validity_text();
        if let Ok(key) = cert.public_key() {
            let _ = cert.verify_signed_by(&key);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = glasskey::attestation::trust::parse_pem_certs(text);
    }
}

/// COSE keys as a key sends them, and an assertion check with one.
pub fn cose_key(data: &[u8]) {
    if let Ok(key) = CoseKey::from_cbor(data) {
        let _ = key.alg();
        let _ = key.sec1_uncompressed();
        let again = key.to_cbor();
        CoseKey::from_cbor(&again).expect("our COSE encoding re-parses");
    }
    let mut auth = vec![0u8; 37];
    auth[32] = 0x05;
    let _ = verify_assertion(data, &auth, &[1; 32], &[0x30, 0x06, 2, 1, 1, 2, 1, 1]);
}

pub fn auth_data(data: &[u8]) {
    if let Ok(a) = AuthenticatorData::parse(data) {
        let _ = a.cred_protect();
        let _ = a.extension("hmac-secret");
        let _ = (a.flags.user_present(), a.flags.user_verified());
    }
}

// ---------------------------------------------------------------- ledger and config

const HASH_FIELD: &[u8] = b",\"hash\":\"";

/// Re-seal a ledger line: treat everything before `,"hash":"` (or the whole line
/// minus its closing brace) as the body and append the body's true hash, so the
/// fuzzer gets past the hash check into JSON, canonical form and event decoding.
fn reseal(line: &[u8]) -> Vec<u8> {
    let body_end = line
        .windows(HASH_FIELD.len())
        .position(|w| w == HASH_FIELD)
        .unwrap_or(line.len().saturating_sub(1));
    let mut body = line[..body_end].to_vec();
    body.push(b'}');
    let hash = glasskey::ledger::Hash::of(&body);
    body.pop();
    body.extend_from_slice(HASH_FIELD);
    body.extend_from_slice(hash.to_hex().as_bytes());
    body.extend_from_slice(b"\"}");
    body
}

/// One ledger line, raw and re-sealed; an accepted line re-encodes to itself.
pub fn ledger_line(data: &[u8]) {
    let _ = glasskey::ledger::decode_line(data);
    if let Ok(rec) = glasskey::ledger::decode_line(&reseal(data)) {
        let _ = rec.event.kind();
        let _ = rec.event.key();
        let _ = glasskey::ledger::State::fold([&rec]);
    }
}

/// A whole kit ledger and its anchor, from files as `glasskey ledger verify` reads
/// them. Input: the first line is `ledger.head`; the rest is `ledger.jsonl`. When
/// the anchor line starts with `!`, every ledger line is re-sealed and its `prev`
/// rewritten to the previous line's hash, so chains that link are reachable.
pub fn ledger_file(data: &[u8]) {
    let split = data
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |i| i + 1);
    let (anchor, ledger) = data.split_at(split);
    let mut anchor = anchor.to_vec();
    let ledger = if anchor.first() == Some(&b'!') {
        anchor.remove(0);
        relink(ledger)
    } else {
        ledger.to_vec()
    };
    let dir = scratch_dir();
    let kit = dir.path();
    std::fs::write(kit.join(glasskey::ledger::LEDGER_FILE), &ledger).unwrap();
    if anchor.is_empty() {
        let _ = std::fs::remove_file(kit.join(glasskey::ledger::ANCHOR_FILE));
    } else {
        std::fs::write(kit.join(glasskey::ledger::ANCHOR_FILE), &anchor).unwrap();
    }
    let led = glasskey::ledger::Ledger::new(kit);
    let _ = led.verify();
    if let Ok(records) = led.records() {
        let state = glasskey::ledger::State::fold(records.iter());
        let _ = state.accounts();
        let _ = state.active_keys().count();
    }
    let _ = led.find_head(1, "00000000");
    let _ = led.repair();
    let _ = led.verify();
}

fn relink(ledger: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ledger.len() + 128);
    let mut prev = glasskey::ledger::Hash::GENESIS;
    let lines: Vec<&[u8]> = ledger.split(|&b| b == b'\n').collect();
    let last = lines.len() - 1;
    for (i, line) in lines.into_iter().enumerate() {
        let mut line = line.to_vec();
        const PREV: &[u8] = b"\"prev\":\"";
        if let Some(at) = line.windows(PREV.len()).position(|w| w == PREV) {
            let start = at + PREV.len();
            if line.len() >= start + 64 {
                line[start..start + 64].copy_from_slice(prev.to_hex().as_bytes());
            }
        }
        let sealed = reseal(&line);
        if let Ok(rec) = glasskey::ledger::decode_line(&sealed) {
            prev = rec.hash;
        }
        out.extend_from_slice(&sealed);
        if i != last {
            out.push(b'\n');
        }
    }
    out
}

/// A per-process scratch kit directory (in RAM when /dev/shm exists), emptied each run.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

fn scratch_dir() -> Scratch {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("glasskey-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// `glasskey.toml`.
pub fn kit_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = glasskey::ledger::KitConfig::from_toml(text) {
        let _ = cfg.validate();
        if let Ok(again) = cfg.to_toml() {
            glasskey::ledger::KitConfig::from_toml(&again).expect("our TOML re-parses");
        }
    }
}

// ---------------------------------------------------------------- Graph

/// Request and response bundles, as `enroll --request` and `graph register` read them.
pub fn graph_bundles(data: &[u8]) {
    use glasskey::graph::bundle::{RequestBundle, ResponseBundle};
    let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
    if let Ok(b) = serde_json::from_slice::<RequestBundle>(data) {
        let _ = b.validate(None, now);
        let _ = b.validate(Some("contoso.onmicrosoft.com"), now);
        for item in &b.items {
            let _ = item.options();
        }
    }
    if let Ok(b) = serde_json::from_slice::<ResponseBundle>(data) {
        let _ = b.validate(None);
        let _ = b.expired_items(now);
        for item in &b.items {
            let _ = item.expires();
            let _ = item.credential_id();
        }
    }
}

/// The Graph JSON bodies the client reads: the first byte picks the reader.
pub fn graph_json(data: &[u8]) {
    use glasskey::graph::types::{CreationOptions, Fido2Method, User};
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                if let Ok(o) = CreationOptions::from_value(v) {
                    let _ = o.client_data_json();
                    let _ = o.origin();
                }
            }
        }
        1 => {
            let _ = serde_json::from_slice::<User>(body);
        }
        2 => {
            let _ = serde_json::from_slice::<Fido2Method>(body);
        }
        3 => {
            if let Ok(p) = serde_json::from_slice::<glasskey::graph::policy::Fido2Policy>(body) {
                let pf = glasskey::graph::policy::preflight(
                    &p,
                    &["g1".into()],
                    glasskey::aaguid::Aaguid::ZERO,
                    true,
                );
                let _ = format!("{pf:?}");
            }
        }
        4 => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                let _ = glasskey::graph::client::body_aaguid(&v);
                let _ = glasskey::graph::posture::ca_fact(&v, "u1", &["g1".into()], true);
            }
        }
        5 => {
            let resp = glasskey::graph::http::Response {
                status: 400,
                body: body.to_vec(),
                request_id: None,
                client_request_id: "x".into(),
                from_emulator: false,
                retry_after: None,
            };
            let _ = glasskey::graph::http::api_error("fuzz", &resp);
            let _ = resp.json::<serde_json::Value>("fuzz");
        }
        6 => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = glasskey::graph::http::parse_retry_after(text);
                let _ = glasskey::graph::types::parse_time(text);
                let _ = glasskey::graph::b64::decode_lenient(text);
            }
        }
        _ => {
            let _ = glasskey::graph::client::attestation_aaguid(body);
        }
    }
}

/// The Graph emulator's request handling: `data` holds HTTP requests back to back,
/// each read by the emulator's own reader and handled by one world. `$TOKEN` in a
/// request becomes the last access token the world issued.
pub fn graph_emulator(data: &[u8]) {
    use glasskey::graph::emulator::routes::Reply;
    use glasskey::graph::emulator::wire::parse_request;
    use glasskey::graph::emulator::{State, World};
    let mut world = World::new(State::demo(), "http://127.0.0.1:9".into());
    let mut token = String::from("none");
    let mut reader = BufReader::new(data);
    for _ in 0..8 {
        let Ok(mut req) = parse_request(&mut reader) else {
            return;
        };
        for (_, v) in req.headers.iter_mut() {
            if v.contains("$TOKEN") {
                *v = v.replace("$TOKEN", &token);
            }
        }
        let (_, reply) = world.handle(&req);
        if let Reply::Respond(resp) = reply {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp.body) {
                if let Some(t) = v["access_token"].as_str() {
                    token = t.to_string();
                }
            }
        }
    }
}

// ---------------------------------------------------------------- FIDO Metadata Service

/// An MDS3 BLOB. First byte even: the whole JWT through `verify_blob` against the
/// shipped GlobalSign root (header, x5c chain, signature, payload). Odd: the payload
/// JSON alone through `read_payload` and the status queries, which random bytes could
/// never reach past a signature.
pub fn mds_blob(data: &[u8]) {
    use glasskey::attestation::mds;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        static ROOTS: OnceLock<TrustStore> = OnceLock::new();
        let _ = mds::verify_blob(rest, ROOTS.get_or_init(mds::mds_roots));
        return;
    }
    if let Ok(payload) = mds::read_payload(rest) {
        assert!(
            payload.as_of <= payload.next_update,
            "as_of after nextUpdate"
        );
        for entry in &payload.entries {
            let _ = entry.latest_status();
            let _ = entry.security_notice();
            let _ = entry.certified();
            for der in &entry.attestation_roots {
                let _ = Cert::from_der(der);
            }
        }
    }
}
