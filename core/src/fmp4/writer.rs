//! Writing boxes: each box is written header first with a placeholder size, its children
//! after it, and the size patched when the closure returns, so sizes are always right.

use super::FourCc;

/// An append-only buffer of boxes.
#[derive(Debug, Default)]
pub struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    /// An empty buffer.
    pub fn new() -> BoxWriter {
        BoxWriter::default()
    }

    /// An empty buffer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> BoxWriter {
        BoxWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// A box whose body `body` writes. Boxes are limited to 4 GiB minus one: callers bound
    /// their inputs far below that (a 32-bit size is all CMAF segments use).
    pub fn bx(&mut self, typ: &FourCc, body: impl FnOnce(&mut BoxWriter)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(typ);
        body(self);
        let size = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        self.patch_u32(start, size);
    }

    /// A full box: version and 24-bit flags before the body.
    pub fn full(
        &mut self,
        typ: &FourCc,
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut BoxWriter),
    ) {
        self.bx(typ, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
            body(w);
        });
    }

    /// Big-endian field writers, as every box field is.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Bytes written so far (the offset the next write lands at).
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites four bytes at `at` (e.g. a `trun` data offset known only after `moof`).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(dst) = self.buf.get_mut(at..at + 4) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// The bytes written.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_patched_for_nested_boxes() {
        let mut w = BoxWriter::new();
        w.bx(b"moov", |w| {
            w.full(b"mvhd", 1, 0x000102, |w| w.u32(7));
            w.bx(b"free", |_| {});
        });
        let b = w.into_vec();
        assert_eq!(b.len(), 8 + 16 + 8);
        assert_eq!(&b[..8], &[0, 0, 0, 32, b'm', b'o', b'o', b'v']);
        assert_eq!(
            &b[8..24],
            &[0, 0, 0, 16, b'm', b'v', b'h', b'd', 1, 0, 1, 2, 0, 0, 0, 7]
        );
        assert_eq!(&b[24..], &[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    }
}
