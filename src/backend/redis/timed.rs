//! The command connection, timed: every command and pipeline reports its duration and whether it
//! failed to the instance's metrics (`switchboard_redis_command_duration_seconds{command}`,
//! `switchboard_redis_errors_total{command}`), whichever module sent it.

use crate::metrics::{command_name, Metrics};
use redis::{aio::ConnectionLike, Arg, Cmd, Pipeline, RedisFuture, Value};
use std::{sync::Arc, time::Instant};

/// A command connection (one Redis' or a cluster's) that reports each command to [`Metrics`].
/// Cheap to clone, like the connection it wraps.
#[derive(Clone)]
pub struct Timed<C> {
    inner: C,
    metrics: Arc<Metrics>,
}

impl<C> Timed<C> {
    pub fn new(inner: C, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

fn name_of(cmd: &Cmd) -> &'static str {
    match cmd.args_iter().next() {
        Some(Arg::Simple(name)) => command_name(name),
        _ => "other",
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for Timed<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.req_packed_command(cmd).await;
            self.metrics
                .redis_command(name_of(cmd), started.elapsed(), result.is_err());
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self
                .inner
                .req_packed_commands(pipeline, offset, count)
                .await;
            let name = pipeline.cmd_iter().next().map_or("other", name_of);
            self.metrics
                .redis_command(name, started.elapsed(), result.is_err());
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
