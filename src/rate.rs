//! Rate maths: how often one user may send, one address may log in, one socket may ask for
//! rooms and history. A value type at the bottom of the crate: config parses [`Rate`]s, the
//! backends keep the shared buckets, a socket keeps its own.
//!
//! Each limit is a token bucket — `burst` at once, then one token every `interval` — kept as GCRA (the generic cell rate algorithm): one number per bucket, the
//! *theoretical arrival time* of the next token, so a bucket is a single key with an expiry in
//! Redis (shared by every instance, see `backend/redis/rate.lua`) or a single entry in memory.

use std::time::Duration;

/// A token bucket's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// One token comes back every `interval`...
    pub interval: Duration,
    /// ...up to this many at once (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `per_sec` tokens a second, `burst` at once.
    pub fn per_second(per_sec: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_sec.max(1),
            burst: burst.max(1),
        }
    }

    /// `per_min` tokens a minute, `burst` at once.
    pub fn per_minute(per_min: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(60) / per_min.max(1),
            burst: burst.max(1),
        }
    }

    /// `per_hour` tokens an hour, `burst` at once.
    pub fn per_hour(per_hour: u32, burst: u32) -> Self {
        Self {
            interval: Duration::from_secs(3600) / per_hour.max(1),
            burst: burst.max(1),
        }
    }

    /// Tokens a second (whole; at least 1).
    pub fn tokens_per_second(self) -> u32 {
        u32::try_from(1_000 / self.interval_ms())
            .unwrap_or(u32::MAX)
            .max(1)
    }

    pub fn interval_ms(self) -> u64 {
        u64::try_from(self.interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// How far ahead of now the next token may be due while one can still be taken.
    fn tolerance_ms(self) -> u64 {
        self.interval_ms().saturating_mul(u64::from(self.burst - 1))
    }
}

/// One take from a bucket whose next token is due at `due_ms` (`None`: a full bucket) at
/// `now_ms`: `Ok(new due time)` when a token was there, `Err(ms until one is)` when not (and the
/// bucket is left as it was). The Redis script is this function, line for line.
pub fn take(due_ms: Option<u64>, now_ms: u64, rate: Rate) -> Result<u64, u64> {
    let due = due_ms.unwrap_or(now_ms).max(now_ms);
    let ahead = due - now_ms;
    if ahead > rate.tolerance_ms() {
        return Err(ahead - rate.tolerance_ms());
    }
    Ok(due + rate.interval_ms())
}

/// What a limited caller is told: how long until it may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    pub fn retry_after_ms(self) -> u64 {
        u64::try_from(self.retry_after.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// A bucket local to one socket (no shared state needed): its control frames.
#[derive(Debug, Clone)]
pub struct LocalBucket {
    rate: Rate,
    due_ms: Option<u64>,
}

impl LocalBucket {
    pub fn new(rate: Rate) -> Self {
        Self { rate, due_ms: None }
    }

    pub fn take(&mut self, now_ms: u64) -> Result<(), Limited> {
        match take(self.due_ms, now_ms, self.rate) {
            Ok(due) => {
                self.due_ms = Some(due);
                Ok(())
            }
            Err(wait) => Err(Limited {
                retry_after: Duration::from_millis(wait),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let rate = Rate::per_second(10, 3);
        let mut due = None;
        for _ in 0..3 {
            due = Some(take(due, 1_000, rate).expect("within the burst"));
        }
        assert_eq!(
            take(due, 1_000, rate),
            Err(100),
            "the fourth waits one interval"
        );
        assert_eq!(take(due, 1_050, rate), Err(50));
        let due = take(due, 1_100, rate).expect("a token came back");
        assert_eq!(take(Some(due), 1_100, rate), Err(100));
        // Left alone, the bucket fills up again, and no further than the burst.
        let mut due = Some(due);
        for _ in 0..3 {
            due = Some(take(due, 60_000, rate).expect("full again"));
        }
        assert!(take(due, 60_000, rate).is_err());
    }

    #[test]
    fn rates_are_whole_milliseconds() {
        assert_eq!(Rate::per_second(10, 20).interval_ms(), 100);
        assert_eq!(Rate::per_minute(10, 10).interval_ms(), 6_000);
        assert_eq!(Rate::per_second(0, 0), Rate::per_second(1, 1));
    }

    #[test]
    fn a_local_bucket_says_how_long_to_wait() {
        let mut bucket = LocalBucket::new(Rate::per_second(2, 1));
        assert!(bucket.take(0).is_ok());
        let limited = bucket.take(100).unwrap_err();
        assert_eq!(limited.retry_after_ms(), 400);
        assert!(bucket.take(500).is_ok());
    }
}
