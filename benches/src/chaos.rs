//! The fixtures of `cargo xtask soak --chaos`, shared by `chaos-upstream` (which misbehaves as a
//! request's path asks) and `chaos-traffic` (which asks, and checks what the gateway made of
//! it): the paths, what each promises the client, and the gateway limits the run uses.

use std::time::Duration;

/// The gateway flags of the chaos soak: small limits, so that they are hit all the time.
/// `cargo xtask soak --chaos` asks `chaos-traffic --gateway-flags` for them, so that the timings
/// the upstream and the clients count on have this one home.
pub const GATEWAY_FLAGS: &[&str] = &[
    "--workers",
    "2",
    "--upstream-max-connections",
    "4",
    "--upstream-timeout",
    "1s",
    "--upstream-read-timeout",
    "1s",
    "--upstream-queue-timeout",
    "3s",
    "--upstream-idle-timeout",
    "2s",
    "--header-read-timeout",
    "2s",
    "--body-read-timeout",
    "2s",
    "--send-timeout",
    "2s",
    "--tunnel-idle-timeout",
    "2s",
];

/// `--upstream-max-connections` of [`GATEWAY_FLAGS`].
pub const UPSTREAM_MAX_CONNECTIONS: usize = 4;
/// `--upstream-timeout` of [`GATEWAY_FLAGS`].
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(1);
/// `--upstream-read-timeout` of [`GATEWAY_FLAGS`].
pub const UPSTREAM_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// `--upstream-queue-timeout` of [`GATEWAY_FLAGS`].
pub const UPSTREAM_QUEUE_TIMEOUT: Duration = Duration::from_secs(3);
/// `--upstream-idle-timeout` of [`GATEWAY_FLAGS`].
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How late [`Path::Late`]'s head comes: past [`UPSTREAM_TIMEOUT`].
pub const LATE_BY: Duration = Duration::from_secs(2);
/// [`Path::Stall`]'s trickle: this many pieces of [`TRICKLE_PIECE`] bytes, one every
/// [`TRICKLE_EVERY`] (well within [`UPSTREAM_READ_TIMEOUT`]), then a stall of [`STALL_FOR`]
/// (well past it).
pub const TRICKLE_PIECES: usize = 4;
/// The bytes of each piece of [`Path::Stall`]'s trickle.
pub const TRICKLE_PIECE: usize = 100;
/// The pause between two pieces of [`Path::Stall`]'s trickle.
pub const TRICKLE_EVERY: Duration = Duration::from_millis(200);
/// How long [`Path::Stall`] stalls after its trickle.
pub const STALL_FOR: Duration = Duration::from_secs(3);
/// How long [`Path::Stale`] keeps its connection open for a next request: past the 100 ms a
/// pooled connection must have waited for a request closed under it to be resent.
pub const STALE_AFTER: Duration = Duration::from_millis(150);
/// The body of [`Path::Normal`] and the other complete answers.
pub const NORMAL_BODY: &[u8] = b"chaos: ok\n";
/// The size of [`Path::Big`]'s body, which the slow readers take their time over.
pub const BIG_BODY: usize = 256 * 1024;
/// The `Content-Length` [`Path::Head`] declares (and does not send).
pub const HEAD_LENGTH: usize = 1234;
/// The protocol of [`Path::Upgrade`]'s tunnel: an echo.
pub const UPGRADE_PROTOCOL: &str = "chaos-echo";

/// What the upstream does, chosen by the request's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::exhaustive_enums,
    reason = "the soak's binaries match on every variant: a new one must be handled there"
)]
pub enum Path {
    /// `200` with [`NORMAL_BODY`], the connection kept alive.
    Normal,
    /// The same, [`LATE_BY`] late: the gateway answers `504` first.
    Late,
    /// A reset (`SO_LINGER` 0, then close) before any byte of a head: `502`.
    Reset,
    /// A `200` head announcing 64 KiB, 1 000 bytes of them, then a reset: the client sees the
    /// head, then a cut.
    Cut,
    /// A `200` head, a trickle, then a stall past `--upstream-read-timeout`: the head, then a
    /// cut.
    Stall,
    /// A chunked `200` with one good chunk, then a broken chunk-size line: the head, then a cut.
    Chunked,
    /// `200` with [`NORMAL_BODY`], kept alive by its fields, and then the connection closed
    /// unless a request comes within [`STALE_AFTER`]: an upstream whose keep-alive timeout is
    /// shorter than the gateway's `--upstream-idle-timeout`, which closes connections the
    /// gateway keeps in its pool; a request sent just as it closes one must be sent again on a
    /// new connection and get its right answer (docs/operations.md, "A pooled connection closed
    /// under a request").
    Stale,
    /// A `103 Early Hints`, then the normal `200`.
    Informational,
    /// For `HEAD`: a `200` head declaring [`HEAD_LENGTH`] bytes, and no body.
    Head,
    /// `200` with [`BIG_BODY`] bytes.
    Big,
    /// `101` to [`UPGRADE_PROTOCOL`], then an echo of every byte until the client closes.
    Upgrade,
}

impl Path {
    /// Every path the checked clients cycle through (the slow readers take [`Path::Big`], the
    /// upgrade clients [`Path::Upgrade`]).
    pub const CYCLE: [Self; 9] = [
        Self::Normal,
        Self::Late,
        Self::Reset,
        Self::Cut,
        Self::Stall,
        Self::Chunked,
        Self::Stale,
        Self::Informational,
        Self::Head,
    ];

    /// Every path: the cycle's, and the two for their own clients.
    fn all() -> impl Iterator<Item = Self> {
        Self::CYCLE.into_iter().chain([Self::Big, Self::Upgrade])
    }

    /// The request target that asks for this behaviour.
    #[must_use]
    pub fn target(self) -> &'static str {
        match self {
            Self::Normal => "/chaos/normal",
            Self::Late => "/chaos/late",
            Self::Reset => "/chaos/reset",
            Self::Cut => "/chaos/cut",
            Self::Stall => "/chaos/stall",
            Self::Chunked => "/chaos/chunked",
            Self::Stale => "/chaos/stale",
            Self::Informational => "/chaos/informational",
            Self::Head => "/chaos/head",
            Self::Big => "/chaos/big",
            Self::Upgrade => "/chaos/upgrade",
        }
    }

    /// The behaviour a request target asks for; anything else is [`Path::Normal`].
    #[must_use]
    pub fn of_target(target: &str) -> Self {
        let path = target.split('?').next().unwrap_or(target);
        Self::all().find(|p| p.target() == path).unwrap_or(Self::Normal)
    }

    /// The method the clients use for it.
    #[must_use]
    pub fn method(self) -> http::Method {
        if self == Self::Head { http::Method::HEAD } else { http::Method::GET }
    }

    /// What the gateway must make of it, for a request the policy lets through.
    #[must_use]
    pub fn promise(self) -> Promise {
        match self {
            Self::Normal | Self::Stale | Self::Informational => Promise::Body(NORMAL_BODY.len()),
            Self::Big => Promise::Body(BIG_BODY),
            Self::Head => Promise::Body(0),
            Self::Late => Promise::Status(http::StatusCode::GATEWAY_TIMEOUT),
            Self::Reset => Promise::Status(http::StatusCode::BAD_GATEWAY),
            Self::Cut | Self::Stall | Self::Chunked => Promise::Cut,
            Self::Upgrade => Promise::Status(http::StatusCode::SWITCHING_PROTOCOLS),
        }
    }
}

/// What a client must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::exhaustive_enums,
    reason = "the soak's binaries match on every variant: a new one must be handled there"
)]
pub enum Promise {
    /// `200` and a complete body of this many bytes.
    Body(usize),
    /// This status (the gateway's own answer), its body complete.
    Status(http::StatusCode),
    /// A `200` head, then the response cut before its end (HTTP/1.1: the connection closed;
    /// HTTP/2: the stream reset).
    Cut,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_found_by_its_target() {
        for path in Path::all() {
            assert_eq!(Path::of_target(path.target()), path);
            assert_eq!(Path::of_target(&format!("{}?x=1", path.target())), path);
        }
        assert_eq!(Path::of_target("/elsewhere"), Path::Normal);
    }

    #[test]
    fn the_timings_straddle_the_gateway_timeouts() {
        assert!(LATE_BY > UPSTREAM_TIMEOUT);
        assert!(TRICKLE_EVERY < UPSTREAM_READ_TIMEOUT);
        assert!(STALL_FOR > UPSTREAM_READ_TIMEOUT);
        assert!(STALE_AFTER > Duration::from_millis(100) && STALE_AFTER < UPSTREAM_IDLE_TIMEOUT);
        let flag = |name: &str| {
            let at = GATEWAY_FLAGS.iter().position(|f| *f == name).unwrap();
            GATEWAY_FLAGS[at + 1]
        };
        assert_eq!(flag("--upstream-max-connections"), UPSTREAM_MAX_CONNECTIONS.to_string());
        assert_eq!(flag("--upstream-timeout"), "1s");
        assert_eq!(flag("--upstream-read-timeout"), "1s");
        assert_eq!(flag("--upstream-queue-timeout"), "3s");
        assert_eq!(flag("--upstream-idle-timeout"), "2s");
    }
}
