//! The command line the iteration harnesses share (cors-engine's `hotpath` and cors-hyper's
//! `layer_cost` examples, which callgrind counts): `[NAME | all | list] [ITERATIONS]`.

use std::io::Write;
use std::time::Duration;

/// What a harness's command line asked for.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection<'s, T> {
    /// `list`: the scenario names were printed, one a line; nothing is to run.
    Listed,
    /// The named scenario, or every one for `all`, each run `iterations` times.
    Run {
        /// The scenarios, in their order.
        scenarios: Vec<&'s T>,
        /// How many times each runs.
        iterations: u64,
    },
}

/// Reads the process's arguments as [`select_from`] does, printing to stdout.
///
/// # Errors
///
/// As [`select_from`].
pub fn select<T>(
    scenarios: &[T],
    name: impl Fn(&T) -> &str,
    default_iterations: u64,
) -> Result<Selection<'_, T>, String> {
    let args = std::env::args().skip(1);
    select_from(args, scenarios, name, default_iterations, &mut std::io::stdout().lock())
}

/// Reads `[NAME | all | list] [ITERATIONS]` from `args` (the program name left out): `list`,
/// the default, writes the name of each of `scenarios` to `out`, one a line; a name or `all`
/// selects scenarios to run `ITERATIONS` times (`default_iterations` when absent).
///
/// # Errors
///
/// `ITERATIONS` is not a number, no scenario has the name, or `out` fails.
pub fn select_from<'s, T>(
    mut args: impl Iterator<Item = String>,
    scenarios: &'s [T],
    name: impl Fn(&T) -> &str,
    default_iterations: u64,
    out: &mut impl Write,
) -> Result<Selection<'s, T>, String> {
    let which = args.next().unwrap_or_else(|| "list".to_owned());
    let iterations = match args.next() {
        Some(text) => {
            text.parse().map_err(|_| format!("the iteration count {text:?} is not a number"))?
        }
        None => default_iterations,
    };
    if which == "list" {
        for scenario in scenarios {
            writeln!(out, "{}", name(scenario)).map_err(|e| format!("writing the names: {e}"))?;
        }
        return Ok(Selection::Listed);
    }
    let selected: Vec<&T> =
        scenarios.iter().filter(|s| which == "all" || name(s) == which).collect();
    if selected.is_empty() {
        return Err(format!("unknown scenario {which:?}; try `list`"));
    }
    Ok(Selection::Run { scenarios: selected, iterations })
}

/// Nanoseconds per iteration of a loop that ran `iterations` times in `elapsed`; `0.0` when it
/// never ran.
#[must_use]
pub fn nanos_per(elapsed: Duration, iterations: u64) -> f64 {
    if iterations == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "a report, not a computation")]
    let per = elapsed.as_nanos() as f64 / iterations as f64;
    per
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["a", "b", "c"];

    fn check(args: &[&str]) -> (Result<Selection<'static, &'static str>, String>, String) {
        let mut out = Vec::new();
        let args = args.iter().map(|&arg| arg.to_owned());
        let selection = select_from(args, &NAMES, |name| name, 7, &mut out);
        (selection, String::from_utf8(out).unwrap())
    }

    #[test]
    fn no_argument_lists_the_names() {
        assert_eq!(check(&[]), (Ok(Selection::Listed), "a\nb\nc\n".to_owned()));
    }

    #[test]
    fn a_name_selects_one_scenario_with_the_default_count() {
        let expected = Selection::Run { scenarios: vec![&NAMES[1]], iterations: 7 };
        assert_eq!(check(&["b"]), (Ok(expected), String::new()));
    }

    #[test]
    fn all_selects_every_scenario_with_the_given_count() {
        let expected = Selection::Run { scenarios: NAMES.iter().collect(), iterations: 20 };
        assert_eq!(check(&["all", "20"]).0, Ok(expected));
    }

    #[test]
    fn an_unknown_name_or_a_bad_count_is_an_error() {
        assert_eq!(check(&["z"]).0, Err("unknown scenario \"z\"; try `list`".to_owned()));
        let error = check(&["a", "ten"]).0.unwrap_err();
        assert!(error.contains("\"ten\" is not a number"), "{error}");
    }

    #[test]
    fn nanos_per_divides_and_a_loop_that_never_ran_costs_nothing() {
        assert!((nanos_per(Duration::from_nanos(300), 100) - 3.0).abs() < f64::EPSILON);
        assert!(nanos_per(Duration::from_secs(1), 0).abs() < f64::EPSILON);
    }
}
