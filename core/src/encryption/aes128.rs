//! HLS `METHOD=AES-128` (RFC 8216bis §5.2): a whole segment encrypted with AES-128 in CBC
//! mode with PKCS7 padding, its IV the segment's Media Sequence Number as a 128-bit
//! big-endian integer unless the playlist states one.

use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

/// The IV a player uses for a segment whose `EXT-X-KEY` states none: its Media Sequence
/// Number, big-endian, in 16 bytes.
pub fn sequence_iv(seq: u64) -> [u8; 16] {
    u128::from(seq).to_be_bytes()
}

/// `clear` encrypted with `key` and `iv`, padded to whole blocks (PKCS7: always 1–16 bytes).
pub fn encrypt(key: &[u8; 16], iv: &[u8; 16], clear: &[u8]) -> Vec<u8> {
    Aes128CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(clear)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aes::cipher::BlockDecryptMut;

    type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

    #[test]
    fn nist_sp800_38a_cbc_vector() {
        // F.2.1 CBC-AES128.Encrypt, first block (then the PKCS7 padding block follows).
        let key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let clear = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let out = encrypt(&key, &iv, &clear);
        assert_eq!(
            out.len(),
            32,
            "a whole block of padding after a whole block"
        );
        assert_eq!(
            out[..16],
            [
                0x76, 0x49, 0xab, 0xac, 0x81, 0x19, 0xb2, 0x46, 0xce, 0xe9, 0x8e, 0x9b, 0x12, 0xe9,
                0x19, 0x7d
            ]
        );
    }

    #[test]
    fn sequence_ivs_are_big_endian() {
        let iv = sequence_iv(0x0102);
        assert_eq!(iv[..14], [0; 14]);
        assert_eq!(iv[14..], [1, 2]);
    }

    proptest::proptest! {
        #[test]
        fn decrypts_back_to_the_segment(clear in proptest::collection::vec(proptest::num::u8::ANY, 0..2000), seq in 0u64..u64::MAX) {
            let key = [7u8; 16];
            let iv = sequence_iv(seq);
            let enc = encrypt(&key, &iv, &clear);
            proptest::prop_assert_eq!(enc.len(), (clear.len() / 16 + 1) * 16);
            let dec = Aes128CbcDec::new((&key).into(), (&iv).into())
                .decrypt_padded_vec_mut::<Pkcs7>(&enc)
                .unwrap();
            proptest::prop_assert_eq!(dec, clear);
        }
    }
}
