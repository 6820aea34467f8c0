//! `cargo xtask bench --check-budgets`: instruction counts against `benches/budgets.toml`, so
//! that a regression fails loudly. Instructions, not time: callgrind's counts do not move with
//! the machine's load, so the check can run in CI on a shared machine.
//!
//! The file has two tables. `[engine]` maps a criterion id to the most instructions one call
//! may take; `[layer]` maps a layer scenario group (`layer-preflight`) to the most instructions
//! our layer may add to a call: `<group>/cors-hyper` minus `<group>/bare-tower`.

use std::fmt::Write as _;
use std::time::Instant;

use super::Options;
use super::micro::count_instructions;
use crate::util::root;

/// The budgets file, relative to the workspace root.
const FILE: &str = "benches/budgets.toml";

/// One budget: what is counted, and the most it may be.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Budget {
    /// A criterion id (`[engine]`) or a layer scenario group (`[layer]`).
    key: String,
    layer: bool,
    most: u64,
}

impl Budget {
    /// The criterion ids whose counts the budget needs.
    fn ids(&self) -> Vec<String> {
        if self.layer {
            vec![format!("{}/cors-hyper", self.key), format!("{}/bare-tower", self.key)]
        } else {
            vec![self.key.clone()]
        }
    }
}

/// The budgets of `text` (the file `FILE`).
fn parse(text: &str) -> Result<Vec<Budget>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{FILE}: {e}"))?;
    let mut budgets = Vec::new();
    for (section, entries) in &table {
        let layer = match section.as_str() {
            "engine" => false,
            "layer" => true,
            other => {
                return Err(format!(
                    "{FILE}: unknown table [{other}]; expected [engine] or [layer]"
                ));
            }
        };
        let entries =
            entries.as_table().ok_or_else(|| format!("{FILE}: [{section}] is not a table"))?;
        for (key, most) in entries {
            let most = most
                .as_integer()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| format!("{FILE}: [{section}] {key}: expected a whole number"))?;
            budgets.push(Budget { key: key.clone(), layer, most });
        }
    }
    if budgets.is_empty() {
        return Err(format!("{FILE}: no budgets"));
    }
    Ok(budgets)
}

/// Counts every budgeted entry and fails when one is over its budget, naming each.
pub(super) fn check() -> Result<(), String> {
    let started = Instant::now();
    let path = root().join(FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let budgets = parse(&text)?;
    let ids: Vec<String> = budgets.iter().flat_map(Budget::ids).collect();
    let counts = count_instructions(&ids, &Options::default())?;
    let count = |id: &str| {
        counts.get(id).copied().ok_or_else(|| format!("callgrind gave no count for {id}"))
    };
    let mut table = String::from("| Budget | Most | Counted | Headroom |\n|---|--:|--:|--:|\n");
    let mut over = Vec::new();
    for budget in &budgets {
        let counted = if budget.layer {
            let [with, bare] = [0, 1].map(|i| count(&budget.ids()[i]));
            with?.saturating_sub(bare?)
        } else {
            count(&budget.key)?
        };
        #[expect(clippy::cast_precision_loss, reason = "counts < 2^52")]
        let headroom = 100.0 * (budget.most as f64 - counted as f64) / budget.most.max(1) as f64;
        let _ =
            writeln!(table, "| {} | {} | {counted} | {headroom:.1} % |", budget.key, budget.most);
        if counted > budget.most {
            over.push(format!("{}: {counted} instructions, budget {}", budget.key, budget.most));
        }
    }
    eprintln!("\n{table}");
    eprintln!(
        "bench: {} budgets checked in {:.0} s ({FILE})",
        budgets.len(),
        started.elapsed().as_secs_f64()
    );
    if over.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "instruction budgets exceeded ({FILE}):\n  {}\nA change that costs more instructions \
             must say why, and raise the budget in the same commit.",
            over.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budgets_file_parses_and_names_known_scenarios() {
        let budgets = parse(include_str!("../../../benches/budgets.toml")).unwrap();
        assert!(budgets.iter().any(|b| !b.layer), "no engine budget");
        assert!(budgets.iter().any(|b| b.layer), "no layer budget");
        for budget in &budgets {
            let group = budget.key.split('/').next().unwrap_or_default();
            assert!(
                group.starts_with(if budget.layer { "layer-" } else { "engine-" }),
                "{budget:?}"
            );
            assert!(budget.layer || budget.key.contains('/'), "{budget:?}");
        }
    }

    #[test]
    fn layer_budgets_count_ours_and_the_bare_handler() {
        let budget = Budget { key: "layer-preflight".into(), layer: true, most: 1 };
        assert_eq!(budget.ids(), ["layer-preflight/cors-hyper", "layer-preflight/bare-tower"]);
    }

    #[test]
    fn a_malformed_budgets_file_is_refused() {
        assert!(parse("[engine]\n\"a/b\" = \"many\"\n").unwrap_err().contains("whole number"));
        assert!(parse("[other]\n").unwrap_err().contains("unknown table"));
        assert!(parse("").unwrap_err().contains("no budgets"));
    }
}
