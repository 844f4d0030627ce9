//! Why bytes from outside (a playlist, an MPD) could not be used: a kind a caller can act on,
//! and a detail for the person reading the error (with the line or element at fault).

use std::fmt;

/// What kind of problem a [`ParseError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// Not text in the expected encoding (UTF-8).
    Encoding,
    /// Not the format at all, or malformed: not XML, no `#EXTM3U`, a line that cannot be read.
    Syntax,
    /// A required element, attribute or segment URI is missing.
    Missing,
    /// A value of the wrong form or out of range.
    Invalid,
    /// Well-formed, but something the origin does not take (byte ranges, `SegmentList`,
    /// remote Periods, encrypted input).
    Unsupported,
    /// Over a bound that protects the origin (segments per Representation).
    Limit,
    /// A URI that points outside what was pushed to the input (absolute, or `..` above it).
    OutsideInput,
}

impl ParseErrorKind {
    /// A short lowercase name (`syntax`, `unsupported`…), for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::Encoding => "encoding",
            ParseErrorKind::Syntax => "syntax",
            ParseErrorKind::Missing => "missing",
            ParseErrorKind::Invalid => "invalid",
            ParseErrorKind::Unsupported => "unsupported",
            ParseErrorKind::Limit => "limit",
            ParseErrorKind::OutsideInput => "outside_input",
        }
    }
}

/// A refused playlist or MPD. Displays as its detail (what encoders' operators read in the
/// 400 answer and the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What kind of problem.
    pub kind: ParseErrorKind,
    /// What exactly, and where.
    pub detail: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// An error of `kind`.
    pub fn new(kind: ParseErrorKind, detail: impl Into<String>) -> ParseError {
        ParseError {
            kind,
            detail: detail.into(),
        }
    }

    /// [`ParseErrorKind::Encoding`].
    pub fn encoding(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::Encoding, detail)
    }

    /// [`ParseErrorKind::Syntax`].
    pub fn syntax(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::Syntax, detail)
    }

    /// [`ParseErrorKind::Missing`].
    pub fn missing(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::Missing, detail)
    }

    /// [`ParseErrorKind::Invalid`].
    pub fn invalid(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::Invalid, detail)
    }

    /// [`ParseErrorKind::Unsupported`].
    pub fn unsupported(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::Unsupported, detail)
    }

    /// [`ParseErrorKind::Limit`].
    pub fn limit(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::Limit, detail)
    }

    /// [`ParseErrorKind::OutsideInput`].
    pub fn outside_input(detail: impl Into<String>) -> ParseError {
        ParseError::new(ParseErrorKind::OutsideInput, detail)
    }

    /// The same error with `prefix` (e.g. `line 7: `) before its detail.
    pub fn prefixed(mut self, prefix: &str) -> ParseError {
        if !prefix.is_empty() {
            self.detail.insert_str(0, prefix);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_its_detail_and_keeps_its_kind_when_prefixed() {
        let e =
            ParseError::unsupported("byte-range segments are not supported").prefixed("line 4: ");
        assert_eq!(
            e.to_string(),
            "line 4: byte-range segments are not supported"
        );
        assert_eq!(e.kind, ParseErrorKind::Unsupported);
        assert_eq!(e.kind.as_str(), "unsupported");
        assert_eq!(ParseError::syntax("x").prefixed("").to_string(), "x");
    }
}
