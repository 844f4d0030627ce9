//! Golden files of the DASH tests, under `core/testdata/golden/dash/` (see [`crate::golden`]).
//! `UPDATE_GOLDEN=1 cargo test -p streampack-core dash` rewrites them.

/// Asserts that `actual` equals the DASH golden file `name`.
pub(crate) fn assert_golden(name: &str, actual: &str) {
    crate::golden::assert_golden("dash", name, actual);
}
