//! Security regression tests (issue 7): attacker-chosen origins never get an
//! `Access-Control-Allow-Origin` the policy does not grant by its own text.
//!
//! Part one runs every known misconfiguration probe (reflection, prefix, suffix, substring,
//! unescaped dot, `null`, the http twin, other ports, special characters in the host, uppercase,
//! trailing dot, two origins in one header) against the strict example policy, one credentialed
//! `https://app.example.com` group: none gets an ACAO, and every answer varies on `Origin` (V1).
//!
//! Part two runs the same probes, plus the same attacks built around every origin and subdomain
//! pattern each policy configures, against every `examples/policies/*.yaml` file, and compares
//! the engine's answer with an expectation derived from the policy's own groups and origins
//! through cors-policy's accessors and cors-origin's `OriginPattern::matches` (one pattern at a
//! time, with the precedence of M3 spelled out below), never from the engine.

use std::path::{Path, PathBuf};

use cors_engine::{Engine, Request, Vary};
use cors_origin::{Origin, OriginPattern, RequestOrigin};
use cors_policy::{Group, Policy};
use rstest::rstest;

/// The origin `strict.yaml` grants.
const APP: &str = "https://app.example.com";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policies")
}

fn load(path: &Path) -> Policy {
    Policy::from_yaml_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).policy
}

/// Every request shape a probe is sent in: method, and whether it is a preflight for it.
const SHAPES: [(&str, bool); 6] = [
    ("GET", false),
    ("POST", false),
    ("DELETE", false),
    ("GET", true),
    ("PUT", true),
    ("PATCH", true),
];

/// What the engine answered: the ACAO bytes (if any), the ACAC bytes (if any), whether the
/// answer varies on `Origin`.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    allow_origin: Option<Vec<u8>>,
    allow_credentials: Option<Vec<u8>>,
    varies_on_origin: bool,
}

/// The request header lines the probes are sent as.
type Lines<'a> = [(&'a [u8], &'a [u8])];

/// Sends the `Origin` lines `origins` in the given shape through `engine`.
fn ask(engine: &Engine, origins: &[&[u8]], method: &str, preflight: bool) -> Answer {
    let mut lines: Vec<(&[u8], &[u8])> = origins.iter().map(|o| (&b"origin"[..], *o)).collect();
    let request_method = if preflight {
        lines.push((b"access-control-request-method", method.as_bytes()));
        "OPTIONS"
    } else {
        method
    };
    let decision = engine.decide(&Request::new(request_method.as_bytes(), lines.as_slice()));
    let value = |v: Option<cors_engine::Value<'_, '_, Lines<'_>>>| {
        v.map(|v| v.to_header_value().as_bytes().to_vec())
    };
    let headers = decision.headers();
    Answer {
        allow_origin: value(headers.and_then(cors_engine::ResponseHeaders::allow_origin)),
        allow_credentials: value(headers.and_then(cors_engine::ResponseHeaders::allow_credentials)),
        varies_on_origin: decision.vary().contains(Vary::ORIGIN),
    }
}

// ---------------------------------------------------------------------------------------------
// Probes.

/// `scheme://host[:port]`, written as given (no canonicalization: probes are raw bytes).
fn serialize(scheme: &str, host: &str, port: Option<&str>) -> String {
    match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// Characters that naive matchers (prefix, suffix, regular expressions, lenient URL parsers)
/// have let through in published CORS bypasses: each makes a host that one of them misreads.
const SPECIAL: [&str; 18] =
    ["_", "`", "%60", "!", "{", "}", "$", "&", "'", "(", "*", "+", ",", ";", "=", "|", "~", "\""];

/// The attacks built around one granted origin `scheme://host[:port]`.
fn probes_around(scheme: &str, host: &str, port: Option<u16>) -> Vec<Vec<u8>> {
    let port_text = port.map(|p| p.to_string());
    let port = port_text.as_deref();
    let at = |h: &str| serialize(scheme, h, port);
    let base = at(host);
    let twin = if scheme == "https" { "http" } else { "https" };
    let default_port = if scheme == "https" { "443" } else { "80" };
    let mut probes = vec![
        // Prefix and suffix matching.
        at(&format!("{host}.evil.net")),
        at(&format!("evil{host}")),
        at(&format!("evil-{host}")),
        at(&format!("evil.{host}.evil.net")),
        // Substrings.
        at(&host[1..]),
        at(&host[..host.len() - 1]),
        format!("{base}m"),
        // An unescaped dot in a regex: every `.` of the host replaced by another character.
        at(&host.replacen('.', "x", 1)),
        at(&host.replace('.', "-")),
        // Case and trailing-dot variants (M1: bytes must equal the canonical serialization).
        at(&host.to_ascii_uppercase()),
        serialize(&scheme.to_ascii_uppercase(), host, port),
        base.to_ascii_uppercase(),
        at(&format!("{host}.")),
        // The scheme twin and other ports.
        serialize(twin, host, port),
        serialize(scheme, host, Some("8443")),
        serialize(scheme, host, Some("1")),
        serialize(scheme, host, Some(default_port)),
        serialize(scheme, host, Some("0443")),
        format!("{base}:"),
        // Not origins at all: path, query, fragment, userinfo, blanks.
        format!("{base}/"),
        format!("{base}/path"),
        format!("{base}?q"),
        format!("{base}#f"),
        format!("{scheme}://user@{host}"),
        at(&format!("{host}@evil.net")),
        format!("{base} "),
        format!(" {base}"),
        format!("{base}\t"),
        // Two origins in one header.
        format!("{base} https://evil.example"),
        format!("https://evil.example {base}"),
        format!("{base}, https://evil.example"),
        format!("{base},{base}"),
        format!("{base} {base}"),
    ];
    for special in SPECIAL {
        probes.push(at(&format!("{host}{special}")));
        probes.push(at(&format!("{host}{special}.evil.net")));
        probes.push(at(&host.replacen('.', special, 1)));
    }
    let mut probes: Vec<Vec<u8>> = probes.into_iter().map(String::into_bytes).collect();
    probes.push([base.as_bytes(), b"\0"].concat());
    probes.push([base.as_bytes(), b"\xff"].concat());
    probes
}

/// Probes that are attacks whatever the policy: reflection of unrelated origins, `null`,
/// values that are no origin at all.
fn generic_probes() -> Vec<Vec<u8>> {
    [
        "https://evil.example",
        "https://attacker.test",
        "http://localhost",
        "http://127.0.0.1",
        "null",
        "NULL",
        "Null",
        "",
        "*",
        "file://",
        "https://",
        "//app.example.com",
        "app.example.com",
    ]
    .iter()
    .map(|p| p.as_bytes().to_vec())
    .chain([vec![b'a'; 3000], format!("https://{}.example", "a".repeat(2100)).into_bytes()])
    .collect()
}

/// The origin's serialization, the attacks around it, and the generic probes.
fn probes_for(origin: &Origin) -> Vec<Vec<u8>> {
    let mut probes = probes_around(origin.scheme(), origin.host(), origin.port());
    probes.extend(generic_probes());
    probes
}

// ---------------------------------------------------------------------------------------------
// Part one: the strict policy.

fn strict() -> Engine {
    Engine::new(load(&examples().join("strict.yaml")))
}

#[track_caller]
fn check_strict(engine: &Engine, origins: &[&[u8]]) {
    for (method, preflight) in SHAPES {
        let answer = ask(engine, origins, method, preflight);
        let shown: Vec<_> = origins.iter().map(|o| String::from_utf8_lossy(o)).collect();
        assert_eq!(
            answer.allow_origin, None,
            "{method} preflight={preflight} {shown:?}: {answer:?}"
        );
        assert!(answer.varies_on_origin, "no Vary: Origin for {method} {shown:?}");
    }
}

#[test]
fn the_strict_policy_grants_its_own_origin() {
    // Without this the probes below could pass against an engine that grants nothing.
    let answer = ask(&strict(), &[APP.as_bytes()], "GET", false);
    assert_eq!(answer.allow_origin.as_deref(), Some(APP.as_bytes()));
    assert_eq!(answer.allow_credentials.as_deref(), Some(&b"true"[..]));
    assert!(answer.varies_on_origin);
}

#[rstest]
#[case::reflection_of_an_unrelated_origin("https://evil.example")]
#[case::reflection_of_a_lookalike("https://app-example.com")]
#[case::prefix("https://app.example.com.evil.net")]
#[case::prefix_with_port("https://app.example.com.evil.net:443")]
#[case::suffix("https://evilexample.com")]
#[case::suffix_subdomain("https://evil.app.example.com")]
#[case::suffix_without_dot("https://evilapp.example.com")]
#[case::substring_head("https://app.example.co")]
#[case::substring_tail("https://pp.example.com")]
#[case::substring_tld("https://app.example.computer")]
#[case::unescaped_dot("https://appxexample.com")]
#[case::unescaped_second_dot("https://app.examplexcom")]
#[case::null("null")]
#[case::http_twin("http://app.example.com")]
#[case::other_port("https://app.example.com:8443")]
#[case::explicit_default_port("https://app.example.com:443")]
#[case::http_port_on_https("https://app.example.com:80")]
#[case::underscore("https://app.example.com_.evil.net")]
#[case::backtick("https://app.example.com`.evil.net")]
#[case::percent_encoded_backtick("https://app.example.com%60.evil.net")]
#[case::exclamation_mark("https://app.example.com!.evil.net")]
#[case::open_brace("https://app.example.com{.evil.net")]
#[case::underscore_for_dot("https://app_example.com")]
#[case::uppercase_host("https://APP.EXAMPLE.COM")]
#[case::uppercase_scheme("HTTPS://app.example.com")]
#[case::mixed_case("https://App.Example.Com")]
#[case::trailing_dot("https://app.example.com.")]
#[case::trailing_slash("https://app.example.com/")]
#[case::userinfo_attacker_host("https://app.example.com@evil.net")]
#[case::userinfo_granted_host("https://evil.net@app.example.com")]
#[case::two_origins_granted_first("https://app.example.com https://evil.example")]
#[case::two_origins_granted_last("https://evil.example https://app.example.com")]
#[case::two_origins_comma_separated("https://app.example.com, https://evil.example")]
#[case::granted_origin_twice("https://app.example.com https://app.example.com")]
#[case::leading_blank(" https://app.example.com")]
#[case::punycode_lookalike("https://xn--pp-ula.example.com")]
fn strict_policy_probe_gets_no_allow_origin(#[case] probe: &str) {
    check_strict(&strict(), &[probe.as_bytes()]);
}

#[rstest]
#[case::granted_then_attacker(&[APP, "https://evil.example"])]
#[case::attacker_then_granted(&["https://evil.example", APP])]
#[case::granted_twice(&[APP, APP])]
fn strict_policy_two_origin_lines_get_no_allow_origin(#[case] lines: &[&str]) {
    let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    check_strict(&strict(), &lines);
}

#[test]
fn strict_policy_every_generated_probe_gets_no_allow_origin() {
    let engine = strict();
    let app = Origin::parse(APP).unwrap();
    let probes = probes_for(&app);
    assert!(probes.len() > 100);
    for probe in probes {
        check_strict(&engine, &[&probe]);
    }
}

// ---------------------------------------------------------------------------------------------
// Part two: every example policy, against its own text.

/// The group a request origin uses by the policy's text (M3, M4): an origin listed explicitly
/// (exact or `null`) in the first group listing it; else the subdomain pattern with the longest
/// domain (ties: file order); else the first `*`. Also says whether the match went through `*`.
fn granting_group<'p>(policy: &'p Policy, origin: &RequestOrigin<'_>) -> Option<(&'p Group, bool)> {
    let entries =
        || policy.groups().iter().flat_map(|group| group.origins().iter().map(move |p| (group, p)));
    if let Some((group, _)) = entries().find(|(_, pattern)| {
        matches!(pattern, OriginPattern::Exact(_) | OriginPattern::Null) && pattern.matches(origin)
    }) {
        return Some((group, false));
    }
    let mut longest: Option<(&Group, usize)> = None;
    for (group, pattern) in entries() {
        if let OriginPattern::Subdomains(subdomains) = pattern
            && pattern.matches(origin)
            && longest.is_none_or(|(_, length)| subdomains.domain().len() > length)
        {
            longest = Some((group, subdomains.domain().len()));
        }
    }
    if let Some((group, _)) = longest {
        return Some((group, false));
    }
    entries().find(|(_, pattern)| matches!(pattern, OriginPattern::Any)).map(|(g, _)| (g, true))
}

/// What the policy's text grants to one `Origin` line `probe` in the given shape.
fn expected(policy: &Policy, probe: &[u8], method: &str) -> Answer {
    let credentials = policy.supports_credentials();
    let parsed = RequestOrigin::parse(probe).ok();
    let echo = |granted: bool| (granted && parsed.is_some()).then(|| probe.to_vec());
    let allow_origin = if policy.is_public_resource() {
        // M2, A3, P5: every method; `*` for any Origin without credentials, else the echo of a
        // well-formed one.
        if credentials { echo(true) } else { Some(b"*".to_vec()) }
    } else {
        match parsed.as_ref().and_then(|origin| granting_group(policy, origin)) {
            Some((group, via_any)) if group.allows_method(method.as_bytes()) => {
                // O1, O2.
                if via_any && !credentials { Some(b"*".to_vec()) } else { echo(true) }
            }
            _ => None,
        }
    };
    Answer {
        allow_credentials: (credentials && allow_origin.is_some()).then(|| b"true".to_vec()),
        allow_origin,
        varies_on_origin: !policy.is_public_resource() || credentials,
    }
}

/// Probes for one policy: the generic ones, every configured origin and the attacks around it,
/// and for every subdomain pattern hosts one and two labels in front of its domain and the
/// attacks around those and around the bare domain.
fn policy_probes(policy: &Policy) -> Vec<Vec<u8>> {
    let mut probes = generic_probes();
    probes.extend(probes_around("https", "app.example.com", None));
    for pattern in policy.groups().iter().flat_map(Group::origins) {
        match pattern {
            OriginPattern::Exact(origin) => {
                probes.push(origin.as_str().as_bytes().to_vec());
                probes.extend(probes_for(origin));
            }
            OriginPattern::Subdomains(s) => {
                let port = s.port().map(|p| p.to_string());
                for host in [format!("a.{}", s.domain()), format!("a.b.{}", s.domain())] {
                    probes.push(serialize(s.scheme(), &host, port.as_deref()).into_bytes());
                }
                probes.extend(probes_around(s.scheme(), s.domain(), s.port()));
                probes.extend(probes_around(s.scheme(), &format!("a.{}", s.domain()), s.port()));
                probes.extend(probes_around(s.scheme(), &format!("a.b.{}", s.domain()), s.port()));
            }
            _ => {}
        }
    }
    probes.sort();
    probes.dedup();
    probes
}

#[test]
fn every_example_policy_grants_only_what_its_text_grants() {
    let mut checked = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        // Files that do not load (the deliberately broken example) grant nothing: no engine.
        let Ok(loaded) = Policy::from_yaml_file(&path) else { continue };
        let policy = loaded.policy;
        let engine = Engine::new(policy.clone());
        let mut granted = 0;
        let probes = policy_probes(&policy);
        for probe in &probes {
            for (method, preflight) in SHAPES {
                let answer = ask(&engine, &[probe], method, preflight);
                let expected = expected(&policy, probe, method);
                assert_eq!(
                    answer,
                    expected,
                    "{}: {method} preflight={preflight} Origin {:?}",
                    path.display(),
                    String::from_utf8_lossy(probe)
                );
                granted += usize::from(answer.allow_origin.is_some());
            }
        }
        checked.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            probes.len(),
            granted,
        ));
    }
    eprintln!("(policy, probes, granted answers): {checked:?}");
    assert!(checked.len() >= 6, "too few example policies loaded: {checked:?}");
    // Non-vacuity: some probe of each policy is granted (its own configured origins at least).
    for (name, probes, granted) in &checked {
        assert!(*granted > 0, "{name}: none of {probes} probes was granted anything");
    }
}

#[test]
fn every_example_policy_refuses_two_origin_lines_unless_public_without_credentials() {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(examples()).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")) {
        let Ok(loaded) = Policy::from_yaml_file(path) else { continue };
        let policy = loaded.policy;
        let engine = Engine::new(policy.clone());
        let origins: Vec<Vec<u8>> = policy
            .groups()
            .iter()
            .flat_map(Group::origins)
            .filter_map(|p| match p {
                OriginPattern::Exact(origin) => Some(origin.as_str().as_bytes().to_vec()),
                _ => None,
            })
            .chain([APP.as_bytes().to_vec()])
            .collect();
        for origin in &origins {
            for (method, preflight) in SHAPES {
                // R5: two `Origin` lines are malformed; only M2's `*` answers them.
                let answer = ask(&engine, &[origin, b"https://evil.example"], method, preflight);
                let star = policy.is_public_resource() && !policy.supports_credentials();
                let expected = star.then(|| b"*".to_vec());
                assert_eq!(answer.allow_origin, expected, "{}: {method}", path.display());
            }
        }
    }
}
