//! The labels requests are counted under: listener, object type, status class.

/// Which listener a request or connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Encoders.
    Ingest,
    /// Players and CDNs.
    Pull,
}

impl Listener {
    /// Both, in label order.
    pub const ALL: [Listener; 2] = [Listener::Ingest, Listener::Pull];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Listener::Ingest => "ingest",
            Listener::Pull => "pull",
        }
    }
}

/// What a pull request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// Playlists and manifests.
    Manifest,
    /// Media and init segments (and anything else under an endpoint).
    Segment,
}

impl ObjectType {
    /// Both, in label order.
    pub const ALL: [ObjectType; 2] = [ObjectType::Manifest, ObjectType::Segment];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Manifest => "manifest",
            ObjectType::Segment => "segment",
        }
    }

    /// Classifies a request path by its extension.
    pub fn of_path(path: &str) -> ObjectType {
        let p = path.as_bytes();
        let ends =
            |ext: &[u8]| p.len() >= ext.len() && p[p.len() - ext.len()..].eq_ignore_ascii_case(ext);
        if ends(b".m3u8") || ends(b".mpd") {
            ObjectType::Manifest
        } else {
            ObjectType::Segment
        }
    }
}

/// Status class labels, by [`status_class`] index.
pub const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Index into [`STATUS_CLASSES`]; `None` for what is not a final status (0: nothing was sent).
pub fn status_class(status: u16) -> Option<usize> {
    match status {
        200..=299 => Some(0),
        300..=399 => Some(1),
        400..=499 => Some(2),
        500..=599 => Some(3),
        _ => None,
    }
}
