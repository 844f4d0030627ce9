//! SCTE-35 in-band in CMAF segments (an endpoint's `--inband-markers`): an `emsg` version 1
//! (ISO/IEC 23009-1 §5.10.3.3, scheme `urn:scte:scte35:2013:bin`, the whole
//! `splice_info_section` as its message) ahead of the `moof` of each video segment whose span
//! holds a splice point, timed on the track's media timeline; the MPD declares it with an
//! `InbandEventStream` in the video AdaptationSets. Segments are copied only where a marker
//! falls: every other segment is the shared one.

use super::emsg_in::SCHEME_BIN;
use super::mpd_out::event_number;
use super::AdMarker;
use crate::fmp4::fields::{be32, tfdt_time, TFHD_BASE_DATA_OFFSET};
use crate::fmp4::parse_boxes;
use crate::fmp4::BoxWriter;
use crate::media::{Lookup, MediaObject, MediaOutput};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// An `emsg` version 1 box.
pub fn emsg_v1(
    timescale: u32,
    presentation_time: u64,
    duration: u32,
    id: u32,
    message: &[u8],
) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(64 + message.len());
    w.full(b"emsg", 1, 0, |w| {
        w.u32(timescale);
        w.u64(presentation_time);
        w.u32(duration);
        w.u32(id);
        w.bytes(SCHEME_BIN.as_bytes());
        w.u8(0);
        w.u8(0); // value: empty
        w.bytes(message);
    });
    w.into_vec()
}

/// `segment` with `boxes` ahead of its first `moof`; `None` when it has no `moof`, or its
/// track fragment states an explicit base data offset (which the insertion would move).
pub fn insert_before_moof(segment: &[u8], boxes: &[u8]) -> Option<Vec<u8>> {
    let tops = crate::fmp4::top_level(segment).ok()?;
    let (_, at, _) = tops.iter().find(|(typ, _, _)| typ == b"moof")?;
    let moof = parse_boxes(&segment[*at..]).ok()?;
    let tfhd = moof.first()?.at(&[b"traf", b"tfhd"])?;
    if be32(&tfhd.prefix, 0)? & TFHD_BASE_DATA_OFFSET != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(segment.len() + boxes.len());
    out.extend_from_slice(&segment[..*at]);
    out.extend_from_slice(boxes);
    out.extend_from_slice(&segment[*at..]);
    Some(out)
}

/// The `mdhd` timescale of a video track's init segment (`None` for other tracks).
pub fn video_timescale(init: &[u8]) -> Option<u32> {
    let tree = parse_boxes(init).ok()?;
    let mdia = tree
        .iter()
        .find(|b| &b.typ == b"moov")?
        .at(&[b"trak", b"mdia"])?;
    let hdlr = mdia.child(b"hdlr")?;
    if hdlr.prefix.get(8..12)? != b"vide" {
        return None;
    }
    let mdhd = mdia.child(b"mdhd")?;
    // Version 1: 64-bit times before the timescale.
    let at = if mdhd.prefix.first() == Some(&1) {
        20
    } else {
        12
    };
    be32(&mdhd.prefix, at).filter(|t| *t > 0)
}

/// The first `tfdt` of a media segment.
fn base_decode_time(segment: &[u8]) -> Option<u64> {
    let tree = parse_boxes(segment).ok()?;
    let tfdt = tree
        .iter()
        .find(|b| &b.typ == b"moof")?
        .at(&[b"traf", b"tfdt"])?;
    tfdt_time(&tfdt.prefix)
}

/// A served segment with its `emsg`s, kept while its bytes and markers stay the same.
#[derive(Debug, Clone)]
pub(crate) struct Inband {
    /// The `ETag` of the segment it was made from.
    base_etag: String,
    /// Which markers it carries (their ids and sections, hashed).
    markers: u64,
    object: Arc<MediaObject>,
}

/// A fingerprint of the markers a segment carries.
fn fingerprint(markers: &[&AdMarker]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in markers {
        event_number(m).hash(&mut h);
        m.start_unix_ms.hash(&mut h);
        m.section.hash(&mut h);
    }
    h.finish()
}

/// The video segments of `clear`'s tracks whose span holds a splice point of `markers`, as
/// `served` serves them (clear or encrypted) with their `emsg`s, by path; `previous` are
/// reused while unchanged.
pub(crate) fn inband_segments(
    clear: &dyn MediaOutput,
    served: &dyn MediaOutput,
    manifest: &str,
    markers: &[AdMarker],
    previous: &HashMap<String, Inband>,
) -> HashMap<String, Inband> {
    let mut out = HashMap::new();
    for track in clear.tracks() {
        if track.text {
            continue;
        }
        let Some(timescale) = track
            .inits
            .last()
            .and_then(|i| video_timescale(&i.object.body))
        else {
            continue;
        };
        for (i, s) in track.segments.iter().enumerate() {
            let end = s.start_unix_ms.saturating_add(s.duration_ms.max(1));
            let mine: Vec<&AdMarker> = markers
                .iter()
                .filter(|m| s.start_unix_ms <= m.start_unix_ms && m.start_unix_ms < end)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let path = format!("{}/{}", track.dir, (track.segment_file)(s));
            let Ok(Lookup::Object(o)) = served.lookup(manifest, &path) else {
                continue;
            };
            let key = fingerprint(&mine);
            if let Some(p) = previous
                .get(&path)
                .filter(|p| p.base_etag == o.etag && p.markers == key)
            {
                out.insert(path, p.clone());
                continue;
            }
            // Where the segment starts on its media timeline: its earliest presentation
            // time when the output knows it, else its first decode time.
            let Some(start) = track
                .timing
                .get(i)
                .map(|t| t.t)
                .or_else(|| base_decode_time(&o.body))
            else {
                continue;
            };
            let ticks = |ms: u64| ms.saturating_mul(u64::from(timescale)) / 1000;
            let mut boxes = Vec::new();
            for m in mine {
                let at = start.saturating_add(ticks(m.start_unix_ms - s.start_unix_ms));
                let duration = match (m.signal, m.duration_ms) {
                    (crate::scte35::Signal::Out, Some(d)) => {
                        u32::try_from(ticks(d)).unwrap_or(u32::MAX)
                    }
                    (crate::scte35::Signal::Out, None) => u32::MAX,
                    _ => 0,
                };
                let id = u32::try_from(event_number(m) & u64::from(u32::MAX)).unwrap_or(0);
                boxes.extend(emsg_v1(timescale, at, duration, id, &m.section));
            }
            let Some(body) = insert_before_moof(&o.body, &boxes) else {
                continue;
            };
            let etag = format!("{}-e{key:016x}\"", o.etag.trim_end_matches('"'));
            let object = MediaObject::new(
                Bytes::from(body).into(),
                o.content_type,
                etag,
                o.last_modified_unix_ms,
            );
            let made = Inband {
                base_etag: o.etag.clone(),
                markers: key,
                object: Arc::new(object),
            };
            out.insert(path, made);
        }
    }
    out
}

impl Inband {
    pub(crate) fn object(&self) -> &Arc<MediaObject> {
        &self.object
    }
}

/// `mpd` with an `InbandEventStream` of SCTE-35 `emsg` in each video AdaptationSet (after
/// its `ContentProtection`s, before its other children, as the schema orders them).
pub fn declare_inband(mpd: &str) -> String {
    let decl = format!("      <InbandEventStream schemeIdUri=\"{SCHEME_BIN}\" value=\"\"/>\n");
    let mut out = String::with_capacity(mpd.len() + 256);
    let mut in_video = false;
    let mut declared = false;
    for line in mpd.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("<AdaptationSet") {
            in_video = t.contains("contentType=\"video\"");
            declared = false;
        } else if in_video
            && !declared
            && !t.starts_with("<ContentProtection")
            && !t.starts_with("</ContentProtection")
            && !line.starts_with("        ")
        {
            out.push_str(&decl);
            declared = true;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ad_markers::emsg_in::{scan, EmsgTime};
    use crate::ad_markers::output::Marking;
    use crate::ad_markers::SpliceRequest;
    use crate::channel::config::{EndpointType, InputRole::Primary};
    use crate::channel::Protocol;
    use crate::control::commands::EndpointCreate;
    use crate::control::test_channel;
    use crate::hls::media::HlsMedia;
    use crate::media::{Media, MediaParams};
    use crate::time::Now;

    fn at(ms: u64) -> Now {
        Now {
            mono_ms: 50_000 + ms,
            unix_ms: 1_700_000_000_000 + ms,
        }
    }

    fn fixture(i: usize) -> Bytes {
        let p = format!(
            "{}/testdata/ts/h264_aac/seg_{i:05}.ts",
            env!("CARGO_MANIFEST_DIR")
        );
        Bytes::from(std::fs::read(p).unwrap())
    }

    #[test]
    fn boxes_round_trip_and_go_ahead_of_the_moof() {
        let b = emsg_v1(90_000, 1_234_567, 2_700_000, 9, b"\xfc\x30");
        let seg = crate::fmp4::media_segment(
            &crate::fmp4::FragmentParams {
                sequence: 1,
                track_id: 1,
                base_decode_time: 5,
                samples: &[],
                composition_offsets: false,
            },
            &[],
        );
        let with = insert_before_moof(&seg, &b).unwrap();
        let tops: Vec<[u8; 4]> = crate::fmp4::top_level(&with)
            .unwrap()
            .iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(tops, vec![*b"styp", *b"emsg", *b"moof", *b"mdat"]);
        let cues = scan(&with);
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].time, EmsgTime::MediaTime(1_234_567));
        assert_eq!(cues[0].timescale, 90_000);
        assert_eq!(cues[0].section, b"\xfc\x30");
        assert_eq!(insert_before_moof(b"not boxes", &b), None);
    }

    #[test]
    fn the_inband_stream_is_declared_after_content_protection() {
        let mpd = "<MPD>\n  <Period id=\"p0\">\n    <AdaptationSet id=\"0\" contentType=\"video\">\n      <ContentProtection a=\"1\">\n        <x/>\n      </ContentProtection>\n      <Representation id=\"v\"/>\n    </AdaptationSet>\n    <AdaptationSet id=\"1\" contentType=\"audio\">\n      <Representation id=\"a\"/>\n    </AdaptationSet>\n  </Period>\n</MPD>\n";
        let out = declare_inband(mpd);
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("<InbandEventStream"))
            .unwrap();
        assert_eq!(lines[at - 1], "</ContentProtection>");
        assert!(lines[at + 1].starts_with("<Representation id=\"v\""));
        assert_eq!(
            out.matches("InbandEventStream").count(),
            1,
            "video only: {out}"
        );
    }

    #[test]
    fn a_cmaf_endpoint_with_inband_markers_puts_an_emsg_in_the_segment_of_the_splice() {
        let ep = |name: &str, inband| EndpointCreate {
            name: name.into(),
            kind: Some(EndpointType::Cmaf),
            inband_markers: inband,
            ..Default::default()
        };
        let config = test_channel(Protocol::Hls, &[ep("in", true), ep("mpd", false)]).unwrap();
        let hls_only = EndpointCreate {
            kind: Some(EndpointType::Hls),
            ..ep("h", true)
        };
        let refused = test_channel(Protocol::Hls, &[hls_only]).unwrap_err();
        assert!(
            refused.to_string().contains("cmaf endpoint setting"),
            "{refused}"
        );
        let mut marking = Marking::default();
        marking.follow(&config);

        let params = MediaParams {
            cmaf: true,
            ..MediaParams::new(4_000, 60_000)
        };
        let mut m = HlsMedia::new(params, at(0));
        let mut listed =
            String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n");
        for i in 0..3usize {
            let now = at(2_000 * (i as u64 + 1));
            m.put(Primary, &format!("s{i}.ts"), fixture(i), now)
                .unwrap();
            listed.push_str(&format!("#EXTINF:2.000000,\ns{i}.ts\n"));
            m.put(Primary, "main.m3u8", Bytes::from(listed.clone()), now)
                .unwrap();
        }
        let published = m.publish(at(6_100));
        let cmaf = published.output(EndpointType::Cmaf).unwrap();
        let video = cmaf
            .tracks()
            .into_iter()
            .find(|t| t.dir.ends_with("/video"))
            .unwrap();
        // A break 700 ms into the second segment.
        let second = &video.segments[1];
        let splice_at = second.start_unix_ms + 700;
        let req = SpliceRequest {
            duration_ms: Some(30_000),
            at_unix_ms: Some(splice_at),
            event_id: Some(31),
            return_to_network: false,
        };
        let marker = m.splice(&req, at(6_200)).unwrap();
        let published = m.publish(at(6_300));
        let marked = marking.apply(&published, at(6_300).unix_ms).unwrap();
        let path = format!("{}/{}", video.dir, (video.segment_file)(second));
        let (inband, plain) = (&config.endpoints[0], &config.endpoints[1]);
        let get = |ep, p: &str| match marked.output_for(ep).unwrap().lookup("main", p) {
            Ok(Lookup::Object(o)) => o.body.clone(),
            Ok(Lookup::Manifest(r, _)) => r.body.clone(),
            other => panic!("{p}: {other:?}"),
        };
        let with = get(inband, &path);
        let cues = scan(&with);
        assert_eq!(cues.len(), 1, "one emsg in the segment of the splice");
        assert_eq!(cues[0].section, marker.section.to_vec());
        let t = video.timing[1].t;
        assert_eq!(cues[0].time, EmsgTime::MediaTime(t + 700 * 90));
        // The rest of the segment is the shared one, byte for byte.
        assert_eq!(
            with.len(),
            second.object.body.len() + emsg_v1(90_000, 0, 0, 0, &marker.section).len()
        );
        assert!(
            scan(&get(plain, &path)).is_empty(),
            "not without --inband-markers"
        );
        for s in [&video.segments[0], &video.segments[2]] {
            let other = format!("{}/{}", video.dir, (video.segment_file)(s));
            assert_eq!(get(inband, &other), s.object.body, "{other}");
        }
        let mpd = String::from_utf8(get(inband, "main.mpd").to_vec()).unwrap();
        assert!(
            mpd.contains("<InbandEventStream schemeIdUri=\"urn:scte:scte35:2013:bin\""),
            "{mpd}"
        );
        assert!(
            mpd.contains("<EventStream"),
            "the MPD still carries its EventStream: {mpd}"
        );
        let plain_mpd = String::from_utf8(get(plain, "main.mpd").to_vec()).unwrap();
        assert!(!plain_mpd.contains("InbandEventStream"));
    }
}
