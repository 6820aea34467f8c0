//! How upstreams read a request's path before they route it, for the Local Mode router's check
//! that a path it forwards stays under the API instance it chose (docs/robustness.md, findings
//! F-L, F-T, F-V, F-W and F-AL).
//!
//! Web servers and frameworks each take some of a few steps before they match a path against
//! their routes, in one of two orders, and a path that a crafted request spells unusually can
//! land under another prefix after them than before. [`Reading::ALL`] is every mix of the steps.

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
    /// Takes `\` for `/` (IIS, Tomcat with `ALLOW_BACKSLASH`, WHATWG URL parsers).
    backslash: bool,
    /// Reads a run of `/` as one (nginx's `merge_slashes`, Spring's path helper).
    merge: bool,
}

impl Reading {
    /// Every mix of the steps; with neither decoding nor `\` taken for `/`, dropping parameters
    /// before or after them is the same reading, which is listed once. With `\` taken for `/`
    /// it is not: dropped after, a parameter ends at a `\` (finding F-BE in
    /// docs/robustness.md: `/;x\caf%C3%A9` is `/caf%C3%A9` so, and `/` before).
    pub(crate) const ALL: [Reading; 34] = {
        let mut all =
            [Reading { parameters: Parameters::Kept, decodes: 0, backslash: false, merge: false };
                34];
        let mut bits = 0;
        let mut n = 0;
        while bits < 36 {
            let parameters = match bits % 3 {
                0 => Parameters::Kept,
                1 => Parameters::BeforeDecoding,
                _ => Parameters::AfterDecoding,
            };
            let decodes = bits / 3 % 3;
            let backslash = bits / 9 % 2 == 1;
            if decodes > 0 || backslash || !matches!(parameters, Parameters::AfterDecoding) {
                all[n] = Reading { parameters, decodes, backslash, merge: bits / 18 == 1 };
                n += 1;
            }
            bits += 1;
        }
        all
    };

    /// `path` as this reading reads it: parameters dropped from the raw path, escapes decoded
    /// (once or twice), `\` taken for `/`, parameters dropped from what that left, runs of `/`
    /// merged, each step only if the reading takes it. Dot segments are left: the gateway
    /// refuses every path that has one before any reading could matter
    /// (`checks::has_dot_segment`).
    pub(crate) fn read(self, path: &[u8]) -> Vec<u8> {
        let mut read = path.to_vec();
        if self.parameters == Parameters::BeforeDecoding {
            read = without_parameters(&read);
        }
        for _ in 0..self.decodes {
            if let Some(all) = decoded(&read, |_| true) {
                read = all;
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

/// `path` with the escapes (`%` and two hex digits) of the bytes `takes` accepts decoded, once;
/// `None` when it has none of them. A `%` without two hex digits after it stays as it is.
pub(crate) fn decoded(path: &[u8], takes: impl Fn(u8) -> bool) -> Option<Vec<u8>> {
    let mut decoded: Option<Vec<u8>> = None;
    let mut rest = path;
    while let Some((&first, after)) = rest.split_first() {
        let byte = after.get(..2).and_then(escaped).filter(|&b| first == b'%' && takes(b));
        if let Some(byte) = byte {
            let done = path.len() - rest.len();
            decoded.get_or_insert_with(|| path[..done].to_vec()).push(byte);
            rest = &after[2..];
        } else {
            if let Some(decoded) = &mut decoded {
                decoded.push(first);
            }
            rest = after;
        }
    }
    decoded
}

/// The byte the two hex digits `hex` (what follows a `%`) encode, if they are two hex digits.
fn escaped(hex: &[u8]) -> Option<u8> {
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let [high, low] = *hex else { return None };
    u8::try_from(digit(high)? << 4 | digit(low)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn every_reading_is_listed_once() {
        let mut seen = Vec::new();
        for r in Reading::ALL {
            let key = (r.parameters as u8, r.decodes, r.backslash, r.merge);
            assert!(!seen.contains(&key), "{r:?} twice");
            seen.push(key);
        }
        assert_eq!(seen.len(), 34);
    }

    /// Listed once means no two readings of [`Reading::ALL`] read every path alike: each
    /// leaves out none that reads some path otherwise (F-BE: with `\` taken for `/`, dropping
    /// parameters after it was left out as if it were dropping them before).
    #[test]
    fn every_step_order_that_reads_a_path_otherwise_is_listed() {
        let paths: [&[u8]; 4] = [b"/;x\\b", b"/a;x%2Fb/c", b"/a//b%252F", b"/a%5Cb;x/c"];
        let mut all = Vec::new();
        for parameters in [Parameters::Kept, Parameters::BeforeDecoding, Parameters::AfterDecoding]
        {
            for decodes in 0..3 {
                for (backslash, merge) in
                    [(false, false), (false, true), (true, false), (true, true)]
                {
                    all.push(Reading { parameters, decodes, backslash, merge });
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
        let reading = Reading { parameters, decodes, backslash, merge };
        assert_eq!(String::from_utf8_lossy(&reading.read(path.as_bytes())), expected);
    }
}
