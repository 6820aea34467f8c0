//! The filter's counters: one per decision and rule that decided, as cors-gateway counts them.
//!
//! proxy-wasm metrics have a name and no labels. Each counter is named
//! `cors_requests_total.decision.<decision>.rule.<rule>`; Envoy files it as
//! `wasmcustom.cors_requests_total.decision.<decision>.rule.<rule>` (`/stats`), and the
//! `stats_tags` rules of the bootstrap (`crates/cors-proxy-wasm/envoy/cors.yaml`) turn the two
//! parts into tags, so that `/stats/prometheus` shows
//! `cors_requests_total{decision="<decision>",rule="<rule>"}`, the name and labels of
//! cors-gateway's `/metrics`. `docs/envoy.md` has the mapping, and what Envoy shows without the
//! rules.
//!
//! As on cors-gateway, a pair appears once it has occurred: a Wasm VM defines a pair's counter
//! (one host call) the first time one of its requests is decided so, and keeps the id; every
//! request is then one increment.

use std::cell::RefCell;

use cors_engine::{Outcome, Rule};

/// The counter family, as Prometheus names it.
pub(crate) const REQUESTS_TOTAL: &str = "cors_requests_total";

/// The proxy-wasm metric name of the counter of `outcome` decided by `rule`.
pub(crate) fn metric_name(outcome: Outcome, rule: Rule) -> String {
    format!("{REQUESTS_TOTAL}.decision.{}.rule.{rule}", outcome.as_str())
}

/// A decision and the rule that decided it.
type Pair = (Outcome, Rule);

/// The counters one Wasm VM has defined, by decision and rule, with the host's ids (`None`
/// when the host refused the name: that pair is not counted, and not asked for again).
///
/// A vector, not a map: a policy meets a handful of pairs, found in a few comparisons.
#[derive(Debug, Default)]
pub(crate) struct Counters(RefCell<Vec<(Pair, Option<u32>)>>);

impl Counters {
    /// The id of the counter of `outcome` decided by `rule`, defined through `define`
    /// (proxy-wasm's `define_metric`) the first time the pair is asked for.
    pub(crate) fn id<E>(
        &self,
        outcome: Outcome,
        rule: Rule,
        define: impl FnOnce(&str) -> Result<u32, E>,
    ) -> Option<u32> {
        let key = (outcome, rule);
        if let Some((_, id)) = self.0.borrow().iter().find(|(known, _)| *known == key) {
            return *id;
        }
        let id = define(&metric_name(outcome, rule)).ok();
        self.0.borrow_mut().push((key, id));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::r1_not_cors(
        Outcome::NotCors,
        Rule::R1,
        "cors_requests_total.decision.not-cors.rule.R1"
    )]
    #[case::p1_preflight_accepted(
        Outcome::PreflightAccepted,
        Rule::P1,
        "cors_requests_total.decision.preflight-accepted.rule.P1"
    )]
    #[case::p3_preflight_rejected(
        Outcome::PreflightRejected,
        Rule::P3,
        "cors_requests_total.decision.preflight-rejected.rule.P3"
    )]
    #[case::a1_actual_allowed(
        Outcome::Allowed,
        Rule::A1,
        "cors_requests_total.decision.actual-allowed.rule.A1"
    )]
    #[case::m3_actual_blocked(
        Outcome::Blocked,
        Rule::M3,
        "cors_requests_total.decision.actual-blocked.rule.M3"
    )]
    fn each_decision_and_rule_has_its_own_counter(
        #[case] outcome: Outcome,
        #[case] rule: Rule,
        #[case] name: &str,
    ) {
        assert_eq!(metric_name(outcome, rule), name);
    }

    #[test]
    fn a_pair_is_defined_once_and_its_id_kept() {
        let counters = Counters::default();
        let mut defined = Vec::new();
        let mut define = |name: &str| {
            defined.push(name.to_owned());
            u32::try_from(defined.len())
        };
        assert_eq!(counters.id(Outcome::Allowed, Rule::A1, &mut define), Some(1));
        assert_eq!(counters.id(Outcome::Blocked, Rule::M3, &mut define), Some(2));
        assert_eq!(counters.id(Outcome::Allowed, Rule::A1, &mut define), Some(1));
        assert_eq!(defined.len(), 2, "{defined:?}");
    }

    #[test]
    fn a_counter_the_host_refuses_is_left_out_and_not_asked_for_again() {
        let counters = Counters::default();
        let mut asked = 0;
        for _ in 0..3 {
            let id = counters.id(Outcome::NotCors, Rule::R1, |_| {
                asked += 1;
                Err(())
            });
            assert_eq!(id, None);
        }
        assert_eq!(asked, 1);
    }
}
