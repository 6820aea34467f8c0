//! `Engine::explain` must agree with `Engine::decide`: [`EngineTarget`](crate::EngineTarget)
//! checks it on every case it answers, so the reasons users read always describe the decision
//! that was applied.
//!
//! Both run the same procedure (cors-engine writes it once, over a reasons sink); this check
//! keeps that true from the outside, case by case.

use cors_engine::{Decision, Engine, Explanation, Outcome, RequestHeaders, Rule};

use crate::error::TargetError;
use crate::in_process::engine_request;
use crate::target::OutgoingRequest;

/// What a decision says, owned and comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Said {
    outcome: Outcome,
    /// The rule that decided.
    rule: Rule,
    /// The Access-Control-* lines, in the engine's order.
    headers: Vec<(String, Vec<u8>)>,
    /// The `Vary` tokens, joined.
    vary: String,
}

impl Said {
    fn of_decision<H: RequestHeaders + ?Sized>(decision: &Decision<'_, '_, H>) -> Said {
        let headers = decision.headers().map_or_else(Vec::new, |headers| {
            headers
                .iter()
                .map(|(name, value)| {
                    (name.to_string(), value.to_header_value().as_bytes().to_vec())
                })
                .collect()
        });
        Said {
            outcome: decision.outcome(),
            rule: decision.rule(),
            headers,
            vary: decision.vary().to_string(),
        }
    }

    fn of_explanation(explanation: &Explanation) -> Said {
        let headers = explanation
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        Said {
            outcome: explanation.outcome(),
            rule: explanation.rule(),
            headers,
            vary: explanation.vary().to_string(),
        }
    }
}

/// Each part where the explanation says something else than the decision.
fn differences(decided: &Said, explained: &Said) -> Vec<String> {
    let mut found = Vec::new();
    if decided.outcome != explained.outcome {
        found.push(format!(
            "outcome: decide {:?}, explain {:?}",
            decided.outcome, explained.outcome
        ));
    }
    if decided.rule != explained.rule {
        found.push(format!("deciding rule: decide {}, explain {}", decided.rule, explained.rule));
    }
    if decided.headers != explained.headers {
        let show = |headers: &[(String, Vec<u8>)]| {
            headers
                .iter()
                .map(|(name, value)| format!("{name}: {}", value.escape_ascii()))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        found.push(format!(
            "headers: decide [{}], explain [{}]",
            show(&decided.headers),
            show(&explained.headers)
        ));
    }
    if decided.vary != explained.vary {
        found.push(format!("vary: decide {:?}, explain {:?}", decided.vary, explained.vary));
    }
    found
}

/// Decides and explains `request` under `engine`, and fails unless the explanation states the
/// decision's outcome, deciding rule, headers and `Vary`, with at least one reason, each naming
/// its rule, and unless the deciding rule is among the reasons.
///
/// # Errors
///
/// Every disagreement, with the full explanation, as a target error: the runner counts it as a
/// failure that no known-failure entry can excuse.
pub(crate) fn explain_agrees(
    engine: &Engine,
    request: &OutgoingRequest,
) -> Result<(), TargetError> {
    let request = engine_request(request);
    let decided = Said::of_decision(&engine.decide(&request));
    let explanation = engine.explain(&request);
    let mut problems = differences(&decided, &Said::of_explanation(&explanation));
    if explanation.reasons().is_empty() {
        problems.push("explain gives no reason".to_owned());
    }
    if !explanation.reasons().iter().any(|reason| reason.rule() == explanation.rule()) {
        problems.push(format!("no reason names the deciding rule {}", explanation.rule()));
    }
    for reason in explanation.reasons() {
        let text = reason.to_string();
        if !text.starts_with(&format!("{}: ", reason.rule())) {
            problems.push(format!("a reason does not start with its rule: {text:?}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(TargetError::new(format!(
        "Engine::explain disagrees with Engine::decide:\n  {}\nexplanation:\n{explanation}",
        problems.join("\n  ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(outcome: Outcome, headers: &[(&str, &str)], vary: &str) -> Said {
        Said {
            outcome,
            rule: Rule::A1,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            vary: vary.to_owned(),
        }
    }

    #[test]
    fn each_differing_part_is_named() {
        let decided = said(Outcome::Allowed, &[("access-control-allow-origin", "*")], "");
        assert!(differences(&decided, &decided.clone()).is_empty());

        let other = said(Outcome::Blocked, &[("access-control-allow-origin", "*")], "");
        assert_eq!(differences(&decided, &other), ["outcome: decide Allowed, explain Blocked"]);

        let other = said(Outcome::Allowed, &[("access-control-allow-origin", "null")], "Origin");
        let found = differences(&decided, &other);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("headers: "), "{found:?}");
        assert_eq!(found[1], "vary: decide \"\", explain \"Origin\"");

        let other = Said { rule: Rule::A3, ..decided.clone() };
        assert_eq!(differences(&decided, &other), ["deciding rule: decide A1, explain A3"]);
    }
}
