//! The person at the keyboard, as the ceremonies see them.
//!
//! Ceremonies never read the terminal or print directly: they ask an [`Operator`].
//! The CLI's operator uses the terminal (PINs without echo, stdin lines when
//! scripted); `glasskey demo` and the tests use a scripted one. That keeps every
//! ceremony drivable without a human, and every prompt in one place.

use crate::error::Result;
use crate::secret::Pin;

pub trait Operator {
    /// Ask for a PIN (never echoed, never logged).
    fn pin(&mut self, prompt: &str) -> Result<Pin>;
    /// Ask a yes/no question; `false` means stop.
    fn confirm(&mut self, question: &str) -> Result<bool>;
    /// Ask for a line of text (a seal number, a name).
    fn text(&mut self, prompt: &str) -> Result<String>;
    /// Ask for a line of text that has a default: an empty answer means `default`.
    /// (Operators that cannot answer empty lines get the plain question.)
    fn text_or(&mut self, prompt: &str, default: &str) -> Result<String> {
        self.text(&format!("{prompt} [{default}]"))
    }
    /// Tell the operator what is happening (progress, which key, which envelope).
    fn say(&mut self, message: &str);
    /// A wait begins — for a touch, for Microsoft Graph — and lasts while the returned
    /// guard lives. A terminal shows it as a spinner; anything else as one line.
    fn waiting(&mut self, what: &str) -> Waiting {
        self.say(what);
        Waiting::shown()
    }
}

/// The operator's side of a wait ([`Operator::waiting`]): dropping it ends the wait's display.
pub struct Waiting(Option<Box<dyn FnOnce() + Send>>);

impl Waiting {
    /// A wait already shown once (a plain line): nothing to end.
    pub fn shown() -> Waiting {
        Waiting(None)
    }

    /// A wait whose display `end` stops (a spinner's thread).
    pub fn ended_by(end: impl FnOnce() + Send + 'static) -> Waiting {
        Waiting(Some(Box::new(end)))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(end) = self.0.take() {
            end();
        }
    }
}

/// Whether a spinner is drawing on the terminal: the key's own "touch the key now"
/// (from its keepalives) stays quiet then, as the spinner already says so.
static SPINNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn spinner_active() -> bool {
    SPINNING.load(std::sync::atomic::Ordering::SeqCst)
}

pub fn set_spinner_active(on: bool) {
    SPINNING.store(on, std::sync::atomic::Ordering::SeqCst);
}
