//! cors-engine alone, with no HTTP library and no YAML: a policy built in code decides a
//! preflight, an allowed request and a refused one, and explains a decision.
//!
//! Exits with status 0 when every decision is what the policy says, 1 otherwise.

use std::process::ExitCode;

use cors_engine::{Decision, Engine, Outcome, Request};
use cors_policy::{OriginGroup, Policy};

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("engine-only: all checks passed");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("engine-only: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let policy = Policy::builder()
        .group(
            OriginGroup::new(["https://app.example.com", "https://*.partner.example"])
                .allow_methods(["GET", "POST", "PUT"])
                .allow_headers(["content-type", "x-token"]),
        )
        .build()
        .map_err(|error| format!("invalid policy: {error}"))?;
    let engine = Engine::new(policy);

    // A preflight from a partner subdomain, as a browser sends it.
    let lines: &[(&str, &str)] = &[
        ("origin", "https://shop.partner.example"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "content-type, x-token"),
    ];
    let request = Request::new(b"OPTIONS", lines).addressed_to("https", b"api.example.com");
    let Decision::Preflight { accepted: true, headers, .. } = engine.decide(&request) else {
        return Err(format!(
            "the partner preflight was not accepted:\n{}",
            engine.explain(&request)
        ));
    };
    let allowed_origin = headers.allow_origin().map(|value| value.to_string());
    if allowed_origin.as_deref() != Some("https://shop.partner.example") {
        return Err(format!("unexpected Access-Control-Allow-Origin {allowed_origin:?}"));
    }
    for (name, value) in headers.iter() {
        println!("preflight answer: {name}: {value}");
    }

    // An actual request from the listed origin, and one from an origin no group lists.
    let allowed: &[(&str, &str)] = &[("origin", "https://app.example.com")];
    let refused: &[(&str, &str)] = &[("origin", "https://evil.example")];
    for (lines, expected) in [(allowed, Outcome::Allowed), (refused, Outcome::Blocked)] {
        let request = Request::new(b"POST", lines).addressed_to("https", b"api.example.com");
        let outcome = engine.decide(&request).outcome();
        if outcome != expected {
            return Err(format!("expected {expected:?}, got {outcome:?}"));
        }
    }

    // Why the refused origin was blocked, rule by rule.
    let request = Request::new(b"POST", refused).addressed_to("https", b"api.example.com");
    println!("{}", engine.explain(&request));
    Ok(())
}
