//! AuthKey: an endpoint may require one of several keys in a request header, so a key can be
//! rotated without downtime (add the new one, move clients, remove the old one).

use super::ct_eq;

/// Whether `presented` (the header's value, if any) is one of `keys`. No keys: open.
/// Every key is compared (in constant time), so the time taken does not reveal which matched.
pub fn auth_key_ok(keys: &[String], presented: Option<&[u8]>) -> bool {
    if keys.is_empty() {
        return true;
    }
    let Some(p) = presented else { return false };
    let p = p.trim_ascii();
    let mut ok = false;
    for k in keys {
        ok |= ct_eq(k.as_bytes(), p);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row<'a> = (&'a [String], Option<&'a [u8]>, bool);

    #[test]
    fn table() {
        let two = vec!["old-key".to_string(), "new-key".to_string()];
        let table: &[Row<'_>] = &[
            (&[], None, true),
            (&[], Some(b"anything"), true),
            (&two, None, false),
            (&two, Some(b""), false),
            (&two, Some(b"old-key"), true),
            (&two, Some(b"new-key"), true),
            (&two, Some(b" new-key "), true),
            (&two, Some(b"new-kez"), false),
            (&two, Some(b"new-key2"), false),
        ];
        for (keys, p, ok) in table {
            assert_eq!(auth_key_ok(keys, *p), *ok, "{keys:?} {p:?}");
        }
    }
}
