//! Invariants every decision must satisfy, whatever the policy and the request.
//!
//! Shared by the proptest suite (`tests/invariants.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/engine_decide.rs`, which includes this file by path), so both assert the
//! same thing. Uses only the public APIs of cors-origin, cors-policy and cors-engine.

#![allow(dead_code, reason = "each user calls a different subset")]

use cors_engine::{Decision, Engine, Outcome, Request, RequestHeaders, Value, Vary};
use cors_origin::RequestOrigin;
use cors_policy::{Group, Policy};
use http::{HeaderMap, HeaderValue};

/// Values generated configurations are built from, shared by the proptests and the fuzz
/// target so that both explore the same policies: exact origins, another scheme and port,
/// subdomain patterns, `null` and `*`; normalized and byte-exact methods; header names in
/// both cases and `*`.
pub(crate) const CONFIG_ORIGINS: &[&str] = &[
    "https://a.example",
    "https://b.example",
    "http://a.example",
    "https://c.example:8443",
    "https://*.example",
    "https://*.b.example",
    "null",
    "*",
];
pub(crate) const CONFIG_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "patch", "PURGE"];
pub(crate) const CONFIG_HEADERS: &[&str] = &["x-a", "X-B", "content-type", "authorization", "*"];

/// Request header lines, as a proxy would hand them over: any bytes.
pub(crate) type Lines<'a> = [(&'a [u8], &'a [u8])];

/// A decision, owned and comparable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) outcome: Outcome,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) vary: Vary,
}

pub(crate) fn snapshot<H: RequestHeaders + ?Sized>(decision: &Decision<'_, '_, H>) -> Snapshot {
    let headers = decision
        .headers()
        .map(|h| {
            h.iter()
                .map(|(name, value)| {
                    (name.to_string(), value.to_header_value().as_bytes().to_vec())
                })
                .collect()
        })
        .unwrap_or_default();
    Snapshot { outcome: decision.outcome(), headers, vary: decision.vary() }
}

fn header<'s>(snapshot: &'s Snapshot, name: &str) -> Option<&'s [u8]> {
    snapshot.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
}

/// Every line of `name` (compared ignoring case).
pub(crate) fn lines_of<'a>(lines: &Lines<'a>, name: &str) -> Vec<&'a [u8]> {
    lines.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v).collect()
}

/// The well-formed origin of the request, if it has exactly one `Origin` line that parses.
pub(crate) fn well_formed_origin<'a>(lines: &Lines<'a>) -> Option<RequestOrigin<'a>> {
    match lines_of(lines, "origin").as_slice() {
        [one] => RequestOrigin::parse(one).ok(),
        _ => None,
    }
}

/// The group a naive reading of the policy picks for the request's origin (M3): `None` for a
/// public resource, a malformed origin, or no match.
pub(crate) fn model_group<'p>(policy: &'p Policy, lines: &Lines<'_>) -> Option<&'p Group> {
    if policy.is_public_resource() {
        return None;
    }
    let origin = well_formed_origin(lines)?;
    let found = policy.origins().find(&origin)?;
    Some(policy.group_of(found))
}

/// O2, O3: never `*` together with credentials.
pub(crate) fn check_no_star_with_credentials(engine: &Engine, s: &Snapshot) {
    let allow_origin = header(s, "access-control-allow-origin");
    let credentials = header(s, "access-control-allow-credentials");
    if credentials.is_some() || engine.policy().supports_credentials() {
        assert_ne!(allow_origin, Some(&b"*"[..]), "ACAO * with credentials: {s:?}");
    }
    if let Some(credentials) = credentials {
        assert_eq!(credentials, b"true", "O3: ACAC is exactly true");
        assert!(allow_origin.is_some(), "ACAC without ACAO: {s:?}");
    }
}

/// P3, A2: a rejected preflight, a blocked request (and a non-CORS one) carry no
/// Access-Control-* header.
pub(crate) fn check_denial_has_no_cors_headers(s: &Snapshot) {
    if !matches!(s.outcome, Outcome::PreflightAccepted | Outcome::Allowed) {
        assert!(s.headers.is_empty(), "denial with Access-Control-* headers: {s:?}");
    }
}

/// O1 to O3, R5: ACAO is `*` or exactly the bytes of the request's one `Origin` line.
pub(crate) fn check_acao_is_star_or_request_origin(s: &Snapshot, lines: &Lines<'_>) {
    if let Some(acao) = header(s, "access-control-allow-origin")
        && acao != b"*"
    {
        let origins = lines_of(lines, "origin");
        assert_eq!(origins.len(), 1, "echoed with several Origin lines: {s:?}");
        assert_eq!(acao, origins[0], "ACAO is not the request's origin: {s:?}");
        assert!(RequestOrigin::parse(acao).is_ok(), "a malformed origin was echoed: {s:?}");
    }
}

/// P4, P5: ACAM lists only allowed methods: the matched group's, or for a public resource the
/// requested method itself.
pub(crate) fn check_acam_lists_only_allowed_methods(
    policy: &Policy,
    s: &Snapshot,
    lines: &Lines<'_>,
) {
    let Some(acam) = header(s, "access-control-allow-methods") else { return };
    let acam = std::str::from_utf8(acam).expect("ACAM is ASCII");
    if policy.is_public_resource() {
        let requested = lines_of(lines, "access-control-request-method");
        assert_eq!(requested.len(), 1);
        assert_eq!(acam.as_bytes(), requested[0].trim_ascii(), "P5 mirrors the method");
        return;
    }
    let group = model_group(policy, lines).expect("ACAM only for a matched origin");
    for method in acam.split(", ") {
        assert!(group.methods().iter().any(|m| m == method), "{method} not allowed: {s:?}");
    }
}

/// A1, A3, P1, P5: an allowed actual request gets its group's `exposedHeaders` as ACEH, and an
/// accepted preflight its group's max-age as ACMA; a public resource sends neither, nor does any
/// other answer.
pub(crate) fn check_group_values(policy: &Policy, s: &Snapshot, lines: &Lines<'_>) {
    let group = model_group(policy, lines);
    let expected = match (s.outcome, group) {
        (Outcome::Allowed, Some(group)) => (group.expose_headers_value(), None),
        (Outcome::PreflightAccepted, Some(group)) => (None, Some(group.max_age_value())),
        _ => (None, None),
    };
    let expected = (expected.0.map(HeaderValue::as_bytes), expected.1.map(HeaderValue::as_bytes));
    let got = (header(s, "access-control-expose-headers"), header(s, "access-control-max-age"));
    assert_eq!(got, expected, "ACEH and ACMA: {s:?}");
}

/// P3, O3: an answer's headers are empty exactly when it is a rejected preflight (every other
/// answer with headers has ACAO); a copy of them, and their `Debug` form, hold the same.
pub(crate) fn check_headers_and_their_copy<H: RequestHeaders + ?Sized>(
    decision: &Decision<'_, '_, H>,
) {
    let shown = format!("{decision:?}");
    let variant = match decision.outcome() {
        Outcome::NotCors => "NotCors",
        Outcome::PreflightAccepted | Outcome::PreflightRejected => "Preflight",
        Outcome::Blocked => "Blocked",
        _ => "Allowed",
    };
    assert!(shown.starts_with(variant), "{shown}");
    let Some(headers) = decision.headers() else { return };
    assert_eq!(headers.is_empty(), decision.outcome() == Outcome::PreflightRejected);
    let copy = Clone::clone(headers);
    assert!(copy.iter().map(|(n, _)| n).eq(headers.iter().map(|(n, _)| n)));
    // P4, P5: a mirrored list is never empty, and counts the names it joins.
    if let Some(Value::Mirrored(list)) = headers.allow_headers() {
        assert!(!list.is_empty());
        assert_eq!(list.len(), list.names().count());
        let joined = list.to_header_value();
        assert_eq!(list.joined_len(), joined.len());
        assert!(list.eq_bytes(joined.as_bytes()));
        assert!(!list.eq_bytes(&[joined.as_bytes(), b"x"].concat()));
        assert_eq!(format!("{list:?}"), format!("MirroredList({list})"));
    }
    // Each value compares, shows and builds as the same bytes.
    for (_, value) in headers.iter() {
        let built = value.to_header_value();
        assert!(value.eq_bytes(built.as_bytes()), "{value:?}");
        assert!(!value.eq_bytes(&[built.as_bytes(), b"x"].concat()), "{value:?}");
        assert_eq!(value.to_string(), built.as_bytes().escape_ascii().to_string());
        assert!(format!("{value:?}").ends_with(&format!("(\"{value}\")")), "{value:?}");
    }
    let listed = format!("{headers:?}");
    assert!(listed.contains("\"vary\""), "{listed}");
    assert_eq!(format!("{copy:?}"), listed);
}

/// M1 to M5: an origin no pattern matches never gets ACAO (outside public resources, where M2
/// makes every origin match).
pub(crate) fn check_unmatched_origin_gets_no_acao(
    policy: &Policy,
    s: &Snapshot,
    lines: &Lines<'_>,
) {
    if policy.is_public_resource() {
        if policy.supports_credentials() && well_formed_origin(lines).is_none() {
            assert_eq!(header(s, "access-control-allow-origin"), None, "{s:?}");
        }
        return;
    }
    if model_group(policy, lines).is_none() {
        assert_eq!(header(s, "access-control-allow-origin"), None, "unmatched origin: {s:?}");
    }
}

/// V1: every answer of a policy whose answers depend on the origin carries `Vary: Origin`; a
/// public resource without credentials adds it only to answers that are not CORS, which lack
/// the `*` its CORS answers carry (docs/decisions.md).
pub(crate) fn check_vary_origin(policy: &Policy, s: &Snapshot) {
    let depends = !policy.is_public_resource()
        || policy.supports_credentials()
        || s.outcome == Outcome::NotCors;
    assert_eq!(s.vary.contains(Vary::ORIGIN), depends, "V1: {s:?}");
}

/// Determinism, and `explain` agreeing with `decide`.
pub(crate) fn check_deterministic_and_explained(
    engine: &Engine,
    request: &Request<'_, Lines<'_>>,
    s: &Snapshot,
) {
    assert_eq!(&snapshot(&engine.decide(request)), s, "decide is not deterministic");
    let explanation = engine.explain(request);
    assert_eq!(explanation.outcome(), s.outcome);
    assert_eq!(explanation.vary(), s.vary);
    let explained: Vec<(String, Vec<u8>)> =
        explanation.headers().iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
    assert_eq!(explained, s.headers, "explain disagrees with decide");
    assert!(!explanation.reasons().is_empty());
}

/// A4, V1: the owned form of a decision writes exactly what the decision writes, into a response
/// that has none of our fields and into one whose upstream set its own.
pub(crate) fn check_owned_apply_agrees(engine: &Engine, request: &Request<'_, Lines<'_>>) {
    let decision = engine.decide(request);
    let owned = decision.into_owned();
    assert_eq!(owned.outcome(), decision.outcome());
    assert_eq!(owned.vary(), decision.vary());
    let kept: Vec<(String, Vec<u8>)> =
        owned.headers().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect();
    assert_eq!(kept, snapshot(&decision).headers, "the owned decision lists other headers");
    let mut upstream = HeaderMap::new();
    upstream.append("access-control-allow-origin", HeaderValue::from_static("*"));
    upstream.append("vary", HeaderValue::from_static("accept-encoding"));
    for start in [HeaderMap::new(), upstream] {
        let (mut borrowed, mut kept) = (start.clone(), start);
        decision.apply(&mut borrowed);
        owned.clone().apply(&mut kept);
        assert_eq!(borrowed, kept, "the owned decision writes something else");
    }
}

/// Every per-decision invariant above, for one request.
pub(crate) fn check_all(engine: &Engine, request: &Request<'_, Lines<'_>>) -> Snapshot {
    let s = snapshot(&engine.decide(request));
    let policy = engine.policy();
    check_no_star_with_credentials(engine, &s);
    check_denial_has_no_cors_headers(&s);
    check_acao_is_star_or_request_origin(&s, request.headers);
    check_acam_lists_only_allowed_methods(policy, &s, request.headers);
    check_unmatched_origin_gets_no_acao(policy, &s, request.headers);
    check_group_values(policy, &s, request.headers);
    check_headers_and_their_copy(&engine.decide(request));
    check_vary_origin(policy, &s);
    check_deterministic_and_explained(engine, request, &s);
    check_owned_apply_agrees(engine, request);
    s
}

/// The same lines with every `Origin` line replaced by `origin`.
pub(crate) fn with_origin<'a>(lines: &Lines<'a>, origin: &'a [u8]) -> Vec<(&'a [u8], &'a [u8])> {
    let mut out: Vec<(&[u8], &[u8])> =
        lines.iter().copied().filter(|(n, _)| !n.eq_ignore_ascii_case(b"origin")).collect();
    out.push((b"origin", origin));
    out
}
