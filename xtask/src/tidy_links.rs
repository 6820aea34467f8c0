//! The link part of `cargo xtask tidy`: every relative link of the project's Markdown files
//! points at a file or folder that exists, and every `#anchor` at a heading (or an explicit
//! `<a id>`/`<a name>`) of the file it names, as GitHub renders them.
//!
//! Links inside fenced code blocks and inline code are not links; links with a scheme
//! (`https:`, `mailto:`) are not checked, since checking them needs the network.
//! Hand-written rather than a Markdown crate: the rules are the few above, and xtask stays small
//! (the whole check is one pass over each file, with no dependency to keep up to date).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every broken relative link of the Markdown files under `root`, one problem each, as
/// `FILE:LINE: ...`. `files` are the Markdown files to check (the caller walks the tree).
pub(crate) fn link_problems(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut anchors: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut problems = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(file) else { continue };
        let shown = file.strip_prefix(root).unwrap_or(file).display().to_string();
        for (line, target) in links(&text) {
            let (path, fragment) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(root).join(path)
            };
            if !resolved.exists() {
                problems.push(format!("{shown}:{line}: link to {target}: no such file"));
                continue;
            }
            let is_markdown = resolved.extension().is_some_and(|ext| ext == "md");
            if fragment.is_empty() || !is_markdown {
                continue;
            }
            let known = anchors.entry(resolved.clone()).or_insert_with(|| {
                fs::read_to_string(&resolved).map(|text| headings(&text)).unwrap_or_default()
            });
            if !known.iter().any(|anchor| anchor == fragment) {
                problems.push(format!("{shown}:{line}: link to {target}: no such heading"));
            }
        }
    }
    problems
}

/// The lines of `text` outside fenced code blocks, numbered from 1.
fn prose_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut fence: Option<&str> = None;
    text.lines().enumerate().filter_map(move |(index, line)| {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(marker)) => {
                fence = Some(marker);
                None
            }
            (Some(open), Some(marker)) if open == marker => {
                fence = None;
                None
            }
            (Some(_), _) => None,
            (None, None) => Some((index + 1, line)),
        }
    })
}

/// `line` without its inline code spans (a backtick run up to the same run).
fn without_code(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let run = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let after = &rest[start + run..];
        let closing = "`".repeat(run);
        let Some(end) = after.find(&closing) else {
            rest = after;
            break;
        };
        rest = &after[end + run..];
    }
    out.push_str(rest);
    out
}

/// The targets of the inline links (`[text](target)`, `![alt](target "title")`) of `text`
/// without a scheme, each with its line.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or_default();
            let target = target.trim_start_matches('<').trim_end_matches('>');
            let has_scheme = target.split_once(':').is_some_and(|(scheme, _)| {
                !scheme.is_empty()
                    && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            });
            if !target.is_empty() && !has_scheme {
                found.push((number, target.to_owned()));
            }
            rest = &after[end..];
        }
    }
    found
}

/// The anchors GitHub gives the headings of `text` (and its explicit `<a id>`/`<a name>`).
fn headings(text: &str) -> Vec<String> {
    let mut anchors: Vec<String> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, line) in prose_lines(text) {
        for attribute in ["<a id=\"", "<a name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attribute) {
                let value = &rest[at + attribute.len()..];
                let end = value.find('"').unwrap_or(value.len());
                anchors.push(value[..end].to_owned());
                rest = &value[end..];
            }
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        let Some(title) = line[hashes..].strip_prefix(' ') else { continue };
        if !(1..=6).contains(&hashes) {
            continue;
        }
        let slug = slug(title);
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.push(if *count == 0 { slug.clone() } else { format!("{slug}-{count}") });
        *count += 1;
    }
    anchors
}

/// GitHub's anchor for a heading: its text (a link's text for a link, code without its
/// backticks) in lower case, keeping letters, digits, `-` and `_`, each space a `-`.
fn slug(title: &str) -> String {
    let mut text = String::with_capacity(title.len());
    let mut rest = title.trim().trim_end_matches('#').trim_end();
    // `[text](target)` reads as `text`.
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else { break };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else { break };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{headings, links, slug};

    #[test]
    fn headings_become_github_anchors() {
        assert_eq!(slug("Where the layer goes"), "where-the-layer-goes");
        assert_eq!(slug("`cors-gateway serve` flags"), "cors-gateway-serve-flags");
        assert_eq!(slug("What would move the rest (the layer, at the time)"), {
            "what-would-move-the-rest-the-layer-at-the-time"
        });
        assert_eq!(slug("Local Mode folders (`cors-policy` `LocalConfig`)"), {
            "local-mode-folders-cors-policy-localconfig"
        });
        assert_eq!(slug("See [envoy.md](envoy.md) now"), "see-envoymd-now");
        let text =
            "# Title\n## Figures\n```\n# not a heading\n```\n## Figures\n<a id=\"x-1\"></a>\n";
        assert_eq!(headings(text), ["title", "figures", "figures-1", "x-1"]);
    }

    #[test]
    fn links_outside_code_without_a_scheme_are_found() {
        let text = "[a](docs/a.md#b) and `[c](d.md)` and [e](https://x.example) ![f](g.png \"t\")\n\
                    ```\n[h](i.md)\n```\n[j](#k) <mailto:x@y>\n";
        let found = links(text);
        let found: Vec<(usize, &str)> =
            found.iter().map(|(line, target)| (*line, target.as_str())).collect();
        assert_eq!(found, [(1, "docs/a.md#b"), (1, "g.png"), (5, "#k")]);
    }

    #[test]
    fn a_missing_file_and_a_missing_heading_are_problems() {
        let dir = std::env::temp_dir().join(format!("xtask-links-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let doc = dir.join("doc.md");
        let other = dir.join("other.md");
        std::fs::write(&other, "# Other\n## Present\n").unwrap();
        std::fs::write(
            &doc,
            "[ok](other.md#present) [gone](missing.md)\n[bad](other.md#absent) [self](#doc)\n# Doc\n",
        )
        .unwrap();
        let problems = super::link_problems(&dir, &[doc, other]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            problems,
            [
                "doc.md:1: link to missing.md: no such file",
                "doc.md:2: link to other.md#absent: no such heading",
            ]
        );
    }
}
