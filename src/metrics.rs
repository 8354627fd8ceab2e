//! What the instance counts, for Prometheus (`GET /metrics`, see `docs/operations.md`).
//!
//! One registry per instance ([`Metrics`]), no global state. The hot path only touches atomics:
//! every counter a socket bumps is resolved once at start (labels included), deliveries are
//! counted per written burst, not per frame, and nothing allocates or locks per delivery. The
//! histograms (Redis commands, the pub/sub round trip) are observed once per command or probe.

use axum::{
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
        info::Info,
    },
    registry::Registry,
};
use secrecy::{ExposeSecret, SecretString};
use std::{sync::Arc, time::Duration};
use subtle::ConstantTimeEq;

/// Why a socket ended, as counted in `switchboard_sockets_closed_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it, or the connection dropped.
    Client,
    /// Closed for the drain (1012).
    Restart,
    /// The user logged out (4401).
    LoggedOut,
    /// It fell behind its room (1013).
    Lagged,
    /// The backend could not serve it (1013).
    Unavailable,
    /// A binary frame (1003) or a frame over the hard limit (1009).
    Protocol,
    /// A write failed or took too long.
    WriteFailed,
}

impl Closed {
    const ALL: [Closed; 7] = [
        Closed::Client,
        Closed::Restart,
        Closed::LoggedOut,
        Closed::Lagged,
        Closed::Unavailable,
        Closed::Protocol,
        Closed::WriteFailed,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::Client => "client",
            Closed::Restart => "restart",
            Closed::LoggedOut => "logged_out",
            Closed::Lagged => "lagged",
            Closed::Unavailable => "unavailable",
            Closed::Protocol => "protocol",
            Closed::WriteFailed => "write_failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    what: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabel {
    command: &'static str,
}

/// The instance's metrics. Cheap to share (`Arc`); every field is a handle onto the registry.
pub struct Metrics {
    registry: Registry,
    pub sockets_open: Gauge,
    pub sockets_opened: Counter,
    closed: [Counter; Closed::ALL.len()],
    /// `send` frames received.
    pub messages_received: Counter,
    /// Messages stored (and so published to every instance).
    pub messages_stored: Counter,
    /// `send` frames that were a re-send of a stored message: acknowledged, not stored again.
    pub messages_duplicate: Counter,
    /// Messages refused (too long, wrong room, backend unavailable...).
    pub messages_refused: Counter,
    /// Edits and reactions stored (as records in their room's log).
    pub amendments_stored: Counter,
    /// Edits and reactions refused (not the author's, no such message, not an emoji...).
    pub amendments_refused: Counter,
    /// Live message frames written to sockets.
    pub deliveries: Counter,
    /// Live message frames a lagging socket missed (it was closed and resumes from history).
    pub deliveries_dropped_lag: Counter,
    /// Sockets (and joins) resuming with `after`.
    pub resumes: Counter,
    /// Messages sent from history to resuming sockets.
    pub replayed: Counter,
    /// Resumes that could not be complete (a `gap` frame).
    pub gaps: Counter,
    /// Events received from the backend's fan-out (messages, presence, typing, logouts).
    pub fanout_received: Counter,
    /// Rooms with at least one socket on this instance.
    pub rooms_open: Gauge,
    /// (room, user) pairs this instance holds presence for.
    pub presence_held: Gauge,
    /// 1 while the instance drains.
    pub draining: Gauge,
    /// Refusals for going too fast: messages (per user), requests (per socket: joins, leaves,
    /// history), sign-ins and guest logins (per address), sign-ins to one account (from
    /// anywhere), sign-ups (per address).
    pub rate_limited_messages: Counter,
    pub rate_limited_requests: Counter,
    pub rate_limited_logins: Counter,
    pub rate_limited_account_sign_ins: Counter,
    pub rate_limited_sign_ups: Counter,
    /// Sign-ins refused for a wrong handle or password (a rise is someone guessing).
    pub sign_ins_refused: Counter,
    /// Sockets refused before the upgrade: the user has too many, or the instance is full.
    pub sockets_refused_user_cap: Counter,
    pub sockets_refused_full: Counter,
    redis_duration: Family<CommandLabel, Histogram, fn() -> Histogram>,
    redis_errors: Family<CommandLabel, Counter>,
    /// Round trip of a probe through this instance's own pub/sub subscription.
    pub pubsub_round_trip: Histogram,
}

impl Metrics {
    pub fn new(instance: &str, backend: &str) -> Arc<Self> {
        let mut registry = Registry::with_prefix("switchboard");
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let sockets_opened = counter("sockets_opened", "WebSockets opened");
        let messages_received = counter("messages_received", "send frames received");
        let messages_stored = counter("messages_stored", "Messages stored and published");
        let messages_duplicate = counter(
            "messages_duplicate",
            "Re-sent messages acknowledged without storing them again",
        );
        let messages_refused = counter("messages_refused", "send frames refused with an error");
        let amendments_stored = counter(
            "amendments_stored",
            "Edits and reactions stored as records in their room's log",
        );
        let amendments_refused = counter(
            "amendments_refused",
            "edit and react frames refused with an error",
        );
        let deliveries = counter("deliveries", "Live message frames written to sockets");
        let deliveries_dropped_lag = counter(
            "deliveries_dropped_lag",
            "Message frames missed by sockets that fell behind (closed with 1013)",
        );
        let resumes = counter("resumes", "Rooms resumed with after=");
        let replayed = counter("replayed_messages", "Messages replayed to resuming sockets");
        let gaps = counter("gaps", "Resumes that could not be complete");
        let fanout_received = counter(
            "fanout_events",
            "Events received from the backend's fan-out (pub/sub)",
        );

        let closed_family = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "sockets_closed",
            "WebSockets closed, by reason",
            closed_family.clone(),
        );
        let closed = Closed::ALL.map(|reason| {
            closed_family
                .get_or_create(&ReasonLabel {
                    reason: reason.label(),
                })
                .clone()
        });

        let limited = Family::<LimitLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Refusals for going too fast, by what was limited",
            limited.clone(),
        );
        let limited_for = |what| limited.get_or_create(&LimitLabel { what }).clone();
        let (rate_limited_messages, rate_limited_requests, rate_limited_logins) = (
            limited_for("message"),
            limited_for("request"),
            limited_for("login"),
        );
        let (rate_limited_account_sign_ins, rate_limited_sign_ups) =
            (limited_for("account_sign_in"), limited_for("sign_up"));
        let sign_ins_refused = Counter::default();
        registry.register(
            "sign_ins_refused",
            "Sign-ins refused for a handle and password that match no account",
            sign_ins_refused.clone(),
        );
        let refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "sockets_refused",
            "WebSocket upgrades refused for a cap, by cap",
            refused.clone(),
        );
        let sockets_refused_user_cap = refused
            .get_or_create(&ReasonLabel { reason: "user_cap" })
            .clone();
        let sockets_refused_full = refused
            .get_or_create(&ReasonLabel {
                reason: "instance_full",
            })
            .clone();

        let mut gauge = |name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let sockets_open = gauge("sockets_open", "WebSockets open now");
        let rooms_open = gauge("rooms_open", "Rooms with a socket on this instance");
        let presence_held = gauge(
            "presence_held",
            "Room members this instance holds presence for",
        );
        let draining = gauge("draining", "1 while the instance drains");

        // 100 µs to ~1.6 s.
        let redis_duration: Family<CommandLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 15)));
        registry.register(
            "redis_command_duration_seconds",
            "Redis commands' duration, by command",
            redis_duration.clone(),
        );
        let redis_errors = Family::<CommandLabel, Counter>::default();
        registry.register(
            "redis_errors",
            "Redis commands that failed, by command",
            redis_errors.clone(),
        );
        let pubsub_round_trip = Histogram::new(exponential_buckets(0.0001, 2.0, 15));
        registry.register(
            "pubsub_round_trip_seconds",
            "A probe's round trip through this instance's pub/sub subscription",
            pubsub_round_trip.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_owned()),
                ("instance_id", instance.to_owned()),
                ("backend", backend.to_owned()),
            ]),
        );

        Arc::new(Self {
            registry,
            sockets_open,
            sockets_opened,
            closed,
            messages_received,
            messages_stored,
            messages_duplicate,
            messages_refused,
            amendments_stored,
            amendments_refused,
            deliveries,
            deliveries_dropped_lag,
            resumes,
            replayed,
            gaps,
            fanout_received,
            rooms_open,
            presence_held,
            draining,
            rate_limited_messages,
            rate_limited_requests,
            rate_limited_logins,
            rate_limited_account_sign_ins,
            rate_limited_sign_ups,
            sign_ins_refused,
            sockets_refused_user_cap,
            sockets_refused_full,
            redis_duration,
            redis_errors,
            pubsub_round_trip,
        })
    }

    pub fn socket_closed(&self, why: Closed) {
        self.sockets_open.dec();
        if let Some(i) = Closed::ALL.iter().position(|c| *c == why) {
            self.closed[i].inc();
        }
    }

    /// A Redis command took `took`, and failed or not.
    pub fn redis_command(&self, command: &'static str, took: Duration, failed: bool) {
        let label = CommandLabel { command };
        self.redis_duration
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        if failed {
            self.redis_errors.get_or_create(&label).inc();
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The answer to `GET /metrics`: the text exposition, or `401` unless the request carries
/// `Authorization: Bearer <token>` when a token is configured.
pub fn respond(metrics: &Metrics, token: Option<&SecretString>, headers: &HeaderMap) -> Response {
    if let Some(token) = token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let token = token.expose_secret().as_bytes();
        // Compared in constant time, so the answer's timing does not give the token away.
        if !sent.is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(token))) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the bearer token",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

/// The name of a Redis command, from a fixed set (so labels stay few), for its metrics.
pub fn command_name(first_arg: &[u8]) -> &'static str {
    const KNOWN: [&str; 16] = [
        "evalsha",
        "eval",
        "script",
        "get",
        "set",
        "del",
        "mget",
        "exists",
        "xrange",
        "xrevrange",
        "xadd",
        "publish",
        "ping",
        "hgetall",
        "zrange",
        "expire",
    ];
    KNOWN
        .into_iter()
        .find(|known| known.as_bytes().eq_ignore_ascii_case(first_arg))
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_metric() {
        let metrics = Metrics::new("app-1", "redis");
        metrics.sockets_open.inc();
        metrics.sockets_opened.inc();
        metrics.socket_closed(Closed::Lagged);
        metrics.deliveries.inc_by(64);
        metrics.redis_command("evalsha", Duration::from_millis(2), false);
        metrics.redis_command("get", Duration::from_millis(1), true);
        let text = metrics.encode();
        for line in [
            "switchboard_sockets_open 0",
            "switchboard_sockets_opened_total 1",
            "switchboard_sockets_closed_total{reason=\"lagged\"} 1",
            "switchboard_sockets_closed_total{reason=\"client\"} 0",
            "switchboard_deliveries_total 64",
            "switchboard_redis_errors_total{command=\"get\"} 1",
            "switchboard_build_info{version=",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text
            .contains("switchboard_redis_command_duration_seconds_count{command=\"evalsha\"} 1"));
    }

    #[test]
    fn commands_are_named_from_a_fixed_set() {
        assert_eq!(command_name(b"EVALSHA"), "evalsha");
        assert_eq!(command_name(b"xRevRange"), "xrevrange");
        assert_eq!(command_name(b"FLUSHALL"), "other");
    }
}
