//! Arbitrary strings through `Origin::parse` and `OriginPattern::parse` (configuration): never a
//! panic; an accepted origin's serialization is accepted by `RequestOrigin::parse` and parses
//! back to itself; a pattern's display parses back to the same pattern (behaviour rule C4).

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
    }
    if let Ok(pattern) = OriginPattern::parse(input) {
        let again = OriginPattern::parse(&pattern.to_string()).expect("a display parses");
        assert_eq!(again, pattern);
    }
});
