//! [`Explanation`]: a decision with its reasons, each naming the behaviour rule it applies.
//!
//! The decision procedure is written once, generic over a [`Reasons`] sink: [`Silent`] (a
//! zero-sized no-op) for [`Engine::decide`](crate::Engine::decide) and [`Collect`] for
//! [`Engine::explain`](crate::Engine::explain), so both always agree.

use std::fmt;

use http::{HeaderName, HeaderValue};

use crate::{Decision, Outcome, RequestHeaders, Vary};

/// A rule of the project's behaviour rules (`docs/behaviour.md`), as cited by reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[expect(missing_docs, reason = "each variant is the rule id it names")]
pub enum Rule {
    R1,
    R2,
    R3,
    R4,
    R5,
    M1,
    M2,
    M3,
    M4,
    M5,
    P1,
    P2,
    P3,
    P4,
    P5,
    P6,
    A1,
    A2,
    A3,
    A4,
    O1,
    O2,
    O3,
    V1,
}

impl Rule {
    /// Every rule, in the order of docs/behaviour.md: for tables indexed by rule, such as a
    /// metrics counter per rule.
    pub const ALL: [Rule; 24] = [
        Rule::R1,
        Rule::R2,
        Rule::R3,
        Rule::R4,
        Rule::R5,
        Rule::M1,
        Rule::M2,
        Rule::M3,
        Rule::M4,
        Rule::M5,
        Rule::P1,
        Rule::P2,
        Rule::P3,
        Rule::P4,
        Rule::P5,
        Rule::P6,
        Rule::A1,
        Rule::A2,
        Rule::A3,
        Rule::A4,
        Rule::O1,
        Rule::O2,
        Rule::O3,
        Rule::V1,
    ];
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where the decision procedure writes its reasons.
pub(crate) trait Reasons {
    /// Whether reasons are kept; when not, the procedure stops at the first failed check.
    const KEEPS: bool;
    /// Records one reason.
    fn note(&mut self, rule: Rule, message: fmt::Arguments<'_>);
}

/// Keeps nothing: [`Engine::decide`](crate::Engine::decide).
pub(crate) struct Silent;

impl Reasons for Silent {
    const KEEPS: bool = false;

    #[inline(always)]
    fn note(&mut self, _rule: Rule, _message: fmt::Arguments<'_>) {}
}

/// Keeps every reason: [`Engine::explain`](crate::Engine::explain).
#[derive(Default)]
pub(crate) struct Collect(pub(crate) Vec<Reason>);

impl Reasons for Collect {
    const KEEPS: bool = true;

    fn note(&mut self, rule: Rule, message: fmt::Arguments<'_>) {
        self.0.push(Reason { rule, message: message.to_string() });
    }
}

/// One reason of an [`Explanation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    rule: Rule,
    message: String,
}

impl Reason {
    /// The rule applied.
    #[must_use]
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// What was found, without the rule id.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Reason {
    /// `P2: header "x-foo" is not in group "partners" headers [x-token]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// A decision, owned, with the reasons that led to it.
///
/// `Display` prints the decision, the headers it sets (indented), then one reason per line:
///
/// ```text
/// preflight rejected: answer 200 with an empty body and no Access-Control-* header, do not forward
///   vary: Origin
/// R3: OPTIONS with an Origin is a preflight, answered here and never forwarded
/// ...
/// ```
#[derive(Clone, Debug)]
pub struct Explanation {
    outcome: Outcome,
    rule: Rule,
    headers: Vec<(HeaderName, HeaderValue)>,
    vary: Vary,
    reasons: Vec<Reason>,
}

impl Explanation {
    pub(crate) fn new<H: RequestHeaders + ?Sized>(
        decision: &Decision<'_, '_, H>,
        reasons: Vec<Reason>,
    ) -> Explanation {
        let headers = decision
            .headers()
            .map(|h| h.iter().filter_map(|(name, value)| Some((name, value.build()?))).collect())
            .unwrap_or_default();
        Explanation {
            outcome: decision.outcome(),
            rule: decision.rule(),
            headers,
            vary: decision.vary(),
            reasons,
        }
    }

    /// The kind of decision.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The rule that decided, as [`Decision::rule`] gives it.
    #[must_use]
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The Access-Control-* headers the decision sets, in [`ResponseHeaders::iter`] order.
    ///
    /// [`ResponseHeaders::iter`]: crate::ResponseHeaders::iter
    #[must_use]
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The tokens the decision appends to `Vary`.
    #[must_use]
    pub fn vary(&self) -> Vary {
        self.vary
    }

    /// The reasons, in the order the checks ran.
    #[must_use]
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.outcome)?;
        for (name, value) in &self.headers {
            writeln!(f, "  {name}: {}", value.as_bytes().escape_ascii())?;
        }
        if !self.vary.is_empty() {
            writeln!(f, "  vary: {}", self.vary)?;
        }
        for (i, reason) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{reason}")?;
        }
        Ok(())
    }
}

/// Request bytes quoted for a message: escaped, and cut after 96 bytes.
pub(crate) struct Quoted<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 96;
        match self.0.get(..SHOWN) {
            Some(head) if self.0.len() > SHOWN => {
                write!(f, "\"{}\"... ({} bytes)", head.escape_ascii(), self.0.len())
            }
            _ => write!(f, "\"{}\"", self.0.escape_ascii()),
        }
    }
}

/// A list of configured names for a message: `[a, b]`.
pub(crate) struct Listed<'a>(pub(crate) &'a [String]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(item)?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::Rule;

    /// `Rule::ALL` holds every rule once, in the order of docs/behaviour.md. The match has no
    /// wildcard (the enum is non-exhaustive only outside this crate), so adding a rule stops it
    /// compiling until the rule has a place in the list.
    #[test]
    fn rule_all_lists_every_rule_once_in_the_contract_order() {
        fn position(rule: Rule) -> usize {
            match rule {
                Rule::R1 => 0,
                Rule::R2 => 1,
                Rule::R3 => 2,
                Rule::R4 => 3,
                Rule::R5 => 4,
                Rule::M1 => 5,
                Rule::M2 => 6,
                Rule::M3 => 7,
                Rule::M4 => 8,
                Rule::M5 => 9,
                Rule::P1 => 10,
                Rule::P2 => 11,
                Rule::P3 => 12,
                Rule::P4 => 13,
                Rule::P5 => 14,
                Rule::P6 => 15,
                Rule::A1 => 16,
                Rule::A2 => 17,
                Rule::A3 => 18,
                Rule::A4 => 19,
                Rule::O1 => 20,
                Rule::O2 => 21,
                Rule::O3 => 22,
                Rule::V1 => 23,
            }
        }
        for (index, rule) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(position(rule), index, "{rule}");
        }
    }
}
