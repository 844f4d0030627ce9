//! 33-bit PTS/DTS and their wrap-around.
//!
//! A 90 kHz 33-bit clock wraps every 2^33 / 90000 s ≈ 26.5 hours; a live channel sees that
//! happen. [`PtsUnwrapper`] maps each raw value to the candidate `raw + k·2^33` nearest to the
//! previous one, so timestamps stay continuous across any number of wraps, and small steps
//! backwards (B-frames, audio slightly behind video) stay small steps backwards.

/// 2^33: the PTS/DTS modulus.
pub const PTS_MODULUS: u64 = 1 << 33;

/// Continuous timestamps from 33-bit ones. One per program (shared by its streams, so video
/// and audio that wrap at slightly different moments stay together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PtsUnwrapper {
    last: Option<u64>,
}

impl PtsUnwrapper {
    /// An unwrapper that takes its first value as is.
    pub fn new() -> PtsUnwrapper {
        PtsUnwrapper::default()
    }

    /// The last unwrapped value, if any.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Unwraps `raw` (only its low 33 bits count) relative to the previous value.
    ///
    /// The first value is taken as is. A value that would land before zero (a stream that
    /// starts just after a wrap and then shows a timestamp from just before it) is kept in the
    /// first epoch instead: the result never goes below zero.
    pub fn unwrap(&mut self, raw: u64) -> u64 {
        let raw = raw & (PTS_MODULUS - 1);
        let v = match self.last {
            None => raw,
            Some(last) => {
                let epoch = last & !(PTS_MODULUS - 1);
                let base = epoch | raw;
                // Candidates in this epoch and its neighbours; take the nearest to `last`.
                let mut best = base;
                for c in [base.checked_sub(PTS_MODULUS), base.checked_add(PTS_MODULUS)]
                    .into_iter()
                    .flatten()
                {
                    if c.abs_diff(last) < best.abs_diff(last) {
                        best = c;
                    }
                }
                best
            }
        };
        self.last = Some(v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_forward_and_back() {
        let mut u = PtsUnwrapper::new();
        assert_eq!(u.unwrap(PTS_MODULUS - 3600), PTS_MODULUS - 3600);
        assert_eq!(u.unwrap(0), PTS_MODULUS);
        // A B-frame's PTS from before the wrap, then after it again.
        assert_eq!(u.unwrap(PTS_MODULUS - 1800), PTS_MODULUS - 1800);
        assert_eq!(u.unwrap(3600), PTS_MODULUS + 3600);
        // Bits above the 33rd are ignored.
        assert_eq!(u.unwrap((5 << 33) | 7200), PTS_MODULUS + 7200);
    }

    #[test]
    fn never_below_zero() {
        let mut u = PtsUnwrapper::new();
        assert_eq!(u.unwrap(100), 100);
        assert_eq!(u.unwrap(PTS_MODULUS - 100), PTS_MODULUS - 100);
    }

    proptest! {
        /// A continuous clock with bounded steps (forward up to 10 s, back up to 1 s) comes
        /// out exactly, whatever the start and however many times it wraps (the start leaves room
        /// for 200 steps back without going below zero).
        #[test]
        fn recovers_a_continuous_clock(start in 20_000_000u64..PTS_MODULUS,
                                       steps in proptest::collection::vec(-90_000i64..900_000, 1..200)) {
            let mut u = PtsUnwrapper::new();
            let mut t = start + 4 * PTS_MODULUS;
            let first = u.unwrap(t);
            prop_assert_eq!(first, start);
            let offset = t - first;
            for s in steps {
                t = t.checked_add_signed(s).unwrap();
                prop_assert_eq!(u.unwrap(t) + offset, t);
            }
        }
    }
}
