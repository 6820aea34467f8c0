//! Profiles: the `cors-flex` policies the cases run under, kept as YAML files in `profiles/`.
//!
//! Each file is a Flex Gateway Local Mode policy list item (`policyRef` + `config`), so the same
//! file can be pasted under `spec.policies` of a Flex `ApiInstance`, loaded by `cors-policy`, or
//! translated by hand for another gateway.

/// A compiled-in profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// The profile name (the file stem).
    pub name: &'static str,
    /// The file's YAML text.
    pub yaml: &'static str,
}

macro_rules! profiles {
    ($($name:literal),* $(,)?) => {
        /// Every compiled-in profile, in alphabetical order.
        pub const PROFILES: &[Profile] = &[
            $(Profile { name: $name, yaml: include_str!(concat!("../profiles/", $name, ".yaml")) },)*
        ];
    };
}

profiles!(
    "closed",
    "default-methods",
    "groups",
    "lowercase-methods",
    "no-methods",
    "public",
    "public-credentials",
    "strict",
    "strict-credentials",
    "subdomains",
    "wildcard-credentials",
    "wildcard-headers",
    "wildcard-origin",
);

/// The profile with this name.
#[must_use]
pub fn get(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|profile| profile.name == name)
}

/// The names of every compiled-in profile, in alphabetical order.
#[must_use]
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|profile| profile.name).collect()
}

/// The first comment block of a profile file: what the profile is for.
#[must_use]
pub fn summary(profile: &Profile) -> String {
    profile
        .yaml
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| line.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ")
}
