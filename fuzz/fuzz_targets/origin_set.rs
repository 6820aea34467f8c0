//! `OriginSet::find` against a linear scan of its patterns with `OriginPattern::matches`, over
//! patterns and origins drawn mostly from small pools (so that they collide) and sometimes
//! arbitrary: the index must pick exactly the pattern the precedence rule picks (behaviour rules
//! M1, M3, M4, M5), and never panic.

#![no_main]

use arbitrary::Arbitrary;
use cors_origin::{MatchKind, OriginPattern, OriginSet, RequestOrigin};
use libfuzzer_sys::fuzz_target;

const PATTERNS: &[&str] = &[
    "*",
    "null",
    "https://a.example",
    "https://b.a.example",
    "https://a.example:8443",
    "http://a.example",
    "https://*.example",
    "https://*.a.example",
    "https://*.b.a.example",
    "http://*.example",
    "https://*.example:8443",
    "https://*.xn--bcher-kva.example",
    "http://127.0.0.1:3000",
    "http://[::1]:3000",
];

const ORIGINS: &[&str] = &[
    "https://a.example",
    "https://b.a.example",
    "https://c.b.a.example",
    "https://example",
    "https://evilexample",
    "https://a.example:8443",
    "https://x.example:8443",
    "http://a.example",
    "http://x.a.example",
    "https://x.xn--bcher-kva.example",
    "http://127.0.0.1:3000",
    "http://[::1]:3000",
    "null",
];

#[derive(Arbitrary, Debug)]
enum Text {
    Known(u8),
    Raw(String),
}

impl Text {
    fn pick<'a>(&'a self, known: &[&'a str]) -> &'a str {
        match self {
            Text::Known(i) => known[usize::from(*i) % known.len()],
            Text::Raw(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    patterns: Vec<Text>,
    origins: Vec<Text>,
}

/// The precedence rule, spelled out: an explicit entry (exact or `null`, lowest index), else the
/// subdomain pattern with the longest domain (lowest index on ties), else the first `*`.
fn linear_scan(patterns: &[OriginPattern], origin: &RequestOrigin<'_>) -> Option<usize> {
    let matching = || patterns.iter().enumerate().filter(|(_, p)| p.matches(origin));
    if let Some((i, _)) =
        matching().find(|(_, p)| matches!(p, OriginPattern::Exact(_) | OriginPattern::Null))
    {
        return Some(i);
    }
    let mut longest: Option<(usize, usize)> = None;
    for (i, pattern) in matching() {
        if let OriginPattern::Subdomains(s) = pattern
            && longest.is_none_or(|(_, length)| s.domain().len() > length)
        {
            longest = Some((i, s.domain().len()));
        }
    }
    if let Some((i, _)) = longest {
        return Some(i);
    }
    matching().find(|(_, p)| matches!(p, OriginPattern::Any)).map(|(i, _)| i)
}

fuzz_target!(|input: Input| {
    let patterns: Vec<OriginPattern> = input
        .patterns
        .iter()
        .take(64)
        .filter_map(|text| OriginPattern::parse(text.pick(PATTERNS)).ok())
        .collect();
    let set = OriginSet::new(patterns.clone());
    assert_eq!(set.patterns(), patterns.as_slice());
    for text in input.origins.iter().take(16) {
        let Ok(origin) = RequestOrigin::parse(text.pick(ORIGINS).as_bytes()) else { continue };
        let found = set.find(&origin);
        assert_eq!(found.map(|m| m.index()), linear_scan(&patterns, &origin), "{origin:?}");
        if let Some(found) = found {
            let kind = match &patterns[found.index()] {
                OriginPattern::Any => MatchKind::Any,
                OriginPattern::Null => MatchKind::Null,
                OriginPattern::Exact(_) => MatchKind::Exact,
                _ => MatchKind::Subdomain,
            };
            assert_eq!(found.kind(), kind);
        }
    }
});
