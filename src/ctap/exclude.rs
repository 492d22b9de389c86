//! Exclude lists the way python-fido2's client sends them (`_filter_creds`).
//!
//! Entra's creationOptions carry every credential already registered on the
//! account. A break-glass account with many methods easily lists more ids than
//! a key takes in one request (maxCredentialCountInList, often 8) or ids longer
//! than it could ever have made (maxCredentialIdLength), and a long list
//! overflows maxMsgSize (1024 bytes when getInfo does not say). Keys answer such
//! a request with LIMIT_EXCEEDED or REQUEST_TOO_LARGE, so the platform:
//! 1. drops ids longer than maxCredentialIdLength (the key cannot hold them);
//! 2. asks the key, in chunks it accepts, with silent (up=false) getAssertions
//!    whether it holds any of the rest;
//! 3. sends makeCredential an exclude list of only the match (or none).

use super::device::Device;
use super::error::CtapError;
use super::get_assertion::{self, GetAssertionRequest};
use super::info::Info;
use super::pin::PinToken;
use super::status::Status;

/// The probes use a fixed, all-zero clientDataHash, as python-fido2 does:
/// nothing is signed for a relying party, the answer is only "found or not".
const PROBE_CLIENT_DATA_HASH: [u8; 32] = [0; 32];

/// What filtering did with Entra's list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filtered {
    /// The exclude list to send: empty, or the one id the key already holds.
    pub matched: Option<Vec<u8>>,
    /// Ids dropped because they are longer than the key's maxCredentialIdLength.
    pub dropped_too_long: usize,
    /// getAssertion probes sent.
    pub probes: usize,
}

impl Filtered {
    pub fn exclude_list(&self) -> Vec<Vec<u8>> {
        self.matched.iter().cloned().collect()
    }
}

/// Split `ids` into the chunks the key accepts: at most maxCredentialCountInList
/// ids (1 when the key does not say, as python-fido2 assumes) and a request no
/// larger than the key's message size.
pub fn chunks(info: &Info, rp_id: &str, ids: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    let per_request = info
        .max_credential_count_in_list
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let max_bytes = usize::try_from(info.effective_max_msg_size()).unwrap_or(usize::MAX);
    let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    for id in ids {
        current.push(id.clone());
        let too_many = current.len() > per_request;
        let too_big = current.len() > 1 && probe_size(rp_id, &current) > max_bytes;
        if too_many || too_big {
            current.pop();
            out.push(std::mem::take(&mut current));
            current.push(id.clone());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Bytes of a probe request (command byte + CBOR), with room for a
/// pinUvAuthParam of protocol 1 or 2 (at most 32 bytes) and its protocol.
fn probe_size(rp_id: &str, ids: &[Vec<u8>]) -> usize {
    let req = probe_request(rp_id, ids);
    1 + super::cbor::encode(&req.to_cbor(None)).len() + 40
}

fn probe_request(rp_id: &str, ids: &[Vec<u8>]) -> GetAssertionRequest {
    GetAssertionRequest {
        rp_id: rp_id.to_string(),
        client_data_hash: PROBE_CLIENT_DATA_HASH,
        allow_list: ids.to_vec(),
        up: Some(false),
        uv: None,
    }
}

/// Drop what the key cannot hold, then probe; `token` (with the getAssertion
/// permission) lets the key find credentials protected by credProtect level 3.
pub fn filter(
    dev: &mut Device,
    rp_id: &str,
    ids: &[Vec<u8>],
    token: Option<&PinToken>,
) -> Result<Filtered, CtapError> {
    let mut result = Filtered::default();
    let max_len = dev
        .info()
        .max_credential_id_length
        .and_then(|n| usize::try_from(n).ok());
    let kept: Vec<Vec<u8>> = ids
        .iter()
        .filter(|id| max_len.is_none_or(|max| id.len() <= max))
        .cloned()
        .collect();
    result.dropped_too_long = ids.len() - kept.len();
    for chunk in chunks(dev.info(), rp_id, &kept) {
        result.probes += 1;
        let req = probe_request(rp_id, &chunk);
        match get_assertion::get_assertion(dev, &req, token) {
            Ok(found) => {
                // A key that omits the descriptor answered for the only id it was asked about.
                let id = match (found.credential_id, chunk.len()) {
                    (Some(id), _) => id,
                    (None, 1) => chunk[0].clone(),
                    (None, _) => {
                        return Err(CtapError::malformed(
                            "getAssertion",
                            "a probe over several ids was answered without the credential id",
                        ))
                    }
                };
                if !chunk.contains(&id) {
                    return Err(CtapError::malformed(
                        "getAssertion",
                        "the key answered a probe with a credential it was not asked about",
                    ));
                }
                result.matched = Some(id);
                return Ok(result);
            }
            Err(CtapError::Status(Status::NoCredentials)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctap::cbor::{bytes, encode, int, map, text};
    use ciborium::Value;

    fn info(count: Option<i64>, msg: Option<i64>) -> Info {
        let mut m = vec![
            (int(1), Value::Array(vec![text("FIDO_2_1")])),
            (int(3), bytes(&[7; 16])),
        ];
        if let Some(n) = msg {
            m.push((int(5), int(n)));
        }
        if let Some(n) = count {
            m.push((int(7), int(n)));
        }
        Info::from_cbor(&encode(&map(m))).unwrap()
    }

    #[test]
    fn chunks_follow_the_count_and_default_to_one_id() {
        let ids: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 16]).collect();
        let c = chunks(&info(Some(8), Some(7609)), "login.microsoft.com", &ids);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![8, 8, 4]);
        let c = chunks(&info(None, Some(7609)), "login.microsoft.com", &ids);
        assert_eq!(c.len(), 20, "no maxCredentialCountInList: one id per probe");
        let flat: Vec<Vec<u8>> = c.into_iter().flatten().collect();
        assert_eq!(flat, ids, "order and content kept");
    }

    #[test]
    fn chunks_fit_the_default_1024_byte_message_when_getinfo_has_no_max_msg_size() {
        let ids: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 128]).collect();
        let i = info(Some(32), None);
        assert_eq!(i.effective_max_msg_size(), 1024);
        let c = chunks(&i, "login.microsoft.com", &ids);
        assert!(c.len() > 2, "{} chunks", c.len());
        for chunk in &c {
            assert!(probe_size("login.microsoft.com", chunk) <= 1024);
        }
        assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 40);
    }
}
