//! The AAGUID: the 16-byte model identifier every FIDO2 authenticator reports
//! (getInfo, authData, attestation certificate extension 1.3.6.1.4.1.45724.1.1.4).
//! Shared vocabulary for every layer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The first eight bytes of every glasskey virtual-key AAGUID: ASCII "gk-virt\0".
/// No real vendor uses them; anything carrying them is a software key and must
/// never be registered with a real tenant.
pub const VIRTUAL_AAGUID_PREFIX: [u8; 8] = *b"gk-virt\0";

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Aaguid(pub [u8; 16]);

impl Aaguid {
    pub const ZERO: Aaguid = Aaguid([0; 16]);

    pub fn from_slice(bytes: &[u8]) -> Option<Aaguid> {
        <[u8; 16]>::try_from(bytes).ok().map(Aaguid)
    }

    /// The AAGUID of glasskey virtual model number `model`.
    pub const fn virtual_model(model: u8) -> Aaguid {
        let mut b = [0u8; 16];
        let mut i = 0;
        while i < 8 {
            b[i] = VIRTUAL_AAGUID_PREFIX[i];
            i += 1;
        }
        b[15] = model;
        Aaguid(b)
    }

    /// True for the AAGUIDs of glasskey's own software keys.
    pub fn is_virtual(&self) -> bool {
        self.0[..8] == VIRTUAL_AAGUID_PREFIX
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aaguid({self})")
    }
}

/// Error for text that is not an AAGUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AaguidParseError(pub String);

impl fmt::Display for AaguidParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not an AAGUID (expected 32 hex digits, dashes optional)",
            self.0
        )
    }
}

impl std::error::Error for AaguidParseError {}

impl FromStr for Aaguid {
    type Err = AaguidParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s.trim().chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AaguidParseError(s.to_string()));
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| AaguidParseError(s.to_string()))?;
        }
        Ok(Aaguid(out))
    }
}

impl Serialize for Aaguid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Aaguid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_virtual() {
        let a: Aaguid = "2fc0579f-8113-47ea-b116-bb5a8db9202a".parse().unwrap();
        assert_eq!(a.to_string(), "2fc0579f-8113-47ea-b116-bb5a8db9202a");
        assert!(!a.is_virtual());
        let v = Aaguid::virtual_model(1);
        assert!(v.is_virtual());
        assert_eq!(v.to_string().parse::<Aaguid>().unwrap(), v);
        assert!("xyz".parse::<Aaguid>().is_err());
        assert!("2fc0579f8113".parse::<Aaguid>().is_err());
    }
}
