use super::*;
use std::collections::HashMap;
use streampack_core::fmp4::fragment::parse_media_segment;
use streampack_core::fmp4::{media_segment, BoxWriter, FragmentParams, Sample, SAMPLE_SYNC};

/// A chunk as ffmpeg `-ldash 1` writes one: (`styp`,) `prft`, `moof`, `mdat`.
fn chunk(first: bool, seq: u32, track: u32, tfdt: u64, samples: u32, dur: u32) -> Vec<u8> {
    let s: Vec<Sample> = (0..samples)
        .map(|_| Sample {
            duration: dur,
            size: 3,
            flags: SAMPLE_SYNC,
            composition_offset: 0,
        })
        .collect();
    let seg = media_segment(
        &FragmentParams {
            sequence: seq,
            track_id: track,
            base_decode_time: tfdt,
            samples: &s,
            composition_offsets: false,
        },
        &vec![7u8; 3 * samples as usize],
    );
    // media_segment writes styp + moof + mdat: the prft goes between styp and moof.
    let styp_len = top_level(&seg).unwrap()[0].2;
    let mut w = BoxWriter::new();
    w.full(b"prft", 1, 0, |w| {
        w.u32(track);
        w.u64(0xABCD);
        w.u64(tfdt);
    });
    let prft = w.into_vec();
    let mut out = Vec::new();
    if first {
        out.extend_from_slice(&seg[..styp_len]);
    }
    out.extend_from_slice(&prft);
    out.extend_from_slice(&seg[styp_len..]);
    out
}

/// A capture of two Representations (video 12800 Hz, audio 48000 Hz), three segments each of
/// two chunks; the last audio segment cut short, as `-t` leaves it.
fn files() -> (String, HashMap<String, Vec<u8>>) {
    let mut f = HashMap::new();
    let mut seq = [0u32; 2];
    // (rep, timescale, sample duration, samples per chunk, segments: samples in its last chunk)
    for (rep, dur, per_chunk, last) in [(0u32, 512u32, 2u32, [2, 2, 2]), (1, 1024, 3, [3, 3, 1])] {
        let mut t = 0u64;
        for (i, last_chunk) in last.iter().enumerate() {
            let mut body = Vec::new();
            for (j, n) in [per_chunk, *last_chunk].into_iter().enumerate() {
                seq[rep as usize] += 1;
                body.extend(chunk(j == 0, seq[rep as usize], rep + 1, t, n, dur));
                t += u64::from(n * dur);
            }
            f.insert(format!("chunk-stream{rep}-{:05}.m4s", i + 1), body);
        }
        f.insert(format!("init-stream{rep}.m4s"), b"\0\0\0\x08free".to_vec());
    }
    let mpd = r#"<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT0.5S" minBufferTime="PT4.0S">
  <Period id="0" start="PT0.0S">
    <AdaptationSet id="0" contentType="video" segmentAlignment="true" frameRate="25/1">
      <Representation id="0" mimeType="video/mp4" codecs="avc1.64001e" bandwidth="800000" width="640" height="360">
        <SegmentTemplate timescale="12800" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline><S t="0" d="2048" r="2" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" segmentAlignment="true" lang="und">
      <Representation id="1" mimeType="audio/mp4" codecs="mp4a.40.2" bandwidth="96000" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="1" />
        <SegmentTemplate timescale="48000" initialization="init-stream$RepresentationID$.m4s" media="chunk-stream$RepresentationID$-$Number%05d$.m4s" startNumber="1">
          <SegmentTimeline><S t="0" d="6144" r="1" /><S d="4096" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#;
    (mpd.to_string(), f)
}

fn capture() -> Capture {
    let (mpd, files) = files();
    Capture::from_files(mpd.as_bytes(), |p| {
        files.get(p).cloned().ok_or_else(|| format!("{p}: missing"))
    })
    .unwrap()
}

#[test]
fn loads_chunks_and_leaves_the_last_segment_out() {
    let c = capture();
    assert_eq!(c.segments_per_loop, 2);
    let reps: Vec<&CapturedRep> = c.reps().collect();
    assert_eq!(reps.len(), 2);
    let v = reps[0];
    assert_eq!(
        v.segments.iter().map(|s| (s.t, s.d)).collect::<Vec<_>>(),
        vec![(0, 2048), (2048, 2048)]
    );
    assert_eq!(v.segments[0].chunks.len(), 2);
    assert_eq!(v.segments[0].chunks[0].end, 1024);
    assert_eq!(v.segments[1].chunks[1].end, 4096);
    // The first chunk starts with styp and prft; every chunk has its mfhd, tfdt and prft.
    assert_eq!(&v.segments[0].chunks[0].bytes[4..8], b"styp");
    assert_eq!(&v.segments[0].chunks[1].bytes[4..8], b"prft");
    assert_eq!(v.segments[0].chunks[0].fields.len(), 3);
    assert_eq!(reps[1].span(), 12288);
    assert_eq!(reps[1].info.timescale, 48000);
}

#[test]
fn the_replay_only_moves_forward() {
    let c = capture();
    for rep in c.reps() {
        let mut next_t = rep.origin();
        let mut next_seq = 1;
        for k in 0..7 {
            let s = rep.segment_at(k);
            assert_eq!(s.number, k + 1);
            assert_eq!(s.t, next_t, "segment {k} starts where the one before ended");
            assert_eq!(s.index, usize::try_from(k % 2).unwrap());
            assert_eq!(s.offset, (k / 2) * rep.span());
            assert_eq!(s.first_sequence, next_seq);
            next_t = s.t + s.d;
            next_seq += rep.segments[s.index].chunks.len() as u64;
        }
    }
}

#[test]
fn replayed_chunks_carry_the_new_times_and_sequence() {
    let c = capture();
    let v = c.reps().next().unwrap();
    // Segment 4 (k = 3): the second captured segment in the loop's second pass.
    let s = v.segment_at(3);
    assert_eq!((s.index, s.offset, s.t), (1, 4096, 6144));
    let mut body = Vec::new();
    for (j, ch) in v.segments[s.index].chunks.iter().enumerate() {
        let from = body.len();
        ch.render_into(s.offset, s.first_sequence + j as u64, &mut body)
            .unwrap();
        let boxes = top_level(&body[from..]).unwrap();
        let moof_at = boxes.iter().find(|b| &b.0 == b"moof").unwrap().1;
        let parsed = parse_media_segment(&body[from + moof_at..]).unwrap();
        assert_eq!(parsed.base_decode_time, 6144 + 1024 * j as u64);
        assert_eq!(u64::from(parsed.sequence), s.first_sequence + j as u64);
        // prft's media time moved with it; its other fields, the samples, did not.
        let prft = boxes.iter().find(|b| &b.0 == b"prft").unwrap().1 + from;
        assert_eq!(&body[prft + 16..prft + 24], &0xABCDu64.to_be_bytes());
        let media_time = u64::from_be_bytes(body[prft + 24..prft + 32].try_into().unwrap());
        assert_eq!(media_time, parsed.base_decode_time);
        assert_eq!(parsed.samples.len(), 2);
        assert_eq!(parsed.mdat, vec![7u8; 6]);
    }
    // The daemon cuts the replayed segment into the same chunks, at the new times.
    let mut cutter = ChunkCutter::new(TrackDefaults::default());
    let cut = cutter.feed(&body).unwrap();
    assert_eq!(
        cut.iter()
            .map(|c| (c.decode_time, c.duration))
            .collect::<Vec<_>>(),
        vec![(6144, 1024), (7168, 1024)]
    );
    cutter.finish(body.len()).unwrap();
}

#[test]
fn a_32_bit_time_that_overflows_is_an_error() {
    let mut w = BoxWriter::new();
    w.bx(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| w.u32(1));
        w.bx(b"traf", |w| w.full(b"tfdt", 0, 0, |w| w.u32(u32::MAX - 1)));
    });
    let bytes = w.into_vec();
    let ch = CapturedChunk {
        fields: find_fields(&bytes).unwrap(),
        bytes: Bytes::from(bytes),
        end: 0,
    };
    assert_eq!(ch.fields.len(), 2);
    let mut out = Vec::new();
    ch.render_into(1, 5, &mut out).unwrap();
    assert_eq!(&out[out.len() - 4..], &u32::MAX.to_be_bytes());
    assert!(ch.render_into(2, 5, &mut Vec::new()).is_err());
}

#[test]
fn the_live_mpd_reads_back_as_the_daemon_reads_it() {
    let c = capture();
    let listed: Vec<Vec<Replayed>> = c
        .reps()
        .map(|r| (3..7).map(|k| r.segment_at(k)).collect())
        .collect();
    let text = c.live_mpd(1_700_000_000_000, 1_700_000_010_000, &listed);
    let m = parse_mpd("v1/ch/in/main.mpd", text.as_bytes()).unwrap();
    assert!(m.dynamic);
    assert_eq!(
        m.availability_start.as_deref(),
        Some("2023-11-14T22:13:20.000Z")
    );
    let reps: Vec<&RepresentationIn> = m.periods[0]
        .adaptation_sets
        .iter()
        .flat_map(|a| a.representations.iter())
        .collect();
    assert_eq!(reps.len(), 2);
    for (r, want) in reps.iter().zip(&listed) {
        let SegmentsIn::Listed(segs) = &r.segments else {
            panic!("listed")
        };
        assert_eq!(
            segs.iter()
                .map(|s| (s.number, s.t, s.d))
                .collect::<Vec<_>>(),
            want.iter()
                .map(|s| (s.number, s.t, s.d))
                .collect::<Vec<_>>()
        );
        assert_eq!(segs[0].path, format!("v1/ch/in/{}", segment_name(&r.id, 4)));
        assert_eq!(
            r.init.as_deref(),
            Some(format!("v1/ch/in/{}", init_name(&r.id)).as_str())
        );
        // Where the daemon expects the next segment: where the replay uploads it.
        let last = want.last().unwrap();
        assert_eq!(
            r.media_path(last.number + 1, last.t + last.d).unwrap(),
            format!("v1/ch/in/{}", segment_name(&r.id, 8))
        );
    }
    assert_eq!(reps[0].width, Some(640));
    assert_eq!(reps[1].audio_channels, Some(1));
}

#[test]
fn duration_addressing_is_refused() {
    let mpd = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period>
<AdaptationSet contentType="video"><Representation id="0" bandwidth="1">
<SegmentTemplate timescale="1000" duration="2000" initialization="i.m4s" media="s$Number$.m4s"/>
</Representation></AdaptationSet></Period></MPD>"#;
    let err = Capture::from_files(mpd.as_bytes(), |_| Ok(Vec::new())).unwrap_err();
    assert!(err.contains("use_timeline"), "{err}");
}
