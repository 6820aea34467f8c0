//! How upstreams read a request's path before they route it, for the Local Mode router's check
//! that a path it forwards stays under the API instance it chose (docs/robustness.md, findings
//! F-L, F-T, F-V, F-W, F-AL, F-BE and F-BF).
//!
//! Web servers and frameworks each take some of a few steps before they match a path against
//! their routes, in one of two orders, and a path that a crafted request spells unusually can
//! land under another prefix after them than before. [`Reading::ALL`] is every mix of the steps.

use cors_policy::path::hex_byte;
/// The percent-decoding and the ends of a target, shared with the dot segment check (its home,
/// `cors_policy::path`).
pub(crate) use cors_policy::path::{decoded, ends_a_target};

/// When a reading drops each segment's path parameters (from `;` to the segment's end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parameters {
    /// Kept: most servers outside Java.
    Kept,
    /// Dropped from the path as it came, before anything is decoded, up to the next `/` (Tomcat
    /// and Jetty, which parse them off the raw request target).
    BeforeDecoding,
    /// Dropped after the other steps, up to the next separator they leave (Spring's
    /// `UrlPathHelper` on an already decoded path).
    AfterDecoding,
}

/// One way an upstream may read a path: which steps it takes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    parameters: Parameters,
    /// How many times every escape is decoded: none; once (nginx before it matches a location,
    /// most frameworks before they route); or twice, as an application does that decodes again
    /// a path its server or a proxy in front already decoded, and as IIS did (CVE-2001-0333).
    decodes: u8,
    /// Takes a byte that the first decoding made and that ends a request target
    /// ([`ends_a_target`]: `?`, `#`, whitespace, a line break) for the end of the path: a
    /// server behind a proxy that decoded the path and sent it on as it read it, which parses
    /// what it gets as a request target, the rest as the query (Apache's `mod_rewrite` putting a
    /// decoded path into a proxied URL: CVE-2024-38474, before 2.4.60 or with `UnsafeAllow3F`;
    /// nginx's `proxy_pass` with `$uri`), or, after whitespace or a line break, as the rest of
    /// its request line or the next line of its head. Only with `decodes` (findings F-BF,
    /// F-BN).
    query: bool,
    /// Takes `\` for `/` (IIS, Tomcat with `ALLOW_BACKSLASH`, WHATWG URL parsers).
    backslash: bool,
    /// Reads a run of `/` as one (nginx's `merge_slashes`, Spring's path helper).
    merge: bool,
}

impl Reading {
    /// Every mix of the steps; with neither decoding nor `\` taken for `/`, dropping parameters
    /// before or after them is the same reading, which is listed once. With `\` taken for `/`
    /// it is not: dropped after, a parameter ends at a `\` (finding F-BE in
    /// docs/robustness.md: `/;x\caf%C3%A9` is `/caf%C3%A9` so, and `/` before). A decoded `?`,
    /// `#`, whitespace or line break ends the path only in a reading that decodes (F-BF,
    /// F-BN).
    pub(crate) const ALL: [Reading; 58] = {
        let mut all = [Reading {
            parameters: Parameters::Kept,
            decodes: 0,
            query: false,
            backslash: false,
            merge: false,
        }; 58];
        let mut bits = 0;
        let mut n = 0;
        while bits < 72 {
            let parameters = match bits % 3 {
                0 => Parameters::Kept,
                1 => Parameters::BeforeDecoding,
                _ => Parameters::AfterDecoding,
            };
            let decodes = bits / 3 % 3;
            let backslash = bits / 9 % 2 == 1;
            let merge = bits / 18 % 2 == 1;
            let query = bits / 36 == 1;
            if (decodes > 0 || backslash || !matches!(parameters, Parameters::AfterDecoding))
                && (decodes > 0 || !query)
            {
                all[n] = Reading { parameters, decodes, query, backslash, merge };
                n += 1;
            }
            bits += 1;
        }
        all
    };

    /// Whether this reading takes a decoded `?`, `#`, whitespace or line break for the end of the
    /// path, which it reads as the reading without that step does when the path has none
    /// ([`may_end_early`]).
    pub(crate) fn ends_at_a_decoded_query(self) -> bool {
        self.query
    }

    /// `path` as this reading reads it: parameters dropped from the raw path, escapes decoded
    /// (once or twice; after the first time, the path ended where [`ends_a_target`]), `\` taken
    /// for `/`,
    /// parameters dropped from what that left, runs of `/` merged, each step only if the
    /// reading takes it. Dot segments are left: the gateway refuses every path that has one
    /// before any reading could matter (`checks::has_dot_segment`).
    pub(crate) fn read(self, path: &[u8]) -> Vec<u8> {
        let mut read = path.to_vec();
        if self.parameters == Parameters::BeforeDecoding {
            read = without_parameters(&read);
        }
        for round in 0..self.decodes {
            if let Some(all) = decoded(&read, |_| true) {
                read = all;
            }
            if round == 0
                && self.query
                && let Some(end) = read.iter().position(|&b| ends_a_target(b))
            {
                read.truncate(end);
            }
        }
        if self.backslash {
            read.iter_mut().filter(|b| **b == b'\\').for_each(|b| *b = b'/');
        }
        if self.parameters == Parameters::AfterDecoding {
            read = without_parameters(&read);
        }
        if self.merge {
            read.dedup_by(|a, b| *a == b'/' && *b == b'/');
        }
        read
    }
}

/// Whether `path` has an escape that one decoding makes a byte of [`ends_a_target`] of (`%3F`,
/// `%23`, `%20`, `%09`, `%0A` to `%0D`), so that a reading ending the path there may read it
/// otherwise than the same reading without that step.
pub(crate) fn may_end_early(path: &[u8]) -> bool {
    path.windows(3).any(|w| w[0] == b'%' && hex_byte(&w[1..]).is_some_and(ends_a_target))
}

/// `path` without each segment's path parameters: from a `;` up to the next `/`.
fn without_parameters(path: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(path.len());
    let mut dropping = false;
    for &byte in path {
        dropping = match byte {
            b'/' => false,
            b';' => true,
            _ => dropping,
        };
        if !dropping {
            kept.push(byte);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn every_reading_is_listed_once() {
        let mut seen = Vec::new();
        for r in Reading::ALL {
            let key = (r.parameters as u8, r.decodes, r.query, r.backslash, r.merge);
            assert!(!seen.contains(&key), "{r:?} twice");
            seen.push(key);
        }
        assert_eq!(seen.len(), 58);
    }

    /// A decoded `?`, `#`, whitespace or line break ends the path only in a reading that decodes
    /// (F-BF, F-BN): the folder leaves the readings that end a path there out for a path without
    /// such an escape, and so would leave out a reading that does not decode at all.
    #[test]
    fn only_a_reading_that_decodes_ends_the_path_at_a_decoded_query() {
        for reading in Reading::ALL {
            assert!(reading.decodes > 0 || !reading.ends_at_a_decoded_query(), "{reading:?}");
        }
    }

    /// Listed once means no two readings of [`Reading::ALL`] read every path alike: each
    /// leaves out none that reads some path otherwise (F-BE: with `\` taken for `/`, dropping
    /// parameters after it was left out as if it were dropping them before).
    #[test]
    fn every_step_order_that_reads_a_path_otherwise_is_listed() {
        let paths: [&[u8]; 5] =
            [b"/;x\\b", b"/a;x%2Fb/c", b"/a//b%252F", b"/a%5Cb;x/c", b"/a%3F/b%23c%253F/d"];
        let mut all = Vec::new();
        for parameters in [Parameters::Kept, Parameters::BeforeDecoding, Parameters::AfterDecoding]
        {
            for decodes in 0..3 {
                for (backslash, merge) in
                    [(false, false), (false, true), (true, false), (true, true)]
                {
                    for query in [false, true] {
                        all.push(Reading { parameters, decodes, query, backslash, merge });
                    }
                }
            }
        }
        let reads = |r: Reading| paths.map(|path| r.read(path));
        for reading in all {
            assert!(
                Reading::ALL.iter().any(|listed| reads(*listed) == reads(reading)),
                "{reading:?} reads the paths as no listed reading does"
            );
        }
    }

    #[rstest]
    #[case::tomcat_drops_parameters_before_decoding(
        Parameters::BeforeDecoding,
        1,
        false,
        false,
        "/a;x%2Fb/c",
        "/a/c"
    )]
    #[case::spring_drops_them_after(
        Parameters::AfterDecoding,
        1,
        false,
        false,
        "/a;x%2Fb/c",
        "/a/b/c"
    )]
    #[case::a_backslash_ends_parameters_only_after_it_is_read_as_a_slash(
        Parameters::AfterDecoding,
        0,
        true,
        false,
        "/a;x\\b",
        "/a/b"
    )]
    #[case::nginx(Parameters::Kept, 1, false, true, "/a//%62%2F/c;x", "/a/b/c;x")]
    #[case::short_escape_kept(Parameters::Kept, 1, false, false, "/a%2/%zz%", "/a%2/%zz%")]
    #[case::encoded_percent_decoded_once(Parameters::Kept, 1, false, false, "/%252F", "/%2F")]
    #[case::decoded_twice(Parameters::Kept, 2, false, false, "/a%252Fb/%%32%65", "/a/b/.")]
    fn readings(
        #[case] parameters: Parameters,
        #[case] decodes: u8,
        #[case] backslash: bool,
        #[case] merge: bool,
        #[case] path: &str,
        #[case] expected: &str,
    ) {
        let reading = Reading { parameters, decodes, query: false, backslash, merge };
        assert_eq!(String::from_utf8_lossy(&reading.read(path.as_bytes())), expected);
    }

    /// A `?`, `#`, whitespace or line break the first decoding makes ends the path for the
    /// readings that take it so; one a second decoding makes stays in it, as it does for every
    /// other reading (F-BF, F-BN).
    #[rstest]
    #[case::a_decoded_question_mark("/a%3F/b", 1, "/a", true)]
    #[case::in_lower_case("/a%3f", 1, "/a", true)]
    #[case::a_decoded_hash("/a%23x/b", 1, "/a", true)]
    #[case::the_first_of_them("/a%23/b%3F/c", 2, "/a", true)]
    #[case::nothing_after_it_is_decoded_again("/a%3F%2561", 2, "/a", true)]
    #[case::made_by_the_second_decoding("/a%253F/b", 2, "/a?/b", false)]
    #[case::none("/a%2F/b", 1, "/a//b", false)]
    #[case::a_decoded_space("/a%20HTTP/1.1", 1, "/a", true)]
    #[case::a_decoded_line_break("/a%0D%0AX:/b", 1, "/a", true)]
    #[case::a_decoded_line_feed_alone("/a%0a/b", 1, "/a", true)]
    #[case::a_decoded_tab("/a%09/b", 1, "/a", true)]
    #[case::a_decoded_form_feed("/a%0c/b", 1, "/a", true)]
    #[case::other_controls_stay("/a%00%7F/b", 1, "/a\0\x7f/b", false)]
    fn a_decoded_query_ends_the_path(
        #[case] path: &str,
        #[case] decodes: u8,
        #[case] expected: &str,
        #[case] early: bool,
    ) {
        let reading = Reading {
            parameters: Parameters::Kept,
            decodes,
            query: true,
            backslash: false,
            merge: false,
        };
        assert_eq!(String::from_utf8_lossy(&reading.read(path.as_bytes())), expected);
        assert_eq!(may_end_early(path.as_bytes()), early);
        let kept = Reading { query: false, ..reading };
        assert_eq!(kept.read(path.as_bytes()) == reading.read(path.as_bytes()), !early);
    }
}
