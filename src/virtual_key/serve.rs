//! Serve one virtual key over the test peers' socket format: a Unix or
//! loopback TCP stream of bare 64-byte CTAPHID reports, one client at a time,
//! `READY <address>` on stdout once accepting. The key stays powered between
//! connections (like a key left plugged in while programs come and go).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;

use super::ctaphid::{Device, Link};
use crate::hid::transport::{Report, REPORT_LEN};

/// Where to listen: `unix:PATH` or `tcp:127.0.0.1:PORT` (loopback only; port 0 picks one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

impl std::str::FromStr for ListenAddress {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        let bad = |why: &str| {
            crate::Error::input(
                format!("--listen '{s}': {why}"),
                "use unix:/path/to.sock or tcp:127.0.0.1:PORT",
            )
        };
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(bad("empty socket path"));
            }
            return Ok(ListenAddress::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp:") {
            let addr: std::net::SocketAddr = a.parse().map_err(|_| bad("not an IP:PORT"))?;
            if !addr.ip().is_loopback() {
                return Err(bad("only loopback addresses are served"));
            }
            return Ok(ListenAddress::Tcp(addr));
        }
        Err(bad("unknown scheme"))
    }
}

trait Stream: Read + Write + Send + 'static {
    fn try_clone_box(&self) -> std::io::Result<Box<dyn Stream>>;
}

impl Stream for UnixStream {
    fn try_clone_box(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Stream for TcpStream {
    fn try_clone_box(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> crate::Error {
    move |e| {
        crate::Error::device(
            format!("{what}: {e}"),
            "choose another --listen address or remove the stale socket file",
        )
    }
}

/// Serve `device` forever (until the listener fails).
pub fn serve(mut device: Device, address: &ListenAddress) -> crate::Result<()> {
    let mut stdout = std::io::stdout();
    match address {
        ListenAddress::Unix(path) => {
            if std::fs::symlink_metadata(path)
                .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
            {
                let _ = std::fs::remove_file(path);
            }
            let listener = UnixListener::bind(path)
                .map_err(io_err(format!("cannot listen on unix:{}", path.display())))?;
            let _ = writeln!(stdout, "READY unix:{}", path.display());
            let _ = stdout.flush();
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => serve_connection(&mut device, Box::new(s)),
                    Err(e) => eprintln!("virtual key: accept failed: {e}"),
                }
            }
        }
        ListenAddress::Tcp(addr) => {
            let listener =
                TcpListener::bind(addr).map_err(io_err(format!("cannot listen on tcp:{addr}")))?;
            let local = listener
                .local_addr()
                .map_err(io_err(format!("cannot listen on tcp:{addr}")))?;
            let _ = writeln!(stdout, "READY tcp:{local}");
            let _ = stdout.flush();
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        serve_connection(&mut device, Box::new(s))
                    }
                    Err(e) => eprintln!("virtual key: accept failed: {e}"),
                }
            }
        }
    }
    Ok(())
}

fn serve_connection(device: &mut Device, stream: Box<dyn Stream>) {
    let Ok(mut reader) = stream.try_clone_box() else {
        return;
    };
    let mut writer = stream;
    let (tx, rx) = mpsc::channel::<Report>();
    let reader_thread = std::thread::spawn(move || {
        let mut report = [0u8; REPORT_LEN];
        while reader.read_exact(&mut report).is_ok() {
            if tx.send(report).is_err() {
                break;
            }
        }
    });
    let mut link = Link {
        rx,
        tx: Box::new(move |reports: &[Report]| writer.write_all(reports.as_flattened()).is_ok()),
    };
    device.run(&mut link);
    drop(link);
    let _ = reader_thread.join();
}
