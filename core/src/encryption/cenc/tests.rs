//! Encrypting real CMAF (TS fixtures repackaged by the core) and decrypting it back with a
//! decryptor written here from the boxes alone: what a player's CDM does.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::cmaf::Repackager;
use crate::fmp4::fragment::parse_media_segment;
use crate::fmp4::{parse_boxes, BoxNode};
use aes::cipher::{BlockDecrypt, KeyInit, KeyIvInit, StreamCipher};

const H264_AAC: [&[u8]; 2] = [
    include_bytes!("../../../testdata/ts/h264_aac/seg_00000.ts"),
    include_bytes!("../../../testdata/ts/h264_aac/seg_00001.ts"),
];
const H265_AAC: &[u8] = include_bytes!("../../../testdata/ts/h265_aac/seg_00000.ts");

const KID: [u8; 16] = [0x11; 16];
const KEY: [u8; 16] = [0x22; 16];
const NEXT_KID: [u8; 16] = [0x33; 16];
const SK: SegmentKey<'static> = SegmentKey {
    kid: &KID,
    key: &KEY,
    announce: &[KID, NEXT_KID],
};

/// Each fragment names its key in a `seig` group covering all its samples, and announces this
/// key and the next in a Common PSSH in `moof`.
fn seig_and_pssh_name_the_key(segment: &[u8], scheme: Scheme) {
    let top = parse_boxes(segment).unwrap();
    let moof = top.iter().find(|b| &b.typ == b"moof").unwrap();
    let pssh = &moof.child(b"pssh").unwrap().prefix;
    assert_eq!(&pssh[4..20], &COMMON_SYSTEM_ID);
    assert_eq!(u32::from_be_bytes(pssh[20..24].try_into().unwrap()), 2);
    assert_eq!((&pssh[24..40], &pssh[40..56]), (&KID[..], &NEXT_KID[..]));
    let traf = moof.child(b"traf").unwrap();
    let sbgp = &traf.child(b"sbgp").unwrap().prefix;
    let sgpd = &traf.child(b"sgpd").unwrap().prefix;
    assert_eq!((&sbgp[4..8], &sgpd[4..8]), (&b"seig"[..], &b"seig"[..]));
    let samples = parse_media_segment(segment).unwrap().samples.len() as u32;
    assert_eq!(
        u32::from_be_bytes(sbgp[12..16].try_into().unwrap()),
        samples
    );
    assert_eq!(
        u32::from_be_bytes(sbgp[16..20].try_into().unwrap()),
        0x10001
    );
    // sgpd v1: default_length, one entry: reserved, pattern, isProtected, IV size, KID.
    let entry = &sgpd[16..];
    assert_eq!(
        entry.len(),
        u32::from_be_bytes(sgpd[8..12].try_into().unwrap()) as usize
    );
    assert_eq!(
        (entry[2], entry[3] as usize),
        (1, scheme.per_sample_iv_size())
    );
    assert_eq!(&entry[4..20], &KID);
}

fn find<'a>(nodes: &'a [BoxNode], path: &[&[u8; 4]]) -> Option<&'a BoxNode> {
    let (first, rest) = path.split_first()?;
    let n = nodes.iter().find(|b| &b.typ == *first)?;
    rest.iter().try_fold(n, |b, t| b.child(t))
}

/// The `tenc` of an encrypted init's first track, and its original format.
fn tenc_of(init: &[u8]) -> (Vec<u8>, Vec<u8>, [u8; 4]) {
    let top = parse_boxes(init).unwrap();
    let stsd = find(
        &top,
        &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
    )
    .unwrap();
    let entry = &stsd.children[0];
    let sinf = entry.child(b"sinf").unwrap();
    let tenc = sinf.at(&[b"schi", b"tenc"]).unwrap().prefix.clone();
    let schm = sinf.child(b"schm").unwrap().prefix.clone();
    (tenc, schm, entry.typ)
}

/// Decrypts every sample of an encrypted segment as a CDM would: `senc` for IVs and
/// subsamples, `saio` checked to point at it, the scheme's cipher.
fn decrypt(segment: &[u8], scheme: Scheme, video: bool) -> Vec<Vec<u8>> {
    let top = parse_boxes(segment).unwrap();
    let moof = top.iter().find(|b| &b.typ == b"moof").unwrap();
    let traf = moof.child(b"traf").unwrap();
    let senc = &traf.child(b"senc").unwrap().prefix;
    let saio = &traf.child(b"saio").unwrap().prefix;
    let saiz = &traf.child(b"saiz").unwrap().prefix;
    // saio points at the first IV (or subsample count) inside the written moof.
    let moof_at = segment.windows(4).position(|w| w == b"moof").unwrap() - 4;
    let senc_at = segment.windows(4).position(|w| w == b"senc").unwrap() - 4;
    let off = u32::from_be_bytes(saio[8..12].try_into().unwrap()) as usize;
    assert_eq!(moof_at + off, senc_at + 16, "saio points into senc");
    let parsed = parse_media_segment(segment).unwrap();
    let count = u32::from_be_bytes(senc[4..8].try_into().unwrap()) as usize;
    assert_eq!(count, parsed.samples.len());
    // saiz: a default size, or one per sample (cbcs audio: all zero).
    let default = saiz[4] as usize;
    let listed = saiz.len() - 9;
    assert!(
        (default > 0 && listed == 0) || listed == count,
        "saiz lists {listed} sizes for {count} samples"
    );
    assert_eq!(
        u32::from_be_bytes(saiz[5..9].try_into().unwrap()) as usize,
        count
    );
    let has_subsamples = senc[3] & 2 != 0;
    assert_eq!(has_subsamples, video);
    // Sample bytes, from the trun's data offset (relative to moof) onwards.
    let mdat_payload = moof_at + parsed.data_offset as usize;
    let mut at = 8;
    let mut pos = mdat_payload;
    let mut out = Vec::new();
    for s in &parsed.samples {
        let mut sample = segment[pos..pos + s.size as usize].to_vec();
        pos += s.size as usize;
        let iv_size = scheme.per_sample_iv_size();
        let mut iv = [0u8; 16];
        iv[..iv_size].copy_from_slice(&senc[at..at + iv_size]);
        at += iv_size;
        let mut ranges = Vec::new();
        if has_subsamples {
            let n = u16::from_be_bytes([senc[at], senc[at + 1]]) as usize;
            at += 2;
            let mut p = 0usize;
            for _ in 0..n {
                let c = u16::from_be_bytes([senc[at], senc[at + 1]]) as usize;
                let e = u32::from_be_bytes(senc[at + 2..at + 6].try_into().unwrap()) as usize;
                at += 6;
                ranges.push((p + c, p + c + e));
                p += c + e;
            }
            assert_eq!(p, sample.len(), "subsamples cover the sample");
        } else {
            ranges.push((0, sample.len()));
        }
        match scheme {
            Scheme::Cenc => {
                let mut c = ctr::Ctr128BE::<aes::Aes128>::new((&KEY).into(), (&iv).into());
                for (a, b) in &ranges {
                    c.apply_keystream(&mut sample[*a..*b]);
                }
            }
            Scheme::Cbcs => {
                let aes = aes::Aes128::new((&KEY).into());
                let (crypt, skip) = if video { (1, 9) } else { (0, 0) };
                for (a, b) in &ranges {
                    let mut prev = constant_iv(&KID);
                    for (i, block) in sample[*a..*b].chunks_exact_mut(16).enumerate() {
                        if crypt > 0 && i % (crypt + skip) >= crypt {
                            continue;
                        }
                        let ct: [u8; 16] = block.try_into().unwrap();
                        let mut g = aes::Block::from(ct);
                        aes.decrypt_block(&mut g);
                        for (o, (d, p)) in block.iter_mut().zip(g.iter().zip(prev.iter())) {
                            *o = d ^ p;
                        }
                        prev = ct;
                    }
                }
            }
        }
        out.push(sample);
    }
    out
}

fn clear_samples(segment: &[u8]) -> Vec<Vec<u8>> {
    let p = parse_media_segment(segment).unwrap();
    let mut at = 0usize;
    p.samples
        .iter()
        .map(|s| {
            let v = p.mdat[at..at + s.size as usize].to_vec();
            at += s.size as usize;
            v
        })
        .collect()
}

fn round_trip(ts: &[&[u8]], scheme: Scheme) {
    let mut r = Repackager::new();
    for (n, ts) in ts.iter().enumerate() {
        let out = r.repackage(ts, n as u32 + 1).unwrap();
        for (t, track) in out.tracks.iter().enumerate() {
            let (init, crypto) = encrypt_init(&track.init, scheme, &KID, &[]).unwrap();
            let (tenc, schm, entry) = tenc_of(&init);
            assert_eq!(&schm[4..8], &scheme.fourcc());
            assert_eq!(&tenc[8..24], &KID, "default KID");
            let video = crypto[0].video.is_some();
            assert_eq!(&entry, if video { b"encv" } else { b"enca" });
            assert!(init.windows(16).any(|w| w == COMMON_SYSTEM_ID), "pssh");
            for f in out.fragments.iter().filter(|f| f.track == t) {
                let enc = encrypt_segment(&f.bytes, scheme, &SK, &crypto, n as u64 + 7).unwrap();
                seig_and_pssh_name_the_key(&enc, scheme);
                let clear = clear_samples(&f.bytes);
                let encrypted = clear_samples(&enc);
                assert_eq!(encrypted.len(), clear.len());
                let changed = encrypted.iter().zip(&clear).filter(|(e, c)| e != c).count();
                assert!(
                    changed * 2 > clear.len(),
                    "{changed}/{} samples encrypted",
                    clear.len()
                );
                assert_eq!(decrypt(&enc, scheme, video), clear, "track {t} segment {n}");
                // Timing is untouched.
                let (a, b) = (
                    parse_media_segment(&enc).unwrap(),
                    parse_media_segment(&f.bytes).unwrap(),
                );
                assert_eq!(
                    (a.base_decode_time, a.samples.clone()),
                    (b.base_decode_time, b.samples.clone())
                );
            }
        }
    }
}

#[test]
fn cenc_h264_and_aac_decrypt_back_to_the_clear_samples() {
    round_trip(&H264_AAC, Scheme::Cenc);
}

#[test]
fn cbcs_h264_and_aac_decrypt_back_to_the_clear_samples() {
    round_trip(&H264_AAC, Scheme::Cbcs);
}

#[test]
fn hevc_is_encrypted_too() {
    round_trip(&[H265_AAC], Scheme::Cenc);
    round_trip(&[H265_AAC], Scheme::Cbcs);
}

#[test]
fn video_nal_units_keep_their_headers_clear() {
    // An SPS (type 7) stays clear; an IDR slice (type 5) keeps 4 + 32 bytes clear, then whole
    // blocks are protected, the rest of a partial block clear.
    let mut sample = vec![0, 0, 0, 3, 0x67, 1, 2];
    sample.extend_from_slice(&100u32.to_be_bytes());
    sample.push(0x65);
    sample.extend(std::iter::repeat_n(9u8, 99));
    let (ranges, subs) = segment::tests_support::video_subsamples(&sample, 4, false).unwrap();
    // 100-byte NAL: lead 36 (4 + 32), protected (104 - 36) / 16 * 16 = 64.
    assert_eq!(subs, vec![(7 + 40, 64)]);
    assert_eq!(ranges, vec![(7 + 40, 7 + 104)]);
    // A NAL unit claiming more than the sample is refused.
    let bad = [0, 0, 1, 0, 0x65];
    assert!(segment::tests_support::video_subsamples(&bad, 4, false).is_err());
}

#[test]
fn unsupported_inputs_are_refused_with_the_reason() {
    assert!(matches!(
        encrypt_init(b"not boxes", Scheme::Cenc, &KID, &[]),
        Err(CencError::Boxes(_))
    ));
    let e = encrypt_segment(b"\0\0\0\x08moof", Scheme::Cenc, &SK, &[], 0).unwrap_err();
    assert!(e.to_string().contains("mdat"), "{e}");
    assert_eq!(
        kid_uuid(&[0xab; 16]),
        "abababab-abab-abab-abab-abababababab"
    );
}
