//! OpenPGP packet framing, checked without any key before a message reaches Sequoia's parser:
//! every top-level packet is complete, the encrypted container ends exactly where the message
//! ends (nothing concatenated after it), and an SEIPD v1 body is long enough to hold its
//! prefix and MDC. Sequoia 2.4.2 panics on an SEIPD v1 body shorter than that (an `unwrap()` on
//! `UnexpectedEof` in `PacketParser::decrypt_`), so this check is what keeps such a value from
//! ever reaching it; `catch_unwind` around decryption is the second line.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// The smallest SEIPD v1 body a real message can have: the version octet, the random prefix
/// of the largest block size (16) plus its two check octets, and the 22-octet MDC packet.
/// Sequoia needs `block size + 2 + 22` octets after the version to start decrypting.
const MIN_SEIPD_V1_BODY: usize = 1 + 16 + 2 + 22;

/// A framing defect, described without any secret (only tags, lengths and offsets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// A packet header or body runs past the end of the message.
    Truncated {
        /// The packet tag.
        tag: u8,
        /// Offset of the packet header.
        offset: usize,
        /// Octets the header announces (header included), when known.
        needed: usize,
        /// Octets present from the header on.
        present: usize,
    },
    /// A byte that cannot start a packet.
    BadHeader {
        /// Its offset.
        offset: usize,
    },
    /// A partial body length on a packet that may not have one.
    BadPartial {
        /// The packet tag.
        tag: u8,
        /// Offset of the packet header.
        offset: usize,
    },
    /// Data after the encrypted container: another message concatenated to this one.
    Trailing {
        /// Where the extra data starts.
        offset: usize,
        /// How many octets follow.
        len: usize,
    },
    /// An SEIPD v1 body too short to hold its prefix and MDC.
    ShortSeipd {
        /// The body length.
        len: usize,
    },
    /// An SEIPD packet of an unknown version.
    SeipdVersion(u8),
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Truncated {
                tag,
                offset,
                needed,
                present,
            } => write!(
                f,
                "packet (tag {tag}) at offset {offset} is truncated: it needs {needed} octets, \
                 {present} are present"
            ),
            Defect::BadHeader { offset } => {
                write!(f, "no valid packet header at offset {offset}")
            }
            Defect::BadPartial { tag, offset } => write!(
                f,
                "packet (tag {tag}) at offset {offset} has a partial body length, which only \
                 data packets may have"
            ),
            Defect::Trailing { offset, len } => write!(
                f,
                "{len} octets follow the encrypted data at offset {offset} (a second message \
                 concatenated to the first?)"
            ),
            Defect::ShortSeipd { len } => write!(
                f,
                "the encrypted data packet has {len} octets, fewer than the {MIN_SEIPD_V1_BODY} \
                 its prefix and integrity check (MDC) need"
            ),
            Defect::SeipdVersion(v) => {
                write!(f, "the encrypted data packet has unknown version {v}")
            }
        }
    }
}

/// One top-level packet: its tag, its body's first octet and length (partial-length chunks
/// joined), and the offset just past it.
struct Packet {
    tag: u8,
    first_body_octet: Option<u8>,
    body_len: usize,
    end: usize,
}

/// Checks the framing of a binary (not armoured) message: session key packets and markers,
/// then one encrypted container (tags 9, 18, 20) that ends where the message ends. What is
/// not a message at all (no valid first packet, no container) is left for the parser to
/// describe; only defects of something that frames like a message are reported.
pub(crate) fn check(message: &[u8]) -> Result<(), Defect> {
    let mut offset = 0;
    while offset < message.len() {
        let packet = match read_packet(message, offset)? {
            Some(p) => p,
            None => return Ok(()),
        };
        let end = packet.end;
        match packet.tag {
            9 | 18 | 20 => {
                if packet.tag == 18 {
                    match packet.first_body_octet {
                        Some(1) if packet.body_len < MIN_SEIPD_V1_BODY => {
                            return Err(Defect::ShortSeipd {
                                len: packet.body_len,
                            })
                        }
                        Some(1 | 2) => {}
                        Some(v) => return Err(Defect::SeipdVersion(v)),
                        None => {
                            return Err(Defect::ShortSeipd {
                                len: packet.body_len,
                            })
                        }
                    }
                }
                if end < message.len() {
                    return Err(Defect::Trailing {
                        offset: end,
                        len: message.len() - end,
                    });
                }
                return Ok(());
            }
            _ => {}
        }
        offset = end;
    }
    Ok(())
}

/// Whether `tag` may use partial body lengths (literal, compressed and encrypted data).
fn may_be_partial(tag: u8) -> bool {
    matches!(tag, 8 | 9 | 11 | 18 | 20)
}

/// The packet at `offset`, or `None` when the octet there starts no packet (left for the
/// parser to report as "not OpenPGP").
fn read_packet(message: &[u8], offset: usize) -> Result<Option<Packet>, Defect> {
    let ctb = message[offset];
    if ctb & 0x80 == 0 {
        return if offset == 0 {
            Ok(None)
        } else {
            Err(Defect::BadHeader { offset })
        };
    }
    let (body_start, body_len, end) = walk(message, offset)?;
    Ok(Some(Packet {
        tag: tag_of(ctb),
        first_body_octet: message.get(body_start).copied().filter(|_| body_len > 0),
        body_len,
        end,
    }))
}

fn tag_of(ctb: u8) -> u8 {
    if ctb & 0x40 != 0 {
        ctb & 0x3f
    } else {
        (ctb >> 2) & 0x0f
    }
}

/// The tag and body of the packet at `offset` of `data` (partial-length chunks joined: a copy
/// only then), and the offset just past it; `None` when no complete packet starts there.
pub(crate) fn packet_at(data: &[u8], offset: usize) -> Option<(u8, Cow<'_, [u8]>, usize)> {
    let ctb = *data.get(offset)?;
    if ctb & 0x80 == 0 {
        return None;
    }
    let mut chunks = Vec::new();
    let (_, body_len, end) = walk_chunks(data, offset, &mut |range| chunks.push(range)).ok()?;
    let body = match chunks.as_slice() {
        [one] => Cow::Borrowed(&data[one.clone()]),
        _ => {
            let mut joined = Vec::with_capacity(body_len);
            for range in chunks {
                joined.extend_from_slice(&data[range]);
            }
            Cow::Owned(joined)
        }
    };
    Some((tag_of(ctb), body, end))
}

/// Walks the header(s) of the packet at `offset`: (first body octet offset, body length,
/// offset just past the packet).
fn walk(message: &[u8], offset: usize) -> Result<(usize, usize, usize), Defect> {
    walk_chunks(message, offset, &mut |_| {})
}

/// [`walk`], handing each body chunk's range to `chunk` (one for a definite length).
fn walk_chunks(
    message: &[u8],
    offset: usize,
    chunk: &mut dyn FnMut(Range<usize>),
) -> Result<(usize, usize, usize), Defect> {
    let ctb = message[offset];
    let tag = tag_of(ctb);
    let truncated = |needed: usize| Defect::Truncated {
        tag,
        offset,
        needed,
        present: message.len() - offset,
    };
    let octet = |i: usize| message.get(i).copied();
    if ctb & 0x40 == 0 {
        // Old format: the length type is in the low two bits.
        let (len_octets, indeterminate) = match ctb & 3 {
            0 => (1, false),
            1 => (2, false),
            2 => (4, false),
            _ => (0, true),
        };
        let start = offset + 1 + len_octets;
        if start > message.len() {
            return Err(truncated(1 + len_octets));
        }
        if indeterminate {
            chunk(start..message.len());
            return Ok((start, message.len() - start, message.len()));
        }
        let len = message[offset + 1..start]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        let end = start
            .checked_add(len)
            .ok_or_else(|| truncated(usize::MAX))?;
        if end > message.len() {
            return Err(truncated(end - offset));
        }
        chunk(start..end);
        return Ok((start, len, end));
    }
    // New format: one or more length headers, partial chunks until a definite length.
    let mut at = offset + 1;
    let mut body_start = None;
    let mut total = 0usize;
    loop {
        let Some(o1) = octet(at) else {
            return Err(truncated(at - offset + 1));
        };
        let (header, len, partial) = match o1 {
            0..=191 => (1, o1 as usize, false),
            192..=223 => {
                let Some(o2) = octet(at + 1) else {
                    return Err(truncated(at - offset + 2));
                };
                (2, ((o1 as usize - 192) << 8) + o2 as usize + 192, false)
            }
            255 => {
                let Some(bytes) = message.get(at + 1..at + 5) else {
                    return Err(truncated(at - offset + 5));
                };
                let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
                (5, len, false)
            }
            _ => (1, 1usize << (o1 & 0x1f), true),
        };
        if partial && !may_be_partial(tag) {
            return Err(Defect::BadPartial { tag, offset });
        }
        let start = at + header;
        body_start.get_or_insert(start);
        let end = start
            .checked_add(len)
            .ok_or_else(|| truncated(usize::MAX))?;
        if end > message.len() {
            return Err(truncated(end - offset));
        }
        chunk(start..end);
        total += len;
        at = end;
        if !partial {
            return Ok((body_start.unwrap_or(start), total, end));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any bytes, and any cut or one-byte change of a well-framed message, get an answer.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..120, flip in 0usize..120) {
            let _ = check(&bytes);
            let mut m = packet(1, &[3; 20]);
            m.extend(seipd(80));
            let _ = check(&m[..cut.min(m.len())]);
            let i = flip % m.len();
            m[i] ^= 0xff;
            let _ = check(&m);
        }
    }

    /// A new-format packet with a one-octet length.
    fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![0xc0 | tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn seipd(len: usize) -> Vec<u8> {
        let mut body = vec![1u8];
        body.resize(len, 0xaa);
        packet(18, &body)
    }

    #[test]
    fn a_complete_message_passes() {
        let mut m = packet(1, &[3; 20]);
        m.extend(seipd(60));
        assert_eq!(check(&m), Ok(()));
    }

    #[test]
    fn a_cut_container_is_truncated() {
        let mut m = packet(1, &[3; 20]);
        m.extend(seipd(60));
        m.truncate(m.len() - 10);
        assert!(matches!(check(&m), Err(Defect::Truncated { tag: 18, .. })));
    }

    #[test]
    fn a_second_message_after_the_first_is_trailing_data() {
        let mut one = packet(1, &[3; 20]);
        one.extend(seipd(60));
        let mut m = one.clone();
        m.extend(&one);
        assert_eq!(
            check(&m),
            Err(Defect::Trailing {
                offset: one.len(),
                len: one.len()
            })
        );
    }

    #[test]
    fn an_seipd_too_short_for_prefix_and_mdc_is_refused() {
        let mut m = packet(1, &[3; 20]);
        m.extend(seipd(MIN_SEIPD_V1_BODY - 1));
        assert_eq!(
            check(&m),
            Err(Defect::ShortSeipd {
                len: MIN_SEIPD_V1_BODY - 1
            })
        );
    }

    #[test]
    fn partial_lengths_are_followed_and_refused_on_key_packets() {
        // SEIPD in a 64-octet partial chunk, then a definite 10-octet tail.
        let mut m = packet(1, &[3; 20]);
        m.extend([0xc0 | 18, 0xe6]);
        let mut chunk = vec![1u8];
        chunk.resize(64, 0);
        m.extend(&chunk);
        m.extend([10]);
        m.extend([0u8; 10]);
        assert_eq!(check(&m), Ok(()));
        let bad = [0xc0 | 1, 0xe6];
        assert!(matches!(
            check(&bad),
            Err(Defect::BadPartial { tag: 1, .. })
        ));
    }

    #[test]
    fn old_format_and_indeterminate_lengths() {
        // Old-format PKESK (tag 1, one-octet length), then an indeterminate SED (tag 9).
        let mut m = vec![0x84, 3, 3, 0, 0];
        m.extend([0xa7, 1, 2, 3]);
        assert_eq!(check(&m), Ok(()));
        m.truncate(3);
        assert!(matches!(check(&m), Err(Defect::Truncated { tag: 1, .. })));
    }

    #[test]
    fn packet_bodies_are_joined_across_partial_chunks() {
        let mut m = packet(1, &[3; 20]);
        let (tag, body, end) = packet_at(&m, 0).expect("packet");
        assert_eq!((tag, &body[..], end), (1, &[3u8; 20][..], 22));
        assert!(matches!(body, Cow::Borrowed(_)));
        // A 2-octet partial chunk (0xe1), then a definite 3-octet tail.
        m.extend([0xc0 | 11, 0xe1, 7, 8, 3, 9, 10, 11]);
        let (tag, body, end) = packet_at(&m, 22).expect("packet");
        assert_eq!(
            (tag, &body[..], end),
            (11, &[7u8, 8, 9, 10, 11][..], m.len())
        );
        assert_eq!(packet_at(&m[..m.len() - 1], 22), None);
        assert_eq!(packet_at(b"x", 0), None);
        assert_eq!(packet_at(&m, m.len()), None);
    }

    #[test]
    fn what_is_not_a_packet_is_left_to_the_parser() {
        assert_eq!(check(b"hello"), Ok(()));
        assert_eq!(check(b""), Ok(()));
    }
}
