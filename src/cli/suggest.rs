//! Names typed on the command line (accounts, locations, key labels) checked
//! against the kit before anything else happens — before a sign-in, before a key
//! is touched — with "did you mean …" when one is close.

use crate::error::{Error, Result};
use crate::ledger::{Kit, State};

/// Edit distance over characters, case-insensitive, counting a swap of two
/// neighbours as one edit (optimal string alignment): "valut" is one typo away
/// from "vault".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[n][m]
}

/// The closest candidate, if it is close enough to be a typo: at most a third of
/// the word's length (at least 1, at most 3) edits away.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean X? " plus the full list, as the next step of an error.
fn next_step(word: &str, known: &[&str], what: &str) -> String {
    let list = if known.is_empty() {
        format!("the kit has no {what} yet")
    } else {
        format!("known {what}: {}", known.join(", "))
    };
    match closest(word, known.iter().copied()) {
        Some(c) => format!("did you mean '{c}'? ({list})"),
        None => list,
    }
}

/// `upn` is one of the kit's break-glass accounts.
pub fn known_account(kit: &Kit, upn: &str) -> Result<()> {
    if kit.config().account(upn).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = kit
        .config()
        .accounts
        .iter()
        .map(|a| a.upn.as_str())
        .collect();
    Err(Error::input(
        format!("account '{upn}' is not a break-glass account of this kit"),
        next_step(upn, &known, "accounts") + "; add new accounts to glasskey.toml first",
    ))
}

/// `id` is one of the kit's locations.
pub fn known_location(kit: &Kit, id: &str) -> Result<()> {
    if kit.config().location(id).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = kit
        .config()
        .locations
        .iter()
        .map(|l| l.id.as_str())
        .collect();
    Err(Error::input(
        format!("location '{id}' is not in glasskey.toml"),
        next_step(id, &known, "locations"),
    ))
}

/// `label` names a key in service.
pub fn known_label(state: &State, label: &str) -> Result<()> {
    if state.active_keys().any(|k| k.label == label) {
        return Ok(());
    }
    let known: Vec<&str> = state.active_keys().map(|k| k.label.as_str()).collect();
    let retired = state.keys.get(label).is_some_and(|k| k.retired.is_some());
    Err(Error::input(
        if retired {
            format!("key '{label}' is retired")
        } else {
            format!("no key in service is labelled '{label}'")
        },
        next_step(label, &known, "keys"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_closest() {
        assert_eq!(edit_distance("vault", "valut"), 1);
        assert_eq!(edit_distance("vault", "vaults"), 1);
        assert_eq!(edit_distance("office-safe", "office-saf"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let known = ["vault", "office-safe"];
        assert_eq!(closest("vualt", known), Some("vault"));
        assert_eq!(closest("Vault", known), Some("vault"));
        assert_eq!(closest("garage", known), None);
        let upns = ["bg1@contoso.onmicrosoft.com", "bg2@contoso.onmicrosoft.com"];
        assert_eq!(
            closest("bg1@contoso.onmicrosft.com", upns),
            Some("bg1@contoso.onmicrosoft.com")
        );
    }

    #[test]
    fn next_step_names_the_closest_and_the_list() {
        let n = next_step("valt", &["vault", "office-safe"], "locations");
        assert_eq!(
            n,
            "did you mean 'vault'? (known locations: vault, office-safe)"
        );
        assert_eq!(next_step("x", &[], "keys"), "the kit has no keys yet");
    }
}
