//! Arbitrary `Access-Control-Request-Headers` lines through `cors_engine::parse_acrh`: never a
//! panic, the P6 budgets hold, and the names iterator, joined length and canonical-line flag agree
//! with what the callback saw.

#![no_main]

use cors_engine::{
    AcrhNames, MAX_ACRH_BYTES, MAX_ACRH_EMPTY, MAX_ACRH_NAMES, is_token, parse_acrh,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|lines: Vec<Vec<u8>>| {
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let mut seen = Vec::new();
    let Ok(summary) = parse_acrh(lines.iter().copied(), |name| seen.push(name)) else {
        assert!(seen.len() <= MAX_ACRH_NAMES);
        return;
    };
    assert!(lines.iter().map(|l| l.len()).sum::<usize>() <= MAX_ACRH_BYTES);
    assert!(summary.names() <= MAX_ACRH_NAMES && summary.empty_elements() <= MAX_ACRH_EMPTY);
    assert_eq!(summary.names(), seen.len());
    assert!(seen.iter().all(|name| is_token(name)));
    let iterated: Vec<&[u8]> = AcrhNames::new(lines.iter().copied()).collect();
    assert_eq!(iterated, seen);
    let joined = seen.join(&b", "[..]);
    assert_eq!(summary.joined_len(), joined.len());
    if summary.is_canonical_single_line() {
        assert_eq!(lines, [joined.as_slice()]);
    } else if lines.len() == 1 && !seen.is_empty() {
        assert_ne!(lines[0], joined.as_slice());
    }
});
