//! Posting a response bundle: one item at a time, safe to re-run. Before each
//! POST the account's methods are listed and an item already there is reported,
//! not sent again; a POST whose answer is lost is reconciled by listing again.
//! Both recognise the item only by its credential (see [`find_method`]).

use serde::Serialize;
use time::OffsetDateTime;

use super::b64;
use super::bundle::{ResponseBundle, ResponseItem};
use super::client::GraphClient;
use super::types::Fido2Method;
use super::GraphError;
use crate::aaguid::Aaguid;

/// What happened to one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    Registered {
        method: Fido2Method,
    },
    /// Found registered already (a previous run, or a POST whose answer was lost).
    AlreadyRegistered {
        method: Fido2Method,
    },
    /// Not sent: the challenge expired.
    Expired {
        error: String,
        next: String,
    },
    Failed {
        error: String,
        next: String,
    },
    /// Not sent: the response did not pass re-verification against its
    /// request, the kit's attestation policy or the account mapping.
    Refused {
        error: String,
        next: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReport {
    pub account: String,
    pub display_name: String,
    pub aaguid: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl ItemReport {
    pub fn ok(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Registered { .. } | Outcome::AlreadyRegistered { .. }
        )
    }
}

/// The Graph method id convention seen in list examples: UrlTokenEncode of the
/// credential id (base64url plus a digit counting the stripped '='). [I]
fn url_token(credential_id: &[u8]) -> String {
    let s = b64::encode(credential_id);
    let pad = (4 - s.len() % 4) % 4;
    format!("{s}{pad}")
}

/// How an item's credential stands among an account's methods.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The method whose id Graph derived from this credential id.
    Found(&'a Fido2Method),
    /// No method is this credential.
    Absent,
    /// No method carries this credential's id, but some carry ids that are not
    /// credential-derived (opaque, e.g. GUID-shaped) and the same AAGUID and
    /// display name: they may or may not be this credential.
    Ambiguous(Vec<&'a Fido2Method>),
}

impl Lookup<'_> {
    /// The error for an ambiguous lookup, naming every candidate method.
    pub fn ambiguity_error(candidates: &[&Fido2Method], display_name: &str) -> GraphError {
        let names: Vec<String> = candidates
            .iter()
            .map(|m| {
                format!(
                    "{} (created {})",
                    m.id,
                    m.created_date_time.as_deref().unwrap_or("?")
                )
            })
            .collect();
        GraphError::input(
            format!(
                "cannot tell whether '{display_name}' is registered: Entra lists {} method(s) with the same model and name but ids not derived from a credential: {}",
                names.len(),
                names.join(", ")
            ),
            "look at the account's security keys in the Entra portal; delete the method(s) that are not this key (or rename them), then run `glasskey graph register` again",
        )
    }
}

/// Find `item` among `methods` (see [`find_method`]).
pub fn find_registered<'a>(item: &ResponseItem, methods: &'a [Fido2Method]) -> Lookup<'a> {
    match item.credential_id() {
        Some(id) => find_method(methods, &id, item.key.aaguid, item.display_name()),
        None => Lookup::Absent,
    }
}

/// Whether `id` has the shape of a credential-derived method id
/// (UrlTokenEncode: base64url without padding plus one digit counting the
/// stripped '=', GRAPH.md §2.2). A GUID-shaped id is opaque even when it
/// happens to fit that shape.
fn credential_derived(id: &str) -> bool {
    if uuid::Uuid::parse_str(id).is_ok() {
        return false;
    }
    let Some((body, digit)) = id.split_at_checked(id.len().saturating_sub(1)) else {
        return false;
    };
    let pad = (4 - body.len() % 4) % 4;
    digit == pad.to_string() && !body.is_empty() && b64::decode_strict(body).is_some()
}

/// Find a registered credential among an account's methods. A registration is
/// recognised only by its credential: the method id Graph derives from the
/// credential id (GRAPH.md §2.2). AAGUID and display name never identify a
/// credential (a replacement key of the same model and label shares both);
/// they only reveal an ambiguity when Entra hands out opaque ids.
pub fn find_method<'a>(
    methods: &'a [Fido2Method],
    credential_id: &[u8],
    aaguid: Aaguid,
    display_name: &str,
) -> Lookup<'a> {
    let token = url_token(credential_id);
    if let Some(m) = methods.iter().find(|m| m.id == token) {
        return Lookup::Found(m);
    }
    let aaguid = aaguid.to_string();
    let candidates: Vec<&Fido2Method> = methods
        .iter()
        .filter(|m| !credential_derived(&m.id))
        .filter(|m| {
            m.aa_guid
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&aaguid))
                && m.display_name.as_deref() == Some(display_name)
        })
        .collect();
    if candidates.is_empty() {
        Lookup::Absent
    } else {
        Lookup::Ambiguous(candidates)
    }
}

fn failed(e: GraphError) -> Outcome {
    let err: crate::Error = e.into();
    Outcome::Failed {
        error: err.what,
        next: err.next,
    }
}

/// Register every item; never stops at the first failure. `vet` re-verifies
/// each item before anything about it is sent; an item it refuses is neither
/// looked up nor POSTed.
pub fn register_bundle(
    client: &GraphClient,
    bundle: &ResponseBundle,
    now: OffsetDateTime,
    vet: &mut dyn FnMut(&ResponseItem) -> Result<(), crate::Error>,
) -> Vec<ItemReport> {
    let expired: Vec<(usize, GraphError)> = bundle.expired_items(now);
    bundle
        .items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let outcome = match vet(item) {
                Err(e) => Outcome::Refused {
                    error: e.what,
                    next: e.next,
                },
                Ok(()) => register_one(
                    client,
                    item,
                    expired.iter().find(|(i, _)| *i == n).map(|(_, e)| e),
                ),
            };
            ItemReport {
                account: item.account.user_principal_name.clone(),
                display_name: item.display_name().to_string(),
                aaguid: item.key.aaguid.to_string(),
                outcome,
            }
        })
        .collect()
}

fn register_one(
    client: &GraphClient,
    item: &ResponseItem,
    expired: Option<&GraphError>,
) -> Outcome {
    let user = &item.account.id;
    let before = match client.list_methods(user) {
        Ok(m) => m,
        Err(e) => return failed(e),
    };
    match find_registered(item, &before) {
        Lookup::Found(m) => return Outcome::AlreadyRegistered { method: m.clone() },
        Lookup::Ambiguous(c) => return failed(Lookup::ambiguity_error(&c, item.display_name())),
        Lookup::Absent => {}
    }
    if let Some(e) = expired {
        let err: crate::Error = e.clone().into();
        return Outcome::Expired {
            error: err.what,
            next: err.next,
        };
    }
    match client.register_in(item.version(), user, &item.fido2_method) {
        Ok(method) => Outcome::Registered { method },
        Err(GraphError::OutcomeUnknown { op, detail }) => match client.list_methods(user) {
            Ok(after) => match find_registered(item, &after) {
                Lookup::Found(m) => Outcome::AlreadyRegistered { method: m.clone() },
                Lookup::Ambiguous(c) => failed(Lookup::ambiguity_error(&c, item.display_name())),
                Lookup::Absent => failed(GraphError::OutcomeUnknown { op, detail }),
            },
            Err(e) => failed(e),
        },
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(id: &str, name: &str, a: Aaguid) -> Fido2Method {
        Fido2Method {
            id: id.into(),
            display_name: Some(name.into()),
            aa_guid: Some(a.to_string().to_uppercase()),
            ..Default::default()
        }
    }

    #[test]
    fn a_registration_is_recognised_only_by_its_credential() {
        let a = Aaguid::virtual_model(1);
        // K1's method: same model and name as K2, its id derived from K1's credential.
        let methods = vec![method(&url_token(&[7, 7, 7]), "Key A", a)];
        assert_eq!(
            find_method(&methods, &[1, 2, 3], a, "Key A"),
            Lookup::Absent
        );
        let with_k2 = vec![methods[0].clone(), method("AQID0", "Key A", a)];
        assert_eq!(
            find_method(&with_k2, &[1, 2, 3], a, "Key A"),
            Lookup::Found(&with_k2[1])
        );
    }

    #[test]
    fn opaque_ids_with_the_same_model_and_name_are_ambiguous() {
        let a = Aaguid::virtual_model(1);
        let guid = "00000000-0000-4000-8000-000000000001";
        let methods = vec![method(guid, "Key A", a), method("opaque", "Key B", a)];
        let Lookup::Ambiguous(c) = find_method(&methods, &[1, 2, 3], a, "Key A") else {
            panic!("not ambiguous")
        };
        assert_eq!(c.len(), 1);
        let err: crate::Error = Lookup::ambiguity_error(&c, "Key A").into();
        assert!(err.what.contains(guid), "{}", err.what);
        // Another model or name is not this credential.
        assert_eq!(
            find_method(&methods, &[1, 2, 3], Aaguid::ZERO, "Key A"),
            Lookup::Absent
        );
        assert_eq!(
            find_method(&methods, &[1, 2, 3], a, "Key C"),
            Lookup::Absent
        );
    }

    #[test]
    fn credential_derived_ids_are_told_from_opaque_ones() {
        assert!(credential_derived(&url_token(&[1])));
        assert!(credential_derived(&url_token(&[1, 2, 3])));
        assert!(!credential_derived("00000000-0000-4000-8000-000000000001"));
        assert!(!credential_derived("AQ1"));
        assert!(!credential_derived(""));
    }

    #[test]
    fn url_token_counts_padding() {
        assert_eq!(url_token(&[1]), "AQ2");
        assert_eq!(url_token(&[1, 2, 3]), "AQID0");
    }
}
