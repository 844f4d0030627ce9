//! Golden-file comparison for the DASH tests: rendered text must equal a checked-in file
//! under `core/src/dash/golden/`. `UPDATE_GOLDEN=1 cargo test -p streampack-core dash` rewrites
//! the files (review the diff before committing).

use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/dash/golden")
        .join(name)
}

/// Asserts that `actual` equals the golden file `name` (or rewrites it under `UPDATE_GOLDEN`).
pub(crate) fn assert_golden(name: &str, actual: &str) {
    let p = path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", p.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}
