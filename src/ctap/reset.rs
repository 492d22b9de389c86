//! authenticatorReset and authenticatorSelection (CTAP 2.1 §6.6, §6.9).

use super::command::CtapCommand;
use super::device::Device;
use super::error::CtapError;

/// Factory-reset: erases every credential and the PIN. Keys accept it only
/// within ~10 s of power-up and after a touch; otherwise NOT_ALLOWED.
pub fn reset(dev: &mut Device) -> Result<(), CtapError> {
    let hints = ResetHints::of(dev.info());
    if hints.usb_refused {
        return Err(CtapError::Unsupported(format!(
            "a reset over USB (this key resets only over {})",
            hints.transports.join(", ")
        )));
    }
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

/// What the operator must do for a reset on this key (CTAP 2.2 getInfo
/// `longTouchForReset` and `transportsForReset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetHints {
    /// Hold the button for several seconds instead of a tap.
    pub long_touch: bool,
    /// The key lists its reset transports and USB is not among them.
    pub usb_refused: bool,
    /// The transports the key names for a reset (empty: it does not say).
    pub transports: Vec<String>,
}

impl ResetHints {
    pub fn of(info: &super::Info) -> ResetHints {
        ResetHints {
            long_touch: info.long_touch_for_reset == Some(true),
            usb_refused: !info.transports_for_reset.is_empty()
                && !info.transports_for_reset.iter().any(|t| t == "usb"),
            transports: info.transports_for_reset.clone(),
        }
    }

    /// How to touch the key for the reset, for the prompt.
    pub fn touch_instruction(&self) -> &'static str {
        if self.long_touch {
            "press and hold its button for several seconds (this model wants a long touch for a reset)"
        } else {
            "touch it when it blinks"
        }
    }
}
