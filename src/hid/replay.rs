//! A transport that plays back captured input reports and records what the host
//! wrote: lets the channel and CTAP layers be tested on real wire captures.

use std::collections::VecDeque;
use std::time::Duration;

use super::transport::{Report, Transport, TransportError, REPORT_LEN};

pub struct ReplayTransport {
    to_host: VecDeque<Report>,
    /// Every report the host wrote, in order.
    pub written: Vec<Report>,
}

impl ReplayTransport {
    pub fn new(reports: impl IntoIterator<Item = Report>) -> Self {
        ReplayTransport {
            to_host: reports.into_iter().collect(),
            written: Vec::new(),
        }
    }

    /// Parse the `tests/vectors/wiredata/*.hex` format: `#` comment lines, then one
    /// 64-byte report per line in hex.
    pub fn parse_hex_reports(text: &str) -> Result<Vec<Report>, String> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = hex_decode(line).ok_or_else(|| format!("line {}: not hex", n + 1))?;
            let report: Report = bytes
                .try_into()
                .map_err(|_| format!("line {}: not {REPORT_LEN} bytes", n + 1))?;
            out.push(report);
        }
        Ok(out)
    }

    pub fn push(&mut self, report: Report) {
        self.to_host.push_back(report);
    }
}

/// Decode lower- or upper-case hex; `None` on odd length or a non-hex digit.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Transport for ReplayTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        self.written.push(*report);
        Ok(())
    }
    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let next = self.to_host.pop_front();
        if next.is_none() {
            // Behave like a silent device: callers polling in a loop must not spin.
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
        }
        Ok(next)
    }
    fn describe(&self) -> String {
        "replayed capture".into()
    }
}
