//! authenticatorReset and authenticatorSelection (CTAP 2.1 §6.6, §6.9).

use super::command::CtapCommand;
use super::device::Device;
use super::error::CtapError;

/// Factory-reset: erases every credential and the PIN. Keys accept it only
/// within ~10 s of power-up and after a touch; otherwise NOT_ALLOWED.
pub fn reset(dev: &mut Device) -> Result<(), CtapError> {
    dev.call("reset", CtapCommand::Reset, None).map(|_| ())?;
    dev.refresh_info().map(|_| ())
}

/// Ask the key for a touch (which key is this?). CTAP 2.1 only.
pub fn selection(dev: &mut Device) -> Result<(), CtapError> {
    if !dev.info().supports_version("FIDO_2_1") {
        return Err(CtapError::Unsupported(
            "authenticatorSelection (CTAP 2.1)".into(),
        ));
    }
    dev.call("selection", CtapCommand::Selection, None)
        .map(|_| ())
}
