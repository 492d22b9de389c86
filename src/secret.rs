//! Secrets in memory: PINs and tokens are zeroized on drop, never Debug-printed,
//! and PINs are read from the terminal without echo, or one line per PIN from
//! stdin when stdin is not a terminal (DESIGN: "PIN entry"). Never from argv or
//! the environment.

use std::fmt;
use std::io::IsTerminal;
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
    let line = read_stdin_line(MAX_PIN_LINE).map_err(|e| {
        Error::input(
            format!("could not read the PIN from stdin: {e}"),
            "pipe one PIN per line on stdin",
        )
    })?;
    let Some(line) = line else {
        return Err(Error::input(
            "stdin ended before a PIN was given",
            "pipe one PIN per line on stdin, in the order glasskey asks for them",
        ));
    };
    let text = std::str::from_utf8(&line).map_err(|_| {
        Error::input(
            "the PIN read from stdin is not UTF-8 text",
            "pipe one PIN per line on stdin",
        )
    })?;
    Ok(Pin(text.trim_end_matches(['\r', '\n']).to_string()))
}

/// Longest line accepted as a PIN (a CTAP PIN is at most 63 bytes).
const MAX_PIN_LINE: usize = 256;
/// Longest answer line read from stdin.
pub const MAX_ANSWER_LINE: usize = 4096;

/// Read one line from file descriptor 0 a byte at a time, without any buffer
/// (std's `Stdin` keeps an 8 KiB buffer that would hold later PIN lines, out
/// of reach of zeroize). Every prompt in glasskey reads through here, so no
/// buffered reader ever consumes bytes meant for the next prompt. `None` at end
/// of input; the line (with its `\n`) is wiped when dropped.
pub fn read_stdin_line(max: usize) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(max.min(256)));
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a valid, writable u8.
        let n = unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
        match n {
            1 => {
                if line.len() >= max {
                    byte.zeroize();
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("a line longer than {max} bytes"),
                    ));
                }
                line.push(byte);
                if byte == b'\n' {
                    return Ok(Some(line));
                }
            }
            0 if line.is_empty() => return Ok(None),
            0 => return Ok(Some(line)),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Environment variables that hold secrets: removed from every child glasskey
/// starts (print commands), which must never see them.
pub const SECRET_ENV: &[&str] = &["GLASSKEY_CLIENT_SECRET"];

/// Remove [`SECRET_ENV`] from a child's environment.
pub fn scrub_child_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for name in SECRET_ENV {
        cmd.env_remove(name);
    }
    cmd
}

/// Keep secrets out of core dumps and away from debuggers of the same user:
/// `PR_SET_DUMPABLE 0` (no core file, no ptrace attach by non-root, /proc/self
/// files owned by root) and `RLIMIT_CORE 0`. Called first thing in `main`, before
/// any PIN or token exists.
pub fn harden_process() -> std::result::Result<(), String> {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a valid rlimit; prctl takes integer arguments only.
    let (rl, pr) = unsafe {
        (
            libc::setrlimit(libc::RLIMIT_CORE, &no_core),
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0),
        )
    };
    if rl != 0 || pr != 0 {
        return Err(format!(
            "could not disable core dumps: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Whether this process may produce a core dump or be attached to (for tests
/// and `--version`-style diagnostics).
pub fn process_is_dumpable() -> bool {
    // SAFETY: prctl(PR_GET_DUMPABLE) takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardening_makes_the_process_undumpable_with_no_core_limit() {
        harden_process().unwrap();
        assert!(!process_is_dumpable());
        let mut rl = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        // SAFETY: getrlimit writes into a valid rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut rl) }, 0);
        assert_eq!((rl.rlim_cur, rl.rlim_max), (0, 0));
    }

    #[test]
    fn children_do_not_inherit_secrets() {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "printenv GLASSKEY_CLIENT_SECRET || echo none"])
            .env("GLASSKEY_CLIENT_SECRET", "s3cret");
        scrub_child_env(&mut cmd);
        let out = cmd.output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "none");
    }
}
