//! The change counters every protocol's media keeps: one that moves on every change pulls can
//! see (the status included), and one that records the last change of the output itself, so a
//! snapshot whose output did not move reuses the previous renders (and their etags).

/// A media's change counters.
#[derive(Debug)]
pub(crate) struct Versions {
    /// Moves on every change a snapshot shows ([`super::Media::version`]).
    pub current: u64,
    /// `current` at the last change of the output itself (what is rendered).
    pub output: u64,
    /// `output` the cached renders were made at.
    rendered: u64,
    /// `current` at the last change of the low-latency parts alone (a chunk arrived: the
    /// LL-HLS playlists list it, nothing else moved).
    parts: u64,
    /// `parts` the cached part listings were made at.
    parts_rendered: u64,
}

impl Versions {
    /// Counters of a media that has published nothing yet.
    pub fn new() -> Versions {
        Versions {
            current: 1,
            output: 1,
            rendered: 0,
            parts: 1,
            parts_rendered: 1,
        }
    }

    /// The output changed: the next snapshot renders it again.
    pub fn output_changed(&mut self) {
        self.current = self.current.wrapping_add(1);
        self.output = self.current;
    }

    /// Only the parts of a segment being uploaded changed: the next snapshot lists them again
    /// and reuses everything else.
    pub fn parts_changed(&mut self) {
        self.current = self.current.wrapping_add(1);
        self.parts = self.current;
    }

    /// Only the status changed (an object stored or deleted that the output does not serve).
    pub fn status_changed(&mut self) {
        self.current = self.current.wrapping_add(1);
    }

    /// After a change was applied: the output's when `output` says so, else the status's.
    pub fn changed(&mut self, output: bool) {
        if output {
            self.output_changed();
        } else {
            self.status_changed();
        }
    }

    /// Whether a snapshot built now may reuse the previous renders (only the status moved
    /// since they were made); from now on the renders count as current.
    pub fn renders_reusable(&mut self) -> bool {
        let reusable = self.rendered == self.output;
        self.rendered = self.output;
        reusable
    }

    /// Whether the parts changed since the last snapshot listed them; from now on they count
    /// as listed.
    pub fn parts_moved(&mut self) -> bool {
        let moved = self.parts_rendered != self.parts;
        self.parts_rendered = self.parts;
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_are_reused_across_status_changes_only() {
        let mut v = Versions::new();
        assert!(!v.renders_reusable(), "nothing rendered yet");
        assert!(v.renders_reusable());
        v.status_changed();
        assert_eq!((v.current, v.output), (2, 1));
        assert!(v.renders_reusable());
        v.changed(true);
        assert_eq!((v.current, v.output), (3, 3));
        assert!(!v.renders_reusable());
        v.changed(false);
        assert!(v.renders_reusable());
        assert!(!v.parts_moved());
        v.parts_changed();
        assert_eq!((v.current, v.output), (5, 3));
        assert!(
            v.renders_reusable(),
            "parts alone leave the renders as they are"
        );
        assert!(v.parts_moved());
        assert!(!v.parts_moved());
    }
}
