//! Token acquisition with the Microsoft identity platform v2 endpoints
//! (GRAPH.md §6): device code (delegated; the operator signs in as a
//! Privileged Authentication Administrator), client credentials with a secret,
//! and client credentials with a certificate (signed JWT assertion, PS256 with
//! `x5t#S256` and `x5t`). The oauth2 crate runs the flows over a small adapter
//! onto [`HttpClient`]; tokens and secrets stay in memory and are zeroized.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationUrl, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use zeroize::Zeroizing;

use super::b64;
use super::endpoint::Endpoints;
use super::http::{new_guid, HttpClient};
use super::GraphError;

/// Environment variable that may hold the client secret (never argv).
pub const CLIENT_SECRET_ENV: &str = "GLASSKEY_CLIENT_SECRET";

/// A bearer token, wiped from memory on drop and never printed.
pub struct AccessToken {
    secret: Zeroizing<String>,
    /// The refresh token of a delegated sign-in (asked for with `offline_access`).
    refresh: Option<Zeroizing<String>>,
    pub expires_at: Instant,
}

impl AccessToken {
    pub fn new(secret: String, lifetime: Duration) -> AccessToken {
        AccessToken {
            secret: Zeroizing::new(secret),
            refresh: None,
            expires_at: Instant::now() + lifetime,
        }
    }
    pub fn expose(&self) -> &str {
        &self.secret
    }
    /// True while at least a minute of lifetime is left.
    pub fn is_fresh(&self) -> bool {
        Instant::now() + Duration::from_secs(60) < self.expires_at
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// A certificate and its RSA private key, for the JWT client assertion.
pub struct ClientCertificate {
    cert_der: Vec<u8>,
    key: ring::signature::RsaKeyPair,
}

impl ClientCertificate {
    /// Read a PEM file holding a CERTIFICATE and a PKCS#8 PRIVATE KEY.
    pub fn from_pem(pem: &str) -> Result<ClientCertificate, GraphError> {
        let cert_der = pem_block(pem, "CERTIFICATE").ok_or_else(|| {
            GraphError::input(
                "the --client-cert file has no CERTIFICATE block",
                "give a PEM file with the certificate and its PKCS#8 private key",
            )
        })?;
        let key_der = Zeroizing::new(pem_block(pem, "PRIVATE KEY").ok_or_else(|| {
            GraphError::input(
                "the --client-cert file has no PRIVATE KEY (PKCS#8) block",
                "convert the key with `openssl pkcs8 -topk8 -nocrypt` and put it in the same PEM file",
            )
        })?);
        let key = ring::signature::RsaKeyPair::from_pkcs8(&key_der).map_err(|e| {
            GraphError::input(
                format!("the --client-cert private key is not a usable RSA key: {e}"),
                "Entra certificate credentials use RSA keys of 2048 bits or more",
            )
        })?;
        Ok(ClientCertificate { cert_der, key })
    }

    /// A signed client assertion for `client_id` aimed at `audience` (the token URL).
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, GraphError> {
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &self.cert_der);
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der);
        let header = serde_json::json!({
            "alg": "PS256", "typ": "JWT",
            "x5t#S256": b64::encode(sha256.as_ref()),
            "x5t": b64::encode(sha1.as_ref()),
        });
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = serde_json::json!({
            "aud": audience, "iss": client_id, "sub": client_id, "jti": new_guid(),
            "nbf": now, "iat": now, "exp": now + 300,
        });
        let signing_input = format!(
            "{}.{}",
            b64::encode(header.to_string().as_bytes()),
            b64::encode(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PSS_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| {
                GraphError::input(
                    "could not sign the client assertion",
                    "check the --client-cert key",
                )
            })?;
        Ok(format!("{signing_input}.{}", b64::encode(&sig)))
    }
}

/// The first PEM block with the given label, decoded.
pub fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// How glasskey signs in.
pub enum Credentials {
    /// Delegated: an operator approves on another device.
    DeviceCode { client_id: String },
    /// App-only with a client secret.
    ClientSecret {
        client_id: String,
        secret: Zeroizing<String>,
    },
    /// App-only with a certificate.
    Certificate {
        client_id: String,
        cert: Box<ClientCertificate>,
    },
}

/// Largest client secret file read (a secret is ~40 characters).
const MAX_SECRET_FILE: u64 = 4096;

impl Credentials {
    /// Read the client secret from `GLASSKEY_CLIENT_SECRET` or a file (never argv).
    pub fn client_secret(
        client_id: &str,
        file: Option<&Path>,
    ) -> Result<Option<Credentials>, GraphError> {
        let secret = match file {
            Some(path) => {
                let text =
                    crate::fsutil::read_regular_text(path, MAX_SECRET_FILE).map_err(|e| {
                        GraphError::input(
                            format!("cannot read the client secret file {}: {e}", path.display()),
                            "give a readable file holding only the secret",
                        )
                    })?;
                let text = Zeroizing::new(text);
                Zeroizing::new(text.trim().to_string())
            }
            None => match std::env::var(CLIENT_SECRET_ENV) {
                Ok(s) => Zeroizing::new(s.trim().to_string()),
                Err(_) => return Ok(None),
            },
        };
        if secret.is_empty() {
            return Err(GraphError::input(
                "the client secret is empty",
                "put the secret in GLASSKEY_CLIENT_SECRET or the --client-secret-file",
            ));
        }
        Ok(Some(Credentials::ClientSecret {
            client_id: client_id.to_string(),
            secret,
        }))
    }

    fn client_id(&self) -> &str {
        match self {
            Credentials::DeviceCode { client_id }
            | Credentials::ClientSecret { client_id, .. }
            | Credentials::Certificate { client_id, .. } => client_id,
        }
    }
}

/// What the operator must do to finish a device-code sign-in.
#[derive(Debug, Clone)]
pub struct DeviceCodePrompt {
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
}

/// A function that waits; tests pass one that records instead of sleeping.
pub type Sleeper = Arc<dyn Fn(Duration) + Send + Sync>;

/// Acquires tokens for one tenant with one set of credentials.
pub struct TokenSource {
    endpoints: Endpoints,
    tenant: String,
    credentials: Credentials,
    http: HttpClient,
    sleeper: Sleeper,
}

impl TokenSource {
    pub fn new(endpoints: Endpoints, tenant: &str, credentials: Credentials) -> TokenSource {
        let http = HttpClient::new(Duration::from_secs(30), endpoints.is_loopback());
        TokenSource {
            endpoints,
            tenant: tenant.to_string(),
            credentials,
            http,
            sleeper: Arc::new(std::thread::sleep),
        }
    }

    /// Replace how device-code polling waits (tests).
    pub fn with_sleeper(mut self, sleeper: Sleeper) -> TokenSource {
        self.sleeper = sleeper;
        self
    }

    fn scope(&self) -> String {
        format!("{}/.default", self.endpoints.resource)
    }

    /// Get a token; for the device code flow `prompt` is called once with the code to show.
    pub fn acquire(
        &self,
        prompt: &mut dyn FnMut(&DeviceCodePrompt),
    ) -> Result<AccessToken, GraphError> {
        let token_url = self.endpoints.oauth_url(&self.tenant, "token");
        let adapter = Adapter(&self.http);
        let bad_url = |e: url::ParseError| {
            GraphError::input(
                format!("bad login URL: {e}"),
                "check --login-url and --tenant",
            )
        };
        let client = BasicClient::new(ClientId::new(self.credentials.client_id().to_string()))
            .set_token_uri(TokenUrl::new(token_url.clone()).map_err(bad_url)?)
            .set_auth_type(AuthType::RequestBody);
        let response = match &self.credentials {
            Credentials::DeviceCode { .. } => {
                let client = client.set_device_authorization_url(
                    DeviceAuthorizationUrl::new(
                        self.endpoints.oauth_url(&self.tenant, "devicecode"),
                    )
                    .map_err(bad_url)?,
                );
                let details: StandardDeviceAuthorizationResponse = client
                    .exchange_device_code()
                    .add_scope(Scope::new(self.scope()))
                    .add_scope(Scope::new("offline_access".into()))
                    .request(&adapter)
                    .map_err(token_error)?;
                prompt(&DeviceCodePrompt {
                    user_code: details.user_code().secret().to_string(),
                    verification_uri: details.verification_uri().to_string(),
                    expires_in: details.expires_in(),
                });
                let sleeper = self.sleeper.clone();
                client
                    .exchange_device_access_token(&details)
                    .request(&adapter, move |d| sleeper(d), None)
                    .map_err(token_error)?
            }
            Credentials::ClientSecret { secret, .. } => client
                .set_client_secret(ClientSecret::new(secret.to_string()))
                .exchange_client_credentials()
                .add_scope(Scope::new(self.scope()))
                .request(&adapter)
                .map_err(token_error)?,
            Credentials::Certificate { client_id, cert } => {
                let assertion = Zeroizing::new(cert.assertion(client_id, &token_url)?);
                client
                    .exchange_client_credentials()
                    .add_scope(Scope::new(self.scope()))
                    .add_extra_param(
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    )
                    .add_extra_param("client_assertion", assertion.as_str())
                    .request(&adapter)
                    .map_err(token_error)?
            }
        };
        Ok(token_from(&response))
    }

    /// A fresh token for a long ceremony: client credentials simply sign in
    /// again; a device-code sign-in redeems its refresh token (v2 token
    /// endpoint, `grant_type=refresh_token`; ENTRA
    /// `docs/identity-platform/v2-oauth2-auth-code-flow.md` "Refresh the
    /// access token"), so the operator is not asked again.
    pub fn refresh(&self, old: &AccessToken) -> Result<AccessToken, GraphError> {
        match &self.credentials {
            Credentials::DeviceCode { client_id } => {
                let refresh = old.refresh.as_ref().ok_or_else(|| {
                    GraphError::refused(
                        "the Graph sign-in expired and no refresh token was issued",
                        "run the command again and sign in; allow offline_access for the app",
                    )
                })?;
                let token_url = self.endpoints.oauth_url(&self.tenant, "token");
                let client = BasicClient::new(ClientId::new(client_id.clone()))
                    .set_token_uri(TokenUrl::new(token_url).map_err(|e| {
                        GraphError::input(
                            format!("bad login URL: {e}"),
                            "check --login-url and --tenant",
                        )
                    })?)
                    .set_auth_type(AuthType::RequestBody);
                let token = oauth2::RefreshToken::new(refresh.to_string());
                let response = client
                    .exchange_refresh_token(&token)
                    .add_scope(Scope::new(self.scope()))
                    .add_scope(Scope::new("offline_access".into()))
                    .request(&Adapter(&self.http))
                    .map_err(token_error)?;
                let mut fresh = token_from(&response);
                // Entra may not rotate the refresh token; keep the old one then.
                if fresh.refresh.is_none() {
                    fresh.refresh = Some(refresh.clone());
                }
                Ok(fresh)
            }
            _ => self.acquire(&mut |_| {}),
        }
    }
}

fn token_from<R: TokenResponse>(response: &R) -> AccessToken {
    let lifetime = response
        .expires_in()
        .unwrap_or(Duration::from_secs(3599))
        .min(Duration::from_secs(24 * 3600));
    let mut token = AccessToken::new(response.access_token().secret().to_string(), lifetime);
    token.refresh = response
        .refresh_token()
        .map(|r| Zeroizing::new(r.secret().to_string()));
    token
}

/// Map any oauth2 failure to a GraphError, keeping the OAuth error code.
fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: RequestTokenError<RE, T>,
) -> GraphError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let v = serde_json::to_value(&r).unwrap_or_default();
            GraphError::Token {
                error: v["error"].as_str().unwrap_or("unknown").to_string(),
                description: v["error_description"].as_str().unwrap_or("").to_string(),
            }
        }
        RequestTokenError::Request(e) => GraphError::Transport {
            op: "sign in".into(),
            detail: e.to_string(),
        },
        RequestTokenError::Parse(e, _) => GraphError::bad_response("sign in", e.to_string()),
        RequestTokenError::Other(s) => GraphError::bad_response("sign in", s),
    }
}

/// oauth2's blocking client trait over our HttpClient (timeouts, no redirects,
/// client-request-id on every call).
struct Adapter<'a>(&'a HttpClient);

#[derive(Debug)]
struct AdapterError(String);

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for AdapterError {}

impl oauth2::SyncHttpClient for Adapter<'_> {
    type Error = AdapterError;
    fn call(&self, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, AdapterError> {
        self.0.run_raw(req).map_err(AdapterError)
    }
}
