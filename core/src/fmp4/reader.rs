//! Reading boxes back into a tree: the tests' view of what the writer produced, and the
//! tiling check (top-level boxes cover a file exactly).

use super::writer::BoxWriter;
use super::FourCc;

/// Why bytes are not a sequence of boxes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    #[error("box header truncated at offset {0}")]
    Truncated(usize),
    #[error("box '{typ}' at offset {at} has size {size}, beyond its parent's end")]
    Overflow { typ: String, at: usize, size: u64 },
    #[error("box '{typ}' at offset {at} has an impossible size {size}")]
    BadSize { typ: String, at: usize, size: u64 },
}

/// A box: its type, the bytes before its children (`prefix`: all of a leaf's body, or a
/// sample entry's fixed fields) and its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxNode {
    pub typ: FourCc,
    pub prefix: Vec<u8>,
    pub children: Vec<BoxNode>,
}

impl BoxNode {
    /// The first child of this type.
    pub fn child(&self, typ: &FourCc) -> Option<&BoxNode> {
        self.children.iter().find(|c| &c.typ == typ)
    }

    /// The box at a path of types below this one, e.g. `[b"traf", b"tfdt"]`.
    pub fn at(&self, path: &[&FourCc]) -> Option<&BoxNode> {
        path.iter().try_fold(self, |b, t| b.child(t))
    }

    /// Writes this box (and its children) back.
    pub fn write(&self, w: &mut BoxWriter) {
        w.bx(&self.typ, |w| {
            w.bytes(&self.prefix);
            for c in &self.children {
                c.write(w);
            }
        });
    }
}

/// How many bytes of a box's body come before its children, for boxes that have children.
pub fn container_prefix(typ: &FourCc) -> Option<usize> {
    Some(match typ {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"dinf" | b"stbl" | b"mvex" | b"moof" | b"traf"
        | b"edts" | b"udta" | b"sinf" | b"schi" | b"vttc" => 0,
        b"stsd" | b"dref" | b"wvtt" => 8,
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"encv" => 78,
        b"mp4a" | b"enca" => 28,
        _ => return None,
    })
}

/// Parses a sequence of boxes (a whole file, or a container's children).
pub fn parse_boxes(data: &[u8]) -> Result<Vec<BoxNode>, BoxError> {
    parse_at(data, 0)
}

fn parse_at(data: &[u8], base: usize) -> Result<Vec<BoxNode>, BoxError> {
    let mut out = Vec::new();
    for (typ, start, header, size) in iter_boxes(data, base)? {
        let body = &data[start - base + header..start - base + size];
        let node = match container_prefix(&typ) {
            Some(n) if body.len() >= n => BoxNode {
                typ,
                prefix: body[..n].to_vec(),
                children: parse_at(&body[n..], start + header + n)?,
            },
            _ => BoxNode {
                typ,
                prefix: body.to_vec(),
                children: Vec::new(),
            },
        };
        out.push(node);
    }
    Ok(out)
}

/// `(type, offset, size)` of each top-level box; an error unless they tile `data` exactly.
pub fn top_level(data: &[u8]) -> Result<Vec<(FourCc, usize, usize)>, BoxError> {
    Ok(iter_boxes(data, 0)?
        .into_iter()
        .map(|(t, at, _, size)| (t, at, size))
        .collect())
}

/// `(type, absolute offset, header length, size)` of the boxes in `data`.
fn iter_boxes(data: &[u8], base: usize) -> Result<Vec<(FourCc, usize, usize, usize)>, BoxError> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < data.len() {
        let h = data.get(i..i + 8).ok_or(BoxError::Truncated(base + i))?;
        let typ = [h[4], h[5], h[6], h[7]];
        let name = || String::from_utf8_lossy(&typ).into_owned();
        let (size, header) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            0 => ((data.len() - i) as u64, 8),
            1 => {
                let l = data
                    .get(i + 8..i + 16)
                    .ok_or(BoxError::Truncated(base + i))?;
                (
                    u64::from_be_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]),
                    16,
                )
            }
            s => (u64::from(s), 8),
        };
        if size < header as u64 {
            return Err(BoxError::BadSize {
                typ: name(),
                at: base + i,
                size,
            });
        }
        if size > (data.len() - i) as u64 {
            return Err(BoxError::Overflow {
                typ: name(),
                at: base + i,
                size,
            });
        }
        out.push((typ, base + i, header, size as usize));
        i += size as usize;
    }
    Ok(out)
}

/// Writes a sequence of boxes.
pub fn write_boxes(nodes: &[BoxNode]) -> Vec<u8> {
    let mut w = BoxWriter::new();
    for n in nodes {
        n.write(&mut w);
    }
    w.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LEAVES: [&FourCc; 6] = [b"free", b"mvhd", b"tfdt", b"trun", b"avcC", b"mdat"];
    const CONTAINERS: [&FourCc; 6] = [b"moov", b"trak", b"stsd", b"avc1", b"mp4a", b"traf"];

    fn tree() -> impl Strategy<Value = BoxNode> {
        let leaf = (
            0..LEAVES.len(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(t, body)| BoxNode {
                typ: *LEAVES[t],
                prefix: body,
                children: vec![],
            });
        leaf.prop_recursive(4, 40, 5, |inner| {
            (0..CONTAINERS.len(), proptest::collection::vec(inner, 0..5)).prop_map(
                |(t, children)| {
                    let typ = *CONTAINERS[t];
                    let n = container_prefix(&typ).unwrap_or(0);
                    BoxNode {
                        typ,
                        prefix: vec![0xAB; n],
                        children,
                    }
                },
            )
        })
    }

    proptest! {
        #[test]
        fn write_then_parse_is_identity(nodes in proptest::collection::vec(tree(), 0..4)) {
            let bytes = write_boxes(&nodes);
            prop_assert_eq!(parse_boxes(&bytes).unwrap(), nodes.clone());
            let tiles = top_level(&bytes).unwrap();
            prop_assert_eq!(tiles.iter().map(|t| t.2).sum::<usize>(), bytes.len());
            prop_assert_eq!(write_boxes(&parse_boxes(&bytes).unwrap()), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_boxes(&data);
        }
    }

    #[test]
    fn sizes_that_do_not_tile_are_errors() {
        assert_eq!(
            top_level(&[0, 0, 0, 9, b'f', b'r', b'e', b'e']),
            Err(BoxError::Overflow {
                typ: "free".into(),
                at: 0,
                size: 9
            })
        );
        assert_eq!(
            top_level(&[0, 0, 0, 4, b'f', b'r', b'e', b'e']),
            Err(BoxError::BadSize {
                typ: "free".into(),
                at: 0,
                size: 4
            })
        );
        assert_eq!(
            top_level(&[0, 0, 0, 8, b'f', b'r', b'e', b'e', 0]),
            Err(BoxError::Truncated(8))
        );
        let large = [
            0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 0, 0, 0, 0, 17, 9,
        ];
        assert_eq!(top_level(&large).unwrap(), vec![(*b"mdat", 0, 17)]);
    }
}
