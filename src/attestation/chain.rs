//! Certificate path building and validation: attestation leaf -> (x5c
//! intermediates + the store's pool) -> a trusted anchor.
//!
//! Checks at every step: the issuer's subject equals the child's issuer, the
//! issuer's key verifies the child's signature (over the exact tbsCertificate
//! bytes), every certificate is valid at `now`, every intermediate has
//! basicConstraints CA:TRUE and its pathLenConstraint holds. Anchors are trusted
//! as configured (a v1 root without basicConstraints is accepted, an explicit
//! CA:FALSE is not). The search is depth-limited, so a hostile x5c cannot make it loop.

use std::time::SystemTime;

use serde::Serialize;

use super::certs::Cert;
use super::trust::TrustStore;

/// Longest path considered (leaf + intermediates + anchor).
const MAX_PATH_LEN: usize = 6;

/// Most signature checks one path search may spend. Real chains need one per
/// link; the budget stops a crafted x5c of mutually signed certificates from
/// turning the search into seconds of work.
const MAX_SIGNATURE_CHECKS: usize = 64;

/// Search state shared down the recursion.
struct Search<'a> {
    candidates: Vec<&'a Cert>,
    store: &'a TrustStore,
    now: SystemTime,
    reasons: Vec<String>,
    checks_left: usize,
}

impl Search<'_> {
    /// Spend one signature check; false once the budget is gone.
    fn spend(&mut self) -> bool {
        if self.checks_left == 0 {
            if !self.reasons.iter().any(|r| r.starts_with("gave up")) {
                self.reasons.push(format!(
                    "gave up after {MAX_SIGNATURE_CHECKS} signature checks"
                ));
            }
            return false;
        }
        self.checks_left -= 1;
        true
    }
}

/// The anchor a chain reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachedAnchor {
    pub label: String,
    pub subject: String,
    pub sha256: String,
    /// Subjects from the leaf up to (not including) the anchor.
    pub path: Vec<String>,
}

/// Find and validate a path from `leaf` to an anchor of `store`.
/// `presented` are the other x5c certificates (untrusted, like the pool).
/// On failure the error says why the most promising path failed.
pub fn verify_chain(
    leaf: &Cert,
    presented: &[Cert],
    store: &TrustStore,
    now: SystemTime,
) -> Result<ReachedAnchor, String> {
    // Build the path even for an expired leaf, so the operator learns both
    // facts (an expired test certificate is also an untrusted one).
    let mut reasons_leaf = Vec::new();
    if !leaf.valid_at(now) {
        reasons_leaf.push(format!(
            "certificate '{}' is not valid now (valid {})",
            leaf.subject(),
            leaf.validity_text()
        ));
    }
    let mut state = Search {
        candidates: presented.iter().chain(store.intermediates()).collect(),
        store,
        now,
        reasons: Vec::new(),
        checks_left: MAX_SIGNATURE_CHECKS,
    };
    let mut path = vec![leaf];
    let found = search(&mut path, &mut state);
    let mut reasons = reasons_leaf;
    match found {
        Some(found) if reasons.is_empty() => Ok(found),
        Some(_) => Err(reasons.join("; ")),
        None => {
            if state.reasons.is_empty() {
                reasons.push(format!(
                    "no trusted root or known intermediate issued '{}' (issuer '{}')",
                    leaf.subject(),
                    leaf.issuer()
                ));
            }
            reasons.extend(state.reasons);
            let mut unique: Vec<String> = Vec::new();
            for r in reasons {
                if !unique.contains(&r) && unique.len() < 4 {
                    unique.push(r);
                }
            }
            Err(unique.join("; "))
        }
    }
}

fn search<'a>(path: &mut Vec<&'a Cert>, st: &mut Search<'a>) -> Option<ReachedAnchor> {
    let child = *path.last()?;
    let Some(issuer_name) = child.issuer_der() else {
        st.reasons.push(format!(
            "the issuer name of '{}' is unreadable",
            child.subject()
        ));
        return None;
    };
    // Intermediates between the leaf and the next issuer (the leaf itself does not count).
    let below = path.len() - 1;

    // An anchor first: the child is itself a trusted certificate, or an anchor issued it.
    let store = st.store;
    for anchor in store.anchors() {
        let a = &anchor.cert;
        let is_anchor_itself = a.der() == child.der() && path.len() > 1;
        if !is_anchor_itself && a.subject_der().as_ref() != Some(&issuer_name) {
            continue;
        }
        if !is_anchor_itself {
            if let Err(why) = issuer_acceptable(a, below, st.now, true) {
                st.reasons.push(why);
                continue;
            }
            if !st.spend() {
                return None;
            }
            let key = match a.public_key() {
                Ok(k) => k,
                Err(e) => {
                    st.reasons.push(format!("root '{}': {e}", a.subject()));
                    continue;
                }
            };
            if let Err(why) = child.verify_signed_by(&key) {
                st.reasons.push(format!(
                    "'{}' names '{}' as issuer but {why}",
                    child.subject(),
                    a.subject()
                ));
                continue;
            }
        }
        let upto = if is_anchor_itself {
            path.len() - 1
        } else {
            path.len()
        };
        return Some(ReachedAnchor {
            label: anchor.label.clone(),
            subject: a.subject(),
            sha256: a.sha256_hex(),
            path: path[..upto].iter().map(|c| c.subject()).collect(),
        });
    }

    if path.len() + 1 >= MAX_PATH_LEN {
        return None;
    }
    for i in 0..st.candidates.len() {
        let cand = st.candidates[i];
        if cand.subject_der().as_ref() != Some(&issuer_name)
            || path.iter().any(|p| p.der() == cand.der())
        {
            continue;
        }
        if let Err(why) = issuer_acceptable(cand, below, st.now, false) {
            st.reasons.push(why);
            continue;
        }
        if !st.spend() {
            return None;
        }
        let verified = cand
            .public_key()
            .map_err(|e| format!("{e}"))
            .and_then(|k| child.verify_signed_by(&k));
        if let Err(why) = verified {
            st.reasons.push(format!(
                "'{}' names '{}' as issuer but {why}",
                child.subject(),
                cand.subject()
            ));
            continue;
        }
        path.push(cand);
        if let Some(found) = search(path, st) {
            return Some(found);
        }
        path.pop();
    }
    None
}

/// May `issuer` sign a certificate that has `below` intermediates under it?
fn issuer_acceptable(
    issuer: &Cert,
    below: usize,
    now: SystemTime,
    is_anchor: bool,
) -> Result<(), String> {
    if !issuer.valid_at(now) {
        return Err(format!(
            "issuer '{}' is not valid now (valid {})",
            issuer.subject(),
            issuer.validity_text()
        ));
    }
    match issuer.basic_constraints() {
        Err(e) => Err(format!("{e}")),
        Ok(Some(bc)) if !bc.ca => Err(format!(
            "'{}' is not a CA (basicConstraints CA:FALSE)",
            issuer.subject()
        )),
        Ok(None) if !is_anchor => Err(format!(
            "intermediate '{}' has no basicConstraints CA:TRUE",
            issuer.subject()
        )),
        Ok(Some(bc)) if bc.path_len_constraint.is_some_and(|n| (n as usize) < below) => {
            Err(format!(
                "'{}' allows {} intermediates below it, the chain has {below}",
                issuer.subject(),
                bc.path_len_constraint.unwrap_or(0)
            ))
        }
        Ok(_) => Ok(()),
    }
}
