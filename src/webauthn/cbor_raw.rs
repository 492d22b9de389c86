//! Byte-exact CBOR navigation. Graph needs the attestation statement and the
//! authenticator data exactly as the key produced them, so instead of decoding
//! and re-encoding we measure where each CBOR item starts and ends.

use super::ParseError;

/// Nesting deeper than this is refused (no real CTAP structure comes close).
const MAX_DEPTH: usize = 16;

/// Length in bytes of the single CBOR data item at the start of `bytes`.
/// Definite lengths only (CTAP2 canonical CBOR forbids indefinite ones).
pub fn item_len(bytes: &[u8]) -> Result<usize, ParseError> {
    item_len_at(bytes, 0, 0)
}

fn err(why: impl Into<String>) -> ParseError {
    ParseError::new("CBOR item", why)
}

/// Reads the argument of the head at `pos`; returns (major type, argument, head length).
pub fn head(bytes: &[u8], pos: usize) -> Result<(u8, u64, usize), ParseError> {
    let first = *bytes.get(pos).ok_or_else(|| err("truncated"))?;
    let major = first >> 5;
    let info = first & 0x1f;
    let (arg, extra) = match info {
        0..=23 => (u64::from(info), 0),
        24..=27 => {
            let n = 1usize << (info - 24);
            let slice = bytes
                .get(pos + 1..pos + 1 + n)
                .ok_or_else(|| err("truncated"))?;
            (
                slice.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
                n,
            )
        }
        31 => return Err(err("indefinite lengths are not allowed in CTAP2")),
        _ => return Err(err(format!("reserved additional information {info}"))),
    };
    Ok((major, arg, 1 + extra))
}

fn item_len_at(bytes: &[u8], pos: usize, depth: usize) -> Result<usize, ParseError> {
    if depth > MAX_DEPTH {
        return Err(err("nested too deeply"));
    }
    let (major, arg, head_len) = head(bytes, pos)?;
    let mut end = pos + head_len;
    match major {
        0 | 1 | 7 => {}
        2 | 3 => {
            let len = usize::try_from(arg).map_err(|_| err("length too large"))?;
            end = end
                .checked_add(len)
                .ok_or_else(|| err("length too large"))?;
        }
        4 | 5 => {
            let per = if major == 5 { 2 } else { 1 };
            let count = arg.checked_mul(per).ok_or_else(|| err("count too large"))?;
            // Every item takes at least one byte: a count beyond the input is a lie.
            if count > (bytes.len() - end) as u64 {
                return Err(err("truncated"));
            }
            for _ in 0..count {
                end += item_len_at(bytes, end, depth + 1)?;
            }
        }
        6 => end += item_len_at(bytes, end, depth + 1)?,
        _ => unreachable!("major type is 3 bits"),
    }
    if end > bytes.len() {
        return Err(err("truncated"));
    }
    Ok(end - pos)
}

/// The raw bytes of one map key and its value.
pub type RawEntry<'a> = (&'a [u8], &'a [u8]);

/// For a CBOR map at the start of `bytes`, the raw byte spans of each (key, value).
pub fn map_entries(bytes: &[u8]) -> Result<Vec<RawEntry<'_>>, ParseError> {
    let (major, count, head_len) = head(bytes, 0)?;
    if major != 5 {
        return Err(err("expected a map"));
    }
    if count > bytes.len() as u64 {
        return Err(err("truncated"));
    }
    let mut pos = head_len;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let klen = item_len_at(bytes, pos, 1)?;
        let key = &bytes[pos..pos + klen];
        pos += klen;
        let vlen = item_len_at(bytes, pos, 1)?;
        let value = &bytes[pos..pos + vlen];
        pos += vlen;
        out.push((key, value));
    }
    Ok(out)
}

/// The contents of a CBOR byte string item (the whole slice must be that item).
pub fn bytes_content(item: &[u8]) -> Result<&[u8], ParseError> {
    let (major, len, head_len) = head(item, 0)?;
    if major != 2 {
        return Err(err("expected a byte string"));
    }
    item.get(head_len..head_len + len as usize)
        .ok_or_else(|| err("truncated"))
}

/// Encode a CBOR head (major type + argument) in the shortest form.
pub fn encode_head(major: u8, arg: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend([m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(arg.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_nested_items_and_rejects_lies() {
        // {1: h'0102', 2: [3, "ab"]} followed by trailing garbage
        let data = [
            0xa2, 0x01, 0x42, 1, 2, 0x02, 0x82, 0x03, 0x62, b'a', b'b', 0xff,
        ];
        assert_eq!(item_len(&data).unwrap(), 11);
        let entries = map_entries(&data).unwrap();
        assert_eq!(entries[0].1, &[0x42, 1, 2]);
        assert_eq!(bytes_content(entries[0].1).unwrap(), &[1, 2]);
        assert!(item_len(&data[..10]).is_err());
        // a byte string claiming 2^32 bytes
        assert!(item_len(&[0x5a, 0xff, 0xff, 0xff, 0xff, 0]).is_err());
        // an array claiming 2^64-1 items
        assert!(item_len(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        // indefinite length
        assert!(item_len(&[0x9f, 0xff]).is_err());
        // deep nesting
        assert!(item_len(&[0x81; 40]).is_err());
    }

    #[test]
    fn encodes_shortest_heads() {
        let mut out = vec![];
        encode_head(2, 23, &mut out);
        encode_head(2, 24, &mut out);
        encode_head(3, 300, &mut out);
        assert_eq!(out, [0x57, 0x58, 24, 0x79, 0x01, 0x2c]);
    }
}
