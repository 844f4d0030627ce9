//! A manifest's answer heads rendered once per version: the 200 and the 304 head of a
//! keep-alive answer, complete but for the `Date` value. A hit then costs two copies around
//! today's date (cached per second by the caller): no formatting, no allocation, and a
//! conditional request (`If-None-Match`) is as cheap. What it writes is byte for byte what
//! [`answer_object`] writes for the same request.

use super::answer::{answer_object, not_modified, Answer, Conditions, Served};
use super::status::Status;

/// The heads of one manifest version (see the module docs).
#[derive(Debug)]
pub struct PreparedHeads {
    /// What the heads were rendered with; another value (an edited channel) is answered by
    /// [`answer_object`] until the next version.
    cache_control: Box<[u8]>,
    content_type: Box<[u8]>,
    len: u64,
    etag: Box<str>,
    /// The whole 200 head without its `Date` line, which goes at `split`.
    ok: Box<[u8]>,
    /// The whole 304 head likewise.
    not_modified: Box<[u8]>,
    /// Where the `Date` line goes in each head: right after its status line.
    ok_split: usize,
    not_modified_split: usize,
}

/// The `Date` header as [`answer_object`] writes it first, with a placeholder value that the
/// prepared heads cut out again.
const DATE_PLACEHOLDER: &str = "\u{0}";

impl PreparedHeads {
    /// Renders the heads answering for `obj` (a manifest: `obj.ranges` false), whose
    /// `Last-Modified` is `last_modified`.
    pub fn new(obj: &Served<'_>, last_modified: &str) -> PreparedHeads {
        let render = |cond: &Conditions<'_>| {
            let mut out = Vec::with_capacity(384);
            answer_object(&mut out, cond, obj, DATE_PLACEHOLDER, last_modified, true);
            cut_date(out)
        };
        let (ok, ok_split) = render(&Conditions::default());
        let etag = obj.etag.as_bytes();
        let (not_modified, not_modified_split) = render(&Conditions {
            if_none_match: Some(etag),
            ..Conditions::default()
        });
        PreparedHeads {
            cache_control: obj.cache_control.into(),
            content_type: obj.content_type.into(),
            len: obj.len,
            etag: obj.etag.into(),
            ok,
            not_modified,
            ok_split,
            not_modified_split,
        }
    }

    /// Whether these heads were rendered for `obj` as it is served now.
    pub fn fits(&self, obj: &Served<'_>) -> bool {
        !obj.ranges
            && obj.len == self.len
            && *obj.etag == *self.etag
            && obj.cache_control == &*self.cache_control
            && obj.content_type == &*self.content_type
    }

    /// Writes the keep-alive answer to `cond` for the object these heads [`fit`](Self::fits)
    /// into `out`, with `date` (now, as an HTTP date) as its `Date`.
    pub fn answer(
        &self,
        out: &mut Vec<u8>,
        cond: &Conditions<'_>,
        obj: &Served<'_>,
        date: &str,
    ) -> Answer {
        let (head, split, status, body) = if not_modified(cond, obj) {
            (
                &self.not_modified,
                self.not_modified_split,
                Status::NOT_MODIFIED,
                None,
            )
        } else {
            let len = usize::try_from(self.len).unwrap_or(usize::MAX);
            (&self.ok, self.ok_split, Status::OK, Some(0..len))
        };
        out.extend_from_slice(&head[..split]);
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&head[split..]);
        Answer { status, body }
    }
}

/// `head` without its `Date: <placeholder>\r\n` line, and where that line was.
fn cut_date(mut head: Vec<u8>) -> (Box<[u8]>, usize) {
    let line = format!("Date: {DATE_PLACEHOLDER}\r\n");
    let at = head
        .windows(line.len())
        .position(|w| w == line.as_bytes())
        .unwrap_or(head.len());
    let end = at.saturating_add(line.len()).min(head.len());
    head.drain(at..end);
    (head.into_boxed_slice(), at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const LM_MS: u64 = 784_111_777_000;
    const DATE: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

    fn playlist() -> Served<'static> {
        Served {
            len: 417,
            content_type: b"application/vnd.apple.mpegurl",
            etag: "\"p-1f-7\"",
            last_modified_unix_ms: LM_MS + 250,
            cache_control: b"public, max-age=1",
            ranges: false,
        }
    }

    fn slow(cond: &Conditions<'_>, obj: &Served<'_>) -> (Answer, Vec<u8>) {
        let mut out = Vec::new();
        let a = answer_object(&mut out, cond, obj, DATE, LM, true);
        (a, out)
    }

    fn fast(cond: &Conditions<'_>, obj: &Served<'_>) -> (Answer, Vec<u8>) {
        let heads = PreparedHeads::new(obj, LM);
        assert!(heads.fits(obj));
        let mut out = Vec::new();
        let a = heads.answer(&mut out, cond, obj, DATE);
        (a, out)
    }

    #[test]
    fn the_same_bytes_as_the_formatted_answer() {
        let obj = playlist();
        let table: [(Conditions<'_>, Status); 6] = [
            (Conditions::default(), Status::OK),
            (
                Conditions {
                    if_none_match: Some(b"\"p-1f-7\""),
                    ..Conditions::default()
                },
                Status::NOT_MODIFIED,
            ),
            (
                Conditions {
                    if_none_match: Some(b"\"p-1f-6\", \"p-1f-7\""),
                    ..Conditions::default()
                },
                Status::NOT_MODIFIED,
            ),
            (
                Conditions {
                    if_none_match: Some(b"\"other\""),
                    ..Conditions::default()
                },
                Status::OK,
            ),
            (
                Conditions {
                    if_modified_since: Some(LM),
                    ..Conditions::default()
                },
                Status::NOT_MODIFIED,
            ),
            // A manifest is sent whole whatever the Range says.
            (
                Conditions {
                    range: Some(b"bytes=0-9"),
                    ..Conditions::default()
                },
                Status::OK,
            ),
        ];
        for (cond, status) in table {
            let (a, bytes) = fast(&cond, &obj);
            assert_eq!(a.status, status, "{cond:?}");
            assert_eq!((a, bytes), slow(&cond, &obj), "{cond:?}");
        }
    }

    #[test]
    fn the_date_sits_right_after_the_status_line() {
        let (_, bytes) = fast(&Conditions::default(), &playlist());
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(&format!("HTTP/1.1 200 OK\r\nDate: {DATE}\r\n")),
            "{text}"
        );
        assert!(text.ends_with("Content-Length: 417\r\n\r\n"), "{text}");
    }

    #[test]
    fn heads_rendered_for_another_value_do_not_fit() {
        let heads = PreparedHeads::new(&playlist(), LM);
        let edited = Served {
            cache_control: b"public, max-age=2",
            ..playlist()
        };
        let next = Served {
            etag: "\"p-1f-8\"",
            ..playlist()
        };
        let longer = Served {
            len: 418,
            ..playlist()
        };
        let mpd = Served {
            content_type: b"application/dash+xml",
            ..playlist()
        };
        let segment = Served {
            ranges: true,
            ..playlist()
        };
        for other in [edited, next, longer, mpd, segment] {
            assert!(!heads.fits(&other), "{other:?}");
        }
    }

    proptest! {
        #[test]
        fn any_manifest_and_condition_match_the_formatted_answer(
            len in 0u64..10_000_000,
            etag in "\"[a-z0-9-]{1,20}\"",
            cc in "[ -~]{0,40}",
            inm in proptest::option::of("[ -~]{0,40}"),
            ims in proptest::option::of("[ -~]{0,40}"),
        ) {
            let obj = Served {
                len,
                content_type: b"application/dash+xml",
                etag: &etag,
                last_modified_unix_ms: LM_MS,
                cache_control: cc.as_bytes(),
                ranges: false,
            };
            let cond = Conditions {
                if_none_match: inm.as_deref().map(str::as_bytes),
                if_modified_since: ims.as_deref(),
                range: None,
            };
            prop_assert_eq!(fast(&cond, &obj), slow(&cond, &obj));
            let matching = Conditions { if_none_match: Some(etag.as_bytes()), ..cond };
            prop_assert_eq!(fast(&matching, &obj), slow(&matching, &obj));
        }
    }
}
