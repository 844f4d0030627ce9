//! Lowercase hexadecimal: key ids, keys, digests, generated credentials.

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Hex of either case, an even number of digits, as bytes.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// 32 hex characters as 16 bytes.
pub fn parse16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let k: [u8; 16] = core::array::from_fn(|i| (i * 17) as u8);
        assert_eq!(encode(&k), "00112233445566778899aabbccddeeff");
        assert_eq!(parse16(&encode(&k)), Some(k));
        for bad in ["", "0011", &"g".repeat(32), &"0".repeat(33)] {
            assert_eq!(parse16(bad), None, "{bad:?}");
        }
    }
}
