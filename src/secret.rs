//! Secrets in memory: PINs and tokens are zeroized on drop, never Debug-printed,
//! and PINs are read from the terminal without echo, or one line per PIN from
//! stdin when stdin is not a terminal (DESIGN: "PIN entry"). Never from argv or
//! the environment.

use std::fmt;
use std::io::{BufRead, IsTerminal};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// A PIN (or any short secret) that wipes itself when dropped.
#[derive(Clone, Zeroize)]
#[zeroize(drop)]
pub struct Pin(String);

impl Pin {
    /// Wrap a PIN. Callers that generate PINs use this; operators type them.
    pub fn new(pin: String) -> Self {
        Pin(pin)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn len_code_points(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// Read one PIN: from the terminal without echo when stdin is a terminal,
/// otherwise the next line of stdin. `prompt` goes to stderr.
pub fn read_pin(prompt: &str) -> Result<Pin> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let line = rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| {
            Error::input(
                format!("could not read the PIN from the terminal: {e}"),
                "run glasskey from an interactive terminal, or pipe the PIN on stdin",
            )
        })?;
        return Ok(Pin(line));
    }
    eprintln!("{prompt} (reading one line from stdin)");
    let mut line = Zeroizing::new(String::new());
    let n = stdin.lock().read_line(&mut line).map_err(|e| {
        Error::input(
            format!("could not read the PIN from stdin: {e}"),
            "pipe one PIN per line on stdin",
        )
    })?;
    if n == 0 {
        return Err(Error::input(
            "stdin ended before a PIN was given",
            "pipe one PIN per line on stdin, in the order glasskey asks for them",
        ));
    }
    let trimmed = line.trim_end_matches(['\r', '\n']).to_string();
    Ok(Pin(trimmed))
}
