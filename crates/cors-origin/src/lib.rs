//! RFC 6454 origins for a CORS gateway: canonicalizing configuration-time parsing, strict and
//! allocation-free parsing of `Origin` request headers, origin patterns, and pattern sets with
//! bounded lookups.
//!
//! Configured origins are parsed once with [`Origin::parse`] (or [`OriginPattern::parse`]),
//! which canonicalizes and explains its errors.
//! Request headers are parsed with [`RequestOrigin::parse`], which accepts only what a browser
//! sends: `null`, or exactly the canonical serialization [`Origin::parse`] would produce. It
//! recognizes the common form (`scheme://domain[:port]`) in one scan over the bytes, the host
//! eight bytes at a time; IP hosts, Punycode labels and refusals take a slower, precise path.
//! An [`OriginSet`] then says which configured pattern, if any, decides the request;
//! [`OriginSet::parse_and_find`] does both at once, recognizing a configured origin by its hash
//! lookup alone.
//!
//! ```
//! use cors_origin::{MatchKind, Origin, OriginPattern, OriginSet, RequestOrigin};
//!
//! // Configuration time: canonicalize.
//! let origin = Origin::parse("HTTPS://Bücher.Example:443/")?;
//! assert_eq!(origin.as_str(), "https://xn--bcher-kva.example");
//!
//! let set: OriginSet = ["https://app.example", "https://*.example.com", "*"]
//!     .into_iter()
//!     .map(OriginPattern::parse)
//!     .collect::<Result<_, _>>()?;
//!
//! // Request time: strict, borrowed, no allocation.
//! let request = RequestOrigin::parse(b"https://a.b.example.com").expect("canonical");
//! let found = set.find(&request).expect("the subdomain pattern matches");
//! assert_eq!((found.index(), found.kind()), (1, MatchKind::Subdomain));
//!
//! // Non-canonical values are refused, not normalized.
//! assert!(RequestOrigin::parse(b"https://app.example:443").is_err());
//! assert!(RequestOrigin::parse(b"HTTPS://app.example").is_err());
//! # Ok::<(), cors_origin::ParseError>(())
//! ```
//!
//! # Spec conformance
//!
//! - RFC 6454 §4 (origin of a URI): an origin is the (scheme, host, port) triple; the port is
//!   the scheme's default when absent.
//!   §5 (comparing origins): two origins are the same exactly when their canonical
//!   serializations are equal, which is how [`Origin`] implements `Eq` and `Hash`.
//!   §6.2 (ASCII serialization): `scheme "://" host [ ":" port ]`, the port omitted when it is
//!   the default; `null` for opaque origins; see [`Origin::as_str`].
//! - WHATWG URL Standard, [host parsing](https://url.spec.whatwg.org/#host-parsing): hosts are
//!   parsed by the `url` crate (`url::Host::parse`), so IDNA (UTS 46 with the URL deny list),
//!   every IPv4 form (`0x7f.1`, `2130706433`, `127.1`, octal) and IPv6 follow the standard;
//!   IPv6 is written with the standard's
//!   [serializer](https://url.spec.whatwg.org/#concept-ipv6-serializer) (lowercase, first
//!   longest run of two or more zero pieces compressed, never an embedded dotted IPv4).
//!   Default ports are those of the special schemes: 80 for `http`/`ws`, 443 for `https`/`wss`,
//!   21 for `ftp`.
//! - WHATWG Fetch, [`Origin` header](https://fetch.spec.whatwg.org/#origin-header): the value is
//!   `null` or a serialized origin; [`RequestOrigin::parse`] accepts exactly those, byte for
//!   byte, and normalizes nothing (behaviour rules M1, R5).
//!
//! Deliberate deviations, each because browsers never send the refused forms or because a
//! configuration containing them is almost surely a mistake:
//!
//! - Host alphabet: after IDNA, domain hosts use only `a-z`, `0-9`, `-`, `_` and `.`.
//!   `_` is accepted because real hosts have it and browsers send it; other characters the URL
//!   Standard tolerates in domains (`!`, `$`, `~`, ...) and percent-encoding are refused.
//! - Empty labels are refused, which includes a trailing dot (`https://a.example.`): the URL
//!   Standard keeps it, making a different origin from `https://a.example`.
//!   Such a value, or one past the host alphabet or DNS limits below, is still a site's own
//!   origin when it is the serialization of the origin the request was addressed to:
//!   [`is_same_origin_value`] says so from the bytes as sent (behaviour rule R2).
//! - DNS limits (RFC 1035 §2.3.4) are enforced: hosts of at most 253 bytes, labels of at most 63.
//!   A host with a Punycode (`xn--`) label has at most 8 labels, so that request-time IDNA
//!   validation stays within fixed buffers.
//! - An empty port (`https://a.example:`) is an error, not "no port".
//!   Otherwise ports follow the URL Standard: leading zeros are accepted at configuration time
//!   (`http://a.example:080` is `http://a.example`), 0 through 65535 are valid, 65536 is not.
//!   The request-time parser refuses leading zeros and default ports, which browsers never send.
//! - Non-special schemes (`chrome-extension://abc`) are tuple origins; the URL Standard gives
//!   them opaque origins, but browsers send `Origin: chrome-extension://<id>`,
//!   `moz-extension://<uuid>` and `safari-web-extension://<UUID>` for extensions. Their host is
//!   the URL Standard's [opaque host](https://url.spec.whatwg.org/#concept-opaque-host-parser),
//!   kept as written by both parsers: not lowercased (Safari's UUIDs are upper case), not read
//!   as IPv4 (`x-app://0x7f.1` stays so), not put through IDNA; it must be ASCII, of the host
//!   alphabet above with upper case, within the DNS limits, without empty labels.
//! - Schemes without tuple origins (`about`, `blob`, `data`, `file`, `filesystem`,
//!   `javascript`) are refused; configure `null` to match opaque origins.
//! - A single trailing `/` is tolerated at configuration time ([`ParseNotes`] reports it);
//!   anything else after the authority is an error.
//!
//! # Untrusted input
//!
//! [`RequestOrigin::parse`], [`OriginRef::is_same_origin_as`], [`is_same_origin_value`],
//! [`OriginSet::find`] and [`OriginSet::parse_and_find`] are written for hostile bytes: they never panic, never
//! allocate, and do work linear in the input, which is capped at [`MAX_ORIGIN_LEN`] bytes
//! before anything else happens (before it is hashed, too).
//! Subdomain lookups hash at most as many host suffixes as the deepest configured pattern
//! domain has labels, and hash tables use per-process random seeds (`foldhash`).
//! Errors are `Copy` kinds that do not echo the input.
//! [`Origin::parse`] and [`OriginPattern::parse`] are meant for configuration: they allocate,
//! and their errors quote the input, cut short when it is long ([`Quoted`]).
//!
//! # Crate features
//!
//! None. The crate depends on `url` and `idna` for host parsing, and on `foldhash` and
//! `hashbrown` (without its default features) for hashing.

mod ascii;
mod error;
mod host;
mod origin;
mod pattern;
mod quoted;
mod request;
mod set;

pub use ascii::{eq_lowercase, eq_lowercase_name, host_alphabet_prefix, position_byte};
pub use error::{HeaderError, ParseError, ParseErrorKind};
pub use origin::{Origin, ParseNotes};
pub use pattern::{OriginPattern, SubdomainPattern};
pub use quoted::Quoted;
pub use request::{MAX_ORIGIN_LEN, OriginRef, RequestOrigin, is_same_origin_value};
pub use set::{Match, MatchKind, OriginSet};

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
