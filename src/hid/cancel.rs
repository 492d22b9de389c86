//! Cancellation the CTAPHID channel polls while it waits for a key.
//!
//! A key waiting for touch can hold a request for 30 seconds. When the operator
//! presses Ctrl-C we must tell the key (CTAPHID_CANCEL) rather than just exit,
//! or it keeps blinking and the next command finds it busy. So Ctrl-C only sets
//! a flag; the channel, which polls the flag between reads, sends CANCEL.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Set by the SIGINT handler; read by every token made with [`CancelToken::ctrl_c`].
static CTRL_C: AtomicBool = AtomicBool::new(false);
/// How many requests are waiting on a key with a Ctrl-C token. When none is,
/// Ctrl-C ends the process as usual (e.g. at a PIN prompt).
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// A flag a caller raises to abandon the request in flight.
#[derive(Clone, Debug)]
pub struct CancelToken(Inner);

#[derive(Clone, Debug)]
enum Inner {
    Owned(Arc<AtomicBool>),
    CtrlC,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    /// A token only its holders can raise (tests, other threads).
    pub fn new() -> Self {
        CancelToken(Inner::Owned(Arc::new(AtomicBool::new(false))))
    }

    /// A token raised by Ctrl-C. Installs the SIGINT handler on first use.
    pub fn ctrl_c() -> Self {
        install_sigint_handler();
        CancelToken(Inner::CtrlC)
    }

    pub fn cancel(&self) {
        self.flag().store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag().load(Ordering::SeqCst)
    }

    /// Mark a request as waiting on the key until the guard drops: while one
    /// waits, Ctrl-C cancels it instead of ending the process.
    pub fn waiting(&self) -> WaitGuard {
        let counted = matches!(self.0, Inner::CtrlC);
        if counted {
            WAITING.fetch_add(1, Ordering::SeqCst);
        }
        WaitGuard { counted }
    }

    fn flag(&self) -> &AtomicBool {
        match &self.0 {
            Inner::Owned(f) => f,
            Inner::CtrlC => &CTRL_C,
        }
    }
}

/// Did the operator press Ctrl-C while a request waited on a key? The command
/// then finished its cleanup (CANCEL sent, ledger written) and exits 130, the
/// status of a process ended by SIGINT, not the device-failure status.
pub fn ctrl_c_pressed() -> bool {
    CTRL_C.load(Ordering::SeqCst)
}

/// Held while a request waits on a key; see [`CancelToken::waiting`].
pub struct WaitGuard {
    counted: bool,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if self.counted {
            WAITING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Nothing waiting on a key: behave like the default handler. A second Ctrl-C
    // while the first is still being handled also ends the process: an operator
    // pressing it twice wants out, even if the key does not answer.
    if WAITING.load(Ordering::SeqCst) == 0 || CTRL_C.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

fn install_sigint_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: the handler only touches an atomic and calls _exit, both
        // async-signal-safe; sigaction is given a zeroed, then filled, struct.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_tokens_are_shared_between_clones_only() {
        let a = CancelToken::new();
        let b = a.clone();
        let c = CancelToken::new();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
        assert!(!c.is_cancelled());
    }
}
