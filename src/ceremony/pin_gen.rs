//! Random PINs for sealed keys, from the OS CSPRNG.
//!
//! Digits only by default: a digit PIN types the same on every keyboard layout and
//! on a phone's PIN pad, which matters at 2 AM on an unfamiliar machine. Length
//! comes from the kit policy; the default (10) leaves an attacker who steals a
//! key without its slip 8 guesses against 10^10 before the key blocks itself.

use rand::Rng;
use zeroize::Zeroizing;

use crate::ctap::pin_rules::{self, PinRules, COMPLEX_ALPHANUMERIC_MIN, COMPLEX_NUMERIC_MIN};
use crate::ctap::Info;
use crate::error::{Error, Result};
use crate::secret::Pin;

/// Draws before generation gives up (a fitting PIN takes a handful at most).
const MAX_DRAWS: usize = 10_000;

/// Characters a generated PIN may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinAlphabet {
    Digits,
    /// Upper-case letters and digits without the look-alikes 0/O, 1/I, 2/Z, 5/S, 8/B.
    Unambiguous,
}

impl PinAlphabet {
    fn chars(self) -> &'static [u8] {
        match self {
            PinAlphabet::Digits => b"0123456789",
            PinAlphabet::Unambiguous => b"34679ACDEFGHJKLMNPQRTUVWXY",
        }
    }

    pub fn parse(name: &str) -> Option<PinAlphabet> {
        match name {
            "digits" => Some(PinAlphabet::Digits),
            "unambiguous" => Some(PinAlphabet::Unambiguous),
            _ => None,
        }
    }
}

pub const DEFAULT_PIN_LENGTH: usize = 10;

/// A fresh PIN of `length` characters (clamped to CTAP's 4..=63).
pub fn generate_pin(length: usize, alphabet: PinAlphabet) -> Pin {
    let chars = alphabet.chars();
    let mut rng = rand::rng();
    let mut pin = Zeroizing::new(String::with_capacity(length));
    for _ in 0..length.clamp(4, 63) {
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % chars.len());
        let byte = loop {
            let b = usize::from(rng.next_u32() as u8);
            if b < limit {
                break b;
            }
        };
        pin.push(char::from(chars[byte % chars.len()]));
    }
    Pin::new(pin.to_string())
}

/// Would the key that sent `info` accept `pin`? Checked before the key is
/// touched: its minimum and maximum length, and its complexity policy (see
/// [`crate::ctap::pin_rules`]).
pub fn pin_fits(pin: &Pin, info: &Info) -> Result<()> {
    pin_fits_rules(pin, &PinRules::of(info))
}

/// [`pin_fits`] for rules already read from the key.
pub fn pin_fits_rules(pin: &Pin, rules: &PinRules) -> Result<()> {
    pin_rules::check(pin.expose(), rules).map_err(|why| {
        Error::input(
            format!("the key would refuse this PIN: {why}"),
            "choose another PIN (or let glasskey generate one); the key was not touched",
        )
    })
}

/// A random PIN of at least `length` characters that the key accepts: the
/// length is raised to the key's minimum (and to a complexity policy's
/// minimum), PINs that break a rule are drawn again, and a PIN with letters
/// always mixes letters and digits.
pub fn generate_fitting_pin(rules: &PinRules, length: usize, alphabet: PinAlphabet) -> Result<Pin> {
    let mut want = length.max(rules.min_len).max(4);
    if rules.complexity {
        want = want.max(match alphabet {
            PinAlphabet::Digits => COMPLEX_NUMERIC_MIN,
            PinAlphabet::Unambiguous => COMPLEX_ALPHANUMERIC_MIN,
        });
    }
    let max = rules.max_len.min(63);
    if want > max {
        return Err(Error::input(
            format!("the PIN must have at least {want} characters, but this key takes at most {max}"),
            "lower policy.pin_length in glasskey.toml (or use another key); the key was not touched",
        ));
    }
    for _ in 0..MAX_DRAWS {
        let pin = generate_pin(want, alphabet);
        let mixed = alphabet == PinAlphabet::Digits
            || (pin.expose().chars().any(|c| c.is_ascii_digit())
                && pin.expose().chars().any(|c| c.is_ascii_alphabetic()));
        if mixed && pin_rules::check(pin.expose(), rules).is_ok() {
            return Ok(pin);
        }
    }
    Err(Error::input(
        format!("no {want}-character PIN satisfying this key's rules was found"),
        "set a longer policy.pin_length or another policy.pin_alphabet in glasskey.toml",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_have_the_length_and_alphabet_and_differ() {
        let a = generate_pin(10, PinAlphabet::Digits);
        let b = generate_pin(10, PinAlphabet::Digits);
        assert_eq!(a.expose().len(), 10);
        assert!(a.expose().chars().all(|c| c.is_ascii_digit()));
        assert_ne!(a.expose(), b.expose());
        let u = generate_pin(64, PinAlphabet::Unambiguous);
        assert_eq!(u.expose().len(), 63);
        assert!(!u.expose().contains(['0', 'O', '1', 'I']));
        assert_eq!(generate_pin(1, PinAlphabet::Digits).expose().len(), 4);
    }

    #[test]
    fn digits_are_roughly_uniform() {
        let mut counts = [0usize; 10];
        for _ in 0..200 {
            for c in generate_pin(50, PinAlphabet::Digits).expose().bytes() {
                counts[usize::from(c - b'0')] += 1;
            }
        }
        // 10,000 draws: each digit ~1,000; a broken generator lands far outside.
        assert!(
            counts.iter().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn thousands_of_generated_pins_satisfy_a_complexity_policy() {
        for (alphabet, length) in [
            (PinAlphabet::Digits, 6),
            (PinAlphabet::Digits, 10),
            (PinAlphabet::Unambiguous, 10),
            (PinAlphabet::Unambiguous, 4),
        ] {
            let rules = PinRules::complex(4, 63);
            for _ in 0..3000 {
                let pin = generate_fitting_pin(&rules, length, alphabet).unwrap();
                assert_eq!(
                    pin_rules::check(pin.expose(), &rules),
                    Ok(()),
                    "{alphabet:?}"
                );
                assert!(pin.expose().chars().count() >= length.max(6));
            }
        }
    }

    #[test]
    fn plain_generation_breaks_complexity_often_enough_to_matter() {
        // Why the rules are checked: unfiltered 10-digit PINs fail them often.
        let rules = PinRules::complex(4, 63);
        let failures = (0..4000)
            .filter(|_| {
                pin_rules::check(generate_pin(10, PinAlphabet::Digits).expose(), &rules).is_err()
            })
            .count();
        assert!(failures > 200, "{failures} of 4000");
    }

    #[test]
    fn generation_follows_the_key_lengths_and_refuses_the_impossible() {
        let rules = PinRules {
            min_len: 8,
            max_len: 12,
            complexity: false,
        };
        assert_eq!(
            generate_fitting_pin(&rules, 6, PinAlphabet::Digits)
                .unwrap()
                .expose()
                .len(),
            8
        );
        let e = generate_fitting_pin(&rules, 16, PinAlphabet::Digits).unwrap_err();
        assert!(e.what.contains("at most 12"), "{}", e.what);
        let typed = Pin::new("123456".to_string());
        assert!(pin_fits_rules(&typed, &PinRules::complex(4, 63)).is_err());
    }
}
