//! The one error type the binary shows to an operator.
//!
//! Every layer has its own typed error; each converts into [`Error`], which carries
//! the exit-code class from DESIGN.md, a sentence saying what went wrong and a
//! sentence saying what to do next. The CLI prints both and exits with the class.

use std::fmt;

/// Exit-code classes fixed by DESIGN.md ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 1: a check or verification ran and the answer is "no".
    CheckFailed = 1,
    /// 2: usage or input error (bad flag, bad file, bad bundle, policy refusal before acting).
    Input = 2,
    /// 3: a device or the network failed (key unplugged, timeout, HTTP error).
    DeviceOrNetwork = 3,
}

impl ExitClass {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error an operator can act on: what went wrong, and what to do next.
#[derive(Debug, Clone)]
pub struct Error {
    pub class: ExitClass,
    /// What went wrong, in one sentence, naming the thing (key, file, account, endpoint).
    pub what: String,
    /// What to do next.
    pub next: String,
}

impl Error {
    pub fn new(class: ExitClass, what: impl Into<String>, next: impl Into<String>) -> Self {
        Error {
            class,
            what: what.into(),
            next: next.into(),
        }
    }
    pub fn input(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(ExitClass::Input, what, next)
    }
    pub fn check(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(ExitClass::CheckFailed, what, next)
    }
    pub fn device(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(ExitClass::DeviceOrNetwork, what, next)
    }
    pub fn network(what: impl Into<String>, next: impl Into<String>) -> Self {
        Self::new(ExitClass::DeviceOrNetwork, what, next)
    }
    /// A rehearsal part (virtual keys, the Graph emulator, the demo) asked of the production
    /// build, which leaves them out (Cargo feature `rehearsal`).
    pub fn without_rehearsal(what: &str) -> Self {
        Self::input(
            format!("{what} is a rehearsal tool, and this glasskey is the production build, which leaves the rehearsal tools out"),
            "rehearse with a build that has them (`make demo`, or `cargo build --features rehearsal`); keep this build for the real keys and the real tenant",
        )
    }
    pub fn exit_code(&self) -> i32 {
        self.class.code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        if !self.next.is_empty() {
            write!(f, "\n  next: {}", self.next)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
