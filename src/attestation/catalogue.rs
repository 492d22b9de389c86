//! The model catalogue: AAGUID -> vendor and model.
//!
//! The data is `vendor-attestation/aaguids.tsv`, compiled into the binary so the
//! catalogue works offline and cannot drift from the roots shipped beside it.
//! glasskey's own virtual models are added in code; their names say "virtual"
//! so no sheet or report can mistake a software key for a real one.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

use crate::aaguid::Aaguid;

/// The catalogue as shipped: `aaguid<TAB>vendor<TAB>model<TAB>source`, one header line.
const AAGUIDS_TSV: &str = include_str!("../../vendor-attestation/aaguids.tsv");

/// Vendor name used for glasskey's software keys.
pub const VIRTUAL_VENDOR: &str = "glasskey (virtual)";

/// One authenticator model as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Model {
    pub aaguid: Aaguid,
    pub vendor: String,
    pub model: String,
    /// Where the row came from (provenance key from aaguids.tsv, or "glasskey").
    pub source: String,
}

impl Model {
    /// True for glasskey's own software keys.
    pub fn is_virtual(&self) -> bool {
        self.aaguid.is_virtual()
    }
}

/// An AAGUID -> model map. [`catalogue()`] is the shipped one; [`Catalogue::parse`]
/// exists so tests (and future deployment overrides) can build others.
#[derive(Debug, Default)]
pub struct Catalogue {
    models: HashMap<Aaguid, Model>,
    /// Rows that could not be read, kept so `attest` can report them instead of hiding them.
    skipped: Vec<String>,
}

impl Catalogue {
    /// Parse TSV text. Bad rows (wrong column count, bad AAGUID, empty names) are
    /// skipped and recorded, never fatal: one typo must not blind the whole catalogue.
    /// A later row for the same AAGUID does not replace an earlier one.
    pub fn parse(tsv: &str) -> Catalogue {
        let mut cat = Catalogue::default();
        for (index, line) in tsv.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty()
                || line.starts_with('#')
                || (index == 0 && line.starts_with("aaguid\t"))
            {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let parsed = match cols.as_slice() {
                [aaguid, vendor, model, rest @ ..]
                    if !vendor.trim().is_empty() && !model.trim().is_empty() =>
                {
                    aaguid.parse::<Aaguid>().ok().map(|a| Model {
                        aaguid: a,
                        vendor: vendor.trim().to_string(),
                        model: model.trim().to_string(),
                        source: rest
                            .first()
                            .map(|s| s.trim().to_string())
                            .unwrap_or_default(),
                    })
                }
                _ => None,
            };
            match parsed {
                // A real vendor row must never claim glasskey's virtual prefix.
                Some(m) if !m.aaguid.is_virtual() => {
                    cat.models.entry(m.aaguid).or_insert(m);
                }
                _ => cat
                    .skipped
                    .push(format!("line {}: {}", index + 1, truncate(line, 80))),
            }
        }
        cat
    }

    /// The shipped catalogue plus glasskey's virtual models.
    fn shipped() -> Catalogue {
        let mut cat = Catalogue::parse(AAGUIDS_TSV);
        for (n, name) in [
            (1u8, "glasskey virtual model A"),
            (2u8, "glasskey virtual model B"),
        ] {
            let aaguid = Aaguid::virtual_model(n);
            cat.models.insert(
                aaguid,
                Model {
                    aaguid,
                    vendor: VIRTUAL_VENDOR.to_string(),
                    model: name.to_string(),
                    source: "glasskey".to_string(),
                },
            );
        }
        cat
    }

    pub fn lookup(&self, aaguid: &Aaguid) -> Option<&Model> {
        self.models.get(aaguid)
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Rows that were skipped while parsing, with their line numbers.
    pub fn skipped_rows(&self) -> &[String] {
        &self.skipped
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The shipped catalogue, parsed once.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(Catalogue::shipped)
}

/// Look an AAGUID up in the shipped catalogue.
pub fn lookup(aaguid: &Aaguid) -> Option<&'static Model> {
    catalogue().lookup(aaguid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalogue_knows_yubikey5_nfc_and_has_no_bad_rows() {
        let a: Aaguid = "2fc0579f-8113-47ea-b116-bb5a8db9202a".parse().unwrap();
        let m = lookup(&a).expect("YubiKey 5 NFC is in aaguids.tsv");
        assert_eq!(m.vendor, "Yubico");
        assert!(m.model.contains("YubiKey 5"), "{}", m.model);
        assert!(
            catalogue().skipped_rows().is_empty(),
            "{:?}",
            catalogue().skipped_rows()
        );
        // 139 data rows in the file; duplicates collapse, the two virtual models are added.
        assert!(catalogue().len() > 100);
    }

    #[test]
    fn virtual_models_say_virtual() {
        for n in [1, 2] {
            let m = lookup(&Aaguid::virtual_model(n)).unwrap();
            assert!(m.is_virtual());
            assert!(m.model.contains("virtual") && m.vendor.contains("virtual"));
        }
        assert!(lookup(&Aaguid::virtual_model(3)).is_none());
        assert!(lookup(&Aaguid::ZERO).is_none());
    }

    #[test]
    fn bad_rows_are_skipped_not_fatal() {
        let tsv = "aaguid\tvendor\tmodel\tsource\n\
                   not-an-aaguid\tX\tY\tz\n\
                   2fc0579f-8113-47ea-b116-bb5a8db9202a\tYubico\n\
                   2fc0579f-8113-47ea-b116-bb5a8db9202a\t\tEmpty vendor\ts\n\
                   676b2d76-6972-7400-0000-000000000001\tEvil\tFake virtual\ts\n\
                   \n\
                   ee882879-721c-4913-9775-3dfcce97072a\tYubico\tYubiKey 5 Series\ts\r\n\
                   ee882879-721c-4913-9775-3dfcce97072a\tOther\tLater duplicate\ts\n";
        let cat = Catalogue::parse(tsv);
        assert_eq!(cat.len(), 1);
        assert_eq!(cat.skipped_rows().len(), 4, "{:?}", cat.skipped_rows());
        let a: Aaguid = "ee882879-721c-4913-9775-3dfcce97072a".parse().unwrap();
        assert_eq!(cat.lookup(&a).unwrap().model, "YubiKey 5 Series");
        assert!(cat.skipped_rows()[0].starts_with("line 2:"));
    }
}
