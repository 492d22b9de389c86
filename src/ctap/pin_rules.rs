//! The PIN rules a key enforces beyond CTAP's 4..=63: its minPINLength and
//! maxPINLength (CTAP 2.2), and a complexity policy when it announces one
//! (`pinComplexityPolicy`, CTAP 2.2) or is a model known to enforce one
//! (Token2 PIN+). A PIN that breaks them is refused by the key with
//! PIN_POLICY_VIOLATION — after preflight said yes — so glasskey checks first.
//!
//! CTAP does not say what a complexity policy contains (only a URL), so one
//! rule set is applied to every such key: Token2's published PIN+ rules, read
//! strictly, since they are the strictest known. Numeric PINs: at least 6
//! digits, no digit more than 3 times, no ascending or descending run of 3,
//! not a palindrome. PINs with letters: at least 10 characters and characters
//! of at least two kinds (upper case, lower case, digits, others).

use crate::aaguid::Aaguid;

use super::Info;

/// AAGUIDs of Token2 PIN+ keys ("TOKEN2 PIN Plus Security Key Series", FIDO MDS).
const TOKEN2_PIN_PLUS: &[&str] = &["eabb46cc-e241-80bf-ae9e-96fa6d2975cf"];

/// Shortest numeric and alphanumeric PINs a complexity policy accepts.
pub const COMPLEX_NUMERIC_MIN: usize = 6;
pub const COMPLEX_ALPHANUMERIC_MIN: usize = 10;
/// Most occurrences of one character in a complex PIN.
const MAX_REPEATS: usize = 3;
/// Shortest ascending or descending run refused in a complex PIN.
const SEQUENCE_RUN: usize = 3;

/// What a key accepts as a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinRules {
    pub min_len: usize,
    pub max_len: usize,
    pub complexity: bool,
}

impl PinRules {
    /// The rules of the key that sent `info`.
    pub fn of(info: &Info) -> PinRules {
        PinRules {
            min_len: usize::try_from(info.min_pin_len()).unwrap_or(usize::MAX),
            max_len: usize::try_from(info.max_pin_len()).unwrap_or(63),
            complexity: info.pin_complexity_policy == Some(true)
                || known_complexity_model(&info.aaguid),
        }
    }

    /// Rules with complexity on and CTAP's lengths (the virtual strict-pin profile).
    pub fn complex(min_len: usize, max_len: usize) -> PinRules {
        PinRules {
            min_len,
            max_len,
            complexity: true,
        }
    }
}

/// Models that enforce PIN complexity without announcing it in getInfo.
pub fn known_complexity_model(aaguid: &Aaguid) -> bool {
    TOKEN2_PIN_PLUS
        .iter()
        .any(|a| a.parse::<Aaguid>().is_ok_and(|known| known == *aaguid))
}

/// Why `pin` breaks `rules`: `Ok` or the first rule it breaks, in words.
pub fn check(pin: &str, rules: &PinRules) -> Result<(), String> {
    let chars: Vec<char> = pin.chars().collect();
    let n = chars.len();
    if n < rules.min_len {
        return Err(format!(
            "it has {n} characters, fewer than the key's minimum of {}",
            rules.min_len
        ));
    }
    if n > rules.max_len || pin.len() > 63 {
        return Err(format!(
            "it is longer than the key's maximum of {} characters",
            rules.max_len.min(63)
        ));
    }
    if !rules.complexity {
        return Ok(());
    }
    let numeric = chars.iter().all(char::is_ascii_digit);
    if numeric && n < COMPLEX_NUMERIC_MIN {
        return Err(format!(
            "a numeric PIN needs at least {COMPLEX_NUMERIC_MIN} digits on this key"
        ));
    }
    if !numeric {
        if n < COMPLEX_ALPHANUMERIC_MIN {
            return Err(format!(
                "a PIN with letters needs at least {COMPLEX_ALPHANUMERIC_MIN} characters on this key"
            ));
        }
        let kinds = [
            chars.iter().any(char::is_ascii_uppercase),
            chars.iter().any(char::is_ascii_lowercase),
            chars.iter().any(char::is_ascii_digit),
            chars.iter().any(|c| !c.is_ascii_alphanumeric()),
        ];
        if kinds.iter().filter(|k| **k).count() < 2 {
            return Err(
                "a PIN with letters must mix two kinds of characters (e.g. letters and digits) on this key"
                    .into(),
            );
        }
    }
    for c in &chars {
        if chars.iter().filter(|x| *x == c).count() > MAX_REPEATS {
            return Err(format!("a character appears more than {MAX_REPEATS} times"));
        }
    }
    for w in chars.windows(SEQUENCE_RUN) {
        let steps: Vec<i64> = w
            .windows(2)
            .map(|p| i64::from(u32::from(p[1])) - i64::from(u32::from(p[0])))
            .collect();
        if steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1) {
            let run: String = w.iter().collect();
            return Err(format!("it contains the sequence {run}"));
        }
    }
    if chars.iter().eq(chars.iter().rev()) {
        return Err("it reads the same backwards (a palindrome)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPLEX: PinRules = PinRules {
        min_len: 4,
        max_len: 63,
        complexity: true,
    };

    #[test]
    fn token2_examples_are_refused_and_fine_pins_pass() {
        for bad in [
            "123456",
            "654321",
            "111111",
            "321123",
            "69233296",
            "111123",
            "990000",
            "12345",
            "ABCDEFGHJK",
            "KQWXRTPLMN",
            "abcdefghij",
            "A1B2C3",
        ] {
            assert!(check(bad, &COMPLEX).is_err(), "{bad} must be refused");
        }
        for good in ["5718293046", "830417", "K7Q9R4W3T6", "Glass9Key7Mx"] {
            assert_eq!(check(good, &COMPLEX), Ok(()), "{good}");
        }
    }

    #[test]
    fn lengths_apply_without_complexity() {
        let plain = PinRules {
            min_len: 6,
            max_len: 8,
            complexity: false,
        };
        assert!(check("12345", &plain).is_err());
        assert!(check("123456789", &plain).is_err());
        assert_eq!(check("111111", &plain), Ok(()));
    }

    #[test]
    fn token2_pin_plus_is_known_by_aaguid() {
        let a: Aaguid = "eabb46cc-e241-80bf-ae9e-96fa6d2975cf".parse().unwrap();
        assert!(known_complexity_model(&a));
        assert!(!known_complexity_model(&Aaguid::virtual_model(1)));
    }
}
