//! Golden-file comparison for tests: rendered text must equal a checked-in file under
//! `core/testdata/golden/<module>/`. `UPDATE_GOLDEN=1 cargo test -p streampack-core <filter>`
//! rewrites the files (review the diff before committing).

use std::path::PathBuf;

/// Asserts that `actual` equals `core/testdata/golden/<module>/<name>` (or writes it there under
/// `UPDATE_GOLDEN`).
pub(crate) fn assert_golden(module: &str, name: &str, actual: &str) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/golden")
        .join(module)
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
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
