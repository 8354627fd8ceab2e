//! Wall-clock time as the backends store it: unix milliseconds.
//!
//! Read as the wall clock at the first reading plus the time tokio's clock says has passed
//! since. So it never goes backwards when the system clock is stepped, and with tokio's time
//! paused in tests, deadlines stored as unix times (presence) expire as paused time advances.

use std::{
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::time::Instant;

static START: OnceLock<(u64, Instant)> = OnceLock::new();

/// Now, in unix milliseconds.
pub fn unix_ms() -> u64 {
    let (wall, at) = *START.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        (wall, Instant::now())
    });
    wall.saturating_add(u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX))
}
