//! The emulator's login endpoints (`/{tenant}/oauth2/v2.0/devicecode` and
//! `/token`): the scripted device-code state machine, client secrets, and
//! certificate assertions checked against the app's registered certificate.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::routes::{random_token, DeviceFlow, Handled, Principal, World};
use super::wire::{HttpRequest, HttpResponse};
use crate::graph::b64;
use crate::graph::http::new_guid;
use crate::graph::types::format_time;

/// The v2 token-error shape (GRAPH.md §6.4).
pub(super) fn oauth_error(error: &str, aadsts: u32, text: &str) -> HttpResponse {
    HttpResponse::json(
        400,
        &json!({"error": error, "error_description": format!("AADSTS{aadsts}: {text}"),
            "error_codes": [aadsts], "timestamp": format_time(OffsetDateTime::now_utc()),
            "trace_id": new_guid(), "correlation_id": new_guid()}),
    )
}

impl World {
    fn tenant_ok(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.state.tenant.domain)
            || tenant.eq_ignore_ascii_case(&self.state.tenant.id)
            || tenant == "organizations"
    }

    pub(super) fn devicecode(&mut self, req: &HttpRequest, tenant: &str) -> Handled {
        if !self.tenant_ok(tenant) {
            return Err(oauth_error(
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            ));
        }
        let client_id = req.form("client_id").unwrap_or_default();
        if !self.state.apps.iter().any(|a| a.client_id == client_id) {
            return Err(oauth_error(
                "unauthorized_client",
                700016,
                "Application not found in the directory.",
            ));
        }
        let code = random_token(32);
        let user_code = random_token(6)
            .to_uppercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(9)
            .collect::<String>();
        self.device_codes.insert(
            code.clone(),
            DeviceFlow {
                client_id,
                polls: 0,
            },
        );
        let uri = format!("{}/devicelogin", self.base_url);
        Ok(HttpResponse::json(
            200,
            &json!({"device_code": code, "user_code": user_code,
            "verification_uri": uri, "expires_in": 900, "interval": self.state.device_code.interval,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate.")}),
        ))
    }

    pub(super) fn token(&mut self, req: &HttpRequest, tenant: &str) -> Handled {
        if !self.tenant_ok(tenant) {
            return Err(oauth_error(
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            ));
        }
        let client_id = req.form("client_id").unwrap_or_default();
        let app = self
            .state
            .apps
            .iter()
            .find(|a| a.client_id == client_id)
            .cloned()
            .ok_or_else(|| {
                oauth_error(
                    "unauthorized_client",
                    700016,
                    "Application not found in the directory.",
                )
            })?;
        let scope = req.form("scope").unwrap_or_default();
        let principal = match req.form("grant_type").as_deref() {
            Some("client_credentials") => {
                if !scope.split(' ').any(|s| s.ends_with("/.default")) {
                    return Err(oauth_error("invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."));
                }
                if let Some(secret) = req.form("client_secret") {
                    if app.secret.as_deref() != Some(secret.as_str()) {
                        return Err(oauth_error(
                            "invalid_client",
                            7000215,
                            "Invalid client secret provided.",
                        ));
                    }
                } else if let Some(assertion) = req.form("client_assertion") {
                    let pem = app.certificate_pem.as_deref().unwrap_or("");
                    check_assertion(&assertion, pem, &client_id, self.now()).map_err(|why| {
                        oauth_error(
                            "invalid_client",
                            700027,
                            &format!("Client assertion failed signature validation: {why}"),
                        )
                    })?;
                } else {
                    return Err(oauth_error(
                        "invalid_client",
                        7000218,
                        "The request body must contain client_assertion or client_secret.",
                    ));
                }
                Principal::App {
                    permissions: app.permissions.clone(),
                }
            }
            Some("urn:ietf:params:oauth:grant-type:device_code") => {
                let code = req.form("device_code").unwrap_or_default();
                let script = self.state.device_code.clone();
                let flow = self
                    .device_codes
                    .get_mut(&code)
                    .filter(|f| f.client_id == client_id)
                    .ok_or_else(|| {
                        oauth_error("bad_verification_code", 70019, "Verification code unknown.")
                    })?;
                flow.polls += 1;
                let n = flow.polls;
                if n <= script.slow_down_polls {
                    return Err(oauth_error("slow_down", 70016, "Polling too fast."));
                }
                if n <= script.slow_down_polls + script.pending_polls {
                    return Err(oauth_error(
                        "authorization_pending",
                        70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                    ));
                }
                match script.outcome.as_str() {
                    "decline" => {
                        self.device_codes.remove(&code);
                        return Err(oauth_error(
                            "authorization_declined",
                            70000,
                            "The user declined the sign-in.",
                        ));
                    }
                    "expire" => {
                        self.device_codes.remove(&code);
                        return Err(oauth_error(
                            "expired_token",
                            70020,
                            "The provided code has expired.",
                        ));
                    }
                    _ => {}
                }
                self.device_codes.remove(&code);
                let user = self.find_user(&script.sign_in_as).cloned().ok_or_else(|| {
                    oauth_error(
                        "invalid_grant",
                        50034,
                        "The user account does not exist in this directory.",
                    )
                })?;
                Principal::Delegated {
                    user: user.id,
                    roles: user.directory_roles,
                    permissions: app.permissions.clone(),
                }
            }
            Some("refresh_token") => {
                let presented = req.form("refresh_token").unwrap_or_default();
                self.refresh_tokens.get(&presented).cloned().ok_or_else(|| {
                    oauth_error(
                        "invalid_grant",
                        70008,
                        "The provided authorization code or refresh token has expired or was revoked.",
                    )
                })?
            }
            other => {
                return Err(oauth_error(
                    "unsupported_grant_type",
                    70003,
                    &format!("grant_type {other:?} is not supported"),
                ));
            }
        };
        // Shaped like Entra's access tokens (a JWT with `roles` for app-only
        // callers, a space-separated `scp` for delegated ones), so clients can
        // check permissions before acting; the third part is random, not a
        // signature: the emulator recognises its tokens by lookup.
        let claims = match &principal {
            Principal::App { permissions } => json!({
                "aud": self.base_url, "tid": self.state.tenant.id, "idtyp": "app",
                "appid": client_id, "roles": permissions, "jti": new_guid()}),
            Principal::Delegated {
                user, permissions, ..
            } => json!({
                "aud": self.base_url, "tid": self.state.tenant.id, "idtyp": "user",
                "appid": client_id, "oid": user, "scp": permissions.join(" "), "jti": new_guid()}),
        };
        let token = format!(
            "{}.{}.{}",
            b64::encode(br#"{"typ":"JWT","alg":"none"}"#),
            b64::encode(claims.to_string().as_bytes()),
            random_token(32)
        );
        let grant = req.form("grant_type").unwrap_or_default();
        *self.tokens_issued.entry(grant.clone()).or_default() += 1;
        let delegated = matches!(principal, Principal::Delegated { .. });
        let refresh = (delegated && scope.split(' ').any(|s| s == "offline_access"))
            .then(|| random_token(32));
        if let Some(r) = &refresh {
            self.refresh_tokens.insert(r.clone(), principal.clone());
        }
        self.tokens.insert(token.clone(), principal);
        let lifetime = self.state.token_lifetime_seconds;
        let mut body = json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
            "access_token": token, "scope": scope});
        if let Some(r) = refresh {
            body["refresh_token"] = r.into();
        }
        Ok(HttpResponse::json(200, &body))
    }
}

/// Verify a PS256 (or RS256) client assertion against the app's certificate.
fn check_assertion(
    jwt: &str,
    cert_pem: &str,
    client_id: &str,
    now: OffsetDateTime,
) -> Result<(), String> {
    let cert = crate::graph::auth::pem_block(cert_pem, "CERTIFICATE")
        .ok_or("no certificate registered")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return Err("not a JWT".into());
    };
    let header: Value = serde_json::from_slice(&b64::decode_strict(h).ok_or("bad header")?)
        .map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&b64::decode_strict(c).ok_or("bad claims")?)
        .map_err(|e| e.to_string())?;
    let sig = b64::decode_strict(s).ok_or("bad signature encoding")?;
    let thumb = b64::encode(ring::digest::digest(&ring::digest::SHA256, &cert).as_ref());
    if header["x5t#S256"] != thumb.as_str() {
        return Err("x5t#S256 does not match the registered certificate".into());
    }
    let alg: &dyn ring::signature::VerificationAlgorithm = match header["alg"].as_str() {
        Some("PS256") => &ring::signature::RSA_PSS_2048_8192_SHA256,
        Some("RS256") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        _ => return Err("unsupported alg".into()),
    };
    let key = spki_public_key(&cert).ok_or("certificate public key unreadable")?;
    ring::signature::UnparsedPublicKey::new(alg, key)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "signature invalid".to_string())?;
    let t = now.unix_timestamp();
    if claims["iss"] != client_id || claims["sub"] != client_id {
        return Err("iss/sub must be the client id".into());
    }
    if !claims["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with("/oauth2/v2.0/token"))
    {
        return Err("aud must be the token endpoint".into());
    }
    if claims["exp"].as_i64().is_none_or(|e| e < t)
        || claims["nbf"].as_i64().is_some_and(|n| n > t + 300)
    {
        return Err("assertion expired or not yet valid".into());
    }
    Ok(())
}

/// The subjectPublicKey bits of an X.509 certificate (a minimal DER walk):
/// Certificate > tbsCertificate > [version], serial, sigAlg, issuer, validity, subject, SPKI > BIT STRING.
fn spki_public_key(cert: &[u8]) -> Option<&[u8]> {
    fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *d.first()?;
        let first = *d.get(1)? as usize;
        let (len, hdr) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut l = 0usize;
            for i in 0..n {
                l = (l << 8) | *d.get(2 + i)? as usize;
            }
            (l, 2 + n)
        };
        let body = d.get(hdr..hdr.checked_add(len)?)?;
        Some((tag, body, &d[hdr + len..]))
    }
    let (_, cert_body, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(cert_body)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    for _ in 0..5 {
        let (_, _, r) = tlv(rest)?;
        rest = r;
    }
    let (_, spki, _) = tlv(rest)?;
    let (_, _, after_alg) = tlv(spki)?;
    let (tag, bits, _) = tlv(after_alg)?;
    (tag == 0x03 && bits.first() == Some(&0)).then(|| &bits[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_walker_survives_garbage() {
        assert!(spki_public_key(&[]).is_none());
        assert!(spki_public_key(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(spki_public_key(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_none());
        assert!(check_assertion("a.b.c", "", "id", OffsetDateTime::now_utc()).is_err());
    }
}
