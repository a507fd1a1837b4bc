//! Address classification shared by decoders and the engine: "public egress" must mean
//! the same thing wherever it is decided.

use std::net::IpAddr;

/// True for addresses routable on the Internet: not private (RFC 1918, ULA), loopback,
/// link-local, CGNAT shared space, multicast, documentation, benchmarking or unspecified.
/// Link-local includes the cloud metadata endpoint; users who want it flagged put it in
/// `outbound_cidr_block_list` (the built-in default does).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        for p in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(p.parse().unwrap()), "{p}");
        }
        for p in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "fd00:ec2::254",
            "fe80::1",
            "::1",
            "::ffff:10.0.0.1",
            "192.0.2.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(p.parse().unwrap()), "{p}");
        }
    }
}
