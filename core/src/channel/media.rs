//! Channel media state (placeholder, being written)
