//! Base64 as Graph uses it: base64url without padding is what we send; what we
//! read is decoded leniently, because the service is known to vary (GRAPH.md C3):
//! base64url, standard base64 with or without `=`, and .NET `UrlTokenEncode`
//! (base64url followed by one digit giving the number of stripped `=`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Encode as base64url without padding (the canonical Graph encoding).
pub use crate::webauthn::b64::encode;

/// Strict base64url-without-padding decode.
pub fn decode_strict(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Decode any of the encodings Graph has been seen to use. Returns None when
/// no reading fits. One case is ambiguous: a UrlTokenEncode string with one
/// stripped `=` (suffix `1`, length a multiple of 4 — e.g. every 32-byte
/// credential id) is also valid unpadded base64url; it is read as the latter,
/// the encoding Graph documents for v1.0. Where both readings matter (an
/// exclude list), use [`decode_candidates`].
pub fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if let Ok(b) = crate::webauthn::b64::decode(t) {
        return Some(b);
    }
    decode_url_token(t)
}

/// .NET `UrlTokenEncode`: base64url, then one digit 0..2 giving the number of
/// `=` removed (beta creationOptions page, note on `excludeCredentials`).
pub fn decode_url_token(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    // Base64 is ASCII; anything else is no encoding at all (and splitting off the last
    // byte of a multi-byte character would panic: fuzz/regressions/graph_json).
    if !t.is_ascii() {
        return None;
    }
    let (body, last) = t.split_at(t.len().checked_sub(1)?);
    let pad = last.parse::<usize>().ok().filter(|n| *n <= 2)?;
    let mut padded = body.replace('-', "+").replace('_', "/");
    padded.extend(std::iter::repeat_n('=', pad));
    STANDARD.decode(padded).ok()
}

/// .NET `UrlTokenEncode` (what the emulator emits where the beta docs describe it).
pub fn encode_url_token(bytes: &[u8]) -> String {
    let s = encode(bytes);
    let pad = (4 - s.len() % 4) % 4;
    format!("{s}{pad}")
}

/// Every byte string `text` can stand for, the documented v1.0 reading first.
/// Two readings exist only for the ambiguous UrlTokenEncode case (see
/// [`decode_lenient`]); an exclude list carries both, so an already-registered
/// key is recognised whichever encoding the service meant.
pub fn decode_candidates(text: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = decode_lenient(text).into_iter().collect();
    if let Some(token) = decode_url_token(text) {
        if !out.contains(&token) {
            out.push(token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_ending_in_a_multibyte_character_is_no_encoding() {
        // Found by the graph_json fuzzer: it used to panic splitting the last byte off.
        assert_eq!(decode_url_token("AAAA\u{375}"), None);
        assert_eq!(decode_lenient("AAAA\u{bccc}"), None);
        assert!(decode_candidates("\u{375}").is_empty());
    }

    #[test]
    fn lenient_reads_all_three_graph_encodings() {
        for n in [39u8, 40] {
            check_all_encodings(n);
        }
        assert!(decode_lenient("*** not base64 ***").is_none());
        assert!(decode_candidates("*** not base64 ***").is_empty());
    }

    #[test]
    fn a_32_byte_id_whose_token_ends_in_1_is_recognised() {
        let id: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(29) ^ 0x5a).collect();
        let token = encode_url_token(&id);
        assert!(token.ends_with('1'));
        assert_eq!(token.len() % 4, 0, "the ambiguous shape");
        assert_eq!(decode_url_token(&token).unwrap(), id);
        let c = decode_candidates(&token);
        assert_eq!(c.len(), 2, "both readings are kept");
        assert!(c.contains(&id));
        // An unambiguous base64url id has one reading.
        assert_eq!(decode_candidates(&encode(&id)), vec![id]);
    }

    fn check_all_encodings(n: u8) {
        let bytes: Vec<u8> = (0u8..n).map(|i| i.wrapping_mul(37) ^ 0xfb).collect();
        let url = encode(&bytes);
        assert_eq!(decode_lenient(&url).unwrap(), bytes);
        let std = STANDARD.encode(&bytes);
        assert!(std.contains('=') || std.contains('+') || std.contains('/'));
        assert_eq!(decode_lenient(&std).unwrap(), bytes);
        let pad = std.matches('=').count();
        let token = format!("{}{}", url, pad);
        assert_eq!(
            decode_lenient(&token).unwrap(),
            bytes,
            "UrlTokenEncode, {pad} stripped"
        );
        assert!(decode_strict(&std).is_none() || !std.contains('='));
    }
}
