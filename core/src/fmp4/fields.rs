//! Fields of the fragment boxes every fMP4 reader and writer here uses: the `tfhd` and `trun`
//! flag bits (ISO/IEC 14496-12 8.8.7, 8.8.8) and big-endian reads that say `None` past the end.

pub(crate) const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
pub(crate) const TFHD_SAMPLE_DESCRIPTION: u32 = 0x02;
pub(crate) const TFHD_DEFAULT_DURATION: u32 = 0x08;
pub(crate) const TFHD_DEFAULT_SIZE: u32 = 0x10;
pub(crate) const TFHD_DEFAULT_FLAGS: u32 = 0x20;
pub(crate) const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
pub(crate) const TRUN_DATA_OFFSET: u32 = 0x001;
pub(crate) const TRUN_FIRST_FLAGS: u32 = 0x004;
pub(crate) const TRUN_DURATION: u32 = 0x100;
pub(crate) const TRUN_SIZE: u32 = 0x200;
pub(crate) const TRUN_FLAGS: u32 = 0x400;
pub(crate) const TRUN_CTO: u32 = 0x800;

/// The big-endian `u32` at `at`, if `b` holds it.
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The big-endian `u64` at `at`, if `b` holds it.
pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some((u64::from(be32(b, at)?) << 32) | u64::from(be32(b, at + 4)?))
}

/// `baseMediaDecodeTime` of a `tfdt` body (version 1: 64 bits, else 32).
pub(crate) fn tfdt_time(body: &[u8]) -> Option<u64> {
    match body.first()? {
        1 => be64(body, 4),
        _ => be32(body, 4).map(u64::from),
    }
}
