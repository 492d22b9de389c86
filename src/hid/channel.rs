//! A CTAPHID channel (CTAP 2.1 §11.2): INIT with a nonce check, then whole
//! messages sent fragmented and received reassembled, with keepalives surfaced,
//! busy retries, cancellation and a timeout on every read.

use std::fmt;
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use super::packet::{
    capability, error_code, fragment, keepalive, Command, Packet, BROADCAST_CID, CONT_DATA_LEN,
    MAX_MESSAGE_LEN,
};
use super::transport::{Transport, TransportError};

/// How long we wait for the next report while a request is in flight. Keys that
/// wait for touch send KEEPALIVE every ~100 ms, so silence this long means trouble.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A command that needs no touch (getInfo, clientPin, credentialManagement,
/// authenticatorConfig) is answered within this, keepalives or not: a key that
/// keeps saying PROCESSING longer is stuck, not working.
pub const NO_TOUCH_DEADLINE: Duration = Duration::from_secs(15);
/// How long keys wait for a touch before they answer USER_ACTION_TIMEOUT: CTAP
/// leaves it to the key; YubiKey, Feitian, Solo/Nitrokey (trussed) and OpenSK use 30 s.
pub const KEY_TOUCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Time past the key's own touch timeout for its answer to arrive.
pub const TOUCH_MARGIN: Duration = Duration::from_secs(15);

/// The longest a request may take, keepalives or not, by whether it waits for a touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub no_touch: Duration,
    pub touch: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            no_touch: NO_TOUCH_DEADLINE,
            touch: KEY_TOUCH_TIMEOUT + TOUCH_MARGIN,
        }
    }
}
/// INIT is answered at once by any working key.
const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Reads are cut into slices this long so cancellation is noticed promptly.
const POLL_SLICE: Duration = Duration::from_millis(50);
/// After CANCEL, how long we wait for the key's final answer.
const CANCEL_GRACE: Duration = Duration::from_secs(2);
/// CHANNEL_BUSY is retried this long, in steps of BUSY_BACKOFF.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(5);
const BUSY_BACKOFF: Duration = Duration::from_millis(100);

/// Why a CTAPHID exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HidError {
    Transport(TransportError),
    /// The key went silent for longer than the read timeout.
    Timeout {
        waiting_for: &'static str,
    },
    /// The key kept sending keepalives past the request's deadline (then got CANCEL).
    Deadline {
        after: Duration,
        touch: bool,
    },
    /// The key answered CTAPHID_ERROR with this code.
    Device(u8),
    /// The key stayed busy with another program.
    Busy,
    /// The key sent reports that break the CTAPHID rules.
    Malformed(String),
    /// The operator cancelled (Ctrl-C) and the key acknowledged or went quiet.
    Cancelled,
    /// A request larger than the key (or CTAPHID) accepts.
    TooLarge {
        len: usize,
        max: usize,
    },
}

impl fmt::Display for HidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HidError::Transport(e) => write!(f, "{e}"),
            HidError::Timeout { waiting_for } => {
                write!(
                    f,
                    "the key did not answer in time (waiting for {waiting_for})"
                )
            }
            HidError::Deadline {
                after,
                touch: false,
            } => write!(
                f,
                "the key kept working on a request that needs no touch for {} s without answering",
                after.as_secs()
            ),
            HidError::Deadline { after, touch: true } => write!(
                f,
                "the key did not finish within {} s of asking for a touch",
                after.as_secs()
            ),
            HidError::Device(code) => write!(
                f,
                "the key reported CTAPHID error 0x{code:02x} ({})",
                hid_error_name(*code)
            ),
            HidError::Busy => f.write_str("the key stayed busy with another program"),
            HidError::Malformed(why) => write!(f, "the key broke the CTAPHID protocol: {why}"),
            HidError::Cancelled => f.write_str("the operation was cancelled"),
            HidError::TooLarge { len, max } => write!(
                f,
                "the request is {len} bytes, more than the key accepts ({max} bytes)"
            ),
        }
    }
}

impl std::error::Error for HidError {}

impl From<TransportError> for HidError {
    fn from(e: TransportError) -> Self {
        HidError::Transport(e)
    }
}

/// Name of a CTAPHID_ERROR code, for messages.
pub fn hid_error_name(code: u8) -> &'static str {
    match code {
        error_code::BUSY_USBD_CTAPHID | error_code::CHANNEL_BUSY => "CHANNEL_BUSY",
        error_code::INVALID_CMD => "INVALID_CMD",
        error_code::INVALID_PAR => "INVALID_PAR",
        error_code::INVALID_LEN => "INVALID_LEN",
        error_code::INVALID_SEQ => "INVALID_SEQ",
        error_code::MSG_TIMEOUT => "MSG_TIMEOUT",
        error_code::LOCK_REQUIRED => "LOCK_REQUIRED",
        error_code::INVALID_CHANNEL => "INVALID_CHANNEL",
        _ => "OTHER",
    }
}

impl From<HidError> for crate::Error {
    fn from(e: HidError) -> Self {
        let next = match &e {
            HidError::Transport(t) => return t.clone().into(),
            HidError::Timeout { .. } => "re-plug the key and run the command again",
            HidError::Deadline { touch: true, .. } => {
                "touch the key when `touch the key now` appears; if it never finishes, re-plug it and run the command again"
            }
            HidError::Deadline { touch: false, .. } => {
                "re-plug the key and run the command again; if it persists the key's firmware is stuck — try another key"
            }
            HidError::Busy => {
                "close browsers and other FIDO tools that may hold the key, then run the command again"
            }
            HidError::Device(_) | HidError::Malformed(_) => {
                "re-plug the key and retry; if it persists the key or its firmware is faulty — try another key"
            }
            HidError::Cancelled => "run the command again when ready",
            HidError::TooLarge { .. } => {
                "use shorter names or fewer excluded credentials; this key has a small message buffer"
            }
        };
        crate::Error::device(e.to_string(), next)
    }
}

/// What a KEEPALIVE said the key is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveStatus {
    Processing,
    /// The key waits for the operator to touch it.
    UpNeeded,
}

/// What INIT told us about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitInfo {
    pub cid: u32,
    pub protocol_version: u8,
    pub device_version: (u8, u8, u8),
    pub capabilities: u8,
}

impl InitInfo {
    pub fn supports_cbor(&self) -> bool {
        self.capabilities & capability::CBOR != 0
    }
    pub fn supports_wink(&self) -> bool {
        self.capabilities & capability::WINK != 0
    }
    /// NMSG set: the key does not speak CTAP1/U2F messages.
    pub fn supports_msg(&self) -> bool {
        self.capabilities & capability::NMSG == 0
    }
}

/// One allocated CTAPHID channel to one key.
pub struct Channel {
    transport: Box<dyn Transport>,
    info: InitInfo,
    idle_timeout: Duration,
    max_request: usize,
    cancel: CancelToken,
    deadlines: Deadlines,
}

impl Channel {
    /// Allocate a channel with a fresh random nonce.
    pub fn open(transport: Box<dyn Transport>) -> Result<Channel, HidError> {
        let mut nonce = [0u8; 8];
        rand::fill(&mut nonce);
        Self::open_with_nonce(transport, nonce)
    }

    /// Allocate a channel: INIT on the broadcast channel with `nonce`; answers
    /// whose nonce differs (meant for another program) are ignored.
    pub fn open_with_nonce(
        mut transport: Box<dyn Transport>,
        nonce: [u8; 8],
    ) -> Result<Channel, HidError> {
        let deadline = Instant::now() + INIT_TIMEOUT;
        for report in fragment(BROADCAST_CID, Command::Init as u8, &nonce).unwrap_or_default() {
            transport.write_report(&report)?;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HidError::Timeout {
                    waiting_for: "the answer to CTAPHID_INIT",
                });
            }
            let Some(report) = transport.read_report(left)? else {
                continue;
            };
            let Packet::Init {
                cid,
                cmd,
                bcnt,
                data,
            } = Packet::parse(&report)
            else {
                continue;
            };
            if cid != BROADCAST_CID {
                continue;
            }
            if cmd == Command::Error as u8 {
                let code = data.first().copied().unwrap_or(error_code::OTHER);
                if is_busy(code) {
                    std::thread::sleep(BUSY_BACKOFF);
                    for r in
                        fragment(BROADCAST_CID, Command::Init as u8, &nonce).unwrap_or_default()
                    {
                        transport.write_report(&r)?;
                    }
                    continue;
                }
                return Err(HidError::Device(code));
            }
            if cmd != Command::Init as u8 || bcnt < 17 || data.len() < 17 || data[..8] != nonce {
                continue;
            }
            let new_cid = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
            if new_cid == BROADCAST_CID || new_cid == 0 {
                return Err(HidError::Malformed(format!(
                    "INIT allocated the reserved channel id {new_cid:08x}"
                )));
            }
            let info = InitInfo {
                cid: new_cid,
                protocol_version: data[12],
                device_version: (data[13], data[14], data[15]),
                capabilities: data[16],
            };
            return Ok(Channel {
                transport,
                info,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_request: MAX_MESSAGE_LEN,
                cancel: CancelToken::new(),
                deadlines: Deadlines::default(),
            });
        }
    }

    pub fn info(&self) -> &InitInfo {
        &self.info
    }

    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    /// The token polled while waiting; raise it to send CANCEL.
    pub fn set_cancel_token(&mut self, token: CancelToken) {
        self.cancel = token;
    }

    /// How long one silence may last before the request fails.
    pub fn set_idle_timeout(&mut self, timeout: Duration) {
        self.idle_timeout = timeout;
    }

    /// How long requests may take (tests shorten them).
    pub fn set_deadlines(&mut self, deadlines: Deadlines) {
        self.deadlines = deadlines;
    }

    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// Limit requests to the key's maxMsgSize (from getInfo).
    pub fn set_max_request(&mut self, max: usize) {
        self.max_request = max.clamp(64, MAX_MESSAGE_LEN);
    }

    /// PING: the key echoes `data`.
    pub fn ping(&mut self, data: &[u8]) -> Result<Vec<u8>, HidError> {
        let echo = self.call(Command::Ping, data, &mut |_| {})?;
        if echo != data {
            return Err(HidError::Malformed("PING echoed different bytes".into()));
        }
        Ok(echo)
    }

    /// WINK: the key blinks so the operator can tell which one it is.
    pub fn wink(&mut self) -> Result<(), HidError> {
        self.call(Command::Wink, &[], &mut |_| {}).map(|_| ())
    }

    /// CBOR: one CTAP2 request (command byte + parameters); returns status byte + response.
    /// The request may wait for a touch; see [`Channel::cbor_within`].
    pub fn cbor(
        &mut self,
        request: &[u8],
        on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, HidError> {
        self.cbor_within(request, true, on_keepalive)
    }

    /// CBOR with the deadline for a request that does (`touch`) or does not wait
    /// for a touch. Past it the key gets CANCEL and the request fails with
    /// [`HidError::Deadline`], however many keepalives it sent.
    pub fn cbor_within(
        &mut self,
        request: &[u8],
        touch: bool,
        on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, HidError> {
        self.exchange(Command::Cbor, request, touch, on_keepalive)
    }

    /// Send one message and return the reassembled answer of the same command,
    /// retrying while the key reports CHANNEL_BUSY.
    /// No CTAPHID command but CBOR ones wait for a touch.
    pub fn call(
        &mut self,
        cmd: Command,
        payload: &[u8],
        on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, HidError> {
        self.exchange(cmd, payload, false, on_keepalive)
    }

    fn exchange(
        &mut self,
        cmd: Command,
        payload: &[u8],
        touch: bool,
        on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, HidError> {
        let deadline = if touch {
            self.deadlines.touch
        } else {
            self.deadlines.no_touch
        };
        if payload.len() > self.max_request {
            return Err(HidError::TooLarge {
                len: payload.len(),
                max: self.max_request,
            });
        }
        let reports =
            fragment(self.info.cid, cmd as u8, payload).map_err(|len| HidError::TooLarge {
                len,
                max: MAX_MESSAGE_LEN,
            })?;
        let busy_until = Instant::now() + BUSY_RETRY_FOR;
        loop {
            for report in &reports {
                self.transport.write_report(report)?;
            }
            match self.receive(cmd, deadline, touch, on_keepalive) {
                Err(HidError::Device(code)) if is_busy(code) => {
                    if Instant::now() >= busy_until {
                        return Err(HidError::Busy);
                    }
                    std::thread::sleep(BUSY_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// Read reports until a whole answer to `cmd` on our channel arrived.
    fn receive(
        &mut self,
        cmd: Command,
        deadline: Duration,
        touch: bool,
        on_keepalive: &mut dyn FnMut(KeepaliveStatus),
    ) -> Result<Vec<u8>, HidError> {
        let _waiting = self.cancel.waiting();
        let started = Instant::now();
        let mut cancel_sent: Option<Instant> = None;
        let mut last_heard = Instant::now();
        loop {
            if cancel_sent.is_none() && self.cancel.is_cancelled() {
                self.send_cancel()?;
                cancel_sent = Some(Instant::now());
            }
            if let Some(at) = cancel_sent {
                if at.elapsed() > CANCEL_GRACE {
                    return Err(HidError::Cancelled);
                }
            }
            if last_heard.elapsed() > self.idle_timeout {
                return Err(HidError::Timeout {
                    waiting_for: "the key's answer",
                });
            }
            if cancel_sent.is_none() && started.elapsed() > deadline {
                // Stop the key working (or blinking) on a request nobody waits for any more.
                let _ = self.send_cancel();
                return Err(HidError::Deadline {
                    after: deadline,
                    touch,
                });
            }
            let Some(report) = self.transport.read_report(POLL_SLICE)? else {
                continue;
            };
            let (rcmd, bcnt, data) = match Packet::parse(&report) {
                Packet::Init {
                    cid,
                    cmd,
                    bcnt,
                    data,
                } if cid == self.info.cid => (cmd, bcnt, data),
                // Answers for other programs' channels, and stray continuations, are not ours.
                _ => continue,
            };
            last_heard = Instant::now();
            if rcmd == Command::Keepalive as u8 {
                match data.first().copied() {
                    Some(keepalive::UP_NEEDED) => on_keepalive(KeepaliveStatus::UpNeeded),
                    _ => on_keepalive(KeepaliveStatus::Processing),
                }
                continue;
            }
            if rcmd == Command::Error as u8 {
                return Err(HidError::Device(
                    data.first().copied().unwrap_or(error_code::OTHER),
                ));
            }
            if rcmd != cmd as u8 {
                return Err(HidError::Malformed(format!(
                    "answered command 0x{rcmd:02x} to a request of 0x{:02x}",
                    cmd as u8
                )));
            }
            return self.reassemble(bcnt, data);
        }
    }

    fn reassemble(&mut self, bcnt: usize, first: &[u8]) -> Result<Vec<u8>, HidError> {
        if bcnt > MAX_MESSAGE_LEN {
            return Err(HidError::Malformed(format!(
                "announced a {bcnt}-byte message, more than CTAPHID can carry"
            )));
        }
        let mut message = Vec::with_capacity(bcnt);
        message.extend_from_slice(&first[..bcnt.min(first.len())]);
        let mut expected_seq = 0u8;
        let mut deadline = Instant::now() + self.idle_timeout;
        while message.len() < bcnt {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HidError::Timeout {
                    waiting_for: "the rest of a message",
                });
            }
            let Some(report) = self.transport.read_report(left)? else {
                continue;
            };
            match Packet::parse(&report) {
                Packet::Cont { cid, seq, data } if cid == self.info.cid => {
                    if seq != expected_seq {
                        return Err(HidError::Malformed(format!(
                            "continuation packet {seq} arrived where {expected_seq} was due"
                        )));
                    }
                    expected_seq += 1;
                    deadline = Instant::now() + self.idle_timeout;
                    let take = (bcnt - message.len()).min(CONT_DATA_LEN);
                    message.extend_from_slice(&data[..take]);
                }
                Packet::Init { cid, .. } if cid == self.info.cid => {
                    return Err(HidError::Malformed(
                        "a new message started before the previous one ended".into(),
                    ));
                }
                _ => continue,
            }
        }
        Ok(message)
    }

    fn send_cancel(&mut self) -> Result<(), HidError> {
        for report in fragment(self.info.cid, Command::Cancel as u8, &[]).unwrap_or_default() {
            self.transport.write_report(&report)?;
        }
        Ok(())
    }
}

/// usbd-ctaphid (Nitrokey 3, Solo 2, trussed) sends ERROR 0x00 where CHANNEL_BUSY is meant.
fn is_busy(code: u8) -> bool {
    code == error_code::CHANNEL_BUSY || code == error_code::BUSY_USBD_CTAPHID
}
