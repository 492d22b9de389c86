//! `keys` procedures: describe keys, set or change their PIN, factory-reset them.
//! Models are named from the AAGUID catalogue.

use std::path::Path;

use serde::Serialize;

use super::devices::{discover, KeySource};
use crate::aaguid::Aaguid;
use crate::attestation::catalogue;
use crate::attestation::mds::Blob;
use crate::ctap::{pin, reset, Device, Info};
use crate::error::Result;
use crate::secret::Pin;

/// One line of `keys list`.
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    pub label: String,
    pub source: KeySource,
    pub aaguid: Option<Aaguid>,
    /// "Vendor Model" from the catalogue; `None` when the AAGUID is unknown.
    pub model: Option<String>,
    pub versions: Vec<String>,
    /// `None` when the key has no PIN support.
    pub pin_set: Option<bool>,
    /// Why the key could not be read (it is still listed).
    pub error: Option<String>,
}

/// `keys info`: the summary plus everything getInfo said and the PIN retries left.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    #[serde(flatten)]
    pub summary: KeySummary,
    pub pin_retries: Option<u64>,
    /// firmwareVersion as the vendor prints it (YubiKey 0x050403 is "5.4.3").
    pub firmware: Option<String>,
    pub info: Info,
}

/// The catalogue's "Vendor Model" for an AAGUID, else the description the kit's MDS
/// BLOB gives it (the catalogue names few models; the BLOB names every certified one).
pub fn model_name_with(aaguid: &Aaguid, mds: Option<&Blob>) -> Option<String> {
    model_name(aaguid).or_else(|| mds?.entry(aaguid)?.description.clone())
}

/// The catalogue's "Vendor Model" for an AAGUID.
pub fn model_name(aaguid: &Aaguid) -> Option<String> {
    catalogue::lookup(aaguid).map(|m| {
        // "Yubico" + "YubiKey 5 NFC", but not "glasskey (virtual)" + "glasskey virtual model A".
        let brand = m
            .vendor
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_lowercase();
        if !brand.is_empty() && m.model.to_lowercase().contains(&brand) {
            m.model.clone()
        } else {
            format!("{} {}", m.vendor, m.model)
        }
    })
}

fn summarize(
    label: String,
    source: KeySource,
    info: Option<&Info>,
    error: Option<String>,
    mds: Option<&Blob>,
) -> KeySummary {
    KeySummary {
        label,
        source,
        aaguid: info.map(|i| i.aaguid),
        model: info.and_then(|i| model_name_with(&i.aaguid, mds)),
        versions: info.map(|i| i.versions.clone()).unwrap_or_default(),
        pin_set: info.and_then(Info::pin_set),
        error,
    }
}

/// Every selected key with its model (named by the catalogue, else by `mds`); keys that fail
/// to answer are listed with the error.
pub fn list(
    device: Option<&str>,
    virtual_dir: Option<&Path>,
    mds: Option<&Blob>,
) -> Result<Vec<KeySummary>> {
    let mut out = Vec::new();
    for key in discover(device, virtual_dir)? {
        let (label, source) = (key.label.clone(), key.source.clone());
        out.push(match key.open() {
            Ok(dev) => summarize(label, source, Some(dev.info()), None, mds),
            Err(e) => summarize(label, source, None, Some(e.to_string()), mds),
        });
    }
    Ok(out)
}

/// Full description of one opened key.
pub fn report(label: &str, source: KeySource, dev: &mut Device, mds: Option<&Blob>) -> KeyReport {
    let pin_retries = match dev.info().pin_set() {
        Some(true) => pin::get_retries(dev).ok().map(|r| r.retries),
        _ => None,
    };
    let vendor = catalogue::lookup(&dev.info().aaguid).map(|m| m.vendor.as_str());
    KeyReport {
        summary: summarize(label.to_string(), source, Some(dev.info()), None, mds),
        pin_retries,
        firmware: dev
            .info()
            .firmware_version
            .map(|v| crate::ctap::info::firmware_display(v, vendor)),
        info: dev.info().clone(),
    }
}

/// Set the first PIN on a key that has none.
pub fn set_pin(dev: &mut Device, new_pin: &Pin) -> Result<()> {
    if dev.info().pin_set() == Some(true) {
        return Err(crate::Error::input(
            format!("the key at {} already has a PIN", dev.describe()),
            "use `glasskey keys change-pin` to change it",
        ));
    }
    let protocol = protocol(dev)?;
    pin::set_pin(dev, protocol, new_pin)?;
    dev.refresh_info()?;
    Ok(())
}

/// Change the PIN (also clears a forced PIN change).
pub fn change_pin(dev: &mut Device, current: &Pin, new_pin: &Pin) -> Result<()> {
    if dev.info().pin_set() != Some(true) {
        return Err(crate::Error::input(
            format!("the key at {} has no PIN yet", dev.describe()),
            "use `glasskey keys set-pin` to set one",
        ));
    }
    let protocol = protocol(dev)?;
    pin::change_pin(dev, protocol, current, new_pin)?;
    dev.refresh_info()?;
    Ok(())
}

/// Factory-reset: every credential and the PIN are erased.
pub fn factory_reset(dev: &mut Device) -> Result<()> {
    reset::reset(dev)?;
    Ok(())
}

fn protocol(dev: &Device) -> Result<crate::ctap::pin_protocol::PinProtocol> {
    dev.info().preferred_pin_protocol().ok_or_else(|| {
        crate::Error::device(
            format!(
                "the key at {} supports no PIN protocol glasskey knows",
                dev.describe()
            ),
            "use a FIDO2 key with PIN support",
        )
    })
}
