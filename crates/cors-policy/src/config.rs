//! The raw `cors-flex` configuration model: the `config:` block as written (C1).
//!
//! These types hold any values, valid or not; [`Policy::from_config`](crate::Policy::from_config)
//! validates them. With the `serde` feature they derive `Serialize` and `Deserialize` with the
//! camelCase key names Flex uses, and refuse unknown keys.

/// The `cors-flex` `config:` block as written. `None` means the key was absent (C1 default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct CorsConfig {
    /// `publicResource`: apply the policy to every origin (default `true`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub public_resource: Option<bool>,
    /// `supportCredentials`: allow cookies and other credentials (default `false`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub support_credentials: Option<bool>,
    /// `originGroups`: the groups of origins (default `[]`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub origin_groups: Option<Vec<OriginGroupConfig>>,
}

/// One entry of `originGroups`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct OriginGroupConfig {
    /// `name`: a label, ignored for matching.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub name: Option<String>,
    /// `origins`: origins and origin patterns (`*`, `null`, `https://*.example.com`).
    pub origins: Vec<String>,
    /// `accessControlMaxAge`: seconds a preflight may be cached (default `30`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub access_control_max_age: Option<u64>,
    /// `allowedMethods` (default: the eight methods of C1, all allowed).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub allowed_methods: Option<Vec<MethodConfig>>,
    /// `headers`: allowed request headers (default `[]`); `*` allows any.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub headers: Option<Vec<String>>,
    /// `exposedHeaders`: response headers scripts may read (default `[]`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub exposed_headers: Option<Vec<String>>,
}

/// One entry of `allowedMethods`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct MethodConfig {
    /// `methodName`, e.g. `GET`.
    pub method_name: String,
    /// `isAllowed`: entries with `false` are dropped (C3).
    pub is_allowed: bool,
}
