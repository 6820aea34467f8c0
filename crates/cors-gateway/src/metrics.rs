//! The gateway's Prometheus metrics, served as `GET /metrics` on the admin listener
//! (`admin.rs`); docs/operations.md, "Admin listener and metrics", lists every one.
//!
//! The text is written by `prometheus-client`. Every counter a request touches is created at start
//! and kept as a handle, so a request costs a few relaxed atomic additions and two histogram
//! observations (a few more, in the worker thread's own shard: [`Latency`]), and never a label
//! lookup.
//! Decisions are counted per (decision, rule) in a fixed table of atomics, encoded at scrape time
//! by [`DecisionCounts`], so that only the pairs that occurred are exported.

use std::cell::Cell;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cors_engine::{Outcome, Rule};
use cors_policy::{LocalConfig, Policy};
use http::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry};
use sha2::{Digest as _, Sha256};

use crate::connection::Closed;
use crate::telemetry::{UpstreamFailure, UpstreamRetry};

/// The `Content-Type` of the Prometheus text format (0.0.4), the default answer.
pub(crate) const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `Content-Type` of the `OpenMetrics` text format, sent to scrapers that ask for it.
pub(crate) const OPENMETRICS_TEXT: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The latency buckets, in seconds: from a locally answered preflight (tens of microseconds) to
/// the default `--upstream-timeout` (60 s).
const LATENCY_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// The `status_class` label values, by the status code's first digit (1 to 5).
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The `kind` label values of `cors_gateway_upstream_errors_total`, in [`UpstreamFailure`] order.
const UPSTREAM_FAILURES: [&str; 6] =
    ["connect", "response", "timeout", "queue_timeout", "read_timeout", "body_failed"];

/// The `reason` label values of `cors_gateway_upstream_retries_total`, in [`UpstreamRetry`]
/// order.
const UPSTREAM_RETRIES: [&str; 2] = ["unsent", "unanswered"];

/// The `reason` label values of `cors_gateway_connections_closed_total`, in [`closed_index`] order.
const CLOSE_REASONS: [&str; 12] = [
    "client",
    "no_request_head",
    "idle",
    "shutdown",
    "proxy_protocol",
    "client_limit",
    "stalled",
    "upstream_read_timeout",
    "upstream_body_failed",
    "abandoning",
    "tunnel_closed",
    "tunnel_idle",
];

/// The `reason` label values of `cors_gateway_access_log_dropped_total`.
const DROP_REASONS: [&str; 2] = ["queue_full", "write_error"];

/// Registers the counters of upstream failures (`cors_gateway_upstream_errors_total`) and of
/// requests sent upstream once more (`cors_gateway_upstream_retries_total`).
fn upstream_counters(registry: &mut Registry) -> ([Counter; 6], [Counter; 2]) {
    let upstream_errors = labelled(
        registry,
        "cors_gateway_upstream_errors",
        "Requests the upstream did not answer: connect (unreachable, 502), response (failed \
         before a response head, 502), timeout (--upstream-timeout, 504), queue_timeout (no \
         upstream slot within --upstream-queue-timeout, 503), read_timeout (a response body the \
         upstream sent nothing of for --upstream-read-timeout, cut), body_failed (the upstream \
         closed or reset its connection, or broke its framing, before the end of a response \
         body, cut)",
        "kind",
        UPSTREAM_FAILURES,
    );
    let upstream_retries = labelled(
        registry,
        "cors_gateway_upstream_retries",
        "Requests sent upstream once more, on a new connection, after a reused connection \
         closed under them: unsent (before any of the request was written), unanswered (an \
         idempotent request without a body, written, and no byte of a response)",
        "reason",
        UPSTREAM_RETRIES,
    );
    (upstream_errors, upstream_retries)
}

/// Registers the gauges of client connections and tunnels open now, and the counters of
/// connections accepted and closed (by reason).
fn connection_metrics(
    registry: &mut Registry,
) -> (Gauge, Gauge, Counter, [Counter; CLOSE_REASONS.len()]) {
    let open_connections: Gauge = registered(
        registry,
        "cors_gateway_open_connections",
        "Client connections open now (the proxy listener), those that became tunnels included: \
         each holds a slot of --max-connections",
    );
    let open_tunnels: Gauge = registered(
        registry,
        "cors_gateway_open_tunnels",
        "Client connections open now that became tunnels (WebSocket and other HTTP/1.1 \
         upgrades); each is one of cors_gateway_open_connections",
    );
    let connections: Counter =
        registered(registry, "cors_gateway_connections", "Client connections accepted");
    let closed = labelled(
        registry,
        "cors_gateway_connections_closed",
        "Client connections closed: client (by the client, or failed), no_request_head (no \
         complete request head within --header-read-timeout), idle (--idle-timeout), \
         shutdown, proxy_protocol (refused by --proxy-protocol), client_limit (refused by \
         --max-connections-per-client), stalled (--send-timeout), upstream_read_timeout (an \
         HTTP/1.1 response cut by --upstream-read-timeout), upstream_body_failed (an HTTP/1.1 \
         response cut because its upstream failed before the end of the body), abandoning \
         (its client abandoned over 100 requests under way, more than half of those the \
         gateway did not answer itself), tunnel_closed (a tunnel either side closed), \
         tunnel_idle (a tunnel that carried nothing for --tunnel-idle-timeout)",
        "reason",
        CLOSE_REASONS,
    );
    (open_connections, open_tunnels, connections, closed)
}

/// The counters of access-log lines that were not written, shared with the log's writer (and
/// exported when the admin listener is on).
#[derive(Clone, Debug, Default)]
pub(crate) struct DroppedLines {
    /// The writer's queue was full: the line was dropped rather than wait.
    pub(crate) queue_full: Counter,
    /// Writing failed (disk full, closed stdout).
    pub(crate) write_error: Counter,
}

/// Every metric of the gateway, with the handles requests update.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    decisions: Arc<DecisionCounts>,
    status_classes: [Counter; 5],
    upstream_errors: [Counter; UPSTREAM_FAILURES.len()],
    upstream_retries: [Counter; 2],
    request_seconds: Latency,
    upstream_seconds: Latency,
    open_connections: Gauge,
    open_tunnels: Gauge,
    connections: Counter,
    closed: [Counter; CLOSE_REASONS.len()],
    reloads: Counter,
    config_reloads: Counter,
    failed_reloads: Counter,
    failed_certificate_reloads: Counter,
    panics: Counter,
    certificate_expiry: Family<[(&'static str, String); 1], Gauge>,
    policy: Arc<PolicyInfo>,
    dropped: DroppedLines,
}

impl Metrics {
    /// Registers every metric; `in_force` is the configuration loaded at start.
    pub(crate) fn new(in_force: InForce) -> Self {
        let mut registry = Registry::default();
        let decisions = Arc::new(DecisionCounts::default());
        registry.register_collector(Box::new(Arc::clone(&decisions)));
        let status_classes = labelled(
            &mut registry,
            "cors_gateway_responses",
            "Responses sent to clients, by the class of their status code",
            "status_class",
            STATUS_CLASSES,
        );
        let (upstream_errors, upstream_retries) = upstream_counters(&mut registry);
        let request_seconds: Latency = registered(
            &mut registry,
            "cors_gateway_request_duration_seconds",
            "Time from a request head's arrival until its response body was sent, local answers \
             included",
        );
        let upstream_seconds: Latency = registered(
            &mut registry,
            "cors_gateway_upstream_duration_seconds",
            "Time from sending a request upstream until the upstream's response head (or its \
             failure), after any wait for an upstream slot",
        );
        let (open_connections, open_tunnels, connections, closed) =
            connection_metrics(&mut registry);
        let reloads: Counter = registered(
            &mut registry,
            "cors_policy_reloads",
            "Policy reloads that swapped in a new policy (SIGHUP or a file change)",
        );
        let config_reloads: Counter = registered(
            &mut registry,
            "cors_gateway_config_reloads",
            "Reloads that swapped in another configuration (SIGHUP or a file change): other \
             policies or, with --config-dir, other routes, upstreams or base paths",
        );
        let failed_reloads: Counter = registered(
            &mut registry,
            "cors_policy_reload_failures",
            "Policy reloads refused because the file had errors; the previous policy stays",
        );
        let failed_certificate_reloads: Counter = registered(
            &mut registry,
            "cors_gateway_certificate_reload_failures",
            "Certificate reloads refused because the files had errors (finding F-DP); the \
             previous certificate stays, until it expires",
        );
        let panics: Counter = registered(
            &mut registry,
            "cors_gateway_panics",
            "Panics in the gateway, on any thread, each logged at error level",
        );
        let certificate_expiry = registered(
            &mut registry,
            "cors_gateway_certificate_expiry_timestamp_seconds",
            "When the certificate served (its notAfter) expires, in seconds since the Unix epoch, \
             by its --tls-cert file; set at start and on each certificate reload",
        );
        let policy = Arc::new(PolicyInfo::new(in_force));
        registry.register_collector(Box::new(Arc::clone(&policy)));
        let [queue_full, write_error] = labelled(
            &mut registry,
            "cors_gateway_access_log_dropped",
            "Access log lines not written: queue_full (the writer could not keep up, so the line \
             was dropped rather than delay the request), write_error (the disk or stdout failed)",
            "reason",
            DROP_REASONS,
        );
        registry.register(
            "cors_gateway_build",
            "The running cors-gateway",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry,
            decisions,
            status_classes,
            upstream_errors,
            upstream_retries,
            request_seconds,
            upstream_seconds,
            open_connections,
            open_tunnels,
            connections,
            closed,
            reloads,
            config_reloads,
            failed_reloads,
            failed_certificate_reloads,
            panics,
            certificate_expiry,
            policy,
            dropped: DroppedLines { queue_full, write_error },
        }
    }

    /// The counters the access log's writer updates, exported here.
    pub(crate) fn dropped_lines(&self) -> DroppedLines {
        self.dropped.clone()
    }

    /// Counts a response head: its request's decision (`None` when the request was refused
    /// before the CORS layer), its status and what the upstream did.
    pub(crate) fn responded(
        &self,
        status: StatusCode,
        decided: Option<(Outcome, Rule)>,
        upstream: Option<Duration>,
        failure: Option<UpstreamFailure>,
        retry: Option<UpstreamRetry>,
    ) {
        if let Some((outcome, rule)) = decided {
            self.decisions.count(outcome, rule);
        }
        // RFC 9110 section 15: a status outside 100 to 599, which an upstream may send (up to
        // 999), is to be processed as a 5xx.
        let class = usize::from(status.as_u16() / 100).clamp(1, 5);
        self.status_classes[class - 1].inc();
        if let Some(elapsed) = upstream {
            self.upstream_seconds.observe(elapsed);
        }
        if let Some(failure) = failure {
            self.upstream_errors[failure as usize].inc();
        }
        if let Some(retry) = retry {
            self.upstream_retries[retry as usize].inc();
        }
    }

    /// Counts an upstream failure found after the response head was counted (see
    /// [`Metrics::responded`]): a body cut for `--upstream-read-timeout`.
    pub(crate) fn upstream_failed(&self, failure: UpstreamFailure) {
        self.upstream_errors[failure as usize].inc();
    }

    /// Records a request's total time, when its response body is done.
    pub(crate) fn finished(&self, total: Duration) {
        self.request_seconds.observe(total);
    }

    /// Counts a client connection in.
    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
        self.open_connections.inc();
    }

    /// Counts a client connection out, closed for the reason of index `reason` (see
    /// [`closed_index`]).
    pub(crate) fn connection_closed(&self, reason: usize) {
        self.open_connections.dec();
        if let Some(closed) = self.closed.get(reason) {
            closed.inc();
        }
    }

    /// Counts a tunnel in (`true`) or out.
    pub(crate) fn tunnel_open(&self, open: bool) {
        if open {
            self.open_tunnels.inc();
        } else {
            self.open_tunnels.dec();
        }
    }

    /// Records a successful reload of `in_force`: counted only when it differs from the
    /// configuration in force (a SIGHUP or a touched file that brings the same swaps in nothing
    /// new), in `cors_gateway_config_reloads_total`, and in `cors_policy_reloads_total`, with its
    /// load time, when its policies do. A folder whose routes alone changed counts in the first
    /// only (before, in neither, and an operator could not see the change take).
    pub(crate) fn reloaded(&self, in_force: InForce) {
        let (policies, config) = self.policy.replace(in_force);
        if policies {
            self.reloads.inc();
        }
        if config {
            self.config_reloads.inc();
        }
    }

    /// Records a reload refused for errors in the file.
    pub(crate) fn reload_failed(&self) {
        self.failed_reloads.inc();
    }

    /// Records a certificate reload refused for errors in its files.
    pub(crate) fn certificate_reload_failed(&self) {
        self.failed_certificate_reloads.inc();
    }

    /// Records a panic (the panic hook, `telemetry.rs`).
    pub(crate) fn panicked(&self) {
        self.panics.inc();
    }

    /// Records that the certificate of `file` now served expires at `not_after` (Unix seconds);
    /// `None` (a notAfter that could not be read) removes the series rather than keep the
    /// previous certificate's.
    pub(crate) fn certificate_served(&self, file: &Path, not_after: Option<i64>) {
        let labels = [("file", file.display().to_string())];
        match not_after {
            Some(seconds) => {
                self.certificate_expiry.get_or_create(&labels).set(seconds);
            }
            None => {
                self.certificate_expiry.remove(&labels);
            }
        }
    }

    /// The policies in force and their hashes (see [`policy_hash`]), for `/readyz`:
    /// `policy HASH`, or for a folder `policies NAME HASH, ...`.
    pub(crate) fn policies(&self) -> String {
        self.policy.describe()
    }

    /// Every metric, in the Prometheus text format, or in `OpenMetrics` when `openmetrics`.
    pub(crate) fn encode(&self, openmetrics: bool) -> String {
        let mut text = String::with_capacity(8 * 1024);
        let written = if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        };
        // Writing to a String fails only if one of our collectors does, and they never do.
        if written.is_err() {
            tracing::error!("encoding the metrics failed; the answer is incomplete");
        }
        text
    }
}

/// Registers a new metric (a counter, a gauge, a histogram, a family) under `name` and returns
/// its handle, which shares its values.
fn registered<M: Metric + Default + Clone>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

/// Registers one counter per label value under `name` and returns their handles.
fn labelled<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    label: &'static str,
    values: [&'static str; N],
) -> [Counter; N] {
    let family: Family<[(&'static str, &'static str); 1], Counter> =
        registered(registry, name, help);
    values.map(|value| family.get_or_create_owned(&[(label, value)]))
}

/// The index of `reason` in [`CLOSE_REASONS`].
pub(crate) const fn closed_index(reason: Closed) -> usize {
    match reason {
        Closed::ByClient => 0,
        Closed::NoRequestHead => 1,
        Closed::Idle => 2,
        Closed::Shutdown => 3,
        Closed::ProxyProtocol => 4,
        Closed::ClientLimit => 5,
        Closed::Stalled => 6,
        Closed::UpstreamReadTimeout => 7,
        Closed::UpstreamBodyFailed => 8,
        Closed::Abandoning => 9,
        Closed::TunnelEnded => 10,
        Closed::TunnelIdle => 11,
    }
}

/// How many shards each [`Latency`] histogram has: the worker threads beyond it share shards.
const LATENCY_SHARDS: usize = 16;

/// The next shard a thread that observes a latency for the first time takes.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard of every [`Latency`] histogram, taken at its first observation.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// A latency histogram with [`LATENCY_BUCKETS`], exported as `prometheus-client`'s `Histogram`
/// is, counted in a shard per thread and summed when `/metrics` is encoded.
///
/// Hand-written rather than `prometheus-client`'s `Histogram`, which takes one `Mutex`, shared
/// by all the server's worker threads, for every observation: here each worker counts with
/// relaxed atomic additions in a shard of its own, a cache line apart from the others', so
/// that the workers never wait for each other nor pass the line between cores. The count is
/// the sum of the buckets, so that `_count` always equals the `+Inf` bucket.
#[derive(Clone, Debug)]
struct Latency(Arc<[Shard; LATENCY_SHARDS]>);

/// One shard of a [`Latency`] histogram.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    /// Observations per bucket (not cumulative): one per bound of [`LATENCY_BUCKETS`], then
    /// the `+Inf` bucket.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// The sum of the observations in seconds, as the bits of an `f64`.
    sum: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Self(Arc::new(std::array::from_fn(|_| Shard::default())))
    }
}

impl Latency {
    /// Counts one request that took `elapsed`.
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        let shard = SHARD.with(|shard| {
            shard.get().unwrap_or_else(|| {
                let taken = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % LATENCY_SHARDS;
                shard.set(Some(taken));
                taken
            })
        });
        let Some(shard) = self.0.get(shard) else { return };
        if let Some(count) = shard.buckets.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        // Only this thread adds to its shard (or a few, past `LATENCY_SHARDS` threads): the
        // exchange succeeds at once.
        let _ = shard.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + seconds).to_bits())
        });
    }

    /// The sum of the observations and the count per bucket, over every shard, as
    /// `prometheus-client` encodes a histogram: each bucket's upper bound with its own count.
    fn totals(&self) -> (f64, Vec<(f64, u64)>) {
        let mut sum = 0.0;
        let mut buckets: Vec<(f64, u64)> =
            LATENCY_BUCKETS.iter().chain([&f64::INFINITY]).map(|&bound| (bound, 0)).collect();
        for shard in self.0.iter() {
            sum += f64::from_bits(shard.sum.load(Ordering::Relaxed));
            for ((_, total), count) in buckets.iter_mut().zip(&shard.buckets) {
                *total += count.load(Ordering::Relaxed);
            }
        }
        (sum, buckets)
    }
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        let (sum, buckets) = self.totals();
        let count = buckets.iter().map(|(_, count)| count).sum();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// `cors_requests_total{decision, rule}`: one atomic per pair, exported when not zero.
#[derive(Debug, Default)]
struct DecisionCounts {
    counts: [[AtomicU64; Rule::ALL.len()]; Outcome::ALL.len()],
}

impl DecisionCounts {
    fn count(&self, outcome: Outcome, rule: Rule) {
        // `ALL` lists every kind and rule (cors-engine's tests hold it to the enums), so both
        // positions are found; a miss would only leave the request uncounted.
        let outcome = Outcome::ALL.iter().position(|&known| known == outcome);
        let rule = Rule::ALL.iter().position(|&known| known == rule);
        if let (Some(outcome), Some(rule)) = (outcome, rule) {
            self.counts[outcome][rule].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Collector for DecisionCounts {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut family = encoder.encode_descriptor(
            "cors_requests",
            "Requests decided by the CORS policy, by decision and by the rule of \
             docs/behaviour.md that decided",
            None,
            MetricType::Counter,
        )?;
        for (outcome, row) in Outcome::ALL.iter().zip(&self.counts) {
            for (rule, count) in Rule::ALL.iter().zip(row) {
                let count = count.load(Ordering::Relaxed);
                if count == 0 {
                    continue;
                }
                let rule = rule.to_string();
                let labels = [("decision", outcome.as_str()), ("rule", rule.as_str())];
                ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The policies in force, each with its hash (see [`policy_hash`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PolicyHashes {
    /// The one policy of `serve --config`.
    Single(String),
    /// The `cors-flex` policies of a `serve --config-dir` folder: for each API instance that has
    /// one, in the order of `LocalConfig::instances`, its `namespace/name` and the hash.
    Folder(Vec<(String, String)>),
}

impl PolicyHashes {
    /// The policy of `serve --config`.
    pub(crate) fn single(policy: &Policy) -> Self {
        Self::Single(policy_hash(policy))
    }

    /// The policies of a Flex Local Mode folder.
    pub(crate) fn folder(config: &LocalConfig) -> Self {
        let named = config.instances().filter_map(|instance| {
            let name = format!("{}/{}", instance.namespace(), instance.name());
            instance.policy().map(|policy| (name, policy_hash(policy)))
        });
        Self::Folder(named.collect())
    }
}

/// The configuration in force, as the metrics tell one load from another: its policies and, for
/// a `--config-dir` folder, a digest of what else its instances serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InForce {
    policies: PolicyHashes,
    /// The SHA-256 of each instance's listener, name, base path and routes (their rules,
    /// upstreams and destination paths), policies left out; all zeros for `serve --config`.
    routes: [u8; 32],
}

impl InForce {
    /// The policy of `serve --config`.
    pub(crate) fn single(policy: &Policy) -> Self {
        Self { policies: PolicyHashes::single(policy), routes: [0; 32] }
    }

    /// A Flex Local Mode folder.
    pub(crate) fn folder(config: &LocalConfig) -> Self {
        let mut digest = Sha256::new();
        for instance in config.instances() {
            // The routes' `Debug` form holds every part of them (a pattern as written); it is
            // no stable format, and is compared only with the previous load of this process.
            let routes = format!(
                "{} {}/{} {} {:?}\n",
                instance.address(),
                instance.namespace(),
                instance.name(),
                instance.base_path(),
                instance.routes()
            );
            digest.update(routes.as_bytes());
        }
        Self { policies: PolicyHashes::folder(config), routes: digest.finalize().into() }
    }
}

/// `cors_policy_info{hash}` (with `api` for a folder's instances) and
/// `cors_policy_loaded_timestamp_seconds`: which policies are in force.
#[derive(Debug)]
struct PolicyInfo {
    /// The configuration, and when its policies were loaded, in seconds since the Unix epoch.
    current: RwLock<(InForce, f64)>,
}

impl PolicyInfo {
    fn new(in_force: InForce) -> Self {
        Self { current: RwLock::new((in_force, now_seconds())) }
    }

    /// Puts `in_force` in force, with the time now when its policies are new. Returns whether
    /// its policies were new, and whether any of it was.
    fn replace(&self, in_force: InForce) -> (bool, bool) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let policies = current.0.policies != in_force.policies;
        let config = policies || current.0.routes != in_force.routes;
        if policies {
            current.1 = now_seconds();
        }
        current.0 = in_force;
        (policies, config)
    }

    fn describe(&self) -> String {
        match &self.current.read().unwrap_or_else(PoisonError::into_inner).0.policies {
            PolicyHashes::Single(hash) => format!("policy {hash}"),
            PolicyHashes::Folder(named) if named.is_empty() => "no cors-flex policy".to_owned(),
            PolicyHashes::Folder(named) => {
                let each: Vec<String> =
                    named.iter().map(|(name, hash)| format!("{name} {hash}")).collect();
                format!("policies {}", each.join(", "))
            }
        }
    }
}

impl Collector for PolicyInfo {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let (policies, loaded) = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            (current.0.policies.clone(), current.1)
        };
        let info = ConstGauge::new(1);
        let family = encoder.encode_descriptor(
            "cors_policy_info",
            "The policies in force: hash is the SHA-256 of a policy's normalized form, the output \
             of `cors-gateway check --print FILE`; api names the API instance of a \
             --config-dir folder (namespace/name)",
            None,
            info.metric_type(),
        )?;
        let mut family = family;
        match &policies {
            PolicyHashes::Single(hash) => {
                info.encode(family.encode_family(&[("hash", hash.as_str())])?)?;
            }
            PolicyHashes::Folder(named) => {
                for (api, hash) in named {
                    let labels = [("api", api.as_str()), ("hash", hash.as_str())];
                    info.encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let loaded = ConstGauge::new(loaded);
        let time = encoder.encode_descriptor(
            "cors_policy_loaded_timestamp_seconds",
            "When the policy in force was loaded, in seconds since the Unix epoch",
            None,
            loaded.metric_type(),
        )?;
        loaded.encode(time)
    }
}

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |since| since.as_secs_f64())
}

/// The SHA-256, in hex, of the policy's normalized form exactly as `cors-gateway check --print`
/// prints it (`to_yaml`, trailing blank lines trimmed, one newline): the same policy written two
/// ways has one hash, and `cors-gateway check --print FILE | sha256sum` gives it.
pub(crate) fn policy_hash(policy: &Policy) -> String {
    let normalized = format!("{}\n", policy.to_yaml().trim_end());
    let digest = Sha256::digest(normalized.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut hex, byte| {
        use fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of a registry holding only `metric`, as `name`, in both formats.
    fn exported(metric: impl Metric) -> [String; 2] {
        let mut registry = Registry::default();
        registry.register("latency_seconds", "A latency", metric);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let mut prometheus = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut prometheus, &registry).unwrap();
        [text, prometheus]
    }

    #[test]
    fn latencies_observed_on_many_threads_export_as_prometheus_clients_histogram_does() {
        let latency = Latency::default();
        let reference = prometheus_client::metrics::histogram::Histogram::new(LATENCY_BUCKETS);
        // Values across the buckets, some on a bound (0.25, 0.5, 1, 2.5, 60), some past the
        // last; in quarter seconds, so that their sum is exact whatever the order of the
        // additions.
        let mut values: Vec<Duration> =
            (0..20).map(|quarters| Duration::from_millis(250 * quarters)).collect();
        values.extend([0.5, 60.0, 61.0, 3600.0].map(Duration::from_secs_f64));
        // More threads than shards, so that some share one.
        std::thread::scope(|threads| {
            for _ in 0..(LATENCY_SHARDS + 3) {
                threads.spawn(|| {
                    for &value in &values {
                        latency.observe(value);
                    }
                });
            }
        });
        for _ in 0..(LATENCY_SHARDS + 3) {
            for &value in &values {
                reference.observe(value.as_secs_f64());
            }
        }
        assert_eq!(exported(latency), exported(reference));
    }

    #[test]
    fn a_status_past_599_counts_as_a_server_error() {
        let metrics =
            Metrics::new(InForce { policies: PolicyHashes::Folder(Vec::new()), routes: [0; 32] });
        for status in [200, 599, 600, 999] {
            let status = StatusCode::from_u16(status).unwrap();
            metrics.responded(status, None, None, None, None);
        }
        let text = metrics.encode(false);
        assert!(text.contains("status_class=\"2xx\"} 1"), "{text}");
        assert!(text.contains("status_class=\"5xx\"} 3"), "{text}");
    }
}
