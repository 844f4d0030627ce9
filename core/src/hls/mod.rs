//! HLS (placeholder, being written)
