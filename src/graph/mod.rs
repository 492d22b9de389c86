//! Microsoft Graph: sign-in, the FIDO2 method API (creationOptions, register,
//! list, get, delete), the FIDO2 policy preflight, break-glass posture reads,
//! the split-ceremony bundles, and a local emulator that behaves like Entra for
//! all of them. Facts and sources: docs/graph.md and GRAPH.md.

use std::fmt;

pub mod auth;
pub mod b64;
pub mod bundle;
pub mod client;
#[cfg(feature = "rehearsal")]
pub mod emulator;
pub mod endpoint;
pub mod http;
pub mod permissions;
pub mod policy;
pub mod posture;
pub mod register;
pub mod signins;
pub mod types;

pub use auth::{AccessToken, ClientCertificate, Credentials, DeviceCodePrompt, TokenSource};
pub use client::GraphClient;
pub use endpoint::{ApiVersion, Endpoints};

/// A Graph error response, with everything Microsoft support asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What glasskey was doing, e.g. "read creationOptions for bg1@contoso.onmicrosoft.com".
    pub op: String,
    pub status: u16,
    /// Graph's `error.code` (the only field to branch on).
    pub code: String,
    pub message: String,
    /// The service's `request-id` (header or `innerError`).
    pub request_id: Option<String>,
    /// The `client-request-id` glasskey sent.
    pub client_request_id: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: HTTP {} {}: {} (request-id {}, client-request-id {})",
            self.op,
            self.status,
            self.code,
            self.message,
            self.request_id.as_deref().unwrap_or("none"),
            self.client_request_id
        )
    }
}

impl ApiError {
    /// What the operator should do about this error.
    pub fn next_step(&self) -> &'static str {
        match (self.status, self.code.as_str()) {
            (401, _) => "sign in again; check --tenant and --client-id, and that the token is for this cloud",
            (403, "Authorization_RequestDenied") => {
                "grant the app the missing Graph permission (docs/graph.md lists them) and admin consent"
            }
            (403, _) => {
                "check the signed-in role (Privileged Authentication Administrator is needed for Global \
                 Administrator accounts) and the app's permissions; for FIDO2 calls also run \
                 `glasskey graph preflight`: the FIDO2 policy must be enabled, allow self-service set up \
                 and target the account"
            }
            (404, _) => "check the account (UPN or object id) and the method id; list methods to see what exists",
            (405, _) => "a known Graph issue on creationOptions; retry later, or use the other API version (drop or add --challenge-timeout)",
            (400, _) => "run `glasskey graph preflight` for this account and key (policy, key restrictions, attestation); if the challenge expired, fetch options again",
            (409, _) => "the credential may already be registered: list the account's methods and compare",
            (429, _) | (503, _) | (504, _) => "Graph is throttling or unavailable; wait a few minutes and run the command again",
            _ => "retry later; if it persists, give the request-id to Microsoft support",
        }
    }
}

/// Everything that can go wrong in the graph layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Graph answered with an error.
    Api(Box<ApiError>),
    /// The login service refused a token request (OAuth `error`).
    Token { error: String, description: String },
    /// No answer: connection, TLS or timeout failure before a response.
    Transport { op: String, detail: String },
    /// A write was sent but no answer came back: it may or may not have been applied.
    OutcomeUnknown { op: String, detail: String },
    /// Graph answered, but not in a shape glasskey understands.
    BadResponse { op: String, detail: String },
    /// Bad input from the operator or a file.
    Input { what: String, next: String },
    /// glasskey refuses to act (safety rule or policy says no).
    Refused { what: String, next: String },
}

impl GraphError {
    pub fn input(what: impl Into<String>, next: impl Into<String>) -> Self {
        GraphError::Input {
            what: what.into(),
            next: next.into(),
        }
    }
    pub fn refused(what: impl Into<String>, next: impl Into<String>) -> Self {
        GraphError::Refused {
            what: what.into(),
            next: next.into(),
        }
    }
    pub fn bad_response(op: impl Into<String>, detail: impl Into<String>) -> Self {
        GraphError::BadResponse {
            op: op.into(),
            detail: detail.into(),
        }
    }
    /// The Graph error code, when Graph answered with one.
    pub fn api_status(&self) -> Option<u16> {
        match self {
            GraphError::Api(a) => Some(a.status),
            _ => None,
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Api(a) => a.fmt(f),
            GraphError::Token { error, description } => {
                write!(f, "sign-in failed: {error}: {description}")
            }
            GraphError::Transport { op, detail } => {
                write!(f, "{op}: no answer from the service: {detail}")
            }
            GraphError::OutcomeUnknown { op, detail } => {
                write!(f, "{op}: sent, but no answer came back ({detail}); it may or may not have been applied")
            }
            GraphError::BadResponse { op, detail } => {
                write!(f, "{op}: unexpected answer: {detail}")
            }
            GraphError::Input { what, .. } | GraphError::Refused { what, .. } => f.write_str(what),
        }
    }
}

impl std::error::Error for GraphError {}

impl From<GraphError> for crate::Error {
    fn from(e: GraphError) -> Self {
        let what = e.to_string();
        match e {
            GraphError::Api(a) => crate::Error::network(what, a.next_step()),
            GraphError::Token { error, .. } => {
                let next = match error.as_str() {
                    "authorization_declined" | "access_denied" => "the sign-in was declined; run the command again and approve it",
                    "expired_token" => "the device code expired before sign-in finished; run the command again and sign in within the time shown",
                    "invalid_client" | "unauthorized_client" => "check --client-id and the client secret or certificate registered on the app",
                    "invalid_scope" => "check the app's Graph permissions and admin consent",
                    _ => "check --tenant, --client-id and the app registration; the AADSTS code above says more",
                };
                crate::Error::network(what, next)
            }
            GraphError::Transport { .. } => crate::Error::network(
                what,
                "check the network, proxy and --graph-url/--login-url, then run the command again",
            ),
            GraphError::OutcomeUnknown { .. } => crate::Error::network(
                what,
                "run `glasskey graph register` again: it lists the account's methods first and does not register twice",
            ),
            GraphError::BadResponse { .. } => crate::Error::network(
                what,
                "check that --graph-url points at Microsoft Graph (or the glasskey emulator)",
            ),
            GraphError::Input { next, .. } => crate::Error::input(what, next),
            GraphError::Refused { next, .. } => crate::Error::check(what, next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> GraphError {
        GraphError::Api(Box::new(ApiError {
            op: "op".into(),
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("rid".into()),
            client_request_id: "cid".into(),
        }))
    }

    #[test]
    fn operator_errors_name_the_next_step_and_exit_class() {
        let e: crate::Error = api(403, "Authorization_RequestDenied").into();
        assert!(e.what.contains("HTTP 403") && e.what.contains("rid") && e.what.contains("cid"));
        assert!(e.next.contains("permission"));
        assert_eq!(e.exit_code(), 3);
        let e: crate::Error = api(403, "accessDenied").into();
        assert!(
            e.next.contains("Privileged Authentication Administrator")
                && e.next.contains("preflight")
        );
        let e: crate::Error = GraphError::refused("no", "fix").into();
        assert_eq!(e.exit_code(), 1);
        let e: crate::Error = GraphError::input("bad", "fix").into();
        assert_eq!(e.exit_code(), 2);
        let e: crate::Error = GraphError::OutcomeUnknown {
            op: "post".into(),
            detail: "reset".into(),
        }
        .into();
        assert!(e.next.contains("does not register twice"));
        let e: crate::Error = GraphError::Token {
            error: "authorization_declined".into(),
            description: String::new(),
        }
        .into();
        assert!(e.next.contains("approve"));
    }
}
