//! Differential testing: random requests built from a policy, each target answer compared with
//! what cors-engine decides for that policy, divergences minimized.
//!
//! The generator draws origins from the policy's own patterns (exact origins, labels in front of
//! subdomain patterns, `null`), their near misses (case, default port, trailing `/`, suffix and
//! prefix traps) and strangers; methods, `Access-Control-Request-Method` and
//! `Access-Control-Request-Headers` from the groups' lists plus junk (case, whitespace, empty
//! elements, several lines, non-tokens); and sometimes a same-origin `Host`.

use std::fmt::Write as _;

use cors_engine::Engine;
use cors_origin::OriginPattern;
use cors_policy::{AllowedHeaders, Policy};

use crate::check::{Observed, escape};
use crate::error::TargetError;
use crate::in_process::{DEFAULT_HOST, engine_answer, engine_request};
use crate::target::{OutgoingRequest, Target};

/// A small deterministic generator (SplitMix64): the same seed gives the same requests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is `0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // The modulo bias is irrelevant for test input generation.
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Request material drawn from a policy.
#[derive(Debug, Clone)]
struct Material {
    origins: Vec<String>,
    methods: Vec<String>,
    headers: Vec<String>,
}

impl Material {
    fn from_policy(policy: &Policy) -> Material {
        let mut origins = vec![
            "https://stranger.example.test".to_owned(),
            "http://localhost:3000".to_owned(),
            "null".to_owned(),
        ];
        for pattern in policy.origins().patterns() {
            match pattern {
                OriginPattern::Exact(origin) => {
                    let s = origin.as_str();
                    origins.push(s.to_owned());
                    origins.push(format!("{s}/"));
                    origins.push(s.to_ascii_uppercase());
                    origins.push(format!("{s}.evil.test"));
                    if let Some((scheme, rest)) = s.split_once("://") {
                        origins.push(format!("{scheme}://evil{rest}"));
                        let default = if scheme == "https" { 443 } else { 80 };
                        if origin.port().is_none() {
                            origins.push(format!("{s}:{default}"));
                        }
                    }
                }
                OriginPattern::Subdomains(sub) => {
                    let port = sub.port().map(|p| format!(":{p}")).unwrap_or_default();
                    let (scheme, domain) = (sub.scheme(), sub.domain());
                    origins.push(format!("{scheme}://a.{domain}{port}"));
                    origins.push(format!("{scheme}://a.b.{domain}{port}"));
                    origins.push(format!("{scheme}://{domain}{port}"));
                    origins.push(format!("{scheme}://evil{domain}{port}"));
                    origins.push(format!("{scheme}://a.{domain}:8443"));
                    let other = if scheme == "https" { "http" } else { "https" };
                    origins.push(format!("{other}://a.{domain}{port}"));
                }
                _ => {}
            }
        }
        let mut methods: Vec<String> =
            ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "get", "patch", "BREW"]
                .into_iter()
                .map(str::to_owned)
                .collect();
        let mut headers: Vec<String> =
            ["x-custom", "content-type", "authorization", "x-other", "X-Mixed-Case"]
                .into_iter()
                .map(str::to_owned)
                .collect();
        for group in policy.groups() {
            methods.extend(group.methods().iter().cloned());
            if let AllowedHeaders::List(names) = group.headers() {
                headers.extend(names.iter().cloned());
            }
        }
        methods.sort();
        methods.dedup();
        headers.sort();
        headers.dedup();
        Material { origins, methods, headers }
    }

    /// One random request.
    fn request(&self, rng: &mut Rng, marker: &str) -> OutgoingRequest {
        let mut lines: Vec<(String, String)> = Vec::new();
        let origin = rng.pick(&self.origins).cloned().unwrap_or_default();
        let host = if rng.chance(10) {
            origin
                .split_once("://")
                .map_or(DEFAULT_HOST.to_owned(), |(_, authority)| authority.to_owned())
        } else {
            DEFAULT_HOST.to_owned()
        };
        lines.push(("Host".to_owned(), host));
        if !rng.chance(10) {
            lines.push(("Origin".to_owned(), origin));
            if rng.chance(3) {
                let second = rng.pick(&self.origins).cloned().unwrap_or_default();
                lines.push(("Origin".to_owned(), second));
            }
        }
        let preflight = rng.chance(50);
        let method = if preflight { "OPTIONS".to_owned() } else { self.method(rng) };
        if preflight && !rng.chance(8) {
            lines.push(("Access-Control-Request-Method".to_owned(), self.method(rng)));
        }
        if preflight && rng.chance(60) {
            let spread = if rng.chance(70) { 1 } else { 3 };
            let count = 1 + rng.below(spread);
            for _ in 0..count {
                lines.push(("Access-Control-Request-Headers".to_owned(), self.header_list(rng)));
            }
        }
        if rng.chance(15) {
            lines.push((
                "x-conformance-upstream-header".to_owned(),
                "Access-Control-Allow-Origin: https://upstream.example.test".to_owned(),
            ));
        }
        OutgoingRequest::new(&method, "/", lines, marker)
    }

    fn method(&self, rng: &mut Rng) -> String {
        rng.pick(&self.methods).cloned().unwrap_or_else(|| "GET".to_owned())
    }

    fn header_list(&self, rng: &mut Rng) -> String {
        let mut parts = Vec::new();
        for _ in 0..=rng.below(3) {
            let mut name = rng.pick(&self.headers).cloned().unwrap_or_default();
            match rng.below(12) {
                0 => name = name.to_ascii_uppercase(),
                1 => name = format!(" {name} "),
                2 => name = String::new(),
                3 => "bad header".clone_into(&mut name),
                _ => {}
            }
            parts.push(name);
        }
        parts.join(",")
    }
}

/// One request on which the target and the engine disagree.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Divergence {
    /// The (minimized) request.
    pub request: OutgoingRequest,
    /// Its request target as sent: its path, under the target URL's own path if it has one
    /// ([`Target::request_target`]).
    pub sent_path: String,
    /// What the engine's decision, applied as the contract says, answers.
    pub expected: Observed,
    /// What the target answered.
    pub got: Observed,
    /// Each difference, in words.
    pub differences: Vec<String>,
    /// Why the engine answers as it does: its reasons, each naming the rule of
    /// `docs/behaviour.md` it applies (`R1: no Origin field: not a CORS request`).
    pub reasons: Vec<String>,
}

impl Divergence {
    /// The divergence as text: request lines, differences, both answers.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = format!("{} {}\n", self.request.method, self.sent_path);
        for (name, value) in &self.request.headers {
            if name != crate::upstream::MARKER {
                let _ = writeln!(out, "  {name}: {value}");
            }
        }
        for difference in &self.differences {
            let _ = writeln!(out, "  - {difference}");
        }
        if !self.reasons.is_empty() {
            let _ = writeln!(out, "  why, by the rules of docs/behaviour.md:");
            for reason in &self.reasons {
                let _ = writeln!(out, "    {reason}");
            }
        }
        let _ = writeln!(out, "  engine: {}", self.expected);
        let _ = writeln!(out, "  target: {}", self.got);
        out
    }
}

/// The differences between an engine answer and a target answer to `request` that matter for
/// CORS, leaving out what the behaviour allows to differ:
///
/// - the status, except that two ok statuses (200-299) of a preflight are the same answer;
/// - forwarding;
/// - each `Access-Control-*` header: single-valued ones (`-Allow-Origin`, `-Allow-Credentials`,
///   `-Max-Age`) line by line, list-valued ones (`-Allow-Methods`, `-Allow-Headers`,
///   `-Expose-Headers`) as sets of items over all their lines, so that order, repetition,
///   blanks and how items are split into lines do not count (header names ignoring case);
/// - the `Vary` tokens as a set, ignoring case.
///
/// Header-name case and the order of header lines never count (names are compared lower-case,
/// and lines per name).
#[must_use]
pub fn compare(request: &OutgoingRequest, expected: &Observed, got: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let ok = |status: u16| (200..300).contains(&status);
    let same_status = expected.status == got.status
        || (is_preflight(request) && ok(expected.status) && ok(got.status));
    if !same_status {
        out.push(format!("status: engine {}, target {}", expected.status, got.status));
    }
    if expected.forwarded != got.forwarded {
        out.push(format!("forwarded: engine {}, target {}", expected.forwarded, got.forwarded));
    }
    let mut names: Vec<&str> = expected
        .headers
        .iter()
        .chain(&got.headers)
        .map(|(n, _)| n.as_str())
        .filter(|n| n.starts_with("access-control-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        if let Some(case_sensitive) = list_kind(name) {
            let (a, b) = (items(expected, name, case_sensitive), items(got, name, case_sensitive));
            if a != b {
                out.push(format!("{name} items: engine {a:?}, target {b:?}"));
            }
        } else {
            let a: Vec<String> = expected.values(name).map(escape).collect();
            let b: Vec<String> = got.values(name).map(escape).collect();
            if a != b {
                out.push(format!("{name}: engine {a:?}, target {b:?}"));
            }
        }
    }
    let (a, b) = (items(expected, "vary", false), items(got, "vary", false));
    if a != b {
        out.push(format!("vary tokens: engine {a:?}, target {b:?}"));
    }
    out
}

/// `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(request: &OutgoingRequest) -> bool {
    let has = |name: &str| request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    request.method == "OPTIONS" && has("origin") && has("access-control-request-method")
}

/// For a list-valued CORS header, whether its items compare case-sensitively (methods do);
/// `None` for single-valued headers.
fn list_kind(name: &str) -> Option<bool> {
    match name {
        "access-control-allow-methods" => Some(true),
        "access-control-allow-headers" | "access-control-expose-headers" => Some(false),
        _ => None,
    }
}

/// The items of a list-valued header over all its lines, as a sorted set.
fn items(observed: &Observed, name: &str, case_sensitive: bool) -> Vec<String> {
    let mut items: Vec<String> = observed
        .values(name)
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|item| escape(item.trim_ascii()))
        .map(|item| if case_sensitive { item } else { item.to_ascii_lowercase() })
        .filter(|item| !item.is_empty())
        .collect();
    items.sort();
    items.dedup();
    items
}

/// One distinct divergence, minimized, and how many requests showed its kind.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Found {
    /// The first divergence of its kind, minimized.
    pub divergence: Divergence,
    /// How many of the random requests diverged the same way (same kind of request, same
    /// differing subjects).
    pub occurrences: u32,
}

/// The outcome of a differential run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DifferentialReport {
    /// The seed used.
    pub seed: u64,
    /// Requests sent (not counting minimization).
    pub sent: u32,
    /// Requests on which the target diverged.
    pub diverged: u32,
    /// Each distinct divergence, minimized, in the order first seen.
    pub distinct: Vec<Found>,
    /// Requests that diverged in a way first seen once `keep` divergences were kept: not
    /// counted in any [`Found::occurrences`], nor shown.
    pub unshown: u32,
}

/// What kind of divergence a request shows: the kind of request and the differing subjects.
/// Two divergences of one kind are one finding.
fn kind(request: &OutgoingRequest, differences: &[String]) -> String {
    let has = |name: &str| request.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let shape = if is_preflight(request) {
        "preflight"
    } else if has("origin") {
        "cors"
    } else {
        "no-origin"
    };
    let mut subjects: Vec<&str> =
        differences.iter().map(|d| d.split(':').next().unwrap_or_default()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    format!("{shape} {}", subjects.join(","))
}

/// Sends `requests` random requests built from `policy` to `target`, compares every answer with
/// the engine's, and keeps each distinct kind of divergence once, minimized, at most `keep` of
/// them.
///
/// # Errors
///
/// The target gave no answer.
pub fn run(
    policy: Policy,
    target: &mut dyn Target,
    requests: u32,
    seed: u64,
    keep: usize,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<DifferentialReport, TargetError> {
    let material = Material::from_policy(&policy);
    let engine = Engine::new(policy);
    let mut rng = Rng::new(seed);
    let nonce = crate::runner::run_nonce();
    let mut report =
        DifferentialReport { seed, sent: 0, diverged: 0, distinct: Vec::new(), unshown: 0 };
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for i in 0..requests {
        let request = material.request(&mut rng, &format!("differential-{i}~{nonce}"));
        report.sent += 1;
        if let Some(divergence) = diverges(&engine, target, &request)? {
            report.diverged += 1;
            let key = kind(&divergence.request, &divergence.differences);
            if let Some((_, index)) = kinds.iter().find(|(k, _)| *k == key) {
                report.distinct[*index].occurrences += 1;
            } else if report.distinct.len() < keep {
                let minimized = minimize(&engine, target, divergence)?;
                let shown = kind(&minimized.request, &minimized.differences);
                let same = report.distinct.iter().position(|found| {
                    same_request(&found.divergence.request, &minimized.request)
                        && kind(&found.divergence.request, &found.divergence.differences) == shown
                });
                if let Some(index) = same {
                    report.distinct[index].occurrences += 1;
                    kinds.push((key, index));
                } else {
                    kinds.push((key, report.distinct.len()));
                    report.distinct.push(Found { divergence: minimized, occurrences: 1 });
                }
            } else {
                report.unshown += 1;
            }
        }
        progress(i + 1, requests);
    }
    Ok(report)
}

/// The same request, marker aside.
fn same_request(a: &OutgoingRequest, b: &OutgoingRequest) -> bool {
    let lines = |r: &OutgoingRequest| -> Vec<(String, String)> {
        r.headers.iter().filter(|(n, _)| n != crate::upstream::MARKER).cloned().collect()
    };
    a.method == b.method && a.path == b.path && lines(a) == lines(b)
}

fn diverges(
    engine: &Engine,
    target: &mut dyn Target,
    request: &OutgoingRequest,
) -> Result<Option<Divergence>, TargetError> {
    let expected = engine_answer(engine, request);
    let got = target.send("differential", request)?;
    let differences = compare(request, &expected, &got);
    Ok((!differences.is_empty()).then(|| Divergence {
        request: request.clone(),
        sent_path: target.request_target(&request.path),
        expected,
        got,
        differences,
        reasons: engine
            .explain(&engine_request(request))
            .reasons()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }))
}

/// Removes header lines and simplifies the method while the divergence persists as the same
/// kind ([`kind`]): a smaller request that diverges another way (without its `Origin`, say,
/// where a target adds a field to every answer) is another finding, which would hide this one.
fn minimize(
    engine: &Engine,
    target: &mut dyn Target,
    mut best: Divergence,
) -> Result<Divergence, TargetError> {
    let wanted = kind(&best.request, &best.differences);
    let mut same_kind = |candidate: &OutgoingRequest| -> Result<Option<Divergence>, TargetError> {
        Ok(diverges(engine, target, candidate)?
            .filter(|smaller| kind(&smaller.request, &smaller.differences) == wanted))
    };
    loop {
        let mut improved = false;
        let lines = best.request.headers.len();
        for i in (0..lines).rev() {
            if best.request.headers[i].0 == crate::upstream::MARKER {
                continue;
            }
            let mut candidate = best.request.clone();
            candidate.headers.remove(i);
            if let Some(smaller) = same_kind(&candidate)? {
                best = smaller;
                improved = true;
                break;
            }
        }
        if !improved && best.request.method != "GET" && best.request.method != "OPTIONS" {
            let mut candidate = best.request.clone();
            "GET".clone_into(&mut candidate.method);
            if let Some(smaller) = same_kind(&candidate)? {
                best = smaller;
                improved = true;
            }
        }
        if !improved {
            return Ok(best);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_process::{EngineTarget, load_profile};
    use crate::profile;

    /// The engine target pinned to one profile, whatever profile the runner names.
    struct Pinned(EngineTarget, &'static str);

    impl Target for Pinned {
        fn name(&self) -> &'static str {
            "pinned"
        }

        fn send(&mut self, _: &str, r: &OutgoingRequest) -> Result<Observed, TargetError> {
            self.0.send(self.1, r)
        }
    }

    #[test]
    fn the_engine_never_diverges_from_itself() {
        for profile in profile::PROFILES {
            let policy = load_profile(profile).unwrap();
            let mut named = Pinned(EngineTarget::new().unwrap(), profile.name);
            let report = run(policy, &mut named, 300, 7, 3, &mut |_, _| {}).unwrap();
            let shown: Vec<String> =
                report.distinct.iter().map(|found| found.divergence.render()).collect();
            assert_eq!(report.diverged, 0, "{}: {}", profile.name, shown.join("\n"));
        }
    }

    #[test]
    fn a_divergence_is_found_and_minimized() {
        // The target runs the `public` profile while the engine runs `strict`.
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = Pinned(EngineTarget::new().unwrap(), "public");
        let report = run(policy, &mut target, 50, 1, 2, &mut |_, _| {}).unwrap();
        assert!(report.diverged > 0);
        let first = &report.distinct[0].divergence;
        // Minimized: only the lines needed to diverge remain (Origin at most, plus the marker).
        assert!(first.request.headers.len() <= 3, "{}", first.render());
    }

    /// The engine target pinned to one profile, behind a URL path: what it is sent is under it.
    struct Prefixed(Pinned);

    impl Target for Prefixed {
        fn name(&self) -> &'static str {
            "prefixed"
        }

        fn request_target(&self, path: &str) -> String {
            format!("/api{path}")
        }

        fn send(&mut self, profile: &str, r: &OutgoingRequest) -> Result<Observed, TargetError> {
            self.0.send(profile, r)
        }
    }

    #[test]
    fn a_divergence_shows_the_path_as_sent() {
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = Prefixed(Pinned(EngineTarget::new().unwrap(), "public"));
        let report = run(policy, &mut target, 50, 1, 2, &mut |_, _| {}).unwrap();
        assert!(!report.distinct.is_empty());
        for found in &report.distinct {
            let text = found.divergence.render();
            let line = text.lines().next().unwrap_or_default();
            assert!(line.ends_with(&format!(" /api{}", found.divergence.request.path)), "{text}");
        }
    }

    #[test]
    fn a_divergence_says_which_rules_decide_the_engines_answer() {
        // `public` grants a stranger `*`; under `strict` it is blocked by A2.
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = Pinned(EngineTarget::new().unwrap(), "public");
        let report = run(policy, &mut target, 50, 1, 5, &mut |_, _| {}).unwrap();
        let shown: Vec<String> =
            report.distinct.iter().map(|found| found.divergence.render()).collect();
        let blocked = shown
            .iter()
            .find(|text| text.contains("\n    A2: origin not allowed: blocked\n"))
            .unwrap_or_else(|| panic!("no A2 reason:\n{}", shown.join("\n")));
        assert!(blocked.contains("  why, by the rules of docs/behaviour.md:\n"), "{blocked}");
        for found in &report.distinct {
            assert!(!found.divergence.reasons.is_empty(), "{}", found.divergence.render());
        }
    }

    #[test]
    fn same_seed_same_requests() {
        let policy = load_profile(profile::get("groups").unwrap()).unwrap();
        let material = Material::from_policy(&policy);
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..20 {
            assert_eq!(material.request(&mut a, "m"), material.request(&mut b, "m"));
        }
    }
}

#[cfg(test)]
mod noise {
    use rstest::rstest;

    use super::*;
    use crate::in_process::{EngineTarget, load_profile};
    use crate::profile;

    fn answer(status: u16, lines: &[(&str, &str)]) -> Observed {
        let mut observed = Observed::new(status);
        observed.headers =
            lines.iter().map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec())).collect();
        observed
    }

    fn preflight() -> OutgoingRequest {
        let lines = [("Origin", "https://a.test"), ("Access-Control-Request-Method", "PUT")];
        OutgoingRequest::new(
            "OPTIONS",
            "/",
            lines.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            "m",
        )
    }

    #[rstest]
    #[case::status_204_for_200_on_a_preflight(answer(200, &[]), answer(204, &[]), true)]
    #[case::list_order(
        answer(200, &[("access-control-allow-methods", "GET, POST, PUT")]),
        answer(200, &[("access-control-allow-methods", "PUT,GET,POST")]),
        true
    )]
    #[case::list_split_over_lines(
        answer(200, &[("access-control-allow-headers", "x-a, x-b")]),
        answer(200, &[("access-control-allow-headers", "X-A"), ("access-control-allow-headers", "x-b")]),
        true
    )]
    #[case::header_line_order(
        answer(200, &[("access-control-allow-origin", "https://a.test"), ("vary", "Origin")]),
        answer(200, &[("vary", "origin"), ("access-control-allow-origin", "https://a.test")]),
        true
    )]
    #[case::method_case_counts(
        answer(200, &[("access-control-allow-methods", "PUT")]),
        answer(200, &[("access-control-allow-methods", "put")]),
        false
    )]
    #[case::an_error_status_counts(answer(200, &[]), answer(403, &[]), false)]
    #[case::origin_value_counts(
        answer(200, &[("access-control-allow-origin", "https://a.test")]),
        answer(200, &[("access-control-allow-origin", "*")]),
        false
    )]
    #[case::a_second_origin_line_counts(
        answer(200, &[("access-control-allow-origin", "*")]),
        answer(200, &[("access-control-allow-origin", "*"), ("access-control-allow-origin", "*")]),
        false
    )]
    fn allowed_differences_are_not_divergences(
        #[case] engine: Observed,
        #[case] target: Observed,
        #[case] same: bool,
    ) {
        let differences = compare(&preflight(), &engine, &target);
        assert_eq!(differences.is_empty(), same, "{differences:?}");
    }

    #[test]
    fn a_204_for_an_actual_request_is_a_divergence() {
        let get = OutgoingRequest::new("GET", "/", Vec::new(), "m");
        assert!(!compare(&get, &answer(200, &[]), &answer(204, &[])).is_empty());
    }

    /// The engine under one profile, its preflight answers given status 204 and their list
    /// headers reordered, as nginx's recipe answers.
    struct Reordering(EngineTarget, &'static str);

    impl Target for Reordering {
        fn name(&self) -> &'static str {
            "reordering"
        }

        fn send(&mut self, _: &str, r: &OutgoingRequest) -> Result<Observed, TargetError> {
            let mut answer = self.0.send(self.1, r)?;
            if is_preflight(r) && answer.status == 200 {
                answer.status = 204;
            }
            for (name, value) in &mut answer.headers {
                if name == "access-control-allow-methods" {
                    let mut items: Vec<&[u8]> = value.split(|b| *b == b',').collect();
                    items.reverse();
                    *value = items.join(&b","[..]);
                }
            }
            Ok(answer)
        }
    }

    #[test]
    fn a_gateway_that_differs_only_in_allowed_ways_never_diverges() {
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = Reordering(EngineTarget::new().unwrap(), "strict");
        let report = run(policy, &mut target, 300, 3, 5, &mut |_, _| {}).unwrap();
        let shown: Vec<String> = report.distinct.iter().map(|f| f.divergence.render()).collect();
        assert_eq!(report.diverged, 0, "{}", shown.join("\n"));
    }

    /// The engine under one profile, with a field added to every answer to a request without
    /// `Origin`, as a hand-written nginx configuration's `add_header ... always` does.
    struct AddingToEveryAnswer(EngineTarget, &'static str);

    impl Target for AddingToEveryAnswer {
        fn name(&self) -> &'static str {
            "adding"
        }

        fn send(&mut self, _: &str, r: &OutgoingRequest) -> Result<Observed, TargetError> {
            let mut answer = self.0.send(self.1, r)?;
            if !r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("origin")) {
                answer.headers.push(("access-control-expose-headers".to_owned(), b"x-a".to_vec()));
            }
            Ok(answer)
        }
    }

    #[test]
    fn a_divergence_is_not_minimized_into_another_kind() {
        // Without `Origin` every answer diverges: minimizing a stranger's grant by removing
        // its `Origin` would report it as that divergence, and the grant never.
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = AddingToEveryAnswer(EngineTarget::new().unwrap(), "public");
        let report = run(policy, &mut target, 300, 5, 50, &mut |_, _| {}).unwrap();
        let rendered: Vec<String> = report.distinct.iter().map(|f| f.divergence.render()).collect();
        let granted = rendered
            .iter()
            .find(|text| {
                text.contains("\n  Origin: ") && text.contains("access-control-allow-origin")
            })
            .unwrap_or_else(|| {
                panic!("the stranger's grant is not shown:\n{}", rendered.join("\n"))
            });
        assert!(!granted.contains("access-control-expose-headers items"), "{granted}");
        let total: u32 = report.distinct.iter().map(|f| f.occurrences).sum();
        assert_eq!(total, report.diverged);
    }

    /// Past `keep` kinds, a divergence of a new kind is counted as unshown: the run's line said
    /// "diverged in 5 distinct ways" when there were more, and their requests were in no count.
    #[test]
    fn divergences_past_those_kept_are_counted() {
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = AddingToEveryAnswer(EngineTarget::new().unwrap(), "public");
        let all = run(policy.clone(), &mut target, 300, 5, 50, &mut |_, _| {}).unwrap();
        assert!(all.distinct.len() > 1, "{}", all.distinct.len());
        assert_eq!(all.unshown, 0);
        let one = run(policy, &mut target, 300, 5, 1, &mut |_, _| {}).unwrap();
        assert_eq!(one.distinct.len(), 1);
        assert_eq!(one.diverged, all.diverged);
        assert_eq!(one.distinct[0].occurrences + one.unshown, one.diverged);
        assert!(one.unshown > 0);
    }

    #[test]
    fn each_distinct_divergence_is_shown_once() {
        let policy = load_profile(profile::get("strict").unwrap()).unwrap();
        let mut target = Reordering(EngineTarget::new().unwrap(), "public");
        let report = run(policy, &mut target, 300, 5, 50, &mut |_, _| {}).unwrap();
        assert!(report.diverged as usize > report.distinct.len(), "{}", report.diverged);
        let rendered: Vec<String> = report.distinct.iter().map(|f| f.divergence.render()).collect();
        for (i, one) in rendered.iter().enumerate() {
            assert!(!rendered[..i].contains(one), "printed twice:\n{one}");
        }
        let total: u32 = report.distinct.iter().map(|f| f.occurrences).sum();
        assert_eq!(total, report.diverged);
    }
}
