//! The device side of CTAPHID (CTAP 2.1 §11.2): channel allocation, message
//! reassembly with sequence, length and timeout checks, PING/WINK/CBOR, and
//! KEEPALIVE/CANCEL while the simulated user is asked for a touch. Responses
//! go only to the requesting channel; a second channel gets CHANNEL_BUSY.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::authenticator::{Authenticator, UserPresence};
use super::state::PresenceMode;
use crate::ctap::Status;
use crate::hid::packet::{
    capability, error_code, fragment, keepalive, Command, Packet, BROADCAST_CID, MAX_MESSAGE_LEN,
};
use crate::hid::transport::{Report, REPORT_LEN};

/// A multi-packet request that stalls longer than this is dropped with MSG_TIMEOUT.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_millis(500);
/// KEEPALIVE cadence while waiting for a touch.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(100);
const INIT_NONCE_LEN: usize = 8;

/// The two directions of one connection: reports from the host arrive on `rx`;
/// `tx` sends the reports of one message to the host, in order, and returns
/// false once the host is gone. Handing over a whole message at once wakes the
/// host once per message instead of once per 64-byte report.
pub struct Link {
    pub rx: Receiver<Report>,
    pub tx: SendMessage,
}

/// Sends the reports of one message to the host; false once the host is gone.
pub type SendMessage = Box<dyn FnMut(&[Report]) -> bool + Send>;

impl Link {
    fn send_message(&mut self, cid: u32, cmd: Command, payload: &[u8]) {
        match fragment(cid, cmd as u8, payload) {
            Ok(reports) => {
                (self.tx)(&reports);
            }
            // Responses are built by this module and always fit; fail loudly to the host.
            Err(_) => self.send_error(cid, error_code::OTHER),
        }
    }

    fn send_error(&mut self, cid: u32, code: u8) {
        let mut r = [0u8; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = Command::Error as u8 | 0x80;
        r[6] = 1;
        r[7] = code;
        (self.tx)(&[r]);
    }
}

struct Assembly {
    cid: u32,
    cmd: u8,
    len: usize,
    data: Vec<u8>,
    next_seq: u8,
    started: Instant,
}

/// One virtual key behind a CTAPHID interface. Survives host connections
/// (the authenticator's power-up time and channels stay).
pub struct Device {
    pub auth: Authenticator,
    pub presence: PresenceMode,
    next_cid: u32,
    assembly: Option<Assembly>,
}

impl Device {
    pub fn new(auth: Authenticator, presence: PresenceMode) -> Device {
        Device {
            auth,
            presence,
            next_cid: 1,
            assembly: None,
        }
    }

    /// Serve one connection until the host goes away.
    pub fn run(&mut self, link: &mut Link) {
        self.assembly = None;
        loop {
            let received = match &self.assembly {
                Some(a) => {
                    let left = MESSAGE_TIMEOUT.saturating_sub(a.started.elapsed());
                    link.rx.recv_timeout(left)
                }
                None => link.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(report) => {
                    if !self.on_report(&report, link) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(a) = self.assembly.take() {
                        link.send_error(a.cid, error_code::MSG_TIMEOUT);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn channel_known(&self, cid: u32) -> bool {
        cid != 0 && cid != BROADCAST_CID && cid < self.next_cid
    }

    /// Handle one report; false when the host went away mid-command.
    fn on_report(&mut self, report: &Report, link: &mut Link) -> bool {
        match Packet::parse(report) {
            Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => {
                if cmd == Command::Init as u8 {
                    if self.assembly.as_ref().is_some_and(|a| a.cid == cid) {
                        self.assembly = None;
                    }
                    self.init(cid, bcnt, data, link);
                    return true;
                }
                if !self.channel_known(cid) {
                    link.send_error(cid, error_code::INVALID_CHANNEL);
                    return true;
                }
                if let Some(a) = &self.assembly {
                    if a.cid == cid {
                        self.assembly = None;
                        link.send_error(cid, error_code::INVALID_SEQ);
                    } else {
                        link.send_error(cid, error_code::CHANNEL_BUSY);
                    }
                    return true;
                }
                if bcnt > MAX_MESSAGE_LEN {
                    link.send_error(cid, error_code::INVALID_LEN);
                    return true;
                }
                if bcnt <= data.len() {
                    return self.dispatch(cid, cmd, &data[..bcnt], link);
                }
                let mut buf = Vec::with_capacity(bcnt);
                buf.extend_from_slice(data);
                self.assembly = Some(Assembly {
                    cid,
                    cmd,
                    len: bcnt,
                    data: buf,
                    next_seq: 0,
                    started: Instant::now(),
                });
                true
            }
            Packet::Cont { cid, seq, data } => {
                let Some(a) = self.assembly.as_mut() else {
                    return true; // stray continuation: ignored, as the spec says
                };
                if a.cid != cid {
                    return true;
                }
                if seq != a.next_seq {
                    self.assembly = None;
                    link.send_error(cid, error_code::INVALID_SEQ);
                    return true;
                }
                a.next_seq += 1;
                let take = (a.len - a.data.len()).min(data.len());
                a.data.extend_from_slice(&data[..take]);
                if a.data.len() < a.len {
                    return true;
                }
                let Some(done) = self.assembly.take() else {
                    return true;
                };
                self.dispatch(done.cid, done.cmd, &done.data, link)
            }
        }
    }

    fn init(&mut self, cid: u32, bcnt: usize, data: &[u8], link: &mut Link) {
        if bcnt != INIT_NONCE_LEN {
            link.send_error(cid, error_code::INVALID_LEN);
            return;
        }
        let new_cid = if cid == BROADCAST_CID {
            let c = self.next_cid;
            self.next_cid = self.next_cid.wrapping_add(1).max(1);
            if self.next_cid == BROADCAST_CID {
                self.next_cid = 1;
            }
            c
        } else if self.channel_known(cid) {
            cid
        } else {
            link.send_error(cid, error_code::INVALID_CHANNEL);
            return;
        };
        let mut payload = data[..INIT_NONCE_LEN].to_vec();
        payload.extend_from_slice(&new_cid.to_be_bytes());
        payload.extend_from_slice(&[2, 1, 0, 0]);
        payload.push(capability::WINK | capability::CBOR | capability::NMSG);
        link.send_message(cid, Command::Init, &payload);
    }

    fn dispatch(&mut self, cid: u32, cmd: u8, payload: &[u8], link: &mut Link) -> bool {
        match Command::from_byte(cmd) {
            Some(Command::Ping) => link.send_message(cid, Command::Ping, payload),
            Some(Command::Wink) => link.send_message(cid, Command::Wink, &[]),
            Some(Command::Cancel) => {} // nothing in flight: no answer, per spec
            Some(Command::Cbor) if payload.is_empty() => {
                link.send_error(cid, error_code::INVALID_LEN)
            }
            Some(Command::Cbor) => {
                let mut presence = HidPresence {
                    link,
                    cid,
                    mode: self.presence,
                    host_gone: false,
                };
                let response = self.auth.handle(payload, &mut presence);
                if presence.host_gone {
                    return false;
                }
                link.send_message(cid, Command::Cbor, &response);
            }
            _ => link.send_error(cid, error_code::INVALID_CMD),
        }
        true
    }
}

/// Simulated touch over CTAPHID: KEEPALIVE UPNEEDED every 100 ms, CANCEL
/// from the requesting channel aborts, other channels are told CHANNEL_BUSY.
struct HidPresence<'a> {
    link: &'a mut Link,
    cid: u32,
    mode: PresenceMode,
    host_gone: bool,
}

impl UserPresence for HidPresence<'_> {
    fn wait_for_touch(&mut self) -> Result<(), Status> {
        let (wait, outcome) = match self.mode {
            PresenceMode::Approve => return Ok(()),
            PresenceMode::Delay { ms } => (Duration::from_millis(ms), Ok(())),
            PresenceMode::Deny { wait_ms } => (
                Duration::from_millis(wait_ms),
                Err(Status::UserActionTimeout),
            ),
        };
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return outcome;
            }
            let ka = [keepalive::UP_NEEDED];
            self.link.send_message(self.cid, Command::Keepalive, &ka);
            let tick = (now + KEEPALIVE_INTERVAL).min(deadline);
            loop {
                let left = tick.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match self.link.rx.recv_timeout(left) {
                    Ok(report) => {
                        if let Packet::Init { cid, cmd, .. } = Packet::parse(&report) {
                            if cid == self.cid && cmd == Command::Cancel as u8 {
                                return Err(Status::KeepaliveCancel);
                            }
                            if cid != self.cid {
                                self.link.send_error(cid, error_code::CHANNEL_BUSY);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        self.host_gone = true;
                        return Err(Status::KeepaliveCancel);
                    }
                }
            }
        }
    }
}
