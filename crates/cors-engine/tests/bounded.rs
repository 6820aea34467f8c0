//! Work on hostile input is bounded (R5, P6): the engine stops reading field lines after a fixed
//! budget, whatever the request carries.

mod common;

use std::cell::Cell;

use common::{ANY_HEADERS, CREDENTIALS, PUBLIC, engine};
use cors_engine::{Outcome, Request, RequestHeaders};
use rstest::rstest;

/// Header lines that count how many lines the engine pulls, and how many bytes those hold.
struct Counting {
    lines: Vec<(&'static str, String)>,
    pulled: Cell<usize>,
    bytes: Cell<usize>,
}

impl RequestHeaders for Counting {
    type Value = str;

    fn field_lines<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a str> + 'a {
        self.lines.iter().filter(move |(n, _)| *n == name).map(|(_, v)| {
            self.pulled.set(self.pulled.get() + 1);
            self.bytes.set(self.bytes.get() + v.len());
            v.as_str()
        })
    }
}

#[track_caller]
fn check(
    profile: &'static str,
    lines: Vec<(&'static str, String)>,
    max_lines: usize,
    outcome: Outcome,
) {
    let headers = Counting { lines, pulled: Cell::new(0), bytes: Cell::new(0) };
    let decision = engine(profile).decide(&Request::new(b"OPTIONS", &headers));
    assert_eq!(decision.outcome(), outcome);
    assert!(headers.pulled.get() <= max_lines, "pulled {} lines", headers.pulled.get());
    // Bytes handed over are at most the ACRH budget plus the one line that crossed it and the
    // two Origin and two ACRM lines looked at.
    assert!(headers.bytes.get() <= 8192 + 64 * 1024 + 4 * 64, "{} bytes", headers.bytes.get());
}

fn preflight(
    extra: impl IntoIterator<Item = (&'static str, String)>,
) -> Vec<(&'static str, String)> {
    let mut lines = vec![
        ("origin", "https://app.example.test".to_owned()),
        ("access-control-request-method", "PUT".to_owned()),
    ];
    lines.extend(extra);
    lines
}

const ACRH: &str = "access-control-request-headers";

#[rstest]
// P6: one line over the byte budget is refused when it is reached, not scanned.
#[case::p6_one_64_kib_line_of_commas(preflight([(ACRH, ",".repeat(64 * 1024))]), 2 + 1)]
// P6: 100 000 lines of one name: the byte budget (8192) stops at 2 048 lines of "x-a,".
#[case::p6_100_000_lines_of_names(preflight((0..100_000).map(|_| (ACRH, "x-a,".to_owned()))), 2 + 2 + 2049)]
// P6: empty lines count as empty elements: the 17th ends the scan.
#[case::p6_100_000_empty_lines(preflight((0..100_000).map(|_| (ACRH, String::new()))), 2 + 2 + 17)]
// R5: 100 000 Origin lines: two are looked at.
#[case::r5_100_000_origin_lines((0..100_000).map(|_| ("origin", "https://app.example.test".to_owned())).collect(), 2 + 1)]
// R5: 100 000 ACRM lines: two are looked at.
#[case::r5_100_000_acrm_lines(preflight((0..100_000).map(|_| ("access-control-request-method", "PUT".to_owned()))), 2 + 2)]
fn hostile_requests_are_rejected_after_a_fixed_budget(
    #[case] lines: Vec<(&'static str, String)>,
    #[case] max_lines: usize,
    #[values(PUBLIC, ANY_HEADERS, CREDENTIALS)] profile: &'static str,
) {
    check(profile, lines, max_lines, Outcome::PreflightRejected);
}
