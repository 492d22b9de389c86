//! CTAPHID packets (CTAP 2.1 §11.2.4): the initialization and continuation
//! report layouts, command and error codes. Shared by the host-side channel and
//! the virtual key's device side.

use super::transport::{Report, REPORT_LEN};

/// The broadcast channel, used only for INIT.
pub const BROADCAST_CID: u32 = 0xffff_ffff;
/// Payload bytes in an initialization packet (64 - cid 4 - cmd 1 - bcnt 2).
pub const INIT_DATA_LEN: usize = REPORT_LEN - 7;
/// Payload bytes in a continuation packet (64 - cid 4 - seq 1).
pub const CONT_DATA_LEN: usize = REPORT_LEN - 5;
/// The largest message CTAPHID can carry: one init packet and 128 continuations.
pub const MAX_MESSAGE_LEN: usize = INIT_DATA_LEN + 128 * CONT_DATA_LEN;

/// CTAPHID commands (the TYPE_INIT bit 0x80 is added on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    Ping = 0x01,
    Msg = 0x03,
    Lock = 0x04,
    Init = 0x06,
    Wink = 0x08,
    Cbor = 0x10,
    Cancel = 0x11,
    Keepalive = 0x3b,
    Error = 0x3f,
}

impl Command {
    pub fn from_byte(b: u8) -> Option<Command> {
        Some(match b & 0x7f {
            0x01 => Command::Ping,
            0x03 => Command::Msg,
            0x04 => Command::Lock,
            0x06 => Command::Init,
            0x08 => Command::Wink,
            0x10 => Command::Cbor,
            0x11 => Command::Cancel,
            0x3b => Command::Keepalive,
            0x3f => Command::Error,
            _ => return None,
        })
    }
}

/// CTAPHID_ERROR codes.
pub mod error_code {
    /// Sent by usbd-ctaphid (Nitrokey 3, Solo 2) where CHANNEL_BUSY is meant.
    pub const BUSY_USBD_CTAPHID: u8 = 0x00;
    pub const INVALID_CMD: u8 = 0x01;
    pub const INVALID_PAR: u8 = 0x02;
    pub const INVALID_LEN: u8 = 0x03;
    pub const INVALID_SEQ: u8 = 0x04;
    pub const MSG_TIMEOUT: u8 = 0x05;
    pub const CHANNEL_BUSY: u8 = 0x06;
    pub const LOCK_REQUIRED: u8 = 0x0a;
    pub const INVALID_CHANNEL: u8 = 0x0b;
    pub const OTHER: u8 = 0x7f;
}

/// KEEPALIVE status bytes.
pub mod keepalive {
    pub const PROCESSING: u8 = 1;
    pub const UP_NEEDED: u8 = 2;
}

/// INIT response capability flags.
pub mod capability {
    pub const WINK: u8 = 0x01;
    pub const CBOR: u8 = 0x04;
    pub const NMSG: u8 = 0x08;
}

/// One received report, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// First packet of a message: command (without the 0x80 bit), total length, first bytes.
    Init {
        cid: u32,
        cmd: u8,
        bcnt: usize,
        data: &'a [u8],
    },
    /// A following packet with its sequence number (0..=127).
    Cont { cid: u32, seq: u8, data: &'a [u8] },
}

impl<'a> Packet<'a> {
    pub fn parse(report: &'a Report) -> Packet<'a> {
        let cid = u32::from_be_bytes([report[0], report[1], report[2], report[3]]);
        if report[4] & 0x80 != 0 {
            Packet::Init {
                cid,
                cmd: report[4] & 0x7f,
                bcnt: usize::from(u16::from_be_bytes([report[5], report[6]])),
                data: &report[7..],
            }
        } else {
            Packet::Cont {
                cid,
                seq: report[4],
                data: &report[5..],
            }
        }
    }

    pub fn cid(&self) -> u32 {
        match self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => *cid,
        }
    }
}

/// Split one message into reports. Callers must keep `payload` within
/// [`MAX_MESSAGE_LEN`]; longer payloads are an error, not a truncation.
pub fn fragment(cid: u32, cmd: u8, payload: &[u8]) -> Result<Vec<Report>, usize> {
    if payload.len() > MAX_MESSAGE_LEN {
        return Err(payload.len());
    }
    let mut reports = Vec::with_capacity(1 + payload.len() / CONT_DATA_LEN);
    let mut first = [0u8; REPORT_LEN];
    first[..4].copy_from_slice(&cid.to_be_bytes());
    first[4] = cmd | 0x80;
    first[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    let n = payload.len().min(INIT_DATA_LEN);
    first[7..7 + n].copy_from_slice(&payload[..n]);
    reports.push(first);
    for (seq, chunk) in payload[n..].chunks(CONT_DATA_LEN).enumerate() {
        let mut r = [0u8; REPORT_LEN];
        r[..4].copy_from_slice(&cid.to_be_bytes());
        r[4] = seq as u8;
        r[5..5 + chunk.len()].copy_from_slice(chunk);
        reports.push(r);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_at_the_boundaries() {
        for len in [0, 1, INIT_DATA_LEN, INIT_DATA_LEN + 1, MAX_MESSAGE_LEN] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let reports = fragment(0x0102_0304, Command::Cbor as u8, &payload).unwrap();
            let mut rebuilt = Vec::new();
            for (i, r) in reports.iter().enumerate() {
                match Packet::parse(r) {
                    Packet::Init {
                        cid,
                        cmd,
                        bcnt,
                        data,
                    } => {
                        assert_eq!((i, cid, cmd, bcnt), (0, 0x0102_0304, 0x10, len));
                        rebuilt.extend_from_slice(data);
                    }
                    Packet::Cont { seq, data, .. } => {
                        assert_eq!(usize::from(seq), i - 1);
                        rebuilt.extend_from_slice(data);
                    }
                }
            }
            rebuilt.truncate(len);
            assert_eq!(rebuilt, payload);
        }
        assert!(fragment(1, 0x10, &vec![0; MAX_MESSAGE_LEN + 1]).is_err());
    }
}
