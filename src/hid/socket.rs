//! Sockets carrying bare 64-byte CTAPHID reports (no report id, no framing):
//! the format of the test peers and of `--device unix:PATH|tcp:127.0.0.1:PORT`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::transport::{Report, Transport, TransportError, REPORT_LEN};

/// Where a socket authenticator listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddress {
    Unix(PathBuf),
    /// Loopback only: reports carry PIN material.
    Tcp(SocketAddr),
}

impl SocketAddress {
    /// `unix:PATH` or `tcp:127.0.0.1:PORT`; `None` when `text` is neither form.
    pub fn parse(text: &str) -> Result<Option<SocketAddress>, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(Some(SocketAddress::Unix(PathBuf::from(path))));
        }
        if let Some(addr) = text.strip_prefix("tcp:") {
            let addr: SocketAddr = addr
                .parse()
                .map_err(|_| format!("{addr} is not HOST:PORT with a numeric loopback address"))?;
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "{addr} is not a loopback address; CTAPHID reports carry PIN material"
                ));
            }
            return Ok(Some(SocketAddress::Tcp(addr)));
        }
        Ok(None)
    }
}

impl std::fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketAddress::Unix(p) => write!(f, "unix:{}", p.display()),
            SocketAddress::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

pub struct SocketTransport {
    stream: Stream,
    address: SocketAddress,
    /// Bytes of a report that arrived before a read timed out.
    partial: Vec<u8>,
}

impl SocketTransport {
    pub fn connect(address: &SocketAddress) -> Result<SocketTransport, TransportError> {
        let io = |e: std::io::Error| match e.kind() {
            ErrorKind::PermissionDenied => TransportError::PermissionDenied(address.to_string()),
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                TransportError::NotFound(address.to_string())
            }
            _ => TransportError::Io(format!("{address}: {e}")),
        };
        let stream = match address {
            SocketAddress::Unix(p) => Stream::Unix(UnixStream::connect(p).map_err(io)?),
            SocketAddress::Tcp(a) => {
                let s = TcpStream::connect_timeout(a, Duration::from_secs(3)).map_err(io)?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        Ok(SocketTransport {
            stream,
            address: address.clone(),
            partial: Vec::with_capacity(REPORT_LEN),
        })
    }

    fn set_timeout(&self, t: Duration) -> std::io::Result<()> {
        let t = Some(t.max(Duration::from_millis(1)));
        match &self.stream {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }

    fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.stream {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Transport for SocketTransport {
    fn write_report(&mut self, report: &Report) -> Result<(), TransportError> {
        let r = match &mut self.stream {
            Stream::Unix(s) => s.write_all(report),
            Stream::Tcp(s) => s.write_all(report),
        };
        r.map_err(|e| match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => {
                TransportError::Disconnected(self.address.to_string())
            }
            _ => TransportError::Io(format!("{}: {e}", self.address)),
        })
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<Report>, TransportError> {
        let deadline = Instant::now() + timeout;
        while self.partial.len() < REPORT_LEN {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.set_timeout(left)
                .map_err(|e| TransportError::Io(e.to_string()))?;
            let mut buf = [0u8; REPORT_LEN];
            let want = REPORT_LEN - self.partial.len();
            match self.read_some(&mut buf[..want]) {
                Ok(0) => return Err(TransportError::Disconnected(self.address.to_string())),
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(TransportError::Io(format!("{}: {e}", self.address))),
            }
        }
        let mut report = [0u8; REPORT_LEN];
        report.copy_from_slice(&self.partial);
        self.partial.clear();
        Ok(Some(report))
    }

    fn describe(&self) -> String {
        self.address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_remote_tcp_is_refused() {
        assert_eq!(
            SocketAddress::parse("unix:/tmp/k.sock").unwrap(),
            Some(SocketAddress::Unix("/tmp/k.sock".into()))
        );
        assert!(matches!(
            SocketAddress::parse("tcp:127.0.0.1:9000").unwrap(),
            Some(SocketAddress::Tcp(_))
        ));
        assert!(SocketAddress::parse("tcp:10.0.0.1:9000").is_err());
        assert!(SocketAddress::parse("tcp:localhost").is_err());
        assert!(SocketAddress::parse("unix:").is_err());
        assert_eq!(SocketAddress::parse("/dev/hidraw0").unwrap(), None);
    }

    #[test]
    fn a_report_split_across_reads_is_reassembled() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut t = SocketTransport {
            stream: Stream::Unix(a),
            address: SocketAddress::Unix("pair".into()),
            partial: Vec::new(),
        };
        b.write_all(&[7u8; 10]).unwrap();
        assert_eq!(t.read_report(Duration::from_millis(20)).unwrap(), None);
        b.write_all(&[7u8; 54]).unwrap();
        assert_eq!(
            t.read_report(Duration::from_millis(200)).unwrap(),
            Some([7u8; 64])
        );
        drop(b);
        assert!(matches!(
            t.read_report(Duration::from_millis(200)),
            Err(TransportError::Disconnected(_))
        ));
    }
}
