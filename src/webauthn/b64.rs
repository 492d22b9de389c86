//! base64url as Graph and WebAuthn use it: encode without padding; decode
//! leniently (padding and the standard alphabet are accepted) because the
//! service is known to vary (GRAPH.md: excludeCredentials ids).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::ParseError;

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url or base64, padded or not. Whitespace is not accepted.
pub fn decode(text: &str) -> Result<Vec<u8>, ParseError> {
    let unpadded = text.trim_end_matches('=');
    if unpadded.contains(['+', '/']) {
        STANDARD_NO_PAD.decode(unpadded)
    } else {
        URL_SAFE_NO_PAD.decode(unpadded)
    }
    .or_else(|_| STANDARD.decode(text))
    .map_err(|e| ParseError::new("base64url text", e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lenient_decode() {
        let bytes = [0xfbu8, 0xff, 0x01];
        let url = super::encode(&bytes);
        assert_eq!(url, "-_8B");
        assert_eq!(super::decode(&url).unwrap(), bytes);
        assert_eq!(super::decode("+/8B").unwrap(), bytes);
        assert_eq!(super::decode("AQ==").unwrap(), [1]);
        assert_eq!(super::decode("AQ").unwrap(), [1]);
        assert!(super::decode("A Q").is_err());
    }
}
