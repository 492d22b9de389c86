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
    /// The key is waiting for a touch.
    fn touch_needed(&mut self, key: &str);
}
