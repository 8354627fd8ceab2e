//! Logging: `tracing` to stdout (where Cloud Foundry collects it), filtered by `RUST_LOG`;
//! readable text, or one JSON object a line with `LOG_FORMAT=json` (for a log pipeline).
//! Requests are logged at info (method, path, status, time), except the health checks and
//! scrapes a load balancer and Prometheus make all day. Nothing logged at info carries a message
//! text or a session id.

use axum::{body::Body, http::Request, response::Response};
use std::{io::IsTerminal, time::Duration};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::TraceLayer,
};
use tracing::Span;
use tracing_subscriber::EnvFilter;

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    #[default]
    Text,
    /// One JSON object a line, the span's fields included.
    Json,
}

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Paths polled all day by machines, not worth a log line each.
fn is_quiet(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

type MakeSpan = fn(&Request<Body>) -> Span;
type OnResponse = fn(&Response, Duration, &Span);

/// The request log layer: a span per request (method and path; never headers, so never the
/// session cookie) and a line per response.
pub fn requests() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan, (), OnResponse>
{
    fn span(request: &Request<Body>) -> Span {
        if is_quiet(request.uri().path()) {
            return Span::none();
        }
        tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
    }
    fn response(response: &Response, latency: Duration, span: &Span) {
        if !span.is_none() {
            tracing::info!(
                parent: span,
                status = response.status().as_u16(),
                ms = latency.as_secs_f64() * 1000.0,
                "response"
            );
        }
    }
    TraceLayer::new_for_http()
        .make_span_with(span as MakeSpan)
        .on_request(())
        .on_response(response as OnResponse)
}

#[cfg(test)]
mod tests {
    #[test]
    fn machines_polls_are_quiet() {
        assert!(super::is_quiet("/readyz"));
        assert!(!super::is_quiet("/api/login"));
    }
}
