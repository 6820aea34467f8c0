//! Parsing a PROXY protocol header (see the parent module), over the `ppp` crate: pure, so that
//! the `proxy_protocol` fuzz target (`fuzz/fuzz_targets/proxy_protocol.rs`) can include this
//! file by its path, as it is. It may use nothing of the gateway's.

use std::net::SocketAddr;

use ppp::PartialResult as _;
use ppp::{v1, v2};

/// The most bytes of a header the gateway takes. A version 1 header has at most 107 (the
/// specification's maximum, which `ppp` enforces); a version 2 header is 16 bytes and a length
/// of up to 65 535, of which the addresses take 216 at most (`AF_UNIX`) and the rest are TLVs,
/// which the gateway ignores. Balancers send a few short TLVs (AWS NLB its VPC endpoint id,
/// `HAProxy` an authority or a unique id of at most 255 and 128 bytes, its SSL ones); a header
/// longer than this is refused rather than buffered.
pub(crate) const MAX_HEADER_BYTES: usize = 4096;

/// What a header says of its connection's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    /// The source address of a proxied connection (version 1 `TCP4` or `TCP6`, version 2
    /// `PROXY` over IPv4 or IPv6).
    At(SocketAddr),
    /// The balancer's own connection (version 2 `LOCAL`: its health checks): the specification
    /// has the receiver use the TCP peer's address, and the peer is the client.
    Peer,
    /// A proxied connection whose client the balancer does not name (version 1 `UNKNOWN`,
    /// version 2 `PROXY` over `AF_UNSPEC` or `AF_UNIX`): the specification has the receiver use
    /// the TCP peer's address, but the client is not the balancer, and is trusted with nothing
    /// the balancer is (finding F-DB in docs/robustness.md).
    Unnamed,
}

/// How the first bytes of a connection read as a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole header of `length` bytes, which says `client`.
    Header { length: usize, client: Client },
    /// The start of a header: more bytes are needed.
    Incomplete,
    /// Not a header, whatever bytes follow; the reason, for the log.
    Invalid(&'static str),
}

/// The start of a version 1 header.
const V1_PREFIX: &[u8] = b"PROXY ";

/// Parses the header at the start of `bytes` (which may go on past it).
pub(crate) fn parse(bytes: &[u8]) -> Parsed {
    if starts_as(bytes, v2::PROTOCOL_PREFIX) {
        parse_v2(bytes)
    } else if starts_as(bytes, V1_PREFIX) {
        parse_v1(bytes)
    } else {
        Parsed::Invalid("the connection does not start with a PROXY protocol header")
    }
}

/// Whether `bytes` could start with `prefix`: they agree on the bytes both have.
fn starts_as(bytes: &[u8], prefix: &[u8]) -> bool {
    let common = bytes.len().min(prefix.len());
    bytes[..common] == prefix[..common]
}

/// The longest version 1 header, its CRLF included.
const V1_MAX_BYTES: usize = 107;

/// Parses a version 1 header once its line has ended: `ppp` judges some starts of a valid line
/// invalid (`PROXY TCP4 192.0.2.7 10.0.0.1 51000 ` before its destination port) and some
/// ended lines incomplete (`PROXY TCP4\r\n`), so the end of the line is what decides here.
fn parse_v1(bytes: &[u8]) -> Parsed {
    if !ends_a_line(bytes) {
        return if bytes.len() >= V1_MAX_BYTES {
            Parsed::Invalid("a version 1 PROXY protocol header over 107 bytes")
        } else {
            Parsed::Incomplete
        };
    }
    match v1::Header::try_from(bytes) {
        Ok(header) => {
            let client = match header.addresses {
                v1::Addresses::Tcp4(ip) => Client::At((ip.source_address, ip.source_port).into()),
                v1::Addresses::Tcp6(ip) => Client::At((ip.source_address, ip.source_port).into()),
                v1::Addresses::Unknown => Client::Unnamed,
            };
            Parsed::Header { length: header.header.len(), client }
        }
        Err(_) => Parsed::Invalid("a malformed version 1 PROXY protocol header"),
    }
}

/// Whether `bytes` hold a carriage return and a byte after it: the end of a version 1 line, as
/// `ppp` cuts it (the byte after must be the line feed).
fn ends_a_line(bytes: &[u8]) -> bool {
    bytes.iter().position(|&byte| byte == b'\r').is_some_and(|at| at + 1 < bytes.len())
}

fn parse_v2(bytes: &[u8]) -> Parsed {
    if let Some(local) = parse_v2_local(bytes) {
        return local;
    }
    match v2::Header::try_from(bytes) {
        Ok(header) => {
            let client = match (header.command, header.addresses) {
                (v2::Command::Proxy, v2::Addresses::IPv4(ip)) => {
                    Client::At((ip.source_address, ip.source_port).into())
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(ip)) => {
                    Client::At((ip.source_address, ip.source_port).into())
                }
                // `LOCAL` is parsed apart, by `parse_v2_local`.
                _ => Client::Unnamed,
            };
            Parsed::Header { length: header.len(), client }
        }
        // The fixed part is 16 bytes, the length of the rest in its last two.
        Err(v2::ParseError::Partial(_, length)) if 16 + length > MAX_HEADER_BYTES => {
            Parsed::Invalid(V2_TOO_LONG)
        }
        Err(error) if error.is_incomplete() => Parsed::Incomplete,
        Err(_) => Parsed::Invalid("a malformed version 2 PROXY protocol header"),
    }
}

/// Why a version 2 header whose length is over [`MAX_HEADER_BYTES`] is refused.
const V2_TOO_LONG: &str = "a version 2 PROXY protocol header longer than 4 KiB";

/// The version and command byte of a version 2 `LOCAL` header.
const V2_LOCAL: u8 = 0x20;

/// Parses a version 2 `LOCAL` header (a balancer's own connection, such as a health check),
/// whatever its address family and block: the specification has the receiver "accept this
/// connection as valid", "discard the protocol block including the family which is ignored"
/// (section 2.2), where `ppp` refuses a family it does not know, or a block shorter than its
/// family's addresses (finding F-BX in docs/robustness.md). Hand-written: after the signature,
/// which the caller checked, only the command byte and the length are read. `None` when `bytes`
/// do not hold the fixed part of a `LOCAL` header.
fn parse_v2_local(bytes: &[u8]) -> Option<Parsed> {
    let fixed: &[u8; 16] = bytes.first_chunk()?;
    if fixed[12] != V2_LOCAL {
        return None;
    }
    let length = 16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    Some(if length > MAX_HEADER_BYTES {
        Parsed::Invalid(V2_TOO_LONG)
    } else if bytes.len() < length {
        Parsed::Incomplete
    } else {
        Parsed::Header { length, client: Client::Peer }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// A version 2 header: the signature, `version_command`, `family`, and `body` (addresses
    /// and TLVs) with its length.
    fn v2(version_command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut header = v2::PROTOCOL_PREFIX.to_vec();
        header.extend([version_command, family]);
        header.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        header.extend(body);
        header
    }

    /// The address block of `PROXY` over TCP/IPv4 from 192.0.2.7:51000 to 10.0.0.1:443.
    const V4_BLOCK: [u8; 12] = [192, 0, 2, 7, 10, 0, 0, 1, 0xc7, 0x38, 0x01, 0xbb];

    fn v6_block() -> Vec<u8> {
        let source: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        let destination: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        [&source.octets()[..], &destination.octets(), &[0xc7, 0x38, 0x01, 0xbb]].concat()
    }

    fn at(address: &str) -> Client {
        Client::At(address.parse().unwrap())
    }

    /// Every valid header in the tests, with the client it names.
    fn headers() -> Vec<(Vec<u8>, Client)> {
        let tlv = [0xea, 0x00, 0x04, b'v', b'p', b'c', b'e'];
        vec![
            (b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 443\r\n".to_vec(), at("192.0.2.7:51000")),
            (
                b"PROXY TCP6 2001:db8::7 2001:db8::1 51000 443\r\n".to_vec(),
                at("[2001:db8::7]:51000"),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), Client::Unnamed),
            (b"PROXY UNKNOWN 192.0.2.7 10.0.0.1 51000 443\r\n".to_vec(), Client::Unnamed),
            (v2(0x21, 0x11, &V4_BLOCK), at("192.0.2.7:51000")),
            (v2(0x21, 0x21, &v6_block()), at("[2001:db8::7]:51000")),
            (v2(0x21, 0x11, &[&V4_BLOCK[..], &tlv].concat()), at("192.0.2.7:51000")),
            // A TLV whose length runs past the header: the header ends where its own length
            // says, and the TLVs are not read.
            (
                v2(0x21, 0x11, &[&V4_BLOCK[..], &[0xea, 0x00, 0x40, b'v']].concat()),
                at("192.0.2.7:51000"),
            ),
            (v2(0x20, 0x00, &[]), Client::Peer),
            (v2(0x20, 0x11, &V4_BLOCK), Client::Peer),
            // `LOCAL` ignores its family and block (finding F-BX): one it does not know, one
            // too short for its addresses, none at all.
            (v2(0x20, 0x41, &V4_BLOCK), Client::Peer),
            (v2(0x20, 0x21, &V4_BLOCK), Client::Peer),
            (v2(0x20, 0x11, &[]), Client::Peer),
            // `PROXY` for a client of no address the gateway knows (finding F-DB).
            (v2(0x21, 0x00, &[]), Client::Unnamed),
            (v2(0x21, 0x31, &[0; 216]), Client::Unnamed),
        ]
    }

    #[test]
    fn headers_name_their_client_and_their_length() {
        for (header, client) in headers() {
            let expected = Parsed::Header { length: header.len(), client };
            assert_eq!(parse(&header), expected, "{header:?}");
            // What follows the header is not read as part of it.
            for after in [&b"GET / HTTP/1.1\r\n"[..], &[0x16, 0x03, 0x01], b"\r\n"] {
                assert_eq!(parse(&[&header[..], after].concat()), expected, "{header:?}");
            }
        }
    }

    #[test]
    fn every_start_of_a_header_is_incomplete() {
        for (header, _) in headers() {
            for end in 1..header.len() {
                assert_eq!(parse(&header[..end]), Parsed::Incomplete, "{:?}", &header[..end]);
            }
        }
    }

    #[rstest]
    #[case::an_http_request(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")]
    #[case::a_tls_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])]
    #[case::lowercase(b"proxy TCP4 192.0.2.7 10.0.0.1 51000 443\r\n")]
    #[case::an_unknown_protocol(b"PROXY UDP4 192.0.2.7 10.0.0.1 51000 443\r\n")]
    #[case::a_v6_address_in_tcp4(b"PROXY TCP4 2001:db8::7 10.0.0.1 51000 443\r\n")]
    #[case::a_port_out_of_range(b"PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n")]
    #[case::no_addresses(b"PROXY TCP4\r\n")]
    #[case::a_bare_carriage_return(b"PROXY TCP4 192.0.2.7 10.0.0.1 51000 443\rX")]
    #[case::a_line_over_107_bytes(&[&b"PROXY UNKNOWN "[..], &[b'1'; 100]].concat())]
    #[case::a_v2_version_1(&v2(0x11, 0x11, &V4_BLOCK))]
    #[case::a_v2_command_2(&v2(0x22, 0x11, &V4_BLOCK))]
    #[case::a_v2_family_4(&v2(0x21, 0x41, &V4_BLOCK))]
    #[case::a_v2_block_too_short_for_its_family(&v2(0x21, 0x21, &V4_BLOCK))]
    #[case::a_v2_header_over_4_kib(&v2(0x21, 0x11, &[0; MAX_HEADER_BYTES - 15])[..16])]
    #[case::a_v2_local_header_over_4_kib(&v2(0x20, 0x00, &[0; MAX_HEADER_BYTES - 15])[..16])]
    fn what_is_not_a_header_is_invalid(#[case] bytes: &[u8]) {
        assert!(matches!(parse(bytes), Parsed::Invalid(_)), "{:?}", parse(bytes));
    }

    /// A version 2 header of exactly [`MAX_HEADER_BYTES`], `PROXY` or `LOCAL`, is taken, and
    /// every start of it is incomplete rather than refused: only a longer one is (F-AI).
    #[rstest]
    #[case::proxy(0x21, at("192.0.2.7:51000"))]
    #[case::local(0x20, Client::Peer)]
    fn a_v2_header_of_4_kib_is_taken(#[case] command: u8, #[case] client: Client) {
        let header = v2(command, 0x11, &[&V4_BLOCK[..], &[0; MAX_HEADER_BYTES - 28]].concat());
        assert_eq!(header.len(), MAX_HEADER_BYTES);
        assert_eq!(parse(&header), Parsed::Header { length: header.len(), client });
        for end in [1, 15, 16, 17, 28, 29, 256, 273, MAX_HEADER_BYTES - 1] {
            assert_eq!(parse(&header[..end]), Parsed::Incomplete, "the first {end} bytes");
        }
    }

    proptest! {
        /// Any bytes parse to a header, an incomplete one or an invalid one, never a panic; a
        /// header found is within the bytes and the limit.
        #[test]
        fn any_bytes_parse_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Parsed::Header { length, .. } = parse(&bytes) {
                prop_assert!(length <= bytes.len() && length <= MAX_HEADER_BYTES);
            }
        }

        /// The same after a valid header's start, where a parser is deepest.
        #[test]
        fn any_bytes_after_a_headers_start_parse_without_panicking(
            which in 0..headers().len(),
            cut in 0..300_usize,
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (header, _) = &headers()[which];
            let start = &header[..cut.min(header.len())];
            if let Parsed::Header { length, .. } = parse(&[start, &tail].concat()) {
                prop_assert!(length <= start.len() + tail.len());
            }
        }
    }
}
