//! authenticatorMakeCredential, authenticatorGetAssertion and
//! authenticatorGetNextAssertion with the credProtect and hmac-secret
//! extensions, packed attestation and per-credential signature counters.

use std::time::{Duration, Instant};

use ciborium::Value;
use hmac::{KeyInit, Mac};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use zeroize::Zeroizing;

use super::authenticator::{random_bytes, sha256, Authenticator, PendingAssertions, UserPresence};
use super::cbor::{self, bytes, int, text, CtapResult};
use super::state::StoredCredential;
use crate::ctap::command::permission;
use crate::ctap::pin_protocol::PinProtocol;
use crate::ctap::Status;
use crate::webauthn::cose::{CoseKey, ALG_ES256};

/// A request's pinUvAuthParam with its protocol, when it carries one.
type PinAuth<'m> = Option<(&'m [u8], PinProtocol)>;

/// Credential ids are random bytes (the private key lives in the state file).
pub const CREDENTIAL_ID_LEN: usize = 32;
/// Non-discoverable credentials kept; the oldest go first beyond this.
const MAX_NON_RESIDENT: usize = 1000;
/// Assertions between saves of a counter (see `Authenticator::new`).
pub const COUNTER_SAVE_EVERY: u32 = 16;
/// getNextAssertion must follow within this time.
const NEXT_ASSERTION_WINDOW: Duration = Duration::from_secs(30);
const USER_ID_MAX: usize = 64;
const TEXT_MAX: usize = 256;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// What each assertion in a getAssertion series shares.
pub(super) struct AssertionRequest {
    rp_id: String,
    client_data_hash: Vec<u8>,
    uv: bool,
    up: bool,
    total: usize,
    /// Decrypted hmac-secret salts and the shared secret to encrypt outputs.
    hmac: Option<(Zeroizing<Vec<u8>>, crate::ctap::pin_protocol::SharedSecret)>,
}

fn bounded_text(v: &Value) -> CtapResult<String> {
    let s = cbor::as_text(v)?;
    if s.len() > TEXT_MAX {
        return Err(Status::InvalidLength);
    }
    Ok(s.to_string())
}

fn descriptor_ids(list: &[Value]) -> CtapResult<Vec<Vec<u8>>> {
    list.iter()
        .map(|d| {
            let m = cbor::as_map(d)?;
            cbor::as_text(cbor::get_text(m, "type").ok_or(Status::MissingParameter)?)?;
            let id = cbor::as_bytes(cbor::get_text(m, "id").ok_or(Status::MissingParameter)?)?;
            Ok(id.to_vec())
        })
        .collect()
}

fn options(map: &[(Value, Value)], key: i64) -> CtapResult<Vec<(String, bool)>> {
    match cbor::get(map, key) {
        None => Ok(Vec::new()),
        Some(v) => cbor::as_map(v)?
            .iter()
            .map(|(k, v)| Ok((cbor::as_text(k)?.to_string(), cbor::as_bool(v)?)))
            .collect(),
    }
}

fn option(opts: &[(String, bool)], name: &str) -> Option<bool> {
    opts.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

pub(super) fn cose_public_key(sk: &SigningKey) -> Vec<u8> {
    let point = sk.verifying_key().to_sec1_point(false);
    let coord = |c: Option<&p256::FieldBytes>| c.map(|a| a.to_vec()).unwrap_or_default();
    CoseKey::Ec2 {
        alg: Some(ALG_ES256),
        crv: 1,
        x: coord(point.x()),
        y: coord(point.y()),
    }
    .to_cbor()
}

fn sign(key: &SigningKey, auth_data: &[u8], client_data_hash: &[u8]) -> Vec<u8> {
    let sig: DerSignature = key.sign(&[auth_data, client_data_hash].concat());
    sig.as_bytes().to_vec()
}

fn auth_data(
    rp_id: &str,
    flags: u8,
    counter: u32,
    attested: Option<(&[u8; 16], &[u8], &[u8])>,
    extensions: Option<Value>,
) -> Vec<u8> {
    let mut out = sha256(rp_id.as_bytes()).to_vec();
    let flags = flags
        | if attested.is_some() { FLAG_AT } else { 0 }
        | if extensions.is_some() { FLAG_ED } else { 0 };
    out.push(flags);
    out.extend_from_slice(&counter.to_be_bytes());
    if let Some((aaguid, id, cose)) = attested {
        out.extend_from_slice(aaguid);
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(cose);
    }
    if let Some(ext) = extensions {
        out.extend_from_slice(&cbor::encode(&ext));
    }
    out
}

impl Authenticator {
    /// An allow or exclude list: at most maxCredentialCountInList descriptors
    /// (LIMIT_EXCEEDED otherwise, as real keys answer).
    fn credential_list(&self, v: &Value) -> CtapResult<Vec<Vec<u8>>> {
        let list = cbor::as_array(v)?;
        if list.len() > self.profile.max_creds_in_list(self.model) {
            return Err(Status::LimitExceeded);
        }
        descriptor_ids(list)
    }

    /// The "uv" option: built-in user verification, which only a bio key has
    /// (the simulated touch stands for the finger); others refuse it.
    fn builtin_uv_requested(
        &self,
        opts: &[(String, bool)],
        has_pin_auth: bool,
    ) -> CtapResult<bool> {
        match option(opts, "uv") {
            Some(true) if !self.profile.builtin_uv() => Err(Status::InvalidOption),
            Some(true) => Ok(!has_pin_auth),
            _ => Ok(false),
        }
    }

    /// An empty pinUvAuthParam is a platform asking "is there a PIN?" after a touch.
    /// pinUvAuthParam at `param_key` and pinUvAuthProtocol right after it, as
    /// makeCredential and getAssertion both carry them. `Ok(None)`: an empty param,
    /// the platform's "touch to select" probe. `Ok(Some(None))`: no PIN/UV auth.
    fn pin_auth<'m>(
        &self,
        map: &'m [(Value, Value)],
        param_key: i64,
    ) -> CtapResult<Option<PinAuth<'m>>> {
        let param = cbor::get(map, param_key).map(cbor::as_bytes).transpose()?;
        if param.is_some_and(<[u8]>::is_empty) {
            return Ok(None);
        }
        let protocol = cbor::get(map, param_key + 1)
            .map(|p| self.supported_protocol(p))
            .transpose()?;
        match (param, protocol) {
            (Some(_), None) => Err(Status::MissingParameter),
            (Some(param), Some(protocol)) => Ok(Some(Some((param, protocol)))),
            (None, _) => Ok(Some(None)),
        }
    }

    fn pin_probe(&self, up: &mut dyn UserPresence) -> CtapResult<Vec<u8>> {
        up.wait_for_touch()?;
        Err(if self.state.pin.is_some() {
            Status::PinInvalid
        } else {
            Status::PinNotSet
        })
    }

    pub(super) fn make_credential(
        &mut self,
        params: &[u8],
        up: &mut dyn UserPresence,
    ) -> CtapResult<Vec<u8>> {
        let map = cbor::decode_map(params)?;
        let cdh = cbor::as_bytes(cbor::need(&map, 1)?)?.to_vec();
        let rp = cbor::as_map(cbor::need(&map, 2)?)?;
        let rp_id = bounded_text(cbor::get_text(rp, "id").ok_or(Status::MissingParameter)?)?;
        let rp_name = cbor::get_text(rp, "name").map(bounded_text).transpose()?;
        let user = cbor::as_map(cbor::need(&map, 3)?)?;
        let user_id = cbor::as_bytes(cbor::get_text(user, "id").ok_or(Status::MissingParameter)?)?;
        if user_id.len() > USER_ID_MAX {
            return Err(Status::InvalidLength);
        }
        let user_name = cbor::get_text(user, "name").map(bounded_text).transpose()?;
        let user_display_name = cbor::get_text(user, "displayName")
            .map(bounded_text)
            .transpose()?;
        let algs = cbor::as_array(cbor::need(&map, 4)?)?;
        let mut es256 = false;
        for p in algs {
            let p = cbor::as_map(p)?;
            let alg = cbor::as_i64(cbor::get_text(p, "alg").ok_or(Status::MissingParameter)?)?;
            let ty = cbor::as_text(cbor::get_text(p, "type").ok_or(Status::MissingParameter)?)?;
            es256 |= alg == ALG_ES256 && ty == "public-key";
        }
        let exclude = match cbor::get(&map, 5) {
            Some(v) => self.credential_list(v)?,
            None => Vec::new(),
        };
        let extensions = match cbor::get(&map, 6) {
            Some(v) => cbor::as_map(v)?.to_vec(),
            None => Vec::new(),
        };
        let opts = options(&map, 7)?;
        let auth = match self.pin_auth(&map, 8)? {
            Some(auth) => auth,
            None => return self.pin_probe(up),
        };
        if cdh.len() != 32 {
            return Err(Status::InvalidLength);
        }
        if !es256 {
            return Err(Status::UnsupportedAlgorithm);
        }
        let rk = option(&opts, "rk").unwrap_or(false);
        if option(&opts, "up") == Some(false) {
            return Err(Status::InvalidOption);
        }
        let builtin_uv = self.builtin_uv_requested(&opts, auth.is_some())?;
        let uv = match auth {
            Some((param, protocol)) => {
                self.verify_token(
                    protocol,
                    &cdh,
                    param,
                    permission::MAKE_CREDENTIAL,
                    Some(&rp_id),
                )?;
                true
            }
            _ if builtin_uv => {
                up.wait_for_touch().map_err(|_| Status::UvInvalid)?;
                true
            }
            _ => {
                if self.state.pin.is_some() && rk {
                    return Err(Status::PuatRequired);
                }
                false
            }
        };
        for id in &exclude {
            if let Some(c) = self.find_credential(id) {
                if c.rp_id == rp_id && (c.cred_protect < 3 || uv) {
                    up.wait_for_touch()?;
                    return Err(Status::CredentialExcluded);
                }
            }
        }
        let mut cred_protect = 1u8;
        let mut hmac_secret = false;
        for (k, v) in &extensions {
            match k.as_text() {
                // A CTAP 2.0 key ignores the extension it does not know.
                Some("credProtect") if !self.profile.cred_protect() => {}
                Some("credProtect") => {
                    cred_protect = match cbor::as_u64(v)? {
                        n @ 1..=3 => n as u8,
                        _ => return Err(Status::InvalidParameter),
                    }
                }
                Some("hmac-secret") => hmac_secret = cbor::as_bool(v)?,
                _ => {}
            }
        }
        let replaces = self
            .state
            .credentials
            .iter()
            .position(|c| c.discoverable && c.rp_id == rp_id && c.user_id == user_id);
        if rk && replaces.is_none() && self.remaining_resident_slots() == 0 {
            return Err(Status::KeyStoreFull);
        }
        up.wait_for_touch()?;

        let key = SigningKey::generate_from_rng(&mut rand::rng());
        let id = random_bytes(CREDENTIAL_ID_LEN);
        let cose = cose_public_key(&key);
        let mut ext_out = Vec::new();
        if self.profile.cred_protect()
            && (cred_protect > 1
                || extensions
                    .iter()
                    .any(|(k, _)| k.as_text() == Some("credProtect")))
        {
            ext_out.push((text("credProtect"), int(i64::from(cred_protect))));
        }
        if hmac_secret {
            ext_out.push((text("hmac-secret"), Value::Bool(true)));
        }
        let cred = StoredCredential {
            id: id.clone(),
            rp_id: rp_id.clone(),
            rp_name,
            user_id: user_id.to_vec(),
            user_name,
            user_display_name,
            discoverable: rk,
            private_key: key.to_bytes().to_vec(),
            cred_protect,
            cred_random_uv: hmac_secret.then(|| random_bytes(32)),
            cred_random_no_uv: hmac_secret.then(|| random_bytes(32)),
            sign_count: 0,
            created: self.state.next_created,
        };
        self.state.next_created += 1;
        if let Some(i) = replaces.filter(|_| rk) {
            self.state.credentials.remove(i);
        }
        self.state.credentials.push(cred);
        self.evict_old_non_resident();
        self.dirty = true;

        let flags = FLAG_UP | if uv { FLAG_UV } else { 0 };
        let ad = auth_data(
            &rp_id,
            flags,
            0,
            Some((&self.model.aaguid.0, &id, &cose)),
            (!ext_out.is_empty()).then_some(Value::Map(ext_out)),
        );
        let sig = sign(&self.attestation_key, &ad, &cdh);
        let att_stmt = Value::Map(vec![
            (text("alg"), int(ALG_ES256)),
            (text("sig"), Value::Bytes(sig)),
            (
                text("x5c"),
                Value::Array(vec![bytes(&self.state.attestation.cert_der)]),
            ),
        ]);
        Ok(cbor::ok_response(Some(Value::Map(vec![
            (int(1), text("packed")),
            (int(2), Value::Bytes(ad)),
            (int(3), att_stmt),
        ]))))
    }

    fn evict_old_non_resident(&mut self) {
        let non_resident = self
            .state
            .credentials
            .iter()
            .filter(|c| !c.discoverable)
            .count();
        if non_resident > MAX_NON_RESIDENT {
            if let Some(i) = self.state.credentials.iter().position(|c| !c.discoverable) {
                self.state.credentials.remove(i);
            }
        }
    }

    pub(super) fn get_assertion(
        &mut self,
        params: &[u8],
        up: &mut dyn UserPresence,
    ) -> CtapResult<Vec<u8>> {
        let map = cbor::decode_map(params)?;
        let rp_id = bounded_text(cbor::need(&map, 1)?)?;
        let cdh = cbor::as_bytes(cbor::need(&map, 2)?)?.to_vec();
        let allow = match cbor::get(&map, 3) {
            Some(v) => self.credential_list(v)?,
            None => Vec::new(),
        };
        let extensions = match cbor::get(&map, 4) {
            Some(v) => cbor::as_map(v)?.to_vec(),
            None => Vec::new(),
        };
        let opts = options(&map, 5)?;
        let auth = match self.pin_auth(&map, 6)? {
            Some(auth) => auth,
            None => return self.pin_probe(up),
        };
        if cdh.len() != 32 {
            return Err(Status::InvalidLength);
        }
        if option(&opts, "rk").is_some() {
            return Err(Status::UnsupportedOption);
        }
        let builtin_uv = self.builtin_uv_requested(&opts, auth.is_some())?;
        let want_up = option(&opts, "up").unwrap_or(true);
        let uv = match auth {
            Some((param, protocol)) => {
                self.verify_token(
                    protocol,
                    &cdh,
                    param,
                    permission::GET_ASSERTION,
                    Some(&rp_id),
                )?;
                true
            }
            _ if builtin_uv => {
                up.wait_for_touch().map_err(|_| Status::UvInvalid)?;
                true
            }
            _ => false,
        };
        let mut found: Vec<&StoredCredential> = if allow.is_empty() {
            let mut v: Vec<_> = self
                .state
                .credentials
                .iter()
                .filter(|c| c.discoverable && c.rp_id == rp_id)
                .collect();
            v.sort_by_key(|c| std::cmp::Reverse(c.created));
            v
        } else {
            allow
                .iter()
                .filter_map(|id| self.find_credential(id))
                .filter(|c| c.rp_id == rp_id)
                .collect()
        };
        found.retain(|c| match c.cred_protect {
            3 => uv,
            2 => uv || !allow.is_empty(),
            _ => true,
        });
        let ids: Vec<Vec<u8>> = found.iter().map(|c| c.id.clone()).collect();
        if ids.is_empty() {
            return Err(Status::NoCredentials);
        }
        let hmac = match extensions
            .iter()
            .find(|(k, _)| k.as_text() == Some("hmac-secret"))
        {
            Some((_, v)) => Some(self.hmac_secret_input(v)?),
            None => None,
        };
        if want_up {
            up.wait_for_touch()?;
        }
        let request = AssertionRequest {
            rp_id,
            client_data_hash: cdh,
            uv,
            up: want_up,
            total: ids.len(),
            hmac,
        };
        let response = self.assert_one(&ids[0], &request, allow.is_empty())?;
        if ids.len() > 1 {
            self.pending_assertions = Some(PendingAssertions {
                credentials: ids[1..].to_vec(),
                request,
                started: Instant::now(),
            });
        }
        Ok(response)
    }

    pub(super) fn get_next_assertion(&mut self) -> CtapResult<Vec<u8>> {
        let mut pending = self.pending_assertions.take().ok_or(Status::NotAllowed)?;
        if pending.started.elapsed() > NEXT_ASSERTION_WINDOW || pending.credentials.is_empty() {
            return Err(Status::NotAllowed);
        }
        let id = pending.credentials.remove(0);
        let response = self.assert_one(&id, &pending.request, false)?;
        if !pending.credentials.is_empty() {
            self.pending_assertions = Some(pending);
        }
        Ok(response)
    }

    /// Decode and check the hmac-secret input {1: keyAgreement, 2: saltEnc, 3: saltAuth, 4: protocol}.
    fn hmac_secret_input(
        &self,
        v: &Value,
    ) -> CtapResult<(Zeroizing<Vec<u8>>, crate::ctap::pin_protocol::SharedSecret)> {
        let m = cbor::as_map(v)?;
        let peer = CoseKey::from_value(cbor::need(m, 1)?).map_err(|_| Status::InvalidParameter)?;
        let salt_enc = cbor::as_bytes(cbor::need(m, 2)?)?;
        let salt_auth = cbor::as_bytes(cbor::need(m, 3)?)?;
        let protocol = match cbor::get(m, 4) {
            Some(p) => self.supported_protocol(p)?,
            None => PinProtocol::V1,
        };
        let shared = self
            .key_agreement
            .shared_secret(protocol, &peer)
            .map_err(|_| Status::InvalidParameter)?;
        if !shared.verify(salt_enc, salt_auth) {
            return Err(Status::PinAuthInvalid);
        }
        let salts = shared
            .decrypt(salt_enc)
            .map_err(|_| Status::InvalidLength)?;
        if salts.len() != 32 && salts.len() != 64 {
            return Err(Status::InvalidLength);
        }
        Ok((salts, shared))
    }

    fn assert_one(
        &mut self,
        id: &[u8],
        req: &AssertionRequest,
        with_count: bool,
    ) -> CtapResult<Vec<u8>> {
        let cred = self
            .state
            .credentials
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or(Status::NoCredentials)?;
        cred.sign_count = cred.sign_count.saturating_add(1);
        // Counter-only changes are saved every COUNTER_SAVE_EVERY uses; power-up
        // skips ahead by as much, so the counter never goes backwards.
        if cred.sign_count % COUNTER_SAVE_EVERY == 1 {
            self.dirty = true;
        }
        let cred = cred.clone();
        let mut ext = Vec::new();
        if let Some((salts, shared)) = &req.hmac {
            let random = if req.uv {
                &cred.cred_random_uv
            } else {
                &cred.cred_random_no_uv
            };
            if let Some(random) = random {
                let mut out = Zeroizing::new(Vec::with_capacity(salts.len()));
                for salt in salts.chunks(32) {
                    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(random)
                        .map_err(|_| Status::Other)?;
                    mac.update(salt);
                    out.extend_from_slice(&mac.finalize().into_bytes());
                }
                ext.push((text("hmac-secret"), Value::Bytes(shared.encrypt(&out))));
            }
        }
        let flags = if req.up { FLAG_UP } else { 0 } | if req.uv { FLAG_UV } else { 0 };
        let ad = auth_data(
            &req.rp_id,
            flags,
            cred.sign_count,
            None,
            (!ext.is_empty()).then_some(Value::Map(ext)),
        );
        let sig = self.signers.sign(&cred, &[&ad, &req.client_data_hash])?;
        let mut body = vec![
            (
                int(1),
                Value::Map(vec![
                    (text("id"), bytes(&cred.id)),
                    (text("type"), text("public-key")),
                ]),
            ),
            (int(2), Value::Bytes(ad)),
            (int(3), Value::Bytes(sig)),
        ];
        if cred.discoverable {
            let mut user = vec![(text("id"), bytes(&cred.user_id))];
            if req.uv {
                if let Some(n) = &cred.user_name {
                    user.push((text("name"), text(n)));
                }
                if let Some(n) = &cred.user_display_name {
                    user.push((text("displayName"), text(n)));
                }
            }
            body.push((int(4), Value::Map(user)));
        }
        if with_count && req.total > 1 {
            body.push((int(5), int(req.total as i64)));
        }
        Ok(cbor::ok_response(Some(Value::Map(body))))
    }
}
