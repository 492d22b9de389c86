//! The in-process transport: the virtual key runs in its own thread and
//! reports cross over channels, so keepalives, CANCEL and timeouts behave as
//! on USB. Dropping the transport unplugs the key (its state is already saved
//! after every change; the thread ends and is joined).
//!
//! The key hands over each answer as one batch of reports (one wake-up of the
//! host per message, not per 64-byte report); the host still reads them one
//! report at a time, in order.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::ctaphid::{Device, Link};
use crate::hid::transport::{Report, Transport, TransportError};

pub struct InProcessTransport {
    to_device: Option<Sender<Report>>,
    from_device: Receiver<Vec<Report>>,
    /// Reports of a batch already received but not yet read.
    unread: VecDeque<Report>,
    thread: Option<JoinHandle<()>>,
    name: String,
    /// The key's state file: once it is gone from its place (`keys virtual-unplug` moved
    /// it), the key is unplugged and every exchange fails as a yanked USB key's does.
    plugged_at: Option<std::path::PathBuf>,
}

impl InProcessTransport {
    /// Plug `device` in: start its thread.
    pub fn spawn(mut device: Device, name: String) -> InProcessTransport {
        let (to_device, device_rx) = mpsc::channel::<Report>();
        let (device_tx, from_device) = mpsc::channel::<Vec<Report>>();
        let thread = std::thread::spawn(move || {
            let mut link = Link {
                rx: device_rx,
                tx: Box::new(move |reports: &[Report]| device_tx.send(reports.to_vec()).is_ok()),
            };
            device.run(&mut link);
        });
        InProcessTransport {
            to_device: Some(to_device),
            from_device,
            unread: VecDeque::new(),
            thread: Some(thread),
            name,
            plugged_at: None,
        }
    }

    /// Watch the key's state file: removing it from `path` unplugs the key under an open
    /// device, as pulling a real key out of its port does.
    pub fn unplugged_when_moved(mut self, path: std::path::PathBuf) -> InProcessTransport {
        self.plugged_at = Some(path);
        self
    }

    /// Gone: the state file left its place. The link to the device thread is dropped.
    fn pulled_out(&mut self) -> bool {
        if self.plugged_at.as_ref().is_some_and(|p| !p.exists()) {
            self.to_device = None;
            return true;
        }
        false
    }
}

impl Transport for InProcessTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        if self.pulled_out() {
            return Err(TransportError::Disconnected(self.name.clone()));
        }
        self.to_device
            .as_ref()
            .and_then(|tx| tx.send(*report).ok())
            .ok_or_else(|| TransportError::Disconnected(self.name.clone()))
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        if let Some(r) = self.unread.pop_front() {
            return Ok(Some(r));
        }
        // A watched key is looked at every 100 ms, so a pull during a long wait (a touch)
        // is seen as soon as a real key's would be.
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.pulled_out() {
                return Err(TransportError::Disconnected(self.name.clone()));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let slice = if self.plugged_at.is_some() {
                left.min(Duration::from_millis(100))
            } else {
                left
            };
            match self.from_device.recv_timeout(slice) {
                Ok(batch) => {
                    self.unread.extend(batch);
                    return Ok(self.unread.pop_front());
                }
                Err(RecvTimeoutError::Timeout) if left > slice => continue,
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(TransportError::Disconnected(self.name.clone()))
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl Drop for InProcessTransport {
    fn drop(&mut self) {
        self.to_device = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
