//! Rate-limit buckets in Redis, shared by every instance: one key per bucket, taken from by one
//! script call (`rate.lua`, the same GCRA step as `crate::rate::take`).

use super::{Keys, RedisConnection, Timed};
use crate::backend::{BackendError, Limiter};
use crate::rate::Rate;
use async_trait::async_trait;
use redis::Script;
use std::{sync::LazyLock, time::Duration};

static RATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("rate.lua")));

pub struct RedisLimiter<C> {
    conn: Timed<C>,
    keys: Keys,
}

impl<C> RedisLimiter<C> {
    pub fn new(conn: Timed<C>, keys: Keys) -> Self {
        Self { conn, keys }
    }
}

#[async_trait]
impl<C: RedisConnection> Limiter for RedisLimiter<C> {
    async fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, BackendError> {
        let wait: u64 = RATE
            .key(self.keys.rate(key))
            .arg(rate.interval_ms())
            .arg(rate.burst)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}
