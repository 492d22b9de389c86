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
/// stripped `=` (suffix `1`) is also valid unpadded base64url; it is read as the
/// latter, the encoding Graph documents for v1.0.
pub fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if let Ok(b) = crate::webauthn::b64::decode(t) {
        return Some(b);
    }
    // UrlTokenEncode: trailing digit 0..2 = number of '=' removed.
    let (body, last) = t.split_at(t.len().checked_sub(1)?);
    let pad = last.parse::<usize>().ok().filter(|n| *n <= 2)?;
    let mut padded = body.replace('-', "+").replace('_', "/");
    padded.extend(std::iter::repeat_n('=', pad));
    STANDARD.decode(padded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_reads_all_three_graph_encodings() {
        for n in [39u8, 40] {
            check_all_encodings(n);
        }
        assert!(decode_lenient("*** not base64 ***").is_none());
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
