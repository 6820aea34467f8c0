//! Arbitrary cors-flex policies and arbitrary requests through `Engine::decide`, asserting the
//! invariants of issue 4 (shared with the proptest suite of cors-engine).

#![no_main]

use arbitrary::Arbitrary;
use cors_engine::{Engine, Request};
use cors_policy::{CorsConfig, MethodConfig, OriginGroupConfig, Policy};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/cors-engine/tests/common/invariants.rs"]
mod invariants;

// Values a configuration is built from, shared with the proptests.
use invariants::{CONFIG_HEADERS as HEADERS, CONFIG_METHODS as METHODS, CONFIG_ORIGINS as ORIGINS};

const REQUEST_ORIGINS: &[&str] = &[
    "https://a.example",
    "https://b.example",
    "https://s.b.example",
    "https://x.example",
    "null",
    "https://api.example",
];

#[derive(Arbitrary, Debug)]
enum Text {
    Known(u8),
    Raw(String),
}

impl Text {
    fn pick(&self, known: &[&str]) -> String {
        match self {
            Text::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
            Text::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct GroupInput {
    name: Option<String>,
    origins: Vec<Text>,
    max_age: Option<u64>,
    methods: Option<Vec<(Text, bool)>>,
    headers: Option<Vec<Text>>,
    exposed: Option<Vec<Text>>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    public_resource: Option<bool>,
    support_credentials: Option<bool>,
    groups: Option<Vec<GroupInput>>,
    method: Text,
    lines: Vec<(u8, Vec<u8>)>,
    known_origin: Option<u8>,
    host_known: bool,
    added_origin: u8,
}

fn config(input: &Input) -> CorsConfig {
    CorsConfig {
        public_resource: input.public_resource,
        support_credentials: input.support_credentials,
        origin_groups: input.groups.as_ref().map(|groups| {
            groups
                .iter()
                .map(|g| OriginGroupConfig {
                    name: g.name.clone(),
                    origins: g.origins.iter().map(|o| o.pick(ORIGINS)).collect(),
                    access_control_max_age: g.max_age,
                    allowed_methods: g.methods.as_ref().map(|m| {
                        m.iter()
                            .map(|(name, allowed)| MethodConfig {
                                method_name: name.pick(METHODS),
                                is_allowed: *allowed,
                            })
                            .collect()
                    }),
                    headers: g
                        .headers
                        .as_ref()
                        .map(|h| h.iter().map(|x| x.pick(HEADERS)).collect()),
                    exposed_headers: g
                        .exposed
                        .as_ref()
                        .map(|h| h.iter().map(|x| x.pick(HEADERS)).collect()),
                })
                .collect()
        }),
    }
}

const NAMES: [&[u8]; 4] =
    [b"origin", b"access-control-request-method", b"Access-Control-Request-Headers", b"x-other"];

fuzz_target!(|input: Input| {
    let config = config(&input);
    // Invalid configurations are refused at load; the engine only ever sees valid ones.
    let Ok(policy) = Policy::from_config(&config) else { return };
    let engine = Engine::new(policy);

    let method = input.method.pick(&["GET", "OPTIONS", "POST", "HEAD", "options"]);
    let mut lines: Vec<(&[u8], &[u8])> = input
        .lines
        .iter()
        .map(|(name, value)| (NAMES[usize::from(*name) % NAMES.len()], value.as_slice()))
        .collect();
    if let Some(i) = input.known_origin {
        let origin = REQUEST_ORIGINS[usize::from(i) % REQUEST_ORIGINS.len()];
        lines = invariants::with_origin(&lines, origin.as_bytes());
    }
    let mut request = Request::new(method.as_bytes(), lines.as_slice());
    if input.host_known {
        request = request.addressed_to("https", b"api.example");
    }
    let decided = invariants::check_all(&engine, &request);

    // M2: a public resource without credentials answers every origin alike (R2 aside).
    if engine.policy().is_public_resource() && !engine.policy().supports_credentials() {
        let other = invariants::with_origin(&lines, b"https://other.example");
        let unaddressed = Request::new(method.as_bytes(), lines.as_slice());
        let moved = Request::new(method.as_bytes(), other.as_slice());
        if !invariants::lines_of(&lines, "origin").is_empty() {
            assert_eq!(
                invariants::snapshot(&engine.decide(&unaddressed)),
                invariants::snapshot(&engine.decide(&moved))
            );
        }
    }

    // M3: adding an origin to one group changes nothing for other origins.
    let added =
        ["https://new.example", "https://x.example", "null"][usize::from(input.added_origin) % 3];
    let origins = invariants::lines_of(&lines, "origin");
    if let Some(groups) = config.origin_groups.as_ref().filter(|g| !g.is_empty())
        && origins.iter().all(|o| *o != added.as_bytes())
    {
        let mut grown = config.clone();
        let index = usize::from(input.added_origin) % groups.len();
        grown.origin_groups.as_mut().expect("groups")[index].origins.push(added.to_owned());
        if let Ok(policy) = Policy::from_config(&grown) {
            let grown_engine = Engine::new(policy);
            assert_eq!(invariants::snapshot(&grown_engine.decide(&request)), decided);
        }
    }
});
