//! proptest invariants over arbitrary policies and requests, each its own property (issue 4).
//!
//! The per-decision checks live in `common/invariants.rs`, shared with the fuzz target.

mod common;

use common::invariants::{
    CONFIG_HEADERS, CONFIG_METHODS, CONFIG_ORIGINS, Lines, Snapshot,
    check_acam_lists_only_allowed_methods, check_acao_is_star_or_request_origin, check_all,
    check_denial_has_no_cors_headers, check_deterministic_and_explained,
    check_no_star_with_credentials, check_unmatched_origin_gets_no_acao, check_vary_origin,
    lines_of, snapshot, with_origin,
};
use cors_engine::{Engine, Request};
use cors_policy::{CorsConfig, MethodConfig, OriginGroupConfig, Policy};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

const CONFIG_EXPOSED: &[&str] = &["x-e", "X-F", "*"];

const REQUEST_ORIGINS: &[&str] = &[
    "https://a.example",
    "https://b.example",
    "http://a.example",
    "https://c.example:8443",
    "https://c.example",
    "https://x.example",
    "https://s.b.example",
    "https://x.y.example",
    "https://example",
    "null",
    "https://api.example",
    "HTTPS://a.example",
    "https://a.example:443",
    "https://a.example/",
    "",
    "garbage",
    "https://b\u{fc}cher.example",
];
const REQUEST_METHODS: &[&str] =
    &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "patch", "OPTIONS", "options", "PURGE"];
const REQUEST_ACRM: &[&str] =
    &["GET", "PUT", "PATCH", "patch", "DELETE", "PURGE", "BAD METHOD", ""];
/// Fields no decision reads, added around a request's own so that a header map holds 1 to 12.
const OTHER_FIELDS: &[(&str, &str)] =
    &[("accept", "*/*"), ("user-agent", "t"), ("x-one", "1"), ("x-two", "2"), ("x-three", "3")];
const REQUEST_ACRH: &[&str] =
    &["x-a", "X-B, content-type", "x-c", ", ,", "bad name", "authorization", " x-a ,X-B"];

fn group_config() -> impl Strategy<Value = OriginGroupConfig> {
    (
        proptest::option::of(select(&["one", "two"][..])),
        vec(select(CONFIG_ORIGINS), 0..4),
        proptest::option::of(0u64..1000),
        proptest::option::of(vec((select(CONFIG_METHODS), any::<bool>()), 0..5)),
        proptest::option::of(vec(select(CONFIG_HEADERS), 0..3)),
        proptest::option::of(vec(select(CONFIG_EXPOSED), 0..3)),
    )
        .prop_map(|(name, origins, max_age, methods, headers, exposed)| OriginGroupConfig {
            name: name.map(str::to_owned),
            origins: origins.into_iter().map(str::to_owned).collect(),
            access_control_max_age: max_age,
            allowed_methods: methods.map(|m| {
                m.into_iter()
                    .map(|(name, allowed)| MethodConfig {
                        method_name: name.to_owned(),
                        is_allowed: allowed,
                    })
                    .collect()
            }),
            headers: headers.map(|h| h.into_iter().map(str::to_owned).collect()),
            exposed_headers: exposed.map(|h| h.into_iter().map(str::to_owned).collect()),
        })
}

fn config() -> impl Strategy<Value = CorsConfig> {
    (
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(vec(group_config(), 0..4)),
    )
        .prop_map(|(public_resource, support_credentials, origin_groups)| CorsConfig {
            public_resource,
            support_credentials,
            origin_groups,
        })
}

fn engine_of(config: &CorsConfig) -> Engine {
    Engine::new(Policy::from_config(config).expect("generated configurations are valid"))
}

/// A request: method, header lines (as owned strings), and whether `Host` is known.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    lines: Vec<(&'static str, &'static str)>,
    host_known: bool,
}

impl Req {
    fn lines(&self) -> Vec<(&[u8], &[u8])> {
        self.lines.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect()
    }
}

fn request_strategy() -> impl Strategy<Value = Req> {
    (
        select(REQUEST_METHODS),
        vec(select(REQUEST_ORIGINS), 0..3),
        vec(select(REQUEST_ACRM), 0..3),
        vec(select(REQUEST_ACRH), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(method, origins, acrm, acrh, preflight_like, host_known)| {
            // Make most requests well-formed: one Origin, one ACRM on OPTIONS.
            let origins =
                if preflight_like { origins.into_iter().take(1).collect() } else { origins };
            let acrm = if preflight_like { acrm.into_iter().take(1).collect() } else { acrm };
            let mut lines = Vec::new();
            lines.extend(origins.into_iter().map(|o| ("Origin", o)));
            lines.extend(acrm.into_iter().map(|m| ("access-control-request-method", m)));
            lines.extend(acrh.into_iter().map(|h| ("Access-Control-Request-Headers", h)));
            let method = if preflight_like && method.starts_with('P') { "OPTIONS" } else { method };
            Req { method, lines, host_known }
        })
}

fn request<'a>(method: &'a str, lines: &'a Lines<'a>, host_known: bool) -> Request<'a, Lines<'a>> {
    let request = Request::new(method.as_bytes(), lines);
    if host_known { request.addressed_to("https", b"api.example") } else { request }
}

/// `lines` as an `http::HeaderMap`, in order (names lower-cased, as `http` keeps them).
fn header_map(lines: &Lines<'_>) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for &(name, value) in lines {
        map.append(
            http::HeaderName::from_bytes(name).expect("generated names are tokens"),
            http::HeaderValue::from_bytes(value).expect("generated values are field values"),
        );
    }
    map
}

fn decide(engine: &Engine, req: &Req) -> Snapshot {
    let lines = req.lines();
    snapshot(&engine.decide(&request(req.method, &lines, req.host_known)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/invariants.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn o2_never_star_with_credentials(config in config(), req in request_strategy()) {
        let engine = engine_of(&config);
        check_no_star_with_credentials(&engine, &decide(&engine, &req));
    }

    #[test]
    fn p3_a2_denials_carry_no_access_control_header(config in config(), req in request_strategy()) {
        let engine = engine_of(&config);
        check_denial_has_no_cors_headers(&decide(&engine, &req));
    }

    #[test]
    fn o1_acao_is_star_or_the_request_origin_bytes(config in config(), req in request_strategy()) {
        let engine = engine_of(&config);
        check_acao_is_star_or_request_origin(&decide(&engine, &req), &req.lines());
    }

    #[test]
    fn p4_acam_lists_only_allowed_methods(config in config(), req in request_strategy()) {
        let engine = engine_of(&config);
        check_acam_lists_only_allowed_methods(engine.policy(), &decide(&engine, &req), &req.lines());
    }

    #[test]
    fn m3_unmatched_origin_never_gets_acao(config in config(), req in request_strategy()) {
        let engine = engine_of(&config);
        check_unmatched_origin_gets_no_acao(engine.policy(), &decide(&engine, &req), &req.lines());
    }

    #[test]
    fn v1_vary_origin_on_every_origin_dependent_answer(
        config in config(),
        req in request_strategy(),
        other in select(REQUEST_ORIGINS),
    ) {
        let engine = engine_of(&config);
        let first = decide(&engine, &req);
        check_vary_origin(engine.policy(), &first);
        // The same request from another origin: if the answer differs, both say Vary: Origin.
        // Host unknown: R2 would forward a public resource's own-origin request as not CORS
        // (with `Vary: Origin`) while its answer to any other origin, `*` without credentials,
        // carries no `Vary` (V1; documented in the crate docs).
        let lines = req.lines();
        let first = snapshot(&engine.decide(&request(req.method, &lines, false)));
        let moved = with_origin(&lines, other.as_bytes());
        let second = snapshot(&engine.decide(&request(req.method, &moved, false)));
        if first != second && !lines_of(&lines, "origin").is_empty() {
            prop_assert!(first.vary.contains(cors_engine::Vary::ORIGIN), "{first:?} vs {second:?}");
            prop_assert!(second.vary.contains(cors_engine::Vary::ORIGIN), "{first:?} vs {second:?}");
        }
    }

    #[test]
    fn m2_public_without_credentials_answers_every_origin_identically(
        mut config in config(),
        req in request_strategy(),
        origin_a in select(REQUEST_ORIGINS),
        origin_b in select(REQUEST_ORIGINS),
    ) {
        config.public_resource = Some(true);
        config.support_credentials = Some(false);
        let engine = engine_of(&config);
        let lines = req.lines();
        // Unknown Host: R2 (same-origin) is the one legitimate origin-dependent answer.
        let a = with_origin(&lines, origin_a.as_bytes());
        let b = with_origin(&lines, origin_b.as_bytes());
        let decided_a = snapshot(&engine.decide(&request(req.method, &a, false)));
        let decided_b = snapshot(&engine.decide(&request(req.method, &b, false)));
        prop_assert_eq!(decided_a, decided_b);
    }

    #[test]
    fn m3_adding_an_origin_to_a_group_changes_nothing_for_other_origins(
        config in config(),
        req in request_strategy(),
        group in any::<prop::sample::Index>(),
        added in select(&["https://new.example", "https://x.example", "https://s.b.example", "null"][..]),
    ) {
        let Some(groups) = config.origin_groups.as_ref().filter(|g| !g.is_empty()) else {
            return Ok(());
        };
        let lines = req.lines();
        prop_assume!(lines_of(&lines, "origin").iter().all(|o| *o != added.as_bytes()));
        let mut grown = config.clone();
        let index = group.index(groups.len());
        grown.origin_groups.as_mut().expect("groups")[index].origins.push(added.to_owned());
        prop_assert_eq!(decide(&engine_of(&config), &req), decide(&engine_of(&grown), &req));
    }

    #[test]
    fn decisions_are_deterministic_and_explained(config in config(), req in request_strategy()) {
        let engine = engine_of(&config);
        let twin = engine_of(&config);
        let lines = req.lines();
        let request = request(req.method, &lines, req.host_known);
        let s = check_all(&engine, &request);
        check_deterministic_and_explained(&twin, &request, &s);
    }

    /// The `http::HeaderMap` adapter decides as the pairs do, rule included: a map of up to 4
    /// fields is walked (a preflight's two request fields in one walk), a larger one hashed, and
    /// `Access-Control-Request-Headers` is scanned from its one line or over all of them.
    #[test]
    fn header_map_decides_as_the_pairs_do(
        config in config(),
        req in request_strategy(),
        before in 0..=OTHER_FIELDS.len(),
        after in 0..=OTHER_FIELDS.len(),
    ) {
        let engine = engine_of(&config);
        let own = req.lines();
        let other = OTHER_FIELDS.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        let lines: Vec<(&[u8], &[u8])> = other
            .clone()
            .take(before)
            .chain(own.iter().copied())
            .chain(other.rev().take(after))
            .collect();
        let map = header_map(&lines);
        let pairs = request(req.method, &lines, req.host_known);
        let mapped = Request { headers: &map, ..Request::new(pairs.method, &map) };
        let mapped = Request { host: pairs.host, scheme: pairs.scheme, ..mapped };
        let (by_pairs, by_map) = (engine.decide(&pairs), engine.decide(&mapped));
        prop_assert_eq!(by_map.rule(), by_pairs.rule(), "{} fields", map.len());
        prop_assert_eq!(snapshot(&by_map), snapshot(&by_pairs), "{} fields", map.len());
    }
}
