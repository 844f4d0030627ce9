//! The ciphers of sample encryption over a sample's protected ranges: AES-CTR (`cenc`) and
//! AES-CBC in a block pattern (`cbcs`, and Apple's SAMPLE-AES for TS, which cbcs grew from).

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes128;

type Ctr = ctr::Ctr128BE<Aes128>;

/// `cenc`: encrypts `ranges` of `sample` (in order) as one AES-128-CTR key stream starting at
/// counter block `iv ‖ 0`.
pub fn ctr_ranges(key: &[u8; 16], iv: &[u8; 8], sample: &mut [u8], ranges: &[(usize, usize)]) {
    let mut block = [0u8; 16];
    block[..8].copy_from_slice(iv);
    let mut c = Ctr::new(key.into(), (&block).into());
    for &(start, end) in ranges {
        if let Some(r) = sample.get_mut(start..end) {
            c.apply_keystream(r);
        }
    }
}

/// `cbcs`: encrypts each of `ranges` of `sample` in AES-128-CBC from `iv` (restarted per
/// range), `crypt` blocks encrypted then `skip` left clear, repeated (`crypt` 0 or `skip` 0:
/// every whole block); a trailing partial block stays clear.
pub fn cbcs_ranges(
    key: &[u8; 16],
    iv: &[u8; 16],
    sample: &mut [u8],
    ranges: &[(usize, usize)],
    crypt: usize,
    skip: usize,
) {
    let aes = Aes128::new(key.into());
    let period = crypt + skip;
    for &(start, end) in ranges {
        let Some(r) = sample.get_mut(start..end) else {
            continue;
        };
        let mut prev = *iv;
        for (i, block) in r.chunks_exact_mut(16).enumerate() {
            if crypt > 0 && skip > 0 && i % period >= crypt {
                continue;
            }
            let mut b = [0u8; 16];
            for (o, (p, c)) in b.iter_mut().zip(block.iter().zip(prev.iter())) {
                *o = p ^ c;
            }
            let mut ga = aes::Block::from(b);
            aes.encrypt_block(&mut ga);
            block.copy_from_slice(&ga);
            prev.copy_from_slice(&ga);
        }
    }
}
