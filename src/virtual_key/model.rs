//! The virtual key models. Two profiles with distinct AAGUIDs, so a break-glass
//! setup rehearsed on virtual keys exercises "two different models" like the
//! real thing. Names say "virtual"; no real vendor's AAGUID is ever used.

use serde::{Deserialize, Serialize};

use crate::aaguid::Aaguid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelId {
    A,
    B,
}

/// What a model reports in getInfo and how it behaves.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: ModelId,
    pub aaguid: Aaguid,
    pub name: &'static str,
    /// Printed in the attestation leaf's CN.
    pub short: &'static str,
    pub versions: &'static [&'static str],
    /// PIN/UV auth protocols in preference order.
    pub pin_protocols: &'static [u8],
    pub firmware_version: u64,
    pub default_min_pin_length: u8,
    pub max_resident_credentials: usize,
    pub max_msg_size: usize,
    pub max_creds_in_list: usize,
}

const MODEL_A: Model = Model {
    id: ModelId::A,
    aaguid: Aaguid::virtual_model(1),
    name: "glasskey virtual model A",
    short: "model-a",
    versions: &["FIDO_2_0", "FIDO_2_1"],
    pin_protocols: &[2, 1],
    firmware_version: 0x0001_0000,
    default_min_pin_length: 4,
    max_resident_credentials: 25,
    max_msg_size: 1200,
    max_creds_in_list: 8,
};

const MODEL_B: Model = Model {
    id: ModelId::B,
    aaguid: Aaguid::virtual_model(2),
    name: "glasskey virtual model B",
    short: "model-b",
    versions: &["FIDO_2_0", "FIDO_2_1_PRE", "FIDO_2_1"],
    pin_protocols: &[1, 2],
    firmware_version: 0x0002_0300,
    default_min_pin_length: 6,
    max_resident_credentials: 10,
    max_msg_size: 2048,
    max_creds_in_list: 4,
};

impl ModelId {
    pub fn model(self) -> &'static Model {
        match self {
            ModelId::A => &MODEL_A,
            ModelId::B => &MODEL_B,
        }
    }

    pub fn parse(s: &str) -> Option<ModelId> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a" | "model-a" => Some(ModelId::A),
            "b" | "model-b" => Some(ModelId::B),
            _ => None,
        }
    }

    pub const ALL: [ModelId; 2] = [ModelId::A, ModelId::B];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_distinct_and_virtual() {
        let (a, b) = (ModelId::A.model(), ModelId::B.model());
        assert_ne!(a.aaguid, b.aaguid);
        assert!(a.aaguid.is_virtual() && b.aaguid.is_virtual());
        assert!(a.name.contains("virtual") && b.name.contains("virtual"));
        assert_eq!(ModelId::parse("B"), Some(ModelId::B));
        assert_eq!(ModelId::parse("c"), None);
    }
}
