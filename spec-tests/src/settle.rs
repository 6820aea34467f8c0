//! Waiting until a reconfigured gateway serves the new profile, not merely until it answers.
//!
//! After `nginx -s reload` (or a policy file rewrite, or a restart) the old configuration keeps
//! answering for a while. Before running a profile's cases, the runner sends *probes*: requests
//! whose answers, as cors-engine decides them, differ between the new profile and the one the
//! gateway served before (an origin one allows and the other refuses, credentials, a method, the
//! max-age, an allowed or exposed header). Each probe reads one *feature* of the answer. The
//! gateway serves the new profile once more probes answer as the new profile predicts than as
//! the old one does, twice in a row (a reloading server may answer from old and new workers).
//!
//! The prediction is the engine's, and a gateway under test may not implement either profile
//! exactly; so the test compares which profile the answers are closer to, on features most
//! gateways express (origins first), rather than asking for an exact match. When the previous
//! profile is unknown (the first one of a run), the answers must be at least as close to the
//! new profile as to every other one.
//!
//! A gateway may not be able to express the new profile at all (Go's rs/cors reads an empty
//! method list as its defaults, so it cannot allow no method): its answers never come closer to
//! the new profile. So the runner also reads the probes' answers before the setup command runs
//! ([`Settler::before`]); once they have changed and answer alike twice in a row, the gateway
//! has reloaded, and [`Settler::wait_after`] says so ([`Settled::Changed`]) instead of waiting
//! for the timeout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use cors_origin::OriginPattern;
use cors_policy::{AllowedHeaders, Policy};

use crate::check::Observed;
use crate::error::{DataError, TargetError};
use crate::in_process::{EngineTarget, load_profile};
use crate::profile;
use crate::target::{OutgoingRequest, Target};

/// How many probes tell two profiles apart.
const PROBES_PER_PAIR: usize = 6;

/// How many probes, at most, are read before the setup command to notice a change.
const PROBES_BEFORE: usize = 24;

/// How long to wait between two rounds of probes.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The origin no profile lists.
const STRANGER: &str = "https://stranger.example.test";

/// What a probe reads from an answer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Feature {
    /// Whether the origin is granted (`Access-Control-Allow-Origin` is it or `*`).
    Allowed,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    Credentials,
    /// Whether a preflight for this method is granted.
    Method(String),
    /// The `Access-Control-Max-Age` of a preflight.
    MaxAge,
    /// Whether a preflight for this request header is granted.
    Header(String),
    /// Whether this response header is exposed.
    Expose(String),
}

impl Feature {
    /// Which of the variants this is, the value aside.
    fn kind(&self) -> u8 {
        match self {
            Feature::Allowed => 0,
            Feature::Credentials => 1,
            Feature::Method(_) => 2,
            Feature::MaxAge => 3,
            Feature::Header(_) => 4,
            Feature::Expose(_) => 5,
        }
    }
}

/// A request and the feature of its answer that tells profiles apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Probe {
    origin: String,
    feature: Feature,
}

impl Probe {
    fn request(&self) -> OutgoingRequest {
        let mut headers = vec![("Origin".to_owned(), self.origin.clone())];
        let method = match &self.feature {
            Feature::Allowed | Feature::Credentials | Feature::Expose(_) => "GET",
            Feature::Method(method) => {
                headers.push(("Access-Control-Request-Method".to_owned(), method.clone()));
                "OPTIONS"
            }
            Feature::MaxAge => {
                headers.push(("Access-Control-Request-Method".to_owned(), "GET".to_owned()));
                "OPTIONS"
            }
            Feature::Header(name) => {
                headers.push(("Access-Control-Request-Method".to_owned(), "GET".to_owned()));
                headers.push(("Access-Control-Request-Headers".to_owned(), name.clone()));
                "OPTIONS"
            }
        };
        OutgoingRequest::new(method, "/", headers, "settle-probe")
    }

    /// The feature's value in `answer`.
    fn read(&self, answer: &Observed) -> String {
        let one = |name: &str| {
            answer.values(name).next().map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let list = |name: &str| -> Vec<String> {
            answer
                .values(name)
                .flat_map(|v| v.split(|b| *b == b','))
                .map(|item| String::from_utf8_lossy(item.trim_ascii()).to_ascii_lowercase())
                .collect()
        };
        let granted = one("access-control-allow-origin")
            .is_some_and(|value| value == self.origin || value == "*");
        let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
        match &self.feature {
            Feature::Allowed => yes(granted),
            Feature::Credentials => {
                yes(one("access-control-allow-credentials").as_deref() == Some("true"))
            }
            Feature::Method(method) => yes(granted
                && answer
                    .values("access-control-allow-methods")
                    .flat_map(|v| v.split(|b| *b == b','))
                    .any(|m| m.trim_ascii() == method.as_bytes() || m.trim_ascii() == b"*")),
            Feature::MaxAge => one("access-control-max-age").unwrap_or_default(),
            Feature::Header(name) => {
                let items = list("access-control-allow-headers");
                yes(granted && items.iter().any(|i| i == name || i == "*"))
            }
            Feature::Expose(name) => {
                let items = list("access-control-expose-headers");
                yes(granted && items.iter().any(|i| *i == name.to_ascii_lowercase() || i == "*"))
            }
        }
    }

    fn describe(&self) -> String {
        let request = self.request();
        let mut text = format!("{} / with Origin: {}", request.method, self.origin);
        for (name, value) in request.headers.iter().skip(1) {
            if name != crate::upstream::MARKER {
                let _ = write!(text, ", {name}: {value}");
            }
        }
        let what = match &self.feature {
            Feature::Allowed => "origin granted".to_owned(),
            Feature::Credentials => "credentials allowed".to_owned(),
            Feature::Method(m) => format!("method {m} granted"),
            Feature::MaxAge => "max-age".to_owned(),
            Feature::Header(h) => format!("header {h} granted"),
            Feature::Expose(e) => format!("{e} exposed"),
        };
        format!("{text} ({what})")
    }
}

/// Knows what each profile answers to the probes, and waits for a target to answer as one.
#[derive(Debug)]
pub struct Settler {
    probes: Vec<Probe>,
    /// `predicted[profile][probe index]`.
    predicted: BTreeMap<&'static str, Vec<String>>,
}

/// The settle wait did not see the new profile in time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettleError {
    /// Why, with the probe that shows it.
    pub message: String,
    /// Whether the target never answered at all (rather than answering as another profile).
    pub unreachable: bool,
}

impl std::fmt::Display for SettleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettleError {}

/// What the target answered to the probes before the setup command ran ([`Settler::before`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Before {
    new: String,
    old: String,
    /// `(probe index, value)`; empty when the target did not answer.
    answers: Vec<(usize, String)>,
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settled {
    /// The target answers as the new profile predicts (or no probe tells it from the old one).
    AsPredicted,
    /// The target answers otherwise than before the setup, twice alike, but not closer to the
    /// new profile than to the old one: it reloaded a configuration that cannot express the new
    /// profile. The message names a probe that answers otherwise than the new profile predicts.
    Changed {
        /// The probe and its answer, for a warning.
        message: String,
    },
}

impl Settler {
    /// Probes for every compiled-in profile, with the engine's predictions.
    ///
    /// # Errors
    ///
    /// A profile does not load.
    pub fn new() -> Result<Settler, DataError> {
        let mut policies = Vec::new();
        for profile in profile::PROFILES {
            policies.push(load_profile(profile)?);
        }
        let probes = candidate_probes(&policies);
        let mut engine = EngineTarget::new()?;
        let mut predicted = BTreeMap::new();
        for profile in profile::PROFILES {
            let mut values = Vec::with_capacity(probes.len());
            for probe in &probes {
                let answer = engine.send(profile.name, &probe.request()).map_err(|e| {
                    DataError { problems: vec![format!("the engine cannot answer a probe: {e}")] }
                })?;
                values.push(probe.read(&answer));
            }
            predicted.insert(profile.name, values);
        }
        Ok(Settler { probes, predicted })
    }

    /// The probes (indices) that tell `new` from `old`, most telling first.
    fn telling(&self, new: &str, old: &str) -> Vec<usize> {
        let (Some(a), Some(b)) = (self.predicted.get(new), self.predicted.get(old)) else {
            return Vec::new();
        };
        (0..self.probes.len()).filter(|&i| a[i] != b[i]).take(PROBES_PER_PAIR).collect()
    }

    /// The probes (indices) whose answers, read before the setup command, show that the target
    /// changed: up to [`PROBES_BEFORE`] that tell `new` from `old`, spread over the features.
    fn watched(&self, new: &str, old: &str) -> Vec<usize> {
        let (Some(a), Some(b)) = (self.predicted.get(new), self.predicted.get(old)) else {
            return Vec::new();
        };
        let mut by_kind: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for i in (0..self.probes.len()).filter(|&i| a[i] != b[i]) {
            by_kind.entry(self.probes[i].feature.kind()).or_default().push(i);
        }
        let mut chosen = Vec::new();
        let mut round = 0;
        while chosen.len() < PROBES_BEFORE && by_kind.values().any(|v| v.len() > round) {
            chosen.extend(by_kind.values().filter_map(|v| v.get(round)).copied());
            round += 1;
        }
        chosen.truncate(PROBES_BEFORE);
        chosen.sort_unstable();
        chosen
    }

    /// Reads what `target`, still serving `old`, answers to the probes that tell `new` from it,
    /// before the setup command for `new` runs; [`Settler::wait_after`] then notices the change
    /// even when the target cannot answer as `new` predicts. A target that does not answer
    /// gives an empty reading (the wait then only accepts answers as predicted).
    pub fn before(&mut self, target: &mut dyn Target, new: &str, old: &str) -> Before {
        let mut answers = Vec::new();
        for i in self.watched(new, old) {
            let Ok(answer) = target.send(new, &self.probes[i].request()) else {
                answers.clear();
                break;
            };
            answers.push((i, self.probes[i].read(&answer)));
        }
        Before { new: new.to_owned(), old: old.to_owned(), answers }
    }

    /// Waits until `target` answers the probes as `new` rather than as `old` (or, when `old` is
    /// `None`, at least as closely as any other profile), twice in a row, for at most `timeout`.
    ///
    /// # Errors
    ///
    /// The time ran out; the message names a probe that still answers as the other profile, or
    /// says the target did not answer.
    pub fn wait(
        &mut self,
        target: &mut dyn Target,
        new: &str,
        old: Option<&str>,
        timeout: Duration,
    ) -> Result<(), SettleError> {
        self.wait_after(target, new, old, None, timeout).map(|_| ())
    }

    /// [`Settler::wait`], which also ends, with [`Settled::Changed`], once the answers differ
    /// from those read `before` the setup command and are alike twice in a row.
    ///
    /// # Errors
    ///
    /// As [`Settler::wait`]: the time ran out with answers as before the setup (or changing
    /// still), or the target did not answer.
    pub fn wait_after(
        &mut self,
        target: &mut dyn Target,
        new: &str,
        old: Option<&str>,
        before: Option<&Before>,
        timeout: Duration,
    ) -> Result<Settled, SettleError> {
        let before =
            before.filter(|b| b.new == new && Some(b.old.as_str()) == old && !b.answers.is_empty());
        let mut last_changed: Option<Vec<String>> = None;
        let rivals: Vec<&'static str> = match old {
            Some(old) if old != new => {
                self.predicted.keys().copied().filter(|p| *p == old).collect()
            }
            Some(_) => Vec::new(),
            None => self.predicted.keys().copied().filter(|p| *p != new).collect(),
        };
        // A rival the engine answers exactly as `new` on every probe (a group that allows no
        // method refuses every CORS request, as having no group does) cannot be told apart, and
        // running the new profile's cases against it gives the same answers: nothing to wait for.
        let pairs: Vec<(&'static str, Vec<usize>)> = rivals
            .into_iter()
            .map(|rival| (rival, self.telling(new, rival)))
            .filter(|(_, probes)| !probes.is_empty())
            .collect();
        let deadline = Instant::now() + timeout;
        let mut agreed = 0;
        loop {
            let problem = match self.closest(target, new, &pairs, old.is_some()) {
                Ok(()) => {
                    agreed += 1;
                    if agreed >= 2 || pairs.is_empty() {
                        return Ok(Settled::AsPredicted);
                    }
                    None
                }
                Err(problem) => {
                    agreed = 0;
                    if let Some(before) = before.filter(|_| !problem.unreachable) {
                        let now = self.reread(target, new, before);
                        let changed = now.as_ref().filter(|now| {
                            now.iter().zip(&before.answers).any(|(value, (_, was))| value != was)
                        });
                        if let Some(now) = changed
                            && last_changed.as_ref() == Some(now)
                        {
                            return Ok(Settled::Changed { message: problem.message });
                        }
                        last_changed = changed.cloned();
                    }
                    Some(problem)
                }
            };
            if Instant::now() >= deadline {
                let (message, unreachable) = problem.map_or_else(
                    || ("the answers changed between two rounds of probes".to_owned(), false),
                    |problem| (problem.message, problem.unreachable),
                );
                return Err(SettleError {
                    message: format!(
                        "the target did not serve profile {new} within {}: {message}",
                        humantime::format_duration(timeout)
                    ),
                    unreachable,
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The answers to the probes read `before`, now; `None` when the target does not answer.
    fn reread(&self, target: &mut dyn Target, new: &str, before: &Before) -> Option<Vec<String>> {
        let mut now = Vec::with_capacity(before.answers.len());
        for (i, _) in &before.answers {
            let answer = target.send(new, &self.probes[*i].request()).ok()?;
            now.push(self.probes[*i].read(&answer));
        }
        Some(now)
    }

    /// One round of probes: `Ok` when the answers are closer to `new` than to each rival.
    fn closest(
        &mut self,
        target: &mut dyn Target,
        new: &str,
        pairs: &[(&'static str, Vec<usize>)],
        strict: bool,
    ) -> Result<(), SettleError> {
        let mut observed: BTreeMap<usize, String> = BTreeMap::new();
        for (rival, probes) in pairs {
            let (mut for_new, mut for_rival) = (0, 0);
            let mut example = None;
            for &i in probes {
                let value = if let Some(value) = observed.get(&i) {
                    value.clone()
                } else {
                    let answer = target
                        .send(new, &self.probes[i].request())
                        .map_err(|e| SettleError { message: unanswered(&e), unreachable: true })?;
                    let value = self.probes[i].read(&answer);
                    observed.insert(i, value.clone());
                    value
                };
                let expected = &self.predicted[new][i];
                let theirs = &self.predicted[*rival][i];
                if value == *expected {
                    for_new += 1;
                } else if example.is_none() {
                    example = Some((i, value.clone(), expected.clone()));
                }
                if value == *theirs {
                    for_rival += 1;
                }
            }
            let closer = if strict { for_new > for_rival } else { for_new >= for_rival };
            if !closer {
                let shown = example.map_or_else(String::new, |(i, value, expected)| {
                    format!(
                        "; {} answers {value:?} where {new} expects {expected:?}",
                        self.probes[i].describe()
                    )
                });
                return Err(SettleError {
                    message: format!("it still answers as profile {rival}{shown}"),
                    unreachable: false,
                });
            }
        }
        Ok(())
    }
}

fn unanswered(error: &TargetError) -> String {
    format!("no answer to a probe: {error}")
}

/// Candidate probes from every policy: each origin they list (and a sample of each subdomain
/// pattern, `null`, a stranger), credentials, their methods, max-age, headers and exposed
/// headers. Only those whose predicted answers differ between two profiles are ever sent.
fn candidate_probes(policies: &[Policy]) -> Vec<Probe> {
    let mut origins = vec![STRANGER.to_owned(), "null".to_owned()];
    let mut methods = Vec::new();
    let mut headers = Vec::new();
    let mut exposed = Vec::new();
    for policy in policies {
        for pattern in policy.origins().patterns() {
            let origin = match pattern {
                OriginPattern::Exact(origin) => origin.as_str().to_owned(),
                OriginPattern::Subdomains(sub) => {
                    let port = sub.port().map(|p| format!(":{p}")).unwrap_or_default();
                    format!("{}://probe.{}{port}", sub.scheme(), sub.domain())
                }
                _ => continue,
            };
            push_unique(&mut origins, origin);
        }
        for group in policy.groups() {
            for method in group.methods() {
                push_unique(&mut methods, method.clone());
            }
            if let AllowedHeaders::List(names) = group.headers() {
                for name in names {
                    push_unique(&mut headers, name.to_ascii_lowercase());
                }
            }
            for name in group.exposed_headers() {
                push_unique(&mut exposed, name.to_ascii_lowercase());
            }
        }
    }
    for method in ["PATCH", "DELETE", "PUT"] {
        push_unique(&mut methods, method.to_owned());
    }
    push_unique(&mut headers, "x-probe".to_owned());
    let mut probes = Vec::new();
    let features = |feature: Feature| {
        origins.iter().map(move |o| Probe { origin: o.clone(), feature: feature.clone() })
    };
    probes.extend(features(Feature::Allowed));
    probes.extend(features(Feature::Credentials));
    for method in &methods {
        probes.extend(features(Feature::Method(method.clone())));
    }
    probes.extend(features(Feature::MaxAge));
    for name in &headers {
        probes.extend(features(Feature::Header(name.clone())));
    }
    for name in &exposed {
        probes.extend(features(Feature::Expose(name.clone())));
    }
    probes
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TargetErrorKind;

    /// The engine pinned to `profiles[0]` for `switch_after` requests, then `profiles[1]`.
    struct Switching {
        engine: EngineTarget,
        profiles: [&'static str; 2],
        switch_after: usize,
        sent: usize,
    }

    impl Target for Switching {
        fn name(&self) -> &'static str {
            "switching"
        }

        fn send(&mut self, _: &str, request: &OutgoingRequest) -> Result<Observed, TargetError> {
            self.sent += 1;
            let profile = self.profiles[usize::from(self.sent > self.switch_after)];
            self.engine.send(profile, request)
        }
    }

    fn switching(from: &'static str, to: &'static str, switch_after: usize) -> Switching {
        Switching {
            engine: EngineTarget::new().unwrap(),
            profiles: [from, to],
            switch_after,
            sent: 0,
        }
    }

    /// Profiles the engine answers alike on every request: a group that allows no method
    /// refuses every CORS request, as having no group does.
    const ALIKE: [(&str, &str); 1] = [("closed", "no-methods")];

    #[test]
    fn every_pair_of_profiles_is_told_apart() {
        let settler = Settler::new().unwrap();
        for a in profile::PROFILES {
            for b in profile::PROFILES.iter().filter(|b| b.name != a.name) {
                let alike = ALIKE.contains(&(a.name, b.name)) || ALIKE.contains(&(b.name, a.name));
                let told = !settler.telling(a.name, b.name).is_empty();
                assert!(told != alike, "{} vs {}: told apart {told}", a.name, b.name);
            }
        }
    }

    #[test]
    fn profiles_the_engine_answers_alike_need_no_wait() {
        let mut settler = Settler::new().unwrap();
        let mut target = switching("closed", "closed", 0);
        settler
            .wait(&mut target, "no-methods", Some("closed"), Duration::from_millis(100))
            .unwrap();
    }

    #[test]
    fn the_wait_ends_once_the_new_profile_answers() {
        let mut settler = Settler::new().unwrap();
        let mut target = switching("strict", "public", 20);
        settler.wait(&mut target, "public", Some("strict"), Duration::from_secs(10)).unwrap();
        assert!(target.sent > 20, "it waited for the switch: {} probes", target.sent);
    }

    #[test]
    fn the_old_profile_is_not_taken_for_the_new_one() {
        let mut settler = Settler::new().unwrap();
        let mut target = switching("strict", "strict", 0);
        let error = settler
            .wait(&mut target, "strict-credentials", Some("strict"), Duration::from_millis(500))
            .unwrap_err();
        assert!(error.message.contains("still answers as profile strict"), "{error}");
        assert!(error.message.contains("credentials"), "{error}");
        assert!(!error.unreachable);
    }

    #[test]
    fn the_first_profile_is_recognised_among_all() {
        let mut settler = Settler::new().unwrap();
        for profile in profile::PROFILES {
            let mut target = switching(profile.name, profile.name, 0);
            settler.wait(&mut target, profile.name, None, Duration::from_secs(5)).unwrap();
        }
    }

    /// Reloads to a configuration that cannot express `no-methods` (as Go's rs/cors, whose
    /// empty method list means its defaults): it answers as `lowercase-methods` before the setup
    /// and as `public` after, never closer to `no-methods` than to `lowercase-methods`.
    #[test]
    fn a_gateway_that_cannot_express_the_new_profile_is_seen_to_reload() {
        let mut settler = Settler::new().unwrap();
        let (new, old) = ("no-methods", Some("lowercase-methods"));
        let mut target = switching("lowercase-methods", "lowercase-methods", 0);
        let before = settler.before(&mut target, new, "lowercase-methods");
        target.profiles = ["public", "public"];
        let short = Duration::from_millis(600);
        let error = settler.wait(&mut target, new, old, short).unwrap_err();
        assert!(error.message.contains("still answers as profile lowercase-methods"), "{error}");
        let settled = settler
            .wait_after(&mut target, new, old, Some(&before), Duration::from_secs(5))
            .unwrap();
        let Settled::Changed { message } = settled else { panic!("{settled:?}") };
        assert!(message.contains("lowercase-methods"), "{message}");
    }

    #[test]
    fn a_gateway_that_did_not_reload_is_still_waited_for() {
        let mut settler = Settler::new().unwrap();
        let mut target = switching("lowercase-methods", "lowercase-methods", 0);
        let before = settler.before(&mut target, "no-methods", "lowercase-methods");
        let error = settler
            .wait_after(
                &mut target,
                "no-methods",
                Some("lowercase-methods"),
                Some(&before),
                Duration::from_millis(600),
            )
            .unwrap_err();
        assert!(error.message.contains("still answers as profile lowercase-methods"), "{error}");
    }

    #[test]
    fn a_target_that_never_answers_is_reported_unreachable() {
        struct Down;
        impl Target for Down {
            fn name(&self) -> &'static str {
                "down"
            }
            fn send(&mut self, _: &str, _: &OutgoingRequest) -> Result<Observed, TargetError> {
                Err(TargetError::of(TargetErrorKind::Unreachable, "connection refused"))
            }
        }
        let mut settler = Settler::new().unwrap();
        let error = settler
            .wait(&mut Down, "strict", Some("public"), Duration::from_millis(300))
            .unwrap_err();
        assert!(error.unreachable, "{error}");
        assert!(error.message.contains("connection refused"), "{error}");
    }
}
