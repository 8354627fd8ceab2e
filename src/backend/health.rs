//! Whether this instance can deliver messages right now: the truth behind `/readyz`.
//!
//! "Connected to Redis" is not enough: a pub/sub connection can be open and deaf (a proxy that
//! stopped forwarding, a half-open TCP connection, a paused server). So the Redis subscriber
//! proves itself by a round trip: it publishes on this instance's own probe channel through the
//! command connection and must hear it back on the subscriber connection. [`Health`] records when
//! it last did; older than the deadline means not ready (and the subscriber restarts itself).

use std::sync::{Arc, Mutex};
use tokio::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Health(Arc<Kind>);

#[derive(Debug)]
enum Kind {
    /// Nothing outside the process to fail (the in-memory backend).
    Always,
    /// Ready while the last probe round trip is younger than `deadline`.
    Probed {
        last_heard: Mutex<Option<Instant>>,
        deadline: Duration,
    },
}

impl Health {
    pub fn always() -> Self {
        Self(Arc::new(Kind::Always))
    }

    /// Not ready until the first round trip is heard.
    pub fn probed(deadline: Duration) -> Self {
        Self(Arc::new(Kind::Probed {
            last_heard: Mutex::new(None),
            deadline,
        }))
    }

    /// A probe made the round trip just now.
    pub fn heard(&self) {
        if let Kind::Probed { last_heard, .. } = &*self.0 {
            *last_heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
    }

    /// The subscriber lost its connection: not ready until a probe is heard again.
    pub fn lost(&self) {
        if let Kind::Probed { last_heard, .. } = &*self.0 {
            *last_heard.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// Time since the last round trip (`None`: none heard since start or since the last loss).
    pub fn silence(&self) -> Option<Duration> {
        match &*self.0 {
            Kind::Always => Some(Duration::ZERO),
            Kind::Probed { last_heard, .. } => last_heard
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .map(|at| at.elapsed()),
        }
    }

    /// Ok when messages can flow; else why not, for the readiness answer and the logs.
    pub fn check(&self) -> Result<(), &'static str> {
        match &*self.0 {
            Kind::Always => Ok(()),
            Kind::Probed { deadline, .. } => match self.silence() {
                Some(silence) if silence <= *deadline => Ok(()),
                Some(_) => Err("redis pub/sub is not answering"),
                None => Err("redis pub/sub is not connected"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_only_while_the_round_trip_is_fresh() {
        let health = Health::probed(Duration::from_secs(3));
        assert!(health.check().is_err(), "not ready before the first probe");
        health.heard();
        assert!(health.check().is_ok());
        tokio::time::advance(Duration::from_millis(2_900)).await;
        assert!(health.check().is_ok());
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(health.check(), Err("redis pub/sub is not answering"));
        health.heard();
        assert!(health.check().is_ok());
        health.lost();
        assert_eq!(health.check(), Err("redis pub/sub is not connected"));
        assert!(Health::always().check().is_ok());
    }
}
