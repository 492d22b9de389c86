//! The wait display: while a key waits for a touch or Microsoft Graph for an answer, a
//! terminal shows a spinner with what is expected and the seconds waited; a pipe or a file
//! gets the same words once, as a plain line.
//!
//! A thread of our own rather than indicatif: one line, redrawn ten times a second, is all
//! glasskey shows, and the binary that meets real keys stays free of a terminal toolkit
//! (docs/decisions.md, "The lean production binary").

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ceremony::operator::{set_spinner_active, Waiting};

const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
const TICK: Duration = Duration::from_millis(100);

/// Show `what` until the returned guard is dropped: a spinner on a terminal, else a line.
pub fn start(what: &str) -> Waiting {
    if !std::io::stderr().is_terminal() {
        eprintln!("{what}");
        return Waiting::shown();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let what = what.to_string();
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || draw(&what, &stop))
    };
    set_spinner_active(true);
    Waiting::ended_by(move || {
        stop.store(true, Ordering::SeqCst);
        let _ = thread.join();
        set_spinner_active(false);
    })
}

/// Redraw until told to stop; then leave the plain line behind for the scrollback.
fn draw(what: &str, stop: &AtomicBool) {
    let started = Instant::now();
    let mut err = std::io::stderr();
    let mut frame = 0;
    while !stop.load(Ordering::SeqCst) {
        // \r and "erase line": the next frame overwrites this one in place.
        let _ = write!(
            err,
            "\r\x1b[2K{} {what} ({} s)",
            FRAMES[frame % FRAMES.len()],
            started.elapsed().as_secs()
        );
        let _ = err.flush();
        frame += 1;
        std::thread::sleep(TICK);
    }
    let _ = writeln!(err, "\r\x1b[2K{what}");
}
