//! The emulator's checks of a `POST fido2Methods` body before any
//! cryptography: only the properties the types define, the display name
//! Entra takes, a credential id that is the one in the attestation object,
//! and the attestation formats the docs allow.
//!
//! Docs: v1.0 `api-reference/v1.0/api/authentication-post-fido2methods.md`
//! (@09b7f41a: `displayName` optional, `publicKeyCredential` required,
//! base64url without padding for `id`, `clientDataJSON`, `attestationObject`);
//! beta `api-reference/beta/api/authentication-post-fido2methods.md`
//! (@002c378d: "only attestation formats of "packed" or "None" are
//! supported"; no word on displayName being optional). Resource types
//! `webauthnPublicKeyCredential` (`id`, `response`, `clientExtensionResults`)
//! and `webauthnAuthenticatorAttestationResponse` (`clientDataJSON`,
//! `attestationObject`) are not open types, so OData refuses other
//! properties — that is why DSInternals had to stop sending `rawId`, `type`
//! and `authenticatorAttachment`. Where the docs are silent the stricter
//! behaviour is chosen and said so.

use serde_json::Value;

use super::routes::graph_error;
use super::wire::HttpResponse;
use crate::graph::types::DISPLAY_NAME_MAX;

/// Properties each level of the body may carry (besides `@odata.*` annotations).
const TOP: (&str, &[&str]) = (
    "microsoft.graph.fido2AuthenticationMethod",
    &["displayName", "publicKeyCredential"],
);
const CREDENTIAL: (&str, &[&str]) = (
    "microsoft.graph.webauthnPublicKeyCredential",
    &["id", "response", "clientExtensionResults"],
);
const RESPONSE: (&str, &[&str]) = (
    "microsoft.graph.webauthnAuthenticatorAttestationResponse",
    &["clientDataJSON", "attestationObject"],
);

/// OData's answer to a property the type does not define.
fn unknown_property(name: &str, type_name: &str) -> HttpResponse {
    graph_error(
        400,
        "BadRequest",
        &format!("The property '{name}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type."),
    )
}

fn only_known(v: &Value, (type_name, known): (&str, &[&str])) -> Result<(), HttpResponse> {
    for k in v.as_object().into_iter().flat_map(|m| m.keys()) {
        if !k.starts_with("@odata.") && !known.contains(&k.as_str()) {
            return Err(unknown_property(k, type_name));
        }
    }
    Ok(())
}

/// Shape and display-name checks of a registration body.
pub(super) fn check_body(body: &Value, beta: bool) -> Result<(), HttpResponse> {
    let bad = |m: &str| graph_error(400, "invalidRequest", m);
    if !body.is_object() {
        return Err(bad(
            "The request body must be a fido2AuthenticationMethod object.",
        ));
    }
    only_known(body, TOP)?;
    let cred = body
        .get("publicKeyCredential")
        .filter(|c| c.is_object())
        .ok_or_else(|| bad("publicKeyCredential is required."))?;
    only_known(cred, CREDENTIAL)?;
    if let Some(r) = cred.get("response") {
        only_known(r, RESPONSE)?;
    }
    if cred.get("id").and_then(Value::as_str).is_none() {
        return Err(bad("publicKeyCredential.id is required."));
    }
    match body.get("displayName") {
        None | Some(Value::Null) if beta => {
            // beta does not call it optional: the stricter reading.
            Err(bad("displayName is required."))
        }
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(n)) if n.trim().is_empty() => Err(bad("displayName must not be empty.")),
        Some(Value::String(n)) if n.encode_utf16().count() > DISPLAY_NAME_MAX => Err(bad(
            &format!("displayName must be at most {DISPLAY_NAME_MAX} characters."),
        )),
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(bad("displayName must be a string.")),
    }
}

/// The attestation formats the beta POST page allows; v1.0 is silent, so the
/// same rule applies there (stricter).
pub(super) fn check_format(fmt: &str) -> Result<(), HttpResponse> {
    if fmt == "packed" || fmt == "none" {
        Ok(())
    } else {
        Err(graph_error(
            400,
            "invalidRequest",
            &format!("The attestation format '{fmt}' is not supported; only packed and none are."),
        ))
    }
}

/// `publicKeyCredential.id` must name the credential the attestation object
/// carries (WebAuthn §5.1: `id` is base64url of the credential id).
pub(super) fn check_credential_id(given: &[u8], attested: &[u8]) -> Result<(), HttpResponse> {
    if given == attested {
        Ok(())
    } else {
        Err(graph_error(
            400,
            "invalidRequest",
            "publicKeyCredential.id does not match the credential id in the attestation object.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "displayName": "BG1 key A",
            "publicKeyCredential": {"id": "AA", "response": {"clientDataJSON": "e30", "attestationObject": "oA"},
                "clientExtensionResults": {}}})
    }

    #[test]
    fn extra_properties_and_names_are_refused() {
        assert!(check_body(&body(), false).is_ok());
        for extra in ["rawId", "type", "authenticatorAttachment"] {
            let mut b = body();
            b["publicKeyCredential"][extra] = "x".into();
            let r = check_body(&b, false).unwrap_err();
            assert_eq!(r.status, 400);
            assert!(String::from_utf8_lossy(&r.body).contains(extra));
        }
        let mut b = body();
        b["publicKeyCredential"]["response"]["transports"] = json!(["usb"]);
        assert!(check_body(&b, true).is_err());
        let mut b = body();
        b.as_object_mut().unwrap().remove("displayName");
        assert!(
            check_body(&b, false).is_ok(),
            "v1.0 documents displayName as optional"
        );
        assert!(check_body(&b, true).is_err(), "beta does not");
        b["displayName"] = "x".repeat(31).into();
        assert!(check_body(&b, false).is_err());
        assert!(check_format("packed").is_ok() && check_format("none").is_ok());
        assert!(check_format("tpm").is_err() && check_format("fido-u2f").is_err());
        assert!(check_credential_id(b"a", b"b").is_err());
    }
}
