//! A local stand-in for Entra ID and Microsoft Graph, for tests, rehearsals and
//! the demo: login (device code, client credentials with secret or
//! certificate) and Graph (users, FIDO2 creationOptions / register / list /
//! get / delete, the FIDO2 policy, role assignments and schedules, Conditional
//! Access) on one loopback base URL. Registrations are verified the way Entra
//! would (see [`verify`]); faults can be injected to exercise retries and
//! reconciliation. What it does not model is listed in docs/graph.md.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

mod audit;
mod filter;
mod login;
pub mod routes;
mod shapes;
pub mod state;
mod strict;
pub mod verify;
pub mod wire;

pub use routes::World;
pub use state::{Fault, State};

/// Most connections served at once; more get 503.
const MAX_CONNECTIONS: usize = 64;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts emulators.
pub struct Emulator;

/// A running emulator; stops when dropped.
pub struct EmulatorHandle {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Serve `state` on `listen` (e.g. "127.0.0.1:0"). Loopback addresses only.
    pub fn start(state: State, listen: &str) -> std::io::Result<EmulatorHandle> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the emulator listens on loopback addresses only",
            ));
        }
        let base = format!("http://{addr}");
        let world = Arc::new(Mutex::new(World::new(state, base)));
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (world.clone(), stop.clone());
        let thread = std::thread::spawn(move || accept_loop(listener, w, s));
        Ok(EmulatorHandle {
            addr,
            world,
            stop,
            thread: Some(thread),
        })
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` — both the login and the Graph base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Inspect or change the emulator's world (tests).
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut lock(&self.world))
    }

    pub fn add_fault(&self, fault: Fault) {
        self.with_world(|w| w.state.faults.push(fault));
    }

    /// Stop serving and wait for the accept thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// A poisoned lock only means a handler panicked; the world is still usable.
fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: TcpListener, world: Arc<Mutex<World>>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = wire::write_response(&stream, &wire::HttpResponse::empty(503));
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (w, a) = (world.clone(), active.clone());
        std::thread::spawn(move || {
            serve(&stream, &w);
            a.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn serve(stream: &TcpStream, world: &Mutex<World>) {
    let req = match wire::read_request(stream) {
        Ok(r) => r,
        Err(wire::ReadError::Gone) => return,
        Err(wire::ReadError::Bad(status, why)) => {
            let body = serde_json::json!({"error": {"code": "badRequest", "message": why}});
            let _ = wire::write_response(stream, &wire::HttpResponse::json(status, &body));
            return;
        }
    };
    let (delay, reply) = lock(world).handle(&req);
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    match reply {
        routes::Reply::Respond(resp) => {
            let _ = wire::write_response(stream, &resp);
        }
        routes::Reply::Drop => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
