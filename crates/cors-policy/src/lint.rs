//! The C5 lint pass: risky but valid configurations, reported as warnings, never refused.
//!
//! Lints never change behaviour: a max-age of 100000 is still sent as 100000.

use std::collections::HashMap;

use cors_origin::{OriginPattern, Quoted};

use crate::diagnostic::{Code, Diagnostic};
use crate::policy::{Group, Policy};
use crate::site::Site;
use crate::token::is_forbidden_method;

/// A small, partial list of public suffixes (<https://publicsuffix.org/>): the top-level domains
/// and shared hosting domains most often met in CORS configurations. A wildcard directly under
/// one of these (`https://*.github.io`) lets unrelated parties' sites in. Suffixes not listed
/// here are not linted.
pub const PUBLIC_SUFFIXES: &[&str] = &[
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "mil",
    "int",
    "io",
    "co",
    "dev",
    "app",
    "ai",
    "info",
    "biz",
    "me",
    "us",
    "uk",
    "de",
    "fr",
    "eu",
    "nl",
    "es",
    "it",
    "ru",
    "cn",
    "jp",
    "br",
    "in",
    "au",
    "ca",
    "ch",
    "se",
    "no",
    "xyz",
    "online",
    "site",
    "cloud",
    "page",
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "com.au",
    "net.au",
    "co.jp",
    "com.br",
    "co.in",
    "co.nz",
    "github.io",
    "gitlab.io",
    "herokuapp.com",
    "vercel.app",
    "netlify.app",
    "pages.dev",
    "workers.dev",
    "web.app",
    "firebaseapp.com",
    "appspot.com",
    "azurewebsites.net",
    "cloudfront.net",
    "amazonaws.com",
    "s3.amazonaws.com",
    "blogspot.com",
    "glitch.me",
    "onrender.com",
    "fly.dev",
    "ngrok.io",
    "ngrok-free.app",
];

/// Whether `domain` is in the built-in partial [`PUBLIC_SUFFIXES`] list (ASCII case ignored).
#[must_use]
pub fn is_public_suffix(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    PUBLIC_SUFFIXES.iter().any(|suffix| suffix.eq_ignore_ascii_case(domain))
}

/// Loopback hosts are potentially trustworthy (Secure Contexts), so `http://` there is not linted:
/// `localhost` names and the IP literals of 127.0.0.0/8 and `[::1]`, not a domain that starts
/// like one (`127.0.0.1.example.com` is whatever its DNS says).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|address| address.is_loopback())
        || host == "[::1]"
}

fn scheme_and_host(pattern: &OriginPattern) -> Option<(&str, &str)> {
    match pattern {
        OriginPattern::Exact(origin) => Some((origin.scheme(), origin.host())),
        OriginPattern::Subdomains(sub) => Some((sub.scheme(), sub.domain())),
        _ => None,
    }
}

impl Policy {
    /// The C5 lint pass: warnings about risky but valid settings, with key paths, without file
    /// positions (the YAML loaders add those).
    #[must_use]
    pub fn lint(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let credentials = self.supports_credentials();
        if self.is_public_resource() {
            if credentials {
                out.push(
                    Diagnostic::in_config(
                        Code::PublicWithCredentials,
                        Site::Key("supportCredentials"),
                        "a public resource with credentials echoes every origin, so any site can \
                         read credentialed responses",
                    )
                    .with_hint("set publicResource: false and list the trusted origins"),
                );
            }
            if !self.groups().is_empty() {
                out.push(
                    Diagnostic::in_config(
                        Code::GroupsIgnored,
                        Site::Key("originGroups"),
                        "originGroups are ignored while publicResource is true",
                    )
                    .with_hint("set publicResource: false to use the groups"),
                );
            }
            // Groups are ignored (M2), so warnings about their contents would be noise.
            return out;
        }
        // Each pattern's first place: (group index, origin index).
        let mut seen: HashMap<&OriginPattern, (usize, usize)> = HashMap::new();
        for group in self.groups() {
            lint_group(group, credentials, &mut seen, &mut out);
        }
        out
    }
}

/// C4: an origin written with a trailing `/`, which is tolerated and removed.
fn lint_trailing_slash(pattern: &OriginPattern, site: Site, out: &mut Vec<Diagnostic>) {
    out.push(
        Diagnostic::in_config(
            Code::OriginTrailingSlash,
            site,
            format!("origin {} written with a trailing \"/\"", Quoted(&format!("{pattern}/"))),
        )
        .with_hint(format!("write {}, as browsers send it", Quoted(&pattern.to_string()))),
    );
}

/// An origin listed before, at `origins[j]` of group `g`, seen again in group `group`.
fn lint_repeated_origin(
    pattern: &OriginPattern,
    site: Site,
    (group, g, j): (usize, usize, usize),
    out: &mut Vec<Diagnostic>,
) {
    let shown = pattern.to_string();
    if g == group {
        out.push(Diagnostic::in_config(
            Code::DuplicateOrigin,
            site,
            format!("origin {} is already listed at origins[{j}]", Quoted(&shown)),
        ));
    } else {
        out.push(
            Diagnostic::in_config(
                Code::OriginInTwoGroups,
                site,
                format!(
                    "origin {} is also listed in originGroups[{g}], which wins",
                    Quoted(&shown)
                ),
            )
            .with_hint("list each origin in one group only"),
        );
    }
}

fn lint_group<'p>(
    group: &'p Group,
    credentials: bool,
    seen: &mut HashMap<&'p OriginPattern, (usize, usize)>,
    out: &mut Vec<Diagnostic>,
) {
    let index = group.index();
    if group.origins().is_empty() {
        out.push(
            Diagnostic::in_config(
                Code::NoOriginListed,
                Site::GroupKey(index, "origins"),
                "the group lists no origin, so it applies to no request",
            )
            .with_hint("list the origins the group is for, or remove the group"),
        );
    }
    for (i, pattern) in group.origins().iter().enumerate() {
        let site = Site::Entry(index, "origins", i);
        if group.trailing_slash().contains(&i) {
            lint_trailing_slash(pattern, site, out);
        }
        if let Some(&(g, j)) = seen.get(pattern) {
            lint_repeated_origin(pattern, site, (index, g, j), out);
        } else {
            seen.insert(pattern, (group.index(), i));
        }
        if credentials {
            lint_credentialed_origin(pattern, site, out);
        }
        lint_extension_case(pattern, site, out);
        if let OriginPattern::Subdomains(sub) = pattern
            && is_public_suffix(sub.domain())
        {
            out.push(
                Diagnostic::in_config(
                    Code::PublicSuffixWildcard,
                    site,
                    format!(
                        "origin pattern {} matches every site under the public suffix {}",
                        Quoted(&pattern.to_string()),
                        Quoted(sub.domain())
                    ),
                )
                .with_hint("name your own domain, e.g. \"https://*.example.com\""),
            );
        }
    }
    lint_methods(group, out);
    let max_age = Site::GroupKey(index, "accessControlMaxAge");
    if group.max_age() > 86_400 {
        out.push(Diagnostic::in_config(
            Code::MaxAgeAboveFirefoxCap,
            max_age,
            format!(
                "max-age {} is above 86400 seconds (24 hours); Firefox caps it there and \
                 Chromium at 7200",
                group.max_age()
            ),
        ));
    } else if group.max_age() > 7_200 {
        out.push(Diagnostic::in_config(
            Code::MaxAgeAboveChromiumCap,
            max_age,
            format!(
                "max-age {} is above 7200 seconds (2 hours); Chromium caps it there",
                group.max_age()
            ),
        ));
    }
    if credentials && let Some(i) = group.exposed_headers().iter().position(|h| h == "*") {
        out.push(
            Diagnostic::in_config(
                Code::ExposeAnyWithCredentials,
                Site::Entry(index, "exposedHeaders", i),
                "\"*\" in exposedHeaders with credentials exposes only a header named \"*\"",
            )
            .with_hint("list the header names to expose"),
        );
    }
}

/// The extension schemes whose browser always sends the host in one case, which their
/// origins keep as written (C4: a non-special scheme's host is opaque): Chromium's extension
/// ids are 32 letters `a` to `p`, Firefox's per-install UUIDs are lower case, Safari's are
/// upper case (its extension URLs read `safari-web-extension://140BB581-A2C0-...`).
const EXTENSION_CASES: &[(&str, &str, bool)] = &[
    ("chrome-extension", "Chromium", false),
    ("moz-extension", "Firefox", false),
    ("safari-web-extension", "Safari", true),
];

/// An extension origin with a letter in the case its browser never sends matches no request.
fn lint_extension_case(pattern: &OriginPattern, site: Site, out: &mut Vec<Diagnostic>) {
    let Some((scheme, host)) = scheme_and_host(pattern) else { return };
    let Some(&(_, browser, upper)) = EXTENSION_CASES.iter().find(|(s, _, _)| *s == scheme) else {
        return;
    };
    let (wrong, case, fixed) = if upper {
        (host.bytes().any(|b| b.is_ascii_lowercase()), "upper", host.to_ascii_uppercase())
    } else {
        (host.bytes().any(|b| b.is_ascii_uppercase()), "lower", host.to_ascii_lowercase())
    };
    if wrong {
        let written = pattern.to_string();
        // The host after `://` (and `*.`), not a run of the scheme's letters that spells it.
        let (scheme_part, rest) = written.split_at(scheme.len() + 3);
        let suggested = format!("{scheme_part}{}", rest.replacen(host, &fixed, 1));
        out.push(
            Diagnostic::in_config(
                Code::ExtensionOriginCase,
                site,
                format!(
                    "origin {}: {browser} sends its extensions' hosts in {case} case, and this \
                     host is compared as written, so it matches no request",
                    Quoted(&written)
                ),
            )
            .with_hint(format!("write {}", Quoted(&suggested))),
        );
    }
}

fn lint_credentialed_origin(pattern: &OriginPattern, site: Site, out: &mut Vec<Diagnostic>) {
    match pattern {
        OriginPattern::Any => out.push(
            Diagnostic::in_config(
                Code::AnyOriginWithCredentials,
                site,
                "origin \"*\" with credentials lets any site read credentialed responses",
            )
            .with_hint("list the trusted origins instead"),
        ),
        OriginPattern::Null => out.push(
            Diagnostic::in_config(
                Code::NullOriginWithCredentials,
                site,
                "origin \"null\" with credentials lets sandboxed and file: pages of any site read \
                 credentialed responses",
            )
            .with_hint("remove \"null\""),
        ),
        _ => {
            if let Some(("http", host)) = scheme_and_host(pattern)
                && !is_loopback(host)
            {
                out.push(
                    Diagnostic::in_config(
                        Code::InsecureOriginWithCredentials,
                        site,
                        format!(
                            "origin \"{pattern}\" uses http:// with credentials, so a network \
                             attacker can read credentialed responses"
                        ),
                    )
                    .with_hint("use https://"),
                );
            }
        }
    }
}

fn lint_methods(group: &Group, out: &mut Vec<Diagnostic>) {
    let index = group.index();
    if group.methods().is_empty() {
        out.push(
            Diagnostic::in_config(
                Code::NoMethodAllowed,
                Site::GroupKey(index, "allowedMethods"),
                "the group allows no method",
            )
            .with_hint("list allowed methods with isAllowed: true, or remove the group"),
        );
    }
    for (method, source) in group.methods().iter().zip(group.method_sources()) {
        let site = Site::MethodKey(index, *source, "methodName");
        if method.bytes().any(|b| b.is_ascii_lowercase()) {
            let upper = method.to_ascii_uppercase();
            out.push(
                Diagnostic::in_config(
                    Code::MethodCase,
                    site,
                    format!(
                        "method {} is matched byte-exactly; browsers send it only when a page \
                         writes it so, and send {} otherwise",
                        Quoted(method),
                        Quoted(&upper)
                    ),
                )
                .with_hint(format!("write {}", Quoted(&upper))),
            );
        }
        // C5: only when written explicitly; the C1 defaults include CONNECT and TRACE.
        if !group.has_default_methods() && is_forbidden_method(method) {
            out.push(
                Diagnostic::in_config(
                    Code::ForbiddenMethod,
                    site,
                    format!(
                        "method {} is forbidden by Fetch; browsers never send it",
                        Quoted(method)
                    ),
                )
                .with_hint("remove it, or set isAllowed: false"),
            );
        }
    }
}
