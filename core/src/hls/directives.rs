//! LL-HLS delivery directives of a playlist request (RFC 8216bis 6.2.5): `_HLS_msn` and
//! `_HLS_part` ask to block until a segment or part exists (Blocking Playlist Reload),
//! `_HLS_skip` asks for a Playlist Delta Update. Parsed here with the spec's refusals, and
//! decided against where a live playlist stands: answer now, wait, or 400 at once.

/// What a playlist request asks for besides the playlist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    /// `_HLS_msn` (and `_HLS_part`): answer once this exists.
    pub block: Option<BlockFor>,
    /// `_HLS_skip`.
    pub skip: Skip,
}

/// A Blocking Playlist Reload target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFor {
    /// `_HLS_msn`: a Media Sequence Number.
    pub msn: u64,
    /// `_HLS_part`: a Part Index of that segment.
    pub part: Option<u64>,
}

/// `_HLS_skip`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Skip {
    /// Not asked: the whole playlist.
    #[default]
    No,
    /// `YES`: segments older than the Skip Boundary replaced by `EXT-X-SKIP`.
    Yes,
    /// `v2`: the same, and old `EXT-X-DATERANGE` tags too.
    V2,
}

/// Reads the directives from a query string; other parameters are left alone. The reason
/// for a `400` when they are malformed (RFC 8216bis: `_HLS_part` without `_HLS_msn` is one).
pub fn parse(query: &str) -> Result<Directives, &'static str> {
    let (mut msn, mut part, mut skip) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "_HLS_msn" => &mut msn,
            "_HLS_part" => &mut part,
            "_HLS_skip" => &mut skip,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err("a delivery directive (_HLS_msn, _HLS_part, _HLS_skip) appears twice");
        }
    }
    let number = |v: &str, why| {
        v.parse::<u64>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(why)
    };
    let block = match (msn, part) {
        (None, None) => None,
        (None, Some(_)) => return Err("_HLS_part needs _HLS_msn"),
        (Some(m), p) => Some(BlockFor {
            msn: number(m, "_HLS_msn is not a Media Sequence Number")?,
            part: p
                .map(|p| number(p, "_HLS_part is not a Part Index"))
                .transpose()?,
        }),
    };
    let skip = match skip {
        None => Skip::No,
        Some("YES") => Skip::Yes,
        Some("v2") => Skip::V2,
        Some(_) => return Err("_HLS_skip takes YES or v2"),
    };
    Ok(Directives { block, skip })
}

/// Where a live media playlist stands, for deciding a blocking request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// MSN of its last complete Media Segment.
    pub last_segment: Option<u64>,
    /// Its last Partial Segment: MSN of its Parent Segment and Part Index.
    pub last_part: Option<(u64, u64)>,
    /// It carries `EXT-X-ENDLIST`: directives are ignored.
    pub ended: bool,
    /// `PART-TARGET`, ms (0: the playlist has no parts).
    pub part_target_ms: u64,
    /// `EXT-X-TARGETDURATION`, ms: a blocked request waits at most three of them.
    pub target_duration_ms: u64,
    /// The playlist's track's wake key ([`crate::media::wake`]): a blocked request waits for
    /// changes of that key only.
    pub wake_key: u8,
}

/// What to do with a blocking request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The playlist has what was asked for (or will never block): answer.
    Ready,
    /// Not yet: hold the request until the playlist changes (or the timeout).
    Wait,
    /// Beyond what may be waited for: `400` at once, with this reason.
    TooFar(&'static str),
}

/// How many parts ahead of the last one a request may ask for: the Advance Part Limit, three
/// divided by the Part Target Duration when that is under a second, else three.
pub fn advance_part_limit(part_target_ms: u64) -> u64 {
    if part_target_ms > 0 && part_target_ms < 1000 {
        3000 / part_target_ms
    } else {
        3
    }
}

/// How long a blocked request may wait before `503`: three target durations.
pub fn block_timeout_ms(target_duration_ms: u64) -> u64 {
    target_duration_ms.saturating_mul(3)
}

impl Position {
    /// Decides `want` against this position (RFC 8216bis 6.2.5.2): a request for segment M
    /// is satisfied by segment M or later complete; one for part (M, N) by that part or any
    /// later one, a Part Index past the last part of a completed segment meaning part 0 of the
    /// next. `_HLS_msn` more than two past the last complete Media Segment, or `_HLS_part` more
    /// than the Advance Part Limit past the last part, is refused at once.
    pub fn decide(&self, want: BlockFor) -> Decision {
        if self.ended {
            return Decision::Ready;
        }
        if self
            .last_segment
            .is_some_and(|l| want.msn > l.saturating_add(2))
        {
            return Decision::TooFar("_HLS_msn is more than two segments past the playlist's last");
        }
        // A later segment is complete: it holds every part of this one, and part 0 of the next.
        if self.last_segment.is_some_and(|l| l > want.msn) {
            return Decision::Ready;
        }
        match want.part {
            None => {
                if self.last_segment.is_some_and(|s| s >= want.msn) {
                    Decision::Ready
                } else {
                    Decision::Wait
                }
            }
            Some(n) => {
                let limit = advance_part_limit(self.part_target_ms);
                match self.last_part {
                    Some((m, _)) if m > want.msn => Decision::Ready,
                    Some((m, i)) if m == want.msn => {
                        if i >= n {
                            Decision::Ready
                        } else if n - i > limit {
                            Decision::TooFar(
                                "_HLS_part is further past the playlist's last part than the Advance Part Limit",
                            )
                        } else {
                            Decision::Wait
                        }
                    }
                    // A later segment: at least n + 1 parts ahead of the last one.
                    Some(_) if n.saturating_add(1) > limit => Decision::TooFar(
                        "_HLS_part is further past the playlist's last part than the Advance Part Limit",
                    ),
                    _ => Decision::Wait,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse_with_the_specs_refusals() {
        let ok = |q: &str| parse(q).unwrap();
        assert_eq!(ok(""), Directives::default());
        assert_eq!(ok("start=1&x=_HLS_msn"), Directives::default());
        assert_eq!(
            ok("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES"),
            Directives {
                block: Some(BlockFor {
                    msn: 12,
                    part: Some(3)
                }),
                skip: Skip::Yes,
            }
        );
        assert_eq!(
            ok("_HLS_skip=v2&_HLS_msn=7"),
            Directives {
                block: Some(BlockFor { msn: 7, part: None }),
                skip: Skip::V2,
            }
        );
        for (q, why) in [
            ("_HLS_part=1", "_HLS_part needs _HLS_msn"),
            ("_HLS_msn=x", "_HLS_msn is not a Media Sequence Number"),
            ("_HLS_msn=+1", "_HLS_msn is not a Media Sequence Number"),
            ("_HLS_msn=", "_HLS_msn is not a Media Sequence Number"),
            ("_HLS_msn=1&_HLS_part=-1", "_HLS_part is not a Part Index"),
            ("_HLS_msn=1&_HLS_msn=2", "appears twice"),
            ("_HLS_skip=yes", "_HLS_skip takes YES or v2"),
        ] {
            let e = parse(q).unwrap_err();
            assert!(e.contains(why), "{q}: {e}");
        }
    }

    #[test]
    fn advance_part_limit_and_timeout() {
        assert_eq!(advance_part_limit(500), 6);
        assert_eq!(advance_part_limit(334), 8);
        assert_eq!(advance_part_limit(1000), 3);
        assert_eq!(advance_part_limit(2000), 3);
        assert_eq!(advance_part_limit(0), 3);
        assert_eq!(block_timeout_ms(2000), 6000);
    }

    /// Segments through 10 complete, parts of 11 through index 2, 0.5 s parts (limit 6).
    const AT: Position = Position {
        last_segment: Some(10),
        last_part: Some((11, 2)),
        ended: false,
        part_target_ms: 500,
        target_duration_ms: 2_000,
        wake_key: 0,
    };

    #[test]
    fn blocking_requests_wait_for_their_segment_or_part_or_a_later_one() {
        use Decision::*;
        let want = |msn, part| BlockFor { msn, part };
        let too_far = |d: Decision| matches!(d, TooFar(_));
        let table = [
            // Whole segments.
            (want(9, None), Ready),
            (want(10, None), Ready),
            (want(11, None), Wait),
            (want(12, None), Wait),
            // Parts of the open segment, and later.
            (want(10, Some(5)), Ready),
            (want(11, Some(0)), Ready),
            (want(11, Some(2)), Ready),
            (want(11, Some(3)), Wait),
            (want(11, Some(8)), Wait),
            (want(12, Some(0)), Wait),
            (want(12, Some(5)), Wait),
        ];
        for (w, d) in table {
            assert_eq!(AT.decide(w), d, "{w:?}");
        }
        // Too far ahead: 400 at once (two past the last complete segment, 10).
        assert!(too_far(AT.decide(want(13, None))));
        assert!(too_far(AT.decide(want(13, Some(0)))));
        assert!(too_far(AT.decide(want(11, Some(9)))));
        assert!(too_far(AT.decide(want(12, Some(6)))));
        // A playlist with ENDLIST never blocks.
        let ended = Position { ended: true, ..AT };
        assert_eq!(ended.decide(want(99, Some(99))), Ready);
        // Segment 11 completed with parts 0..=3; part 4 of it means part 0 of 12.
        let completed = Position {
            last_segment: Some(11),
            last_part: Some((11, 3)),
            ..AT
        };
        assert_eq!(completed.decide(want(11, Some(3))), Ready);
        assert_eq!(completed.decide(want(11, Some(4))), Wait);
        let next_started = Position {
            last_part: Some((12, 0)),
            ..completed
        };
        assert_eq!(next_started.decide(want(11, Some(4))), Ready);
        // An empty playlist waits for anything.
        let empty = Position {
            last_segment: None,
            last_part: None,
            ended: false,
            part_target_ms: 1000,
            target_duration_ms: 4_000,
            wake_key: 3,
        };
        assert_eq!(empty.decide(want(0, None)), Wait);
        assert_eq!(empty.decide(want(5, Some(2))), Wait);
        // A playlist without parts: a part of a segment followed by a complete one is there.
        let no_parts = Position {
            last_part: None,
            ..AT
        };
        assert_eq!(no_parts.decide(want(9, Some(7))), Ready);
        assert_eq!(no_parts.decide(want(10, Some(0))), Wait);
    }
}
