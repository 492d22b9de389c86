//! Random PINs for sealed keys, from the OS CSPRNG.
//!
//! Digits only by default: a digit PIN types the same on every keyboard layout and
//! on a phone's PIN pad, which matters at 2 AM on an unfamiliar machine. Length
//! comes from the kit policy; the default (10) leaves an attacker who steals a
//! key without its slip 8 guesses against 10^10 before the key blocks itself.

use rand::Rng;
use zeroize::Zeroizing;

use crate::secret::Pin;

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
}
