//! Decoding and encoding of `tnl_push` header templates, for the
//! `header(...)` part of `tnl_push(...)`.
//!
//! A template decodes to a [`Hdr`] only when encoding that [`Hdr`] gives back
//! the very same bytes; any other template is printed raw, so every template
//! round trips through text exactly.
//!
//! Template conventions (those of OVS's `ovs_parse_tnl_push`): IPv4 total
//! length and id are zero and the header checksum is filled in; IPv6 payload
//! length is zero; UDP length is zero; VXLAN and Geneve follow their RFCs.

use crate::actions::TunnelType;
use crate::key::ethertype;

/// A Geneve option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneveOpt {
    /// Option class.
    pub class: u16,
    /// Option type.
    pub typ: u8,
    /// Option data; a multiple of 4 bytes, at most 124.
    pub data: Vec<u8>,
}

/// The outer L3 header of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are the header's own, named as in it
pub enum L3 {
    /// IPv4 (`frag` is the flags and fragment offset word: 0x4000 = DF).
    V4 {
        src: u32,
        dst: u32,
        proto: u8,
        tos: u8,
        ttl: u8,
        frag: u16,
    },
    /// IPv6.
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        label: u32,
        proto: u8,
        tclass: u8,
        hlimit: u8,
    },
}

/// The tunnel header of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are the header's own, named as in it
pub enum Tun {
    /// VXLAN (`flags` is the first 32-bit word: 0x0800_0000 = I flag).
    Vxlan { flags: u32, vni: u32 },
    /// Geneve.
    Geneve {
        oam: bool,
        crit: bool,
        vni: u32,
        opts: Vec<GeneveOpt>,
    },
}

/// A decoded template (also how the slow path builds one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hdr {
    /// Outer Ethernet destination (the next hop's MAC).
    pub eth_dst: [u8; 6],
    /// Outer Ethernet source.
    pub eth_src: [u8; 6],
    /// Outer IP header.
    pub l3: L3,
    /// UDP source port (0 in templates: filled from the inner hash).
    pub udp_src: u16,
    /// UDP destination port.
    pub udp_dst: u16,
    /// UDP checksum (0 in templates).
    pub udp_csum: u16,
    /// The tunnel header.
    pub tun: Tun,
}

/// OVS's vport type numbers, as printed in `header(type=..)`.
pub(crate) fn type_number(t: TunnelType) -> u32 {
    match t {
        TunnelType::Vxlan => 4,
        TunnelType::Geneve => 5,
    }
}

/// The tunnel type for an OVS vport type number.
pub(crate) fn type_from_number(n: u64) -> Option<TunnelType> {
    match n {
        4 => Some(TunnelType::Vxlan),
        5 => Some(TunnelType::Geneve),
        _ => None,
    }
}

fn ipv4_csum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Hdr {
    /// The tunnel type of this header.
    pub fn tnl_type(&self) -> TunnelType {
        match self.tun {
            Tun::Vxlan { .. } => TunnelType::Vxlan,
            Tun::Geneve { .. } => TunnelType::Geneve,
        }
    }

    /// Whether the outer header is IPv6.
    pub fn is_ipv6(&self) -> bool {
        matches!(self.l3, L3::V6 { .. })
    }

    /// The template bytes. `None` when a field cannot be encoded (a Geneve
    /// option whose data is not a multiple of 4 bytes, or too long).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut b = Vec::with_capacity(80);
        b.extend_from_slice(&self.eth_dst);
        b.extend_from_slice(&self.eth_src);
        match &self.l3 {
            L3::V4 {
                src,
                dst,
                proto,
                tos,
                ttl,
                frag,
            } => {
                b.extend_from_slice(&ethertype::IPV4.to_be_bytes());
                let start = b.len();
                b.extend_from_slice(&[0x45, *tos, 0, 0, 0, 0]);
                b.extend_from_slice(&frag.to_be_bytes());
                b.extend_from_slice(&[*ttl, *proto, 0, 0]);
                b.extend_from_slice(&src.to_be_bytes());
                b.extend_from_slice(&dst.to_be_bytes());
                let c = ipv4_csum(&b[start..]);
                b[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
            }
            L3::V6 {
                src,
                dst,
                label,
                proto,
                tclass,
                hlimit,
            } => {
                if *label > 0xfffff {
                    return None;
                }
                b.extend_from_slice(&ethertype::IPV6.to_be_bytes());
                let w = (6u32 << 28) | (u32::from(*tclass) << 20) | label;
                b.extend_from_slice(&w.to_be_bytes());
                b.extend_from_slice(&[0, 0, *proto, *hlimit]);
                b.extend_from_slice(src);
                b.extend_from_slice(dst);
            }
        }
        b.extend_from_slice(&self.udp_src.to_be_bytes());
        b.extend_from_slice(&self.udp_dst.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.udp_csum.to_be_bytes());
        match &self.tun {
            Tun::Vxlan { flags, vni } => {
                if *vni > 0xff_ffff {
                    return None;
                }
                b.extend_from_slice(&flags.to_be_bytes());
                b.extend_from_slice(&(vni << 8).to_be_bytes());
            }
            Tun::Geneve {
                oam,
                crit,
                vni,
                opts,
            } => {
                if *vni > 0xff_ffff {
                    return None;
                }
                let mut ob = Vec::new();
                for o in opts {
                    if o.data.len() % 4 != 0 || o.data.len() > 31 * 4 {
                        return None;
                    }
                    ob.extend_from_slice(&o.class.to_be_bytes());
                    ob.push(o.typ);
                    ob.push((o.data.len() / 4) as u8);
                    ob.extend_from_slice(&o.data);
                }
                if ob.len() > 63 * 4 {
                    return None;
                }
                b.push((ob.len() / 4) as u8);
                b.push((u8::from(*oam) << 7) | (u8::from(*crit) << 6));
                b.extend_from_slice(&0x6558u16.to_be_bytes());
                b.extend_from_slice(&(vni << 8).to_be_bytes());
                b.extend_from_slice(&ob);
            }
        }
        Some(b)
    }

    /// Decodes a template of the given tunnel type; `None` unless the result
    /// encodes back to exactly `b`.
    pub fn decode(b: &[u8], t: TunnelType) -> Option<Hdr> {
        let h = Self::decode_loose(b, t)?;
        (h.encode()?.as_slice() == b).then_some(h)
    }

    fn decode_loose(b: &[u8], t: TunnelType) -> Option<Hdr> {
        let be16 = |o: usize| -> Option<u16> {
            Some(u16::from_be_bytes(b.get(o..o + 2)?.try_into().ok()?))
        };
        let be32 = |o: usize| -> Option<u32> {
            Some(u32::from_be_bytes(b.get(o..o + 4)?.try_into().ok()?))
        };
        let arr16 = |o: usize| -> Option<[u8; 16]> { b.get(o..o + 16)?.try_into().ok() };
        let eth_dst: [u8; 6] = b.get(0..6)?.try_into().ok()?;
        let eth_src: [u8; 6] = b.get(6..12)?.try_into().ok()?;
        let (l3, l4) = match be16(12)? {
            ethertype::IPV4 => (
                L3::V4 {
                    tos: *b.get(15)?,
                    frag: be16(20)?,
                    ttl: *b.get(22)?,
                    proto: *b.get(23)?,
                    src: be32(26)?,
                    dst: be32(30)?,
                },
                34,
            ),
            ethertype::IPV6 => {
                let w = be32(14)?;
                (
                    L3::V6 {
                        tclass: (w >> 20) as u8,
                        label: w & 0xfffff,
                        proto: *b.get(20)?,
                        hlimit: *b.get(21)?,
                        src: arr16(22)?,
                        dst: arr16(38)?,
                    },
                    54,
                )
            }
            _ => return None,
        };
        let udp_src = be16(l4)?;
        let udp_dst = be16(l4 + 2)?;
        let udp_csum = be16(l4 + 6)?;
        let t0 = l4 + 8;
        let tun = match t {
            TunnelType::Vxlan => Tun::Vxlan {
                flags: be32(t0)?,
                vni: be32(t0 + 4)? >> 8,
            },
            TunnelType::Geneve => {
                let optlen = usize::from(*b.get(t0)? & 0x3f) * 4;
                let fl = *b.get(t0 + 1)?;
                let vni = be32(t0 + 4)? >> 8;
                let mut opts = Vec::new();
                let mut o = t0 + 8;
                let end = o + optlen;
                while o < end {
                    let class = be16(o)?;
                    let typ = *b.get(o + 2)?;
                    let len = usize::from(*b.get(o + 3)? & 0x1f) * 4;
                    let data = b.get(o + 4..o + 4 + len)?.to_vec();
                    opts.push(GeneveOpt { class, typ, data });
                    o += 4 + len;
                }
                Tun::Geneve {
                    oam: fl & 0x80 != 0,
                    crit: fl & 0x40 != 0,
                    vni,
                    opts,
                }
            }
        };
        Some(Hdr {
            eth_dst,
            eth_src,
            l3,
            udp_src,
            udp_dst,
            udp_csum,
            tun,
        })
    }
}
