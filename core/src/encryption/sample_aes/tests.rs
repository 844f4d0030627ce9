#![allow(clippy::unwrap_used)]
//! SAMPLE-AES checked against a decryptor written from the format's listings as players
//! implement it (ffmpeg's hls_sample_encryption.c, hls.js's sample-aes.ts): emulation
//! prevention taken out of the whole NAL unit, then the blocks at 32 + 160·k decrypted while
//! more than 16 bytes remain; audio from 16 bytes after the ADTS header, every whole block.

use super::*;
use crate::ts::adts::{self, AdtsConfig};
use crate::ts::bits::rbsp;
use crate::ts::demux::{build_pes, packetize};
use crate::ts::h264::nal_ranges;
use crate::ts::packet::Packet;
use crate::ts::psi::{build_pat, build_pmt};
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use proptest::prelude::*;

const KEY: [u8; 16] = [0x3c; 16];
const IV: [u8; 16] = [0x5a; 16];

fn cbc_decrypt_blocks(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8], starts: &[usize]) {
    let aes = aes::Aes128::new(key.into());
    let mut prev = *iv;
    for &s in starts {
        let block = &mut data[s..s + 16];
        let cipher: [u8; 16] = block.try_into().unwrap();
        let mut b = aes::Block::from(cipher);
        aes.decrypt_block(&mut b);
        for (o, (d, p)) in block.iter_mut().zip(b.iter().zip(prev.iter())) {
            *o = d ^ p;
        }
        prev = cipher;
    }
}

/// A player's view of an encrypted H.264 elementary stream: each slice decrypted.
pub(crate) fn decrypt_h264(es: &[u8]) -> Vec<u8> {
    decrypt_h264_with(&KEY, &IV, es)
}

/// [`decrypt_h264`] with `key` and `iv`.
pub(crate) fn decrypt_h264_with(key: &[u8; 16], iv: &[u8; 16], es: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut copied = 0;
    for (start, end) in nal_ranges(es) {
        let nal = &es[start..end];
        if !matches!(nal[0] & 0x1F, 1 | 5) || nal.len() <= 48 {
            continue;
        }
        let mut clear = rbsp(nal);
        let starts: Vec<usize> = (32..)
            .step_by(160)
            .take_while(|&p| p < clear.len() && clear.len() - p > 16)
            .collect();
        cbc_decrypt_blocks(key, iv, &mut clear, &starts);
        out.extend_from_slice(&es[copied..start]);
        out.extend_from_slice(&clear);
        copied = end;
    }
    out.extend_from_slice(&es[copied..]);
    out
}

pub(crate) fn decrypt_adts(es: &mut [u8]) {
    let mut at = 0;
    while let Ok(adts::Adts::Frame(f)) = adts::parse_frame(&es[at..]) {
        let from = at + f.header_len + 16;
        let starts: Vec<usize> = (from..)
            .step_by(16)
            .take_while(|&p| p + 16 <= at + f.frame_len)
            .collect();
        cbc_decrypt_blocks(&KEY, &IV, es, &starts);
        at += f.frame_len;
    }
}

/// A clear slice of `len` bytes (type 5) whose bytes need no emulation prevention.
pub(crate) fn slice(len: usize, seed: u8) -> Vec<u8> {
    let mut nal = vec![0x65];
    let mut x = u32::from(seed) | 1;
    while nal.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        nal.push((x as u8) | 0x10);
    }
    nal
}

pub(crate) fn annex_b(nals: &[&[u8]]) -> Vec<u8> {
    let mut es = Vec::new();
    for n in nals {
        es.extend_from_slice(&[0, 0, 0, 1]);
        es.extend_from_slice(n);
    }
    es
}

const LC: AdtsConfig = AdtsConfig {
    object_type: 2,
    sample_rate_index: 3,
    channel_config: 2,
};

pub(crate) fn adts_frames(raw_lens: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &n) in raw_lens.iter().enumerate() {
        out.extend_from_slice(&adts::build_header(LC, n));
        out.extend((0..n).map(|b| (b * 7 + i) as u8));
    }
    out
}

/// PAT, PMT (H.264 on 0x100, AAC on 0x101, ID3 on 0x102), then the PES in order.
pub(crate) fn segment(pes: &[(u16, &[u8])]) -> Vec<u8> {
    let mut ccs = std::collections::HashMap::<u16, u8>::new();
    let mut ts = Vec::new();
    for (pid, section) in [
        (0u16, build_pat(&[(1, 0x1000)])),
        (
            0x1000,
            build_pmt(1, 0x100, &[(0x1B, 0x100), (0x0F, 0x101), (0x15, 0x102)]),
        ),
    ] {
        let mut payload = vec![0];
        payload.extend(section);
        ts.extend(packetize(pid, &payload, ccs.entry(pid).or_default(), false));
    }
    for (i, &(pid, es)) in pes.iter().enumerate() {
        let video = pid == 0x100;
        let p = build_pes(
            if video { 0xE0 } else { 0xC0 },
            Some(9000 + i as u64 * 3000),
            None,
            es,
            !video,
        );
        ts.extend(packetize(pid, &p, ccs.entry(pid).or_default(), video));
    }
    ts
}

/// Each PID's PES packets (payloads from one unit start to the next) and how many times a
/// continuity counter did not follow the one before.
pub(crate) struct Pids {
    pub(crate) pes: std::collections::HashMap<u16, Vec<Vec<u8>>>,
    pub(crate) continuity_errors: usize,
    pub(crate) pmt: Vec<u8>,
}

pub(crate) fn pids(ts: &[u8]) -> Pids {
    let mut out = Pids {
        pes: Default::default(),
        continuity_errors: 0,
        pmt: Vec::new(),
    };
    let mut cc = std::collections::HashMap::<u16, u8>::new();
    for raw in ts.chunks(PACKET_SIZE) {
        let p = packet::parse(raw).unwrap();
        if p.has_payload {
            if let Some(last) = cc.insert(p.pid, p.continuity_counter) {
                out.continuity_errors += usize::from(p.continuity_counter != (last + 1) & 0x0F);
            }
        }
        if p.pid == 0x1000 {
            out.pmt = psi::complete_section(&p.payload[1..]).unwrap().to_vec();
            continue;
        }
        let list = out.pes.entry(p.pid).or_default();
        if p.unit_start {
            list.push(Vec::new());
        }
        if let Some(last) = list.last_mut() {
            last.extend_from_slice(p.payload);
        }
    }
    out
}

pub(crate) fn es_of(d: &Pids, pid: u16) -> Vec<Vec<u8>> {
    d.pes.get(&pid).cloned().unwrap_or_default()
}

#[test]
fn slices_and_frames_decrypt_back_and_the_rest_stays_clear() {
    let sps = crate::ts::h264::tests::SPS_640X360;
    let pps: &[u8] = &[0x68, 0xef, 0x3c, 0xb0];
    let big = slice(5000, 1);
    let small = slice(48, 2);
    let exact = slice(208, 3); // a last block of exactly 16 bytes stays clear
    let video = annex_b(&[&[9, 0xF0], sps, pps, &big, &small, &exact]);
    let audio = adts_frames(&[10, 16, 17, 31, 32, 33, 400]);
    let id3: &[u8] = b"ID3 timed metadata stays clear";
    let clear = segment(&[(0x100, &video), (0x101, &audio), (0x102, id3)]);
    let enc = encrypt_segment(&clear, &KEY, &IV).unwrap();
    assert_eq!(enc.len() % PACKET_SIZE, 0);

    let d = pids(&enc);
    assert_eq!(d.continuity_errors, 0);
    let program = psi::parse_pmt(&d.pmt, 0x1000).unwrap();
    let types: Vec<_> = program.streams.iter().map(|s| s.stream_type).collect();
    assert_eq!(
        types,
        vec![
            StreamType::Other(0xDB),
            StreamType::Other(0xCF),
            StreamType::Other(0x15)
        ]
    );
    let v = &es_of(&d, 0x100)[0];
    let a = &es_of(&d, 0x101)[0];
    let header = |p: &[u8]| 9 + usize::from(p[8]);
    let (v_es, a_es) = (&v[header(v)..], &a[header(a)..]);
    assert_ne!(v_es, &video[..], "slices are encrypted");
    assert_eq!(decrypt_h264(v_es), video);
    assert_ne!(a_es, &audio[..]);
    let mut a_clear = a_es.to_vec();
    decrypt_adts(&mut a_clear);
    assert_eq!(a_clear, audio);
    assert_eq!(&es_of(&d, 0x102)[0][14..], id3, "ID3 passes clear");
    // Parameter sets, the AUD, short slices and frames are untouched in the wire bytes.
    let nals: Vec<&[u8]> = nal_ranges(v_es).iter().map(|&(s, e)| &v_es[s..e]).collect();
    assert_eq!(&nals[..3], &[&[9, 0xF0][..], sps, pps]);
    assert_eq!(nals[4], &small[..]);
    assert_eq!(nals[5].len(), exact.len());
    assert_eq!(nals[5][..32], exact[..32]);
    assert_eq!(nals[5][48..192], exact[48..192]);
    assert_ne!(nals[5][32..48], exact[32..48]);
    assert_eq!(nals[5][192..], exact[192..], "the last 16 bytes stay clear");
    // Frames of 31 raw bytes or fewer have nothing to encrypt; one of 32 has one block.
    let short = 4 * 7 + 10 + 16 + 17 + 31;
    assert_eq!(a_es[..short], audio[..short]);
    let block = short + 7 + 16;
    assert_eq!(a_es[short..block], audio[short..block]);
    assert_ne!(a_es[block..block + 16], audio[block..block + 16]);
}

#[test]
fn the_pmt_declares_the_encrypted_streams_with_apples_descriptors() {
    let clear = segment(&[(0x101, &adts_frames(&[64]))]);
    let enc = encrypt_segment(&clear, &KEY, &IV).unwrap();
    let section = &pids(&enc).pmt[..];
    assert!(
        psi::parse_pmt(section, 0x1000).is_ok(),
        "CRC and layout hold"
    );
    let has = |w: &[u8]| section.windows(w.len()).any(|x| x == w);
    assert!(has(&[0x0F, 4, b'z', b'a', b'v', b'c']));
    assert!(has(&[0x0F, 4, b'a', b'a', b'c', b'd']));
    // apad: zaac, priming 0, version 1, 2 bytes of AudioSpecificConfig (AAC LC, 48 kHz, stereo).
    assert!(has(b"apadzaac\x00\x00\x01\x02\x11\x90"));
}

#[test]
fn a_pes_that_grows_takes_another_packet_and_counters_follow() {
    // A slice whose first encrypted block comes out all zeros: emulation prevention adds
    // bytes. The PES fills its packets exactly, so the growth needs one more packet.
    let aes = aes::Aes128::new((&KEY).into());
    let mut zero = aes::Block::from([0u8; 16]);
    aes.decrypt_block(&mut zero);
    let plain: Vec<u8> = zero.iter().zip(IV.iter()).map(|(a, b)| a ^ b).collect();
    let check = aes::Block::from(<[u8; 16]>::try_from(&plain[..]).unwrap());
    let mut check = check;
    for (c, i) in check.iter_mut().zip(IV.iter()) {
        *c ^= i;
    }
    aes.encrypt_block(&mut check);
    assert_eq!(check, aes::Block::from([0u8; 16]));
    let mut nal = slice(32, 4);
    nal.extend_from_slice(&plain);
    // PES header 14 bytes; first packet 182 bytes of room (random access flag), then 184.
    let es_len = 182 + 184 * 3 - 14;
    let rest = es_len - 4 - nal.len();
    nal.extend(slice(rest + 1, 5).into_iter().skip(1));
    let es = annex_b(&[&nal]);
    assert_eq!(es.len(), es_len);
    assert!(
        !nal.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3),
        "the clear slice needs no emulation prevention"
    );
    let second = annex_b(&[&slice(900, 6)]);
    let clear = segment(&[(0x100, &es), (0x101, &adts_frames(&[50])), (0x100, &second)]);
    let enc = encrypt_segment(&clear, &KEY, &IV).unwrap();
    // One packet more for the grown PES, and the PID's last PES spread over 15 more: the
    // counters end where the encoder's did, so the next segment's follow on.
    assert_eq!(enc.len(), clear.len() + 16 * PACKET_SIZE);
    let last_cc = |ts: &[u8]| {
        ts.chunks(PACKET_SIZE)
            .map(|r| packet::parse(r).unwrap())
            .rfind(|p| p.pid == 0x100)
            .unwrap()
            .continuity_counter
    };
    assert_eq!(last_cc(&enc), last_cc(&clear));
    let d = pids(&enc);
    assert_eq!(d.continuity_errors, 0);
    let v = es_of(&d, 0x100);
    assert_eq!(v.len(), 2);
    assert!(
        v[0].len() > 14 + es.len(),
        "emulation prevention grew the PES"
    );
    assert_eq!(decrypt_h264(&v[0][14..]), es);
    assert_eq!(decrypt_h264(&v[1][14..]), second);
}

#[test]
fn what_cannot_be_encrypted_says_why() {
    let hevc = {
        let mut ts = Vec::new();
        let mut payload = vec![0];
        payload.extend(build_pmt(1, 0x100, &[(0x24, 0x100)]));
        let mut cc = 0;
        let mut pat = vec![0];
        pat.extend(build_pat(&[(1, 0x1000)]));
        ts.extend(packetize(0, &pat, &mut cc, false));
        ts.extend(packetize(0x1000, &payload, &mut cc, false));
        ts
    };
    assert!(matches!(
        encrypt_segment(&hevc, &KEY, &IV),
        Err(SampleAesError::Unsupported(0x24, 0x100))
    ));
    assert!(matches!(
        encrypt_segment(&[0x47; 100], &KEY, &IV),
        Err(SampleAesError::NotTs(_))
    ));
    let no_psi = packetize(
        0x100,
        &build_pes(0xE0, None, None, &[1; 300], false),
        &mut 0,
        true,
    );
    assert_eq!(
        encrypt_segment(&no_psi, &KEY, &IV),
        Err(SampleAesError::NoPmt)
    );
}

#[test]
fn what_would_stay_clear_is_refused() {
    let video = annex_b(&[&slice(1000, 7)]);
    let whole = segment(&[(0x100, &video), (0x101, &adts_frames(&[600]))]);
    let without = |drop: &dyn Fn(usize, &Packet<'_>) -> bool| -> Vec<u8> {
        whole
            .chunks(PACKET_SIZE)
            .enumerate()
            .filter(|(i, r)| !drop(*i, &packet::parse(r).unwrap()))
            .flat_map(|(_, r)| r.to_vec())
            .collect()
    };
    let stream_error = |ts: &[u8]| match encrypt_segment(ts, &KEY, &IV) {
        Err(SampleAesError::Stream(pid, why)) => (pid, why),
        other => panic!("{other:?}"),
    };
    // A segment that starts inside a video PES.
    let (pid, why) = stream_error(&without(&|_, p| p.pid == 0x100 && p.unit_start));
    assert_eq!(pid, 0x100);
    assert!(why.contains("starts inside a PES"), "{why}");
    // An audio PES cut short (its declared length goes past the segment).
    let last_audio = whole
        .chunks(PACKET_SIZE)
        .rposition(|r| packet::parse(r).unwrap().pid == 0x101)
        .unwrap();
    let (pid, why) = stream_error(&without(&|i, _| i == last_audio));
    assert_eq!(pid, 0x101);
    assert!(why.contains("cut short"), "{why}");
    // Audio that is not ADTS.
    let (pid, why) = stream_error(&segment(&[(0x101, b"not ADTS frames at all, just bytes")]));
    assert_eq!(pid, 0x101);
    assert!(why.contains("ADTS"), "{why}");
    // PES private data (0x06) may be audio: refused, not passed clear.
    let mut private = Vec::new();
    let mut cc = 0;
    let mut pat = vec![0];
    pat.extend(build_pat(&[(1, 0x1000)]));
    private.extend(packetize(0, &pat, &mut cc, false));
    let mut pmt = vec![0];
    pmt.extend(build_pmt(1, 0x100, &[(0x1B, 0x100), (0x06, 0x103)]));
    private.extend(packetize(0x1000, &pmt, &mut 0, false));
    assert!(matches!(
        encrypt_segment(&private, &KEY, &IV),
        Err(SampleAesError::Unsupported(0x06, 0x103))
    ));
}

#[test]
fn key_ivs_are_per_key() {
    assert_ne!(key_iv(&[1; 16]), key_iv(&[2; 16]));
    assert_eq!(key_iv(&[1; 16]), key_iv(&[1; 16]));
}

proptest! {
    #[test]
    fn any_slice_round_trips_and_never_emulates_a_start_code(
        body in proptest::collection::vec(prop_oneof![Just(0u8), Just(3u8), any::<u8>()], 0..1200),
    ) {
        // Clear NAL units as an encoder writes them: emulation prevention applied.
        let mut raw = vec![0x41];
        raw.extend(&body);
        raw.push(0x80);
        let mut nal = Vec::new();
        add_emulation_prevention(&raw, &mut nal);
        let es = annex_b(&[&[9, 0xF0], &nal, &nal]);
        let enc = encrypt_h264(&es, &KEY, &IV);
        prop_assert_eq!(decrypt_h264(&enc), es.clone());
        let units = nal_ranges(&enc);
        prop_assert_eq!(units.len(), 3);
        for (s, e) in units {
            let u = &enc[s..e];
            prop_assert!(!u.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        }
    }
}
