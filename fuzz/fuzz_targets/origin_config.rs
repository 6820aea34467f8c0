//! Arbitrary strings through `Origin::parse` and `OriginPattern::parse` (configuration): never a
//! panic; an accepted origin's serialization is accepted by `RequestOrigin::parse` and parses
//! back to itself; a pattern's display parses back to the same pattern (behaviour rule C4).
//! The two parsers agree: an accepted origin is the exact pattern of the same text, which
//! matches that origin's serialization (M1). A subdomain pattern matches the origin one label
//! below its domain and never the domain itself (M5).

#![no_main]

use cors_origin::{Origin, OriginPattern, RequestOrigin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(origin) = Origin::parse(input) {
        let request = RequestOrigin::parse(origin.as_str().as_bytes())
            .expect("a serialization is a valid Origin header");
        assert_eq!(request.as_bytes(), origin.as_str().as_bytes());
        let again = Origin::parse(origin.as_str()).expect("a serialization parses");
        assert_eq!(again.as_str(), origin.as_str());
        let pattern = OriginPattern::parse(input).expect("an origin is a pattern");
        assert_eq!(pattern, OriginPattern::Exact(origin.clone()));
        assert!(pattern.matches(&request), "{origin} does not match itself");
    }
    if let Ok(pattern) = OriginPattern::parse(input) {
        let again = OriginPattern::parse(&pattern.to_string()).expect("a display parses");
        assert_eq!(again, pattern);
        if let OriginPattern::Subdomains(subdomains) = &pattern {
            let port = subdomains.port().map(|port| format!(":{port}")).unwrap_or_default();
            let (scheme, domain) = (subdomains.scheme(), subdomains.domain());
            // Either may be over a host limit: asserted only when it is a valid header.
            let below = format!("{scheme}://x.{domain}{port}");
            if let Ok(below) = RequestOrigin::parse(below.as_bytes()) {
                assert!(pattern.matches(&below), "{pattern} does not match {below:?}");
            }
            let base = format!("{scheme}://{domain}{port}");
            if let Ok(base) = RequestOrigin::parse(base.as_bytes()) {
                assert!(!pattern.matches(&base), "{pattern} matches its own domain");
            }
        }
    }
});
