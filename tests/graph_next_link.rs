//! `@odata.nextLink` may lead only to Graph itself: a hostile page that points
//! at another port on the same host, or at a user-info host, must not receive
//! the bearer token. Loopback listeners record every byte that reaches them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use glasskey::graph::auth::AccessToken;
use glasskey::graph::{Endpoints, GraphClient};

const TOKEN: &str = "secret-bearer-token-0123456789";

/// A listener that records each request's head and answers with `body`.
fn recorder(body: impl Fn(u16) -> String + Send + 'static) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = vec![0u8; 16 * 1024];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&got).into_owned());
            let text = body(port);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (port, seen)
}

fn client(port: u16) -> GraphClient {
    let base = format!("http://127.0.0.1:{port}");
    let endpoints = Endpoints::new(&base, &base).unwrap();
    GraphClient::new(
        endpoints,
        AccessToken::new(TOKEN.into(), Duration::from_secs(3600)),
    )
    .with_timeout(Duration::from_secs(5))
}

fn tries_next_link(make_link: impl Fn(u16, u16) -> String + Send + Sync + 'static) {
    let (elsewhere, elsewhere_seen) = recorder(|_| r#"{"value":[]}"#.into());
    let make_link = Arc::new(make_link);
    let (graph, graph_seen) = recorder(move |me| {
        format!(
            r#"{{"value":[],"@odata.nextLink":"{}"}}"#,
            make_link(me, elsewhere)
        )
    });
    let err = client(graph)
        .list_methods("00000000-0000-4000-8000-000000000001")
        .expect_err("a next link outside Graph is refused");
    let err: glasskey::Error = err.into();
    assert!(err.what.contains("outside Graph"), "{}", err.what);
    std::thread::sleep(Duration::from_millis(200));
    let graph_seen = graph_seen.lock().unwrap();
    assert_eq!(graph_seen.len(), 1, "only the first page was fetched");
    assert!(graph_seen[0].contains(TOKEN), "Graph itself gets the token");
    assert!(
        elsewhere_seen.lock().unwrap().is_empty(),
        "nothing reached the other listener"
    );
}

#[test]
fn a_next_link_to_another_port_never_gets_the_token() {
    // Same host, a port whose text starts with Graph's port when possible.
    tries_next_link(|_, other| format!("http://127.0.0.1:{other}/v1.0/users"));
}

#[test]
fn a_next_link_that_extends_graphs_port_is_refused() {
    // `http://127.0.0.1:P` is a string prefix of `http://127.0.0.1:P1/…`.
    tries_next_link(|me, _| format!("http://127.0.0.1:{me}1/v1.0/users"));
}

#[test]
fn a_next_link_with_user_info_never_gets_the_token() {
    // `http://127.0.0.1:P@127.0.0.1:Q/` goes to Q, but starts with Graph's base.
    tries_next_link(|me, other| format!("http://127.0.0.1:{me}@127.0.0.1:{other}/v1.0/users"));
}

#[test]
fn a_next_link_on_graph_is_followed() {
    let (graph, seen) = recorder(|me| {
        format!(r#"{{"value":[],"@odata.nextLink":"http://127.0.0.1:{me}/v1.0/page2"}}"#)
    });
    // Every page links on; the client stops at its page bound, having stayed on Graph.
    let _ = client(graph).list_methods("u");
    let seen = seen.lock().unwrap();
    assert!(seen.len() > 1);
    assert!(seen[1].starts_with("GET /v1.0/page2"), "{}", seen[1]);
}
