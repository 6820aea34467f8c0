//! [`Site`]: where in a `cors-flex` `config:` block a value check or a lint found a problem.
//!
//! [`Policy::from_config`](crate::Policy::from_config) and [`Policy::lint`](crate::Policy::lint)
//! see only the raw configuration, not the file it came from.
//! They tag each diagnostic with a typed site; its [`Display`](std::fmt::Display) is the key path
//! users read (`originGroups[1].origins[0]`), and the YAML loader follows it through the tree it
//! walked to the node, and so to the line and column.

use std::fmt;

/// A place in a `config:` block, named by its keys (as written in YAML) and indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Site {
    /// The block itself.
    Config,
    /// A top-level key, e.g. `supportCredentials`.
    Key(&'static str),
    /// `originGroups[group]`.
    Group(usize),
    /// A key of a group, e.g. `originGroups[0].accessControlMaxAge`.
    GroupKey(usize, &'static str),
    /// An entry of a group's list, e.g. `originGroups[0].origins[2]`.
    Entry(usize, &'static str, usize),
    /// A key of an `allowedMethods` entry, e.g. `originGroups[0].allowedMethods[1].methodName`.
    MethodKey(usize, usize, &'static str),
}

impl Site {
    /// The site one level up, or `None` for the whole block.
    #[cfg_attr(
        not(any(feature = "yaml", test)),
        expect(dead_code, reason = "used by the YAML loader")
    )]
    pub(crate) fn parent(self) -> Option<Site> {
        match self {
            Site::Config => None,
            Site::Key(_) => Some(Site::Config),
            Site::Group(_) => Some(Site::Key("originGroups")),
            Site::GroupKey(group, _) => Some(Site::Group(group)),
            Site::Entry(group, key, _) => Some(Site::GroupKey(group, key)),
            Site::MethodKey(group, entry, _) => Some(Site::Entry(group, "allowedMethods", entry)),
        }
    }
}

/// The key path: `originGroups[0].allowedMethods[1].methodName`; empty for the whole block.
impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Site::Config => Ok(()),
            Site::Key(key) => f.write_str(key),
            Site::Group(group) => write!(f, "originGroups[{group}]"),
            Site::GroupKey(group, key) => write!(f, "originGroups[{group}].{key}"),
            Site::Entry(group, key, entry) => write!(f, "originGroups[{group}].{key}[{entry}]"),
            Site::MethodKey(group, entry, key) => {
                write!(f, "originGroups[{group}].allowedMethods[{entry}].{key}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_key_path_and_parents_climb_it() {
        let mut site = Some(Site::MethodKey(1, 2, "methodName"));
        let mut paths = Vec::new();
        while let Some(s) = site {
            paths.push(s.to_string());
            site = s.parent();
        }
        assert_eq!(
            paths,
            [
                "originGroups[1].allowedMethods[2].methodName",
                "originGroups[1].allowedMethods[2]",
                "originGroups[1].allowedMethods",
                "originGroups[1]",
                "originGroups",
                "",
            ]
        );
    }
}
