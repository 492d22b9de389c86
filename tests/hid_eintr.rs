//! Ctrl-C during a touch wait on the real hidraw read loop: SIGINT interrupts
//! `poll` (EINTR), which is "no report yet", so the channel sends CTAPHID_CANCEL
//! and returns the key's KEEPALIVE_CANCEL answer instead of calling the key
//! disconnected. The hidraw node is stood in for by a SOCK_SEQPACKET socket
//! pair, which keeps report boundaries as hidraw does.
//!
//! Its own test binary: the Ctrl-C flag is process-wide.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use glasskey::hid::packet::{fragment, Command, Packet};
use glasskey::hid::{CancelToken, Channel, HidTransport, Transport, TransportError};

const CID: u32 = 0x0a0b_0c0d;

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: socketpair returned two fresh descriptors we now own.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The key's side: what the host wrote (report id + report), one write per packet.
fn key_read(fd: &OwnedFd) -> Option<[u8; 64]> {
    let mut buf = [0u8; 65];
    // SAFETY: buf is valid for 65 bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n != 65 {
        return None;
    }
    assert_eq!(buf[0], 0, "FIDO reports carry report id 0");
    Some(buf[1..].try_into().unwrap())
}

fn key_send(fd: &OwnedFd, cid: u32, cmd: Command, payload: &[u8]) {
    for r in fragment(cid, cmd as u8, payload).unwrap() {
        // SAFETY: r is valid for 64 bytes.
        let n = unsafe { libc::write(fd.as_raw_fd(), r.as_ptr().cast(), r.len()) };
        assert_eq!(n, 64);
    }
}

#[test]
fn sigint_in_the_hidraw_poll_sends_cancel() {
    let (host, key) = seqpacket_pair();
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let key_thread = std::thread::spawn(move || {
        // INIT on the broadcast channel.
        let init = key_read(&key).expect("INIT");
        let Packet::Init { cid, cmd, data, .. } = Packet::parse(&init) else {
            panic!("expected INIT");
        };
        assert_eq!((cid, cmd), (0xffff_ffff, Command::Init as u8));
        let mut answer = data[..8].to_vec();
        answer.extend(CID.to_be_bytes());
        answer.extend([2, 1, 0, 0, 0x04]);
        key_send(&key, 0xffff_ffff, Command::Init, &answer);
        // makeCredential: ask for a touch once, then wait silently (a real key repeats
        // UPNEEDED; silence keeps the host inside poll, where the signal must land).
        let request = key_read(&key).expect("the CBOR request");
        let Packet::Init { cmd, .. } = Packet::parse(&request) else {
            panic!("expected the CBOR request");
        };
        assert_eq!(cmd, Command::Cbor as u8);
        key_send(&key, CID, Command::Keepalive, &[2]);
        waiting_tx.send(()).unwrap();
        let got = key_read(&key).expect("a report after the request");
        let cancelled = matches!(Packet::parse(&got), Packet::Init { cmd, cid, .. }
            if cmd == Command::Cancel as u8 && cid == CID);
        if cancelled {
            key_send(&key, CID, Command::Cbor, &[0x2d]);
        }
        cancelled
    });

    let (thread_tx, thread_rx) = mpsc::channel();
    let host_thread = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        thread_tx.send(unsafe { libc::pthread_self() }).unwrap();
        let transport = HidTransport::from_fd(host, "/dev/hidraw-standin");
        let mut ch = Channel::open(Box::new(transport)).expect("INIT");
        ch.set_cancel_token(CancelToken::ctrl_c());
        // Silence is expected here: only the signal may end the wait.
        ch.set_idle_timeout(Duration::from_secs(30));
        ch.cbor(&[0x01], &mut |_| {})
    });
    let reader = thread_rx.recv().unwrap();
    waiting_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the key got the request");
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: the reader thread is alive (it waits on the key); SIGINT has glasskey's handler.
    assert_eq!(unsafe { libc::pthread_kill(reader, libc::SIGINT) }, 0);

    let answer = host_thread.join().unwrap();
    assert!(
        key_thread.join().unwrap(),
        "the key received CTAPHID_CANCEL"
    );
    assert_eq!(
        answer,
        Ok(vec![0x2d]),
        "EINTR is not a disconnect: the key's KEEPALIVE_CANCEL comes back"
    );
    assert!(glasskey::hid::cancel::ctrl_c_pressed());
}

#[test]
fn a_vanished_node_is_a_removed_key() {
    let (host, key) = seqpacket_pair();
    let mut t = HidTransport::from_fd(host, "/dev/hidraw-standin");
    drop(key);
    let e = t.read_report(Duration::from_millis(500)).unwrap_err();
    assert_eq!(
        e,
        TransportError::Disconnected("/dev/hidraw-standin".into())
    );
    assert!(e.to_string().contains("removed"), "{e}");
}
