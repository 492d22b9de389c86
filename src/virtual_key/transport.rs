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
        }
    }
}

impl Transport for InProcessTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        self.to_device
            .as_ref()
            .and_then(|tx| tx.send(*report).ok())
            .ok_or_else(|| TransportError::Disconnected(self.name.clone()))
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        if let Some(r) = self.unread.pop_front() {
            return Ok(Some(r));
        }
        match self.from_device.recv_timeout(timeout) {
            Ok(batch) => {
                self.unread.extend(batch);
                Ok(self.unread.pop_front())
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err(TransportError::Disconnected(self.name.clone()))
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
