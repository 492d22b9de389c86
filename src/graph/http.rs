//! The one HTTP path every Graph and login call takes: rustls with the OS trust
//! store, a timeout on every request, a fresh `client-request-id` per call,
//! bounded retries of 429/503/504 honouring `Retry-After`, bounded response
//! sizes, and Graph error bodies turned into [`ApiError`]s.
//!
//! Writes are never blindly repeated: a POST whose answer is lost comes back as
//! [`GraphError::OutcomeUnknown`] so the caller can reconcile by listing.

use std::time::Duration;

use ureq::http;

use super::{ApiError, GraphError};

/// Largest response body read (creationOptions carry a ~7 KB challenge; lists are small).
pub const MAX_BODY: u64 = 4 * 1024 * 1024;
/// Header the glasskey emulator sets on every answer.
pub const EMULATOR_HEADER: &str = "x-glasskey-emulator";

/// How often and how long to retry throttled or unavailable answers.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, including the first.
    pub max_attempts: u32,
    /// First backoff when the service gives no Retry-After; doubles each time.
    pub base_delay: Duration,
    /// Cap on any single wait (also caps a large Retry-After).
    pub max_delay: Duration,
    /// Least wait after a 429 without Retry-After (Conditional Access reads
    /// are limited to 1 request/s per tenant and send no Retry-After).
    pub min_throttle_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            min_throttle_wait: Duration::from_secs(1),
        }
    }
}

/// Whether a request may be sent again after an uncertain failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads and deletes: resend on timeouts and 429/503/504.
    Safe,
    /// Registration POST: resend only after a definite refusal (429/503);
    /// a lost answer or 504 is reported as OutcomeUnknown.
    Once,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

/// One request. `body` is sent as is with `content_type`.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub bearer: Option<zeroize::Zeroizing<String>>,
    pub body: Option<(Vec<u8>, &'static str)>,
}

/// A response, already read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
    pub client_request_id: String,
    /// The answer carried the emulator's identification header.
    pub from_emulator: bool,
    /// Parsed `Retry-After`, when present.
    pub retry_after: Option<Duration>,
}

impl Response {
    pub fn json<T: serde::de::DeserializeOwned>(&self, op: &str) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| GraphError::bad_response(op, format!("response JSON does not fit: {e}")))
    }
}

/// Blocking HTTP client for Graph and the login service.
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("retry", &self.retry)
            .finish()
    }
}

impl HttpClient {
    /// `loopback` turns off any environment proxy (the emulator is local).
    pub fn new(timeout: Duration, loopback: bool) -> HttpClient {
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(15))))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            );
        if loopback {
            cfg = cfg.proxy(None);
        }
        HttpClient {
            agent: cfg.build().into(),
            retry: RetryPolicy::default(),
        }
    }

    /// Send once, without retries; transport failures come back as Err(detail).
    pub fn send_once(
        &self,
        req: &Request,
        client_request_id: &str,
        attempt: u32,
    ) -> Result<Response, String> {
        let mut builder = http::Request::builder()
            .method(match req.method {
                Method::Get => http::Method::GET,
                Method::Post => http::Method::POST,
                Method::Delete => http::Method::DELETE,
            })
            .uri(&req.url)
            .header("client-request-id", client_request_id)
            .header("return-client-request-id", "true")
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("glasskey/", env!("CARGO_PKG_VERSION")),
            );
        if attempt > 0 {
            builder = builder.header("retry-attempt", attempt.to_string());
        }
        if let Some(token) = &req.bearer {
            let value = zeroize::Zeroizing::new(format!("Bearer {}", token.as_str()));
            builder = builder.header("authorization", value.as_str());
        }
        let result = match &req.body {
            Some((bytes, ctype)) => {
                let r = builder
                    .header("content-type", *ctype)
                    .body(bytes.clone())
                    .map_err(|e| e.to_string())?;
                self.agent.run(r)
            }
            None => {
                let r = builder.body(()).map_err(|e| e.to_string())?;
                self.agent.run(r)
            }
        };
        let mut resp = result.map_err(|e| e.to_string())?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("request-id");
        let from_emulator = header(EMULATOR_HEADER).is_some();
        let retry_after = header("retry-after");
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok(Response {
            status,
            body,
            request_id,
            client_request_id: client_request_id.to_string(),
            from_emulator,
            retry_after: retry_after.as_deref().and_then(parse_retry_after),
        })
    }

    /// Send with retries per `replay`; any non-2xx that survives the retries
    /// becomes [`GraphError::Api`].
    pub fn send(&self, op: &str, req: &Request, replay: Replay) -> Result<Response, GraphError> {
        let crid = new_guid();
        let mut attempt = 0u32;
        loop {
            let outcome = self.send_once(req, &crid, attempt);
            let mut wait = self.backoff(attempt);
            match outcome {
                Err(detail) => {
                    if replay == Replay::Once {
                        return Err(GraphError::OutcomeUnknown {
                            op: op.to_string(),
                            detail,
                        });
                    }
                    if attempt + 1 >= self.retry.max_attempts {
                        return Err(GraphError::Transport {
                            op: op.to_string(),
                            detail,
                        });
                    }
                }
                Ok(resp) => {
                    let retry_after = resp.retry_after;
                    if (200..300).contains(&resp.status) {
                        return Ok(resp);
                    }
                    let throttled = matches!(resp.status, 429 | 503)
                        || (resp.status == 504 && replay == Replay::Safe);
                    if resp.status == 504 && replay == Replay::Once {
                        return Err(GraphError::OutcomeUnknown {
                            op: op.to_string(),
                            detail: "HTTP 504 gateway timeout".into(),
                        });
                    }
                    if !throttled || attempt + 1 >= self.retry.max_attempts {
                        return Err(GraphError::Api(Box::new(api_error(op, &resp))));
                    }
                    match retry_after {
                        Some(ra) => wait = ra.min(self.retry.max_delay),
                        None if resp.status == 429 => wait = wait.max(self.retry.min_throttle_wait),
                        None => {}
                    }
                }
            }
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(10);
        self.retry
            .base_delay
            .saturating_mul(factor)
            .min(self.retry.max_delay)
    }
}

/// Retry-After in seconds (Graph sends fractions such as `2.128`). HTTP dates are
/// not used by Graph; they are ignored in favour of backoff.
pub fn parse_retry_after(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Turn a non-2xx answer into an ApiError, whatever its body looks like.
pub fn api_error(op: &str, resp: &Response) -> ApiError {
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
    let err = &v["error"];
    let (code, message) = match err {
        serde_json::Value::Object(_) => (
            err["code"].as_str().unwrap_or("unknown").to_string(),
            err["message"].as_str().unwrap_or("").to_string(),
        ),
        serde_json::Value::String(s) => (
            s.clone(),
            v["error_description"].as_str().unwrap_or("").to_string(),
        ),
        _ => (
            "unknown".to_string(),
            String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).into_owned(),
        ),
    };
    let request_id = resp
        .request_id
        .clone()
        .or_else(|| err["innerError"]["request-id"].as_str().map(str::to_string));
    ApiError {
        op: op.to_string(),
        status: resp.status,
        code,
        message,
        request_id,
        client_request_id: resp.client_request_id.clone(),
    }
}

/// A random (version 4) GUID, lower-case hyphenated.
pub fn new_guid() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

impl HttpClient {
    /// Send a prepared request (the OAuth flows build their own), adding a
    /// client-request-id; bounded body; no retries.
    pub fn run_raw(
        &self,
        mut req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, String> {
        if let Ok(v) = http::HeaderValue::from_str(&new_guid()) {
            req.headers_mut().insert("client-request-id", v);
        }
        let resp = self.agent.run(req).map_err(|e| e.to_string())?;
        let (parts, mut body) = resp.into_parts();
        let bytes = body
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok(http::Response::from_parts(parts, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parsing() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn error_bodies_of_any_shape_become_api_errors() {
        let mut r = Response {
            status: 403,
            body: br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges","innerError":{"request-id":"rid-1"}}}"#.to_vec(),
            request_id: None,
            client_request_id: "c".into(),
            from_emulator: false,
            retry_after: None,
        };
        let e = api_error("op", &r);
        assert_eq!(
            (e.code.as_str(), e.request_id.as_deref()),
            ("Authorization_RequestDenied", Some("rid-1"))
        );
        r.body = b"<html>bad gateway</html>".to_vec();
        assert_eq!(api_error("op", &r).code, "unknown");
        assert_ne!(new_guid(), new_guid());
    }
}
