//! Internet checksum (RFC 1071), its incremental update (RFC 1624), the
//! TCP/UDP pseudo-header sums for IPv4 and IPv6, and CRC32c for SCTP.
//!
//! The ones'-complement sum is kept as a `u64` accumulator of big-endian
//! 16-bit words ("partial sum", meaningful modulo 0xffff: a 32- or 64-bit
//! word is congruent to the sum of its 16-bit halves, since 2^16 ≡ 1):
//! [`sum`] adds a slice to it, [`fold`] reduces it to 16 bits and
//! [`finish`] complements the result.
//!
//! [`sum`] reads eight bytes at a time in the machine's byte order and adds
//! them with end-around carry, then converts once: a byte-swapped 16-bit
//! word is the word times 256 modulo 0xffff (RFC 1071 section 2(B), byte
//! order independence), so the native sum times 256 is the big-endian one.
//! The former four-bytes-at-a-time loop with a byte swap per word cost 82
//! instructions for a 20-byte IPv4 header (callgrind, `tnl_pop` on the
//! vxlan-decap benchmark); this costs about 20. Partial sums of several
//! slices can be chained as long as every slice but the last has an even
//! length (an odd slice is padded with a zero byte, as RFC 1071 says for
//! the end of the data).
//!
//! Incremental updates ([`update16`], [`update32`], [`update_bytes`]) use
//! RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`, which gives exactly the
//! value a full recomputation would (never `0xffff` for non-zero data).
//!
//! CRC32c (Castagnoli, reflected polynomial 0x82f63b78) is table driven,
//! one byte per step. It is written here rather than taken from the
//! `crc32c` crate because it is only used by `set(sctp(...))`, which is
//! rare on a switch, and a 20-line function is cheaper than a new
//! dependency (and lock-file churn) for every build. SCTP stores the CRC in
//! little-endian byte order (RFC 4960 appendix B, as Linux does).
//!
//! # Thread safety
//! Pure functions.

/// Adds `data` to the partial sum `acc` (see the module docs). Every slice
/// but the last one chained into one sum must have an even length.
#[inline]
pub fn sum(data: &[u8], acc: u64) -> u64 {
    // End-around-carry sum of native-order 64-bit words: congruent modulo
    // 0xffff to the sum of the native-order 16-bit words.
    let add = |s: u64, w: u64| {
        let (r, carry) = s.overflowing_add(w);
        r + u64::from(carry)
    };
    let mut s = 0u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        s = add(s, u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // The tail as the word a zero-padded 8-byte chunk would read:
        // padding keeps every byte in its 16-bit lane (the chunks are
        // even-sized), and a lone last byte is the high byte of its word
        // in network order, as RFC 1071 pads it. Built in registers: a
        // copy into a padded stack buffer read back as one u64 stalled on
        // store forwarding (39% of encapsulating a frame, `perf annotate`).
        let (mut t, mut k) = (0u64, 0usize);
        if let Some(w) = rest.first_chunk::<4>() {
            t = u64::from(u32::from_le_bytes(*w));
            k = 4;
        }
        if let Some(w) = rest[k..].first_chunk::<2>() {
            t |= u64::from(u16::from_le_bytes(*w)) << (8 * k);
            k += 2;
        }
        if let Some(&b) = rest.get(k) {
            t |= u64::from(b) << (8 * k);
        }
        // Built little-endian: byte j at bits 8j.
        s = add(s, u64::from_le(t));
    }
    // Reduce to at most 33 bits, then to network order: on a little-endian
    // machine each 16-bit lane is byte-swapped, which is a multiplication
    // by 256 modulo 0xffff; the shift cannot overflow.
    let s = (s & 0xffff_ffff) + (s >> 32);
    if cfg!(target_endian = "little") {
        acc + (s << 8)
    } else {
        acc + s
    }
}

/// Folds a partial sum to 16 bits with end-around carries (not
/// complemented).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for a partial sum: `!fold(acc)`.
#[inline]
pub fn finish(acc: u64) -> u16 {
    !fold(acc)
}

/// The Internet checksum of `data` (the value to store in a checksum field
/// that is zero inside `data`). A buffer whose checksum field is already
/// filled in checks out when this returns 0.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data, 0))
}

/// Partial sum of the IPv4 pseudo header (RFC 793/768): source and
/// destination addresses (host order values), protocol and L4 length.
#[inline]
pub fn pseudo_ipv4(src: u32, dst: u32, proto: u8, l4_len: u16) -> u64 {
    src as u64 + dst as u64 + proto as u64 + l4_len as u64
}

/// Partial sum of the IPv6 pseudo header (RFC 8200 section 8.1).
#[inline]
pub fn pseudo_ipv6(src: &[u8; 16], dst: &[u8; 16], proto: u8, l4_len: u32) -> u64 {
    sum(dst, sum(src, 0)) + (l4_len >> 16) as u64 + (l4_len & 0xffff) as u64 + proto as u64
}

/// Updates checksum `csum` for a 16-bit word of the covered data changing
/// from `old` to `new` (RFC 1624 eq. 3). The word must sit at an even
/// offset of the covered data.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    finish(!csum as u64 + !old as u64 + new as u64)
}

/// Updates checksum `csum` for a 32-bit field (two words at an even offset)
/// changing from `old` to `new`.
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let acc = !csum as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    finish(acc)
}

/// Updates checksum `csum` for a field at an even offset changing from
/// `old` to `new` (equal, even lengths, e.g. an IPv6 address).
#[inline]
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    debug_assert!(old.len() & 1 == 0);
    // ~sum(old) is congruent to the sum of the complemented words.
    let acc = !csum as u64 + !fold(sum(old, 0)) as u64 + sum(new, 0);
    finish(acc)
}

const CRC32C_POLY: u32 = 0x82f6_3b78;

const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ CRC32C_POLY
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Running CRC32c state. Start with [`CRC32C_INIT`], feed slices with
/// [`crc32c_append`], and finish with `!state`.
pub const CRC32C_INIT: u32 = 0xffff_ffff;

/// Feeds `data` into a running CRC32c state (not finalised).
#[inline]
pub fn crc32c_append(mut state: u32, data: &[u8]) -> u32 {
    for &b in data {
        state = CRC32C_TABLE[((state ^ b as u32) & 0xff) as usize] ^ (state >> 8);
    }
    state
}

/// The CRC32c of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_append(CRC32C_INIT, data)
}

/// The SCTP checksum of a whole SCTP packet (common header and chunks),
/// computed as if its checksum field (bytes 8..12) were zero. Store it with
/// `to_le_bytes()`. Returns `None` when `sctp` is shorter than the 12-byte
/// common header.
pub fn sctp_crc(sctp: &[u8]) -> Option<u32> {
    if sctp.len() < 12 {
        return None;
    }
    let s = crc32c_append(CRC32C_INIT, &sctp[..8]);
    let s = crc32c_append(s, &[0; 4]);
    Some(!crc32c_append(s, &sctp[12..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bit-by-bit reference sum, 16 bits at a time.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                (c[0] as u16) << 8
            };
            s += w as u32;
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d, 0)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn ipv4_header_vector() {
        // A classic IPv4 header whose checksum is 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !0x6834);
        assert_eq!(checksum(&[0xab]), reference(&[0xab]));
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn pseudo_header_udp_ipv4_vector() {
        // UDP 10.0.0.1:1234 -> 10.0.0.2:80, payload "hi".
        let src = 0x0a00_0001;
        let dst = 0x0a00_0002;
        let udp = [0x04, 0xd2, 0x00, 0x50, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 10]);
        pseudo.extend_from_slice(&udp);
        let c = finish(sum(&udp, pseudo_ipv4(src, dst, 17, 10)));
        assert_eq!(c, reference(&pseudo));
    }

    #[test]
    fn pseudo_header_ipv6_matches_reference() {
        let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let l4 = [1u8, 2, 3, 4, 5, 6, 0, 0, 9];
        let mut p = Vec::new();
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&(l4.len() as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 17]);
        p.extend_from_slice(&l4);
        let c = finish(sum(&l4, pseudo_ipv6(&src, &dst, 17, l4.len() as u32)));
        assert_eq!(c, reference(&p));
    }

    #[test]
    fn crc32c_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&inc), 0x46dd_794e);
        assert_eq!(crc32c(&[]), 0);
    }

    #[test]
    fn sctp_crc_ignores_checksum_field() {
        let mut p = [0u8; 24];
        p[..4].copy_from_slice(&[0x04, 0xd2, 0x00, 0x50]);
        p[8..12].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let c = sctp_crc(&p).unwrap();
        let mut z = p;
        z[8..12].fill(0);
        assert_eq!(c, crc32c(&z));
        assert!(sctp_crc(&p[..11]).is_none());
    }

    proptest! {
        #[test]
        fn sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(checksum(&data), reference(&data));
        }

        #[test]
        fn chained_sums_match_one_sum(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..150,
            start in any::<u64>(),
        ) {
            // Any even split chains to the sum of the whole, from any
            // starting partial sum (a pseudo header), including all-ones
            // words and sums that carry.
            let cut = (cut * 2).min(data.len() & !1);
            let start = start >> 24;
            let whole = fold(sum(&data, start));
            let chained = fold(sum(&data[cut..], sum(&data[..cut], start)));
            prop_assert_eq!(whole, chained);
            let mut reference_acc = start;
            for c in data.chunks(2) {
                let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from(c[0]) << 8 };
                reference_acc += u64::from(w);
            }
            prop_assert_eq!(whole, fold(reference_acc));
        }

        #[test]
        fn incremental_updates_match_full(
            mut data in proptest::collection::vec(any::<u8>(), 40..80),
            at in 0usize..10,
            new16 in any::<u16>(),
            new32 in any::<u32>(),
            new128 in any::<[u8; 16]>(),
        ) {
            // Make sure the data is never all zero (then 0 vs 0xffff differ).
            data[39] |= 1;
            let ofs = at * 2;
            let c0 = checksum(&data);

            let old16 = u16::from_be_bytes([data[ofs], data[ofs + 1]]);
            let mut d = data.clone();
            d[ofs..ofs + 2].copy_from_slice(&new16.to_be_bytes());
            prop_assert_eq!(update16(c0, old16, new16), checksum(&d));

            let old32 = u32::from_be_bytes([data[ofs], data[ofs + 1], data[ofs + 2], data[ofs + 3]]);
            let mut d = data.clone();
            d[ofs..ofs + 4].copy_from_slice(&new32.to_be_bytes());
            prop_assert_eq!(update32(c0, old32, new32), checksum(&d));

            let mut d = data.clone();
            d[ofs..ofs + 16].copy_from_slice(&new128);
            prop_assert_eq!(update_bytes(c0, &data[ofs..ofs + 16], &new128), checksum(&d));
        }
    }
}
