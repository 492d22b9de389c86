//! Posting a response bundle: one item at a time, safe to re-run. Before each
//! POST the account's methods are listed and an item already there is reported,
//! not sent again; a POST whose answer is lost is reconciled by listing again.

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
#[serde(tag = "outcome", rename_all = "snake_case")]
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

/// Find `item` among `methods` (see [`find_method`]).
pub fn find_registered<'a>(
    item: &ResponseItem,
    methods: &'a [Fido2Method],
) -> Option<&'a Fido2Method> {
    find_method(
        methods,
        item.credential_id().as_deref(),
        item.key.aaguid,
        item.display_name(),
    )
}

/// Find a registered credential among an account's methods: by the method id
/// derived from the credential id, else by AAGUID and display name, since Graph
/// never returns credential ids (GRAPH.md §2.4). `glasskey check --online` uses
/// this to confirm that Entra still holds what the ledger records.
pub fn find_method<'a>(
    methods: &'a [Fido2Method],
    credential_id: Option<&[u8]>,
    aaguid: Aaguid,
    display_name: &str,
) -> Option<&'a Fido2Method> {
    let by_id = credential_id.map(url_token);
    let aaguid = aaguid.to_string();
    methods
        .iter()
        .find(|m| Some(&m.id) == by_id.as_ref())
        .or_else(|| {
            methods.iter().find(|m| {
                m.aa_guid
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&aaguid))
                    && m.display_name.as_deref() == Some(display_name)
            })
        })
}

fn failed(e: GraphError) -> Outcome {
    let err: crate::Error = e.into();
    Outcome::Failed {
        error: err.what,
        next: err.next,
    }
}

/// Register every item; never stops at the first failure.
pub fn register_bundle(
    client: &GraphClient,
    bundle: &ResponseBundle,
    now: OffsetDateTime,
) -> Vec<ItemReport> {
    let expired: Vec<(usize, GraphError)> = bundle.expired_items(now);
    bundle
        .items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let outcome = register_one(
                client,
                item,
                expired.iter().find(|(i, _)| *i == n).map(|(_, e)| e),
            );
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
    if let Some(m) = find_registered(item, &before) {
        return Outcome::AlreadyRegistered { method: m.clone() };
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
                Some(m) => Outcome::AlreadyRegistered { method: m.clone() },
                None => failed(GraphError::OutcomeUnknown { op, detail }),
            },
            Err(e) => failed(e),
        },
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_method_prefers_the_credential_id() {
        let a = Aaguid::virtual_model(1);
        let m = |id: &str, name: &str| Fido2Method {
            id: id.into(),
            display_name: Some(name.into()),
            aa_guid: Some(a.to_string().to_uppercase()),
            ..Default::default()
        };
        let methods = vec![m("x", "Key A"), m("AQID0", "Key B")];
        assert_eq!(
            find_method(&methods, Some(&[1, 2, 3]), a, "Key A")
                .unwrap()
                .id,
            "AQID0"
        );
        assert_eq!(
            find_method(&methods, Some(&[9]), a, "Key A").unwrap().id,
            "x"
        );
        assert!(find_method(&methods, None, a, "Key C").is_none());
        assert!(find_method(&methods, None, Aaguid::ZERO, "Key A").is_none());
    }

    #[test]
    fn url_token_counts_padding() {
        assert_eq!(url_token(&[1]), "AQ2");
        assert_eq!(url_token(&[1, 2, 3]), "AQID0");
    }
}
