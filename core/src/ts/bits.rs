//! A bit reader over RBSP (NAL unit payloads with emulation prevention removed), for the
//! parameter sets and headers the demuxer has to read.

use super::EsError;

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`) from a NAL unit.
pub(crate) fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// `num/den` reduced, when both are non-zero and fit in 32 bits once reduced.
pub(crate) fn fraction(num: u64, den: u64) -> Option<(u32, u32)> {
    if num == 0 || den == 0 {
        return None;
    }
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    Some((u32::try_from(num / a).ok()?, u32::try_from(den / a).ok()?))
}

/// A picture size read from an SPS (`what`), when both sides are within 1..=16384.
pub(crate) fn picture_size(
    what: &'static str,
    width: u64,
    height: u64,
) -> Result<(u32, u32), EsError> {
    let size = |v: u64| u32::try_from(v).ok().filter(|&v| v > 0 && v <= 16384);
    match (size(width), size(height)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(EsError::Invalid {
            what,
            why: format!("picture size {width}x{height}"),
        }),
    }
}

/// MSB-first bit reader; every read checks bounds and reports what was being read.
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Bits<'a> {
        Bits { data, pos: 0, what }
    }

    pub(crate) fn bit(&mut self) -> Result<u32, EsError> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(EsError::Truncated(self.what))?;
        let v = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(u32::from(v))
    }

    /// Up to 32 bits.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, EsError> {
        let mut v = 0u32;
        for _ in 0..n.min(32) {
            v = (v << 1) | self.bit()?;
        }
        Ok(v)
    }

    /// Up to 64 bits.
    pub(crate) fn bits64(&mut self, n: u32) -> Result<u64, EsError> {
        let mut v = 0u64;
        for _ in 0..n.min(64) {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), EsError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(EsError::Truncated(self.what))?;
        if end > self.data.len() * 8 {
            return Err(EsError::Truncated(self.what));
        }
        self.pos = end;
        Ok(())
    }

    /// Unsigned Exp-Golomb, limited to 32 bits of value.
    pub(crate) fn ue(&mut self) -> Result<u32, EsError> {
        let mut zeros = 0u32;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(EsError::Invalid {
                    what: self.what,
                    why: "Exp-Golomb code longer than 32 bits".into(),
                });
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// Signed Exp-Golomb.
    pub(crate) fn se(&mut self) -> Result<i32, EsError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_sizes_outside_1_to_16384_are_refused() {
        assert_eq!(
            picture_size("H.264 SPS", 1920, 1080).ok(),
            Some((1920, 1080))
        );
        assert_eq!(picture_size("H.264 SPS", 16384, 1).ok(), Some((16384, 1)));
        for (w, h) in [(0, 1080), (1920, 0), (16385, 1080), (1920, u64::MAX)] {
            let e = picture_size("H.265 SPS", w, h).unwrap_err().to_string();
            assert!(
                e.contains("H.265 SPS") && e.contains(&format!("{w}x{h}")),
                "{e}"
            );
        }
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
        assert_eq!(rbsp(&[0, 3, 0]), vec![0, 3, 0]);
    }

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 → 0, 1, 2, 3, 4 (se: 0, 1, -1, 2, -2)
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut b = Bits::new(&data, "t");
        let v: Vec<u32> = (0..5).map(|_| b.ue().unwrap()).collect();
        assert_eq!(v, vec![0, 1, 2, 3, 4]);
        let mut b = Bits::new(&data, "t");
        let v: Vec<i32> = (0..5).map(|_| b.se().unwrap()).collect();
        assert_eq!(v, vec![0, 1, -1, 2, -2]);
        assert!(b.bits(8).is_err());
    }
}
