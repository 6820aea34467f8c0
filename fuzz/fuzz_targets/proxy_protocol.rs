//! Arbitrary bytes as the first bytes of a connection through cors-gateway's PROXY protocol
//! parser (`serve --proxy-protocol`, finding F-AI): never a panic; a header found lies within the
//! bytes and the 4 KiB limit, and is decided by its own bytes, not by what follows it (the
//! client's request); bytes that could still become a header are fewer than the limit, so that
//! the gateway, which peeks at most that many, always gets an answer.
//!
//! The gateway is a binary: its parser's file, which uses nothing of the gateway's but the `ppp`
//! crate, is included by its path.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/cors-gateway/src/proxy_protocol/parse.rs"]
mod parse;

use parse::{MAX_HEADER_BYTES, Parsed, parse};

fuzz_target!(|bytes: &[u8]| {
    match parse(bytes) {
        Parsed::Header { length, client } => {
            assert!(length <= bytes.len() && length <= MAX_HEADER_BYTES, "{length}");
            assert_eq!(
                parse(&bytes[..length]),
                Parsed::Header { length, client },
                "the header's own bytes read otherwise"
            );
        }
        Parsed::Incomplete => assert!(bytes.len() < MAX_HEADER_BYTES, "undecided at the limit"),
        Parsed::Invalid(reason) => assert!(!reason.is_empty()),
    }
});
