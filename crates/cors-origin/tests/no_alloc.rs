//! Request-time work allocates nothing: [`RequestOrigin::parse`], [`OriginRef::is_same_origin_as`],
//! [`is_same_origin_value`] and [`OriginSet::find`], measured with a counting global allocator (behaviour rule R5).
//!
//! `allocation-counter` installs a `#[global_allocator]` wrapping the system allocator and counts
//! this thread's allocations inside `measure`.

use cors_origin::{OriginPattern, OriginSet, RequestOrigin, is_same_origin_value};

/// Accepted and refused values, including the worst cases for each code path.
fn inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = [
        "null",
        "Null",
        "https://app.example",
        "https://a.b.c.d.example.com",
        "https://x.example.com:8443",
        "http://127.0.0.1:8080",
        "http://0x7f.1",
        "https://[::1]",
        "https://[2001:db8::ff00:42:8329]",
        "https://[0:0:0:0:0:0:0:1]",
        "https://[::ffff:127.0.0.1]",
        "https://[fe80::1%25eth0]",
        "https://xn--bcher-kva.example",
        "https://a.xn--bcher-kva.xn--mgbh0fb.example",
        "https://xn--mgbh0fb.xn--bcher-kva.example",
        "https://xn--a-.example",
        "https://XN--bcher-kva.example",
        "https://app.example:443",
        "https://app.example/",
        "https://a.example https://b.example",
        "chrome-extension://abcdefghijklmnop",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    // The largest IDN host within the limits: 8 labels, three Punycode labels close to 63 bytes,
    // and a right-to-left label (so IDNA's bidi rule runs).
    let long_idn = (0..60)
        .rev()
        .find_map(|k| {
            let label = format!("ü{}", "a".repeat(k));
            let host = format!("https://{label}.{label}.{label}.a.b.c.xn--mgbh0fb.example");
            cors_origin::Origin::parse(&host).ok()
        })
        .expect("some label length fits");
    assert!(long_idn.host().len() > 190, "{long_idn}");
    inputs.push(long_idn.as_str().as_bytes().to_vec());
    // The longest IDN host R2 on the value as sent validates: seven labels and the root's.
    let long_idn_dot = (0..60)
        .rev()
        .map(|k| {
            let label = format!("ü{}", "a".repeat(k));
            format!("https://{label}.{label}.{label}.b.c.xn--mgbh0fb.example.")
        })
        .map(|value| url::Url::parse(&value).map(|url| url.origin().ascii_serialization()))
        .find_map(|origin| {
            origin.ok().filter(|origin| {
                origin.len() <= 8 + 253 && origin.split('.').all(|label| label.len() <= 63)
            })
        })
        .expect("some label length fits");
    assert!(long_idn_dot.len() > 8 + 190, "{long_idn_dot}");
    inputs.push(long_idn_dot.into_bytes());
    // Many plain labels before an IDN: only the IDN's part is checked, within the bounds.
    inputs.push(format!("https://{}xn--bcher-kva.example.", "a.".repeat(30)).into_bytes());
    // Past the bounds that keep IDNA from allocating: not looked at.
    inputs.push(format!("https://xn--bcher-kva.{}example.", "a.".repeat(30)).into_bytes());
    inputs.push(format!("https://xn--{}.example", "a".repeat(300)).into_bytes());
    // Many labels, so the subdomain lookup walks its whole bound.
    inputs.push(format!("https://{}example.com", "a.".repeat(120)).into_bytes());
    inputs.push(format!("https://{}", "a".repeat(10 * 1024)).into_bytes());
    inputs.push(vec![0xff; 64]);
    inputs
}

fn set() -> OriginSet {
    [
        "https://app.example",
        "https://*.example.com",
        "https://*.b.c.d.example.com",
        "https://*.example.com:8443",
        "https://*.xn--bcher-kva.example",
        "null",
        "*",
    ]
    .iter()
    .map(|p| OriginPattern::parse(p).expect("valid pattern"))
    .collect()
}

#[test]
fn request_time_parsing_and_lookup_allocate_nothing() {
    let inputs = inputs();
    let set = set();
    // Reserved up front: pushing must not allocate inside the measurement.
    let mut accepted = Vec::with_capacity(inputs.len());
    let mut own = Vec::with_capacity(inputs.len());
    let info = allocation_counter::measure(|| {
        for (index, input) in inputs.iter().enumerate() {
            let _ = is_same_origin_value(input, "https", b"App.Example.:443");
            // Each value against its own address, so that R2 on the value as sent goes as far
            // as it can (IDNA on an `xn--` host, F-DF).
            let authority = input.strip_prefix(b"https://").unwrap_or_default();
            if is_same_origin_value(input, "https", authority) {
                own.push(index);
            }
            let Ok(origin) = RequestOrigin::parse(input) else { continue };
            accepted.push(index);
            let _ = set.find(&origin);
            if let RequestOrigin::Tuple(tuple) = origin {
                let _ = tuple.is_same_origin_as("https", b"App.Example:443");
            }
        }
    });
    assert_eq!(info.count_total, 0, "request-time work allocated {} times", info.count_total);
    // The measurement covered real work, not only refusals.
    assert!(accepted.len() >= 10, "only {accepted:?} were accepted");
    // Among them the IDN hosts, whose validation runs IDNA.
    for idn in ["https://a.xn--bcher-kva.xn--mgbh0fb.example", "https://xn--bcher-kva.example"] {
        assert!(accepted.iter().any(|&i| inputs[i] == idn.as_bytes()), "{idn} refused");
    }
    let long_idn = inputs.len() - 8;
    assert!(accepted.contains(&long_idn), "the longest IDN host was refused");
    assert!(own.contains(&long_idn), "the longest IDN host is not its own origin");
    let long_idn_dot = inputs.len() - 7;
    assert!(own.contains(&long_idn_dot), "the longest IDN host with a dot is not its own origin");
    assert!(own.contains(&(long_idn_dot + 1)), "an IDN after many labels is not its own origin");
    assert!(!own.contains(&(long_idn_dot + 2)), "an IDN before many labels is its own origin");
}

#[test]
fn the_counter_sees_allocations() {
    let info = allocation_counter::measure(|| {
        let _ = cors_origin::Origin::parse("https://bücher.example");
    });
    assert!(info.count_total > 0, "configuration-time parsing allocates, and is counted");
}
