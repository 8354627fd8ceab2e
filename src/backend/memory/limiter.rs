//! Rate-limit buckets in this process's memory (one instance, so that is everywhere).

use crate::backend::{BackendError, Limiter};
use crate::rate::{take, Rate};
use async_trait::async_trait;
use std::{collections::HashMap, sync::Mutex, time::Duration};

/// Buckets by key: the unix ms at which each one's next token is due.
#[derive(Default)]
pub struct MemoryLimiter {
    buckets: Mutex<HashMap<String, u64>>,
}

/// Past this many buckets, the full ones (due in the past) are dropped on the next take.
const SWEEP_ABOVE: usize = 10_000;

#[async_trait]
impl Limiter for MemoryLimiter {
    async fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, BackendError> {
        let now = crate::clock::unix_ms();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, due| *due > now);
        }
        match take(buckets.get(key).copied(), now, rate) {
            Ok(due) => {
                buckets.insert(key.to_owned(), due);
                Ok(None)
            }
            Err(wait) => Ok(Some(Duration::from_millis(wait))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn buckets_are_per_key_and_refill_with_time() {
        let limiter = MemoryLimiter::default();
        let rate = Rate::per_second(10, 2);
        assert_eq!(limiter.take("a", rate).await.unwrap(), None);
        assert_eq!(limiter.take("a", rate).await.unwrap(), None);
        assert_eq!(
            limiter.take("a", rate).await.unwrap(),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            limiter.take("b", rate).await.unwrap(),
            None,
            "its own bucket"
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(limiter.take("a", rate).await.unwrap(), None);
    }
}
