//! The Rust peers' configurations: exactly what `cors-conformance export --to tower-http` and
//! `--to actix` write for each built-in profile, committed under `src/exported/` and compiled
//! here, so that the matrix runs the code users are given.
//!
//! A test fails when a file differs from what the export writes now;
//! `UPDATE_EXPORTS=1 cargo test -p cors-peers exported` rewrites them.

use ::tower_http::cors::CorsLayer;
use actix_cors::Cors;

macro_rules! exported {
    ($($module:ident: $profile:literal, $file:literal;)*) => {
        /// tower-http's exports, one module per profile.
        pub mod tower_http {
            $(
                #[doc = concat!("The tower-http export of `", $profile, "`.")]
                #[path = $file]
                pub mod $module;
            )*
        }

        /// actix-cors's exports, one module per profile.
        pub mod actix {
            $(
                #[doc = concat!("The actix-cors export of `", $profile, "`.")]
                #[path = $file]
                pub mod $module;
            )*
        }

        /// The `CorsLayer` the tower-http export of `profile` builds.
        #[must_use]
        pub fn tower_http_layer(profile: &str) -> Option<CorsLayer> {
            match profile {
                $($profile => Some(tower_http::$module::cors_layer()),)*
                _ => None,
            }
        }

        /// The function the actix-cors export of `profile` defines.
        #[must_use]
        pub fn actix_cors(profile: &str) -> Option<fn() -> Cors> {
            match profile {
                $($profile => Some(actix::$module::cors as fn() -> Cors),)*
                _ => None,
            }
        }

        /// `(profile, file name)` of every export.
        #[cfg(test)]
        const FILES: &[(&str, &str)] = &[$(($profile, $file)),*];
    };
}

exported! {
    closed: "closed", "closed.rs";
    default_methods: "default-methods", "default-methods.rs";
    groups: "groups", "groups.rs";
    lowercase_methods: "lowercase-methods", "lowercase-methods.rs";
    no_methods: "no-methods", "no-methods.rs";
    public: "public", "public.rs";
    public_credentials: "public-credentials", "public-credentials.rs";
    strict: "strict", "strict.rs";
    strict_credentials: "strict-credentials", "strict-credentials.rs";
    subdomains: "subdomains", "subdomains.rs";
    wildcard_credentials: "wildcard-credentials", "wildcard-credentials.rs";
    wildcard_headers: "wildcard-headers", "wildcard-headers.rs";
    wildcard_origin: "wildcard-origin", "wildcard-origin.rs";
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cors_conformance::peer::{Endpoints, Peer, Subject};

    use super::FILES;

    #[test]
    fn every_profile_has_an_export() {
        let mut profiles: Vec<&str> = FILES.iter().map(|(profile, _)| *profile).collect();
        profiles.sort_unstable();
        assert_eq!(profiles, cors_conformance::profile::names());
    }

    #[test]
    fn the_committed_exports_are_what_the_export_writes() {
        let update = std::env::var_os("UPDATE_EXPORTS").is_some();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("exported");
        let mut stale = Vec::new();
        for (peer, dir) in [(Peer::TowerHttp, "tower_http"), (Peer::Actix, "actix")] {
            for (profile, file) in FILES {
                let subject = Subject::load(profile).unwrap();
                let text = peer.export(&subject, &Endpoints::default()).unwrap();
                let path = root.join(dir).join(file);
                if update {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, &text).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    stale.push(path.display().to_string());
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale exports (run UPDATE_EXPORTS=1 cargo test -p cors-peers exported): {stale:?}"
        );
    }
}
