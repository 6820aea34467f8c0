//! Arbitrary bytes through `RequestOrigin::parse` (the `Origin` request header): never a panic,
//! and whatever it accepts is canonical, so `Origin::parse` of the same text succeeds and
//! serializes to the same bytes with the same parts (behaviour rules M1, R5).

#![no_main]

use cors_origin::{MAX_ORIGIN_LEN, Origin, RequestOrigin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(request) = RequestOrigin::parse(bytes) else {
        return;
    };
    assert!(bytes.len() <= MAX_ORIGIN_LEN);
    assert_eq!(request.as_bytes(), bytes);
    let RequestOrigin::Tuple(view) = request else {
        assert_eq!(bytes, b"null");
        return;
    };
    let text = core::str::from_utf8(bytes).expect("accepted values are ASCII");
    let origin = Origin::parse(text).expect("accepted values parse as configuration");
    assert_eq!(origin.as_str(), text);
    assert_eq!(
        (origin.scheme(), origin.host(), origin.port()),
        (view.scheme(), view.host(), view.port())
    );
});
