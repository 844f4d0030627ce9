//! The one thing the daemon reads from its TLS certificate itself: when it expires
//! (`tbsCertificate.validity.notAfter`, RFC 5280 §4.1.2.5), for the expiry log line and metric.
//! A minimal DER walk over the certificate's outer structure; rustls does the real parsing.

/// Why `notAfter` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an X.509 certificate: {0}")]
pub struct X509Error(pub &'static str);

/// One DER element: its tag and contents, and what follows it.
fn element(der: &[u8]) -> Result<(u8, &[u8], &[u8]), X509Error> {
    let (&tag, rest) = der.split_first().ok_or(X509Error("truncated"))?;
    let (&first, rest) = rest.split_first().ok_or(X509Error("truncated"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(X509Error("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(X509Error("truncated"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xa0;

/// `notAfter` of a DER certificate, in Unix seconds.
pub fn not_after(der: &[u8]) -> Result<i64, X509Error> {
    let (tag, cert, _) = element(der)?;
    if tag != SEQUENCE {
        return Err(X509Error("certificate is not a SEQUENCE"));
    }
    let (tag, tbs, _) = element(cert)?;
    if tag != SEQUENCE {
        return Err(X509Error("tbsCertificate is not a SEQUENCE"));
    }
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == VERSION {
        rest = after;
    }
    // serialNumber, signature, issuer; then validity.
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (tag, validity, _) = element(rest)?;
    if tag != SEQUENCE {
        return Err(X509Error("validity is not a SEQUENCE"));
    }
    let (_, _, after) = element(validity)?;
    let (tag, time, _) = element(after)?;
    parse_time(tag, time)
}

fn parse_time(tag: u8, text: &[u8]) -> Result<i64, X509Error> {
    let bad = X509Error("bad time");
    let digits = |s: &[u8]| -> Result<i64, X509Error> {
        s.iter().try_fold(0i64, |a, &b| {
            if b.is_ascii_digit() {
                Ok(a * 10 + i64::from(b - b'0'))
            } else {
                Err(bad)
            }
        })
    };
    let (year, rest) = match tag {
        // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY.
        UTC_TIME if text.len() == 13 => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return Err(bad),
    };
    if rest[10] != b'Z' {
        return Err(bad);
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let (h, m, s) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(bad);
    }
    Ok(crate::time::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// DER of `tag` around `body`.
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if body.len() < 0x80 {
            out.push(body.len() as u8);
        } else {
            out.push(0x82);
            out.extend((body.len() as u16).to_be_bytes());
        }
        out.extend(body);
        out
    }

    fn cert(version: bool, not_after: (u8, &[u8])) -> Vec<u8> {
        let mut tbs = Vec::new();
        if version {
            tbs.extend(tlv(0xa0, &tlv(0x02, &[2])));
        }
        tbs.extend(tlv(0x02, &[0x01, 0x23]));
        tbs.extend(tlv(SEQUENCE, &tlv(0x06, &[1, 2, 3])));
        tbs.extend(tlv(SEQUENCE, &[0u8; 200]));
        let mut validity = tlv(UTC_TIME, b"240101000000Z");
        validity.extend(tlv(not_after.0, not_after.1));
        tbs.extend(tlv(SEQUENCE, &validity));
        tbs.extend(tlv(SEQUENCE, &[]));
        let mut c = tlv(SEQUENCE, &tbs);
        c.extend(tlv(SEQUENCE, &[]));
        tlv(SEQUENCE, &c)
    }

    #[test]
    fn not_after_in_both_time_forms() {
        let cases: [(bool, u8, &[u8], i64); 5] = [
            (true, UTC_TIME, b"270106120000Z", 1_799_236_800),
            (false, UTC_TIME, b"700101000000Z", 0),
            (true, UTC_TIME, b"491231235959Z", 2_524_607_999),
            (true, GENERALIZED_TIME, b"20500101000000Z", 2_524_608_000),
            (true, GENERALIZED_TIME, b"99991231235959Z", 253_402_300_799),
        ];
        for (version, tag, text, want) in cases {
            assert_eq!(not_after(&cert(version, (tag, text))), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn bad_certificates_are_errors() {
        assert!(not_after(b"").is_err());
        assert!(not_after(b"-----BEGIN CERTIFICATE-----").is_err());
        assert!(not_after(&cert(true, (UTC_TIME, b"27010612000Z"))).is_err());
        assert!(not_after(&cert(true, (UTC_TIME, b"271306120000Z"))).is_err());
        assert!(not_after(&cert(true, (0x04, b"270106120000Z"))).is_err());
        let c = cert(true, (UTC_TIME, b"270106120000Z"));
        for cut in 0..c.len() {
            assert!(not_after(&c[..cut]).is_err(), "cut {cut}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(der in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = not_after(&der);
        }
    }
}
