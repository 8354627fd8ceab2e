//! When to reconnect, and when a quiet connection counts as dead.
//!
//! Pure policy: randomness and time come in as arguments (`random` in `[0, 1)`, `now_ms` on one
//! clock of the caller's choosing), so the rules are unit-tested on the native target and the
//! browser task only supplies `Math.random()`, `Date.now()` and the sockets.

use crate::protocol::{close_code, silence_limit_ms, HEARTBEAT_SECS};

/// Backoff: the first reconnect after a loss waits up to this long...
pub const BACKOFF_BASE_MS: u64 = 250;
/// ...doubling per failed attempt, up to this: a service that comes back is found within about
/// this long. Full jitter below the cap still spreads a crowd: N clients of an outage probe about
/// N / (cap / 2) times a second between them, each probe a `204` that renders nothing.
pub const BACKOFF_CAP_MS: u64 = 2_000;
/// A connection that lasted this long was healthy: the next loss starts the backoff afresh.
pub const STABLE_MS: u64 = 10_000;
/// After a 1012 (the instance is restarting) reconnect within this, at random: the other
/// instances are fine, and the randomness spreads the drained sockets over them.
pub const RESTART_DELAY_MAX_MS: u64 = 1_000;

/// `random` (in `[0, 1)`) of the way up to `limit_ms`, never more than `limit_ms`.
fn fraction_of(limit_ms: u64, random: f64) -> u64 {
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((random * limit_ms as f64) as u64).min(limit_ms)
}

/// Exponential backoff with full jitter for the `attempt`th reconnect in a row (1-based): a
/// delay up to `min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2^(attempt-1))`, chosen by `random`. Full
/// jitter keeps a crowd of clients that lost the same instance from coming back in step.
pub fn backoff_ms(attempt: u32, random: f64) -> u64 {
    let ceiling = BACKOFF_BASE_MS
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP_MS);
    fraction_of(ceiling, random)
}

/// What to do after a connection was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then probe for a live instance and reconnect.
    Reconnect { delay_ms: u64 },
    /// The session is gone (logged out elsewhere, or expired): stop, and show the login form.
    LogIn,
}

/// The reconnect policy of one page: how many attempts in a row have failed, and so how long
/// the next wait is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconnect {
    failures: u32,
}

impl Reconnect {
    pub fn new() -> Self {
        Self::default()
    }

    /// Failed attempts in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection, or an attempt at one, ended. `code` is its close code (None when the socket
    /// failed without one, or went silent), `connected_ms` how long it had been connected
    /// (since `hello`; 0 if never).
    pub fn lost(&mut self, code: Option<u16>, connected_ms: u64, random: f64) -> Next {
        match code {
            Some(close_code::LOGGED_OUT) => Next::LogIn,
            // A planned restart is not a failure: come back soon, elsewhere.
            Some(close_code::RESTART) => {
                self.failures = 0;
                Next::Reconnect {
                    delay_ms: fraction_of(RESTART_DELAY_MAX_MS, random),
                }
            }
            // Anything else, including 1013 (resume with `after=`) and 1003/1009 (the server
            // refused a frame of ours; this client never means to send such, so it is a bug
            // or a broken proxy, and hammering the server would not help): an ordinary loss.
            _ => {
                if connected_ms >= STABLE_MS {
                    self.failures = 0;
                }
                self.failures = self.failures.saturating_add(1);
                Next::Reconnect {
                    delay_ms: backoff_ms(self.failures, random),
                }
            }
        }
    }

    /// The probe before a reconnect found no live instance: wait longer before the next one.
    pub fn probe_failed(&mut self, random: f64) -> u64 {
        self.failures = self.failures.saturating_add(1);
        backoff_ms(self.failures, random)
    }
}

/// Which transport the page's connection runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// A WebSocket (`/ws`): the usual way.
    #[default]
    Socket,
    /// Server-Sent Events for what the server sends (`/sse`) and posts for what the page sends:
    /// for networks that block WebSockets.
    Events,
}

/// Socket attempts in a row through which the server is never heard (refused, or silent: no
/// `hello`, and no close frame of the server's) after which the page takes the event stream
/// instead. The page tries a socket only after its probe of `/` was answered, so the server is
/// up and it is the WebSocket that does not get through...
pub const SOCKET_MISSES: u32 = 2;
/// ...counting a socket that has not said `hello` this long after opening as one that failed.
pub const HELLO_WITHIN_MS: u64 = 5_000;
/// While on the event stream, a WebSocket is tried again in the background this often, and the
/// page moves back to it once one says `hello`.
pub const SOCKET_RETRY_MS: u64 = 15_000;

/// Chooses the transport: WebSockets until [`SOCKET_MISSES`] attempts in a row end before their
/// `hello`, then the event stream, until a background WebSocket works again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transports {
    via: Via,
    misses: u32,
}

impl Transports {
    pub fn via(&self) -> Via {
        self.via
    }

    /// A connection over `via` ended; `got_through` is whether the server was heard through it
    /// (its `hello`, or a close frame of its own). Returns the transport for the next attempt.
    pub fn ended(&mut self, via: Via, got_through: bool) -> Via {
        match (via, got_through) {
            (Via::Socket, true) => self.misses = 0,
            (Via::Socket, false) => {
                self.misses = self.misses.saturating_add(1);
                if self.misses >= SOCKET_MISSES {
                    self.via = Via::Events;
                }
            }
            (Via::Events, _) => {}
        }
        self.via
    }

    /// A WebSocket tried in the background said `hello`: back to WebSockets.
    pub fn sockets_work(&mut self) {
        self.via = Via::Socket;
        self.misses = 0;
    }
}

/// Words for the status banner about why a socket closed with `code` (and the server's `reason`
/// text, which may be empty).
pub fn close_reason(code: u16, reason: &str) -> String {
    match (code, reason) {
        (close_code::RESTART, _) => "the server is restarting".to_owned(),
        (close_code::LOGGED_OUT, _) => "you were logged out".to_owned(),
        (close_code::UNSUPPORTED | close_code::TOO_BIG, _) => {
            format!("the server refused a frame from this page, code {code}")
        }
        (_, "") => format!("connection closed, code {code}"),
        (_, reason) => reason.to_owned(),
    }
}

/// After the page wakes up, the socket must answer a `ping` within twice the time its opening
/// took (from opening to `hello`, a few round trips and the server's work), but at least this...
pub const WAKE_CHECK_MIN_MS: u64 = 500;
/// ...and at most this.
pub const WAKE_CHECK_MAX_MS: u64 = 5_000;

/// Tells a quiet connection from a dead one. The browser cannot see a half-open TCP connection,
/// so a socket that hears nothing (not even a heartbeat) for [`silence_limit_ms`] of the
/// heartbeat interval counts as dead. Until `hello` announces the server's interval it assumes
/// [`HEARTBEAT_SECS`].
///
/// A page that wakes up (see [`Watchdog::woke`]) does not wait for that limit: it asks the
/// server (`ping`) and gives the answer a short time, since a socket that slept with its page is
/// often dead without a close event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    heartbeat_ms: u64,
    heard_at_ms: u64,
    opened_at_ms: u64,
    /// How long a wake-up's `ping` may go unanswered.
    check_ms: u64,
    /// A wake-up's `ping` is out: the connection is dead unless something arrives by then.
    check_by_ms: Option<u64>,
}

impl Watchdog {
    /// A watchdog for a socket opened at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            heartbeat_ms: HEARTBEAT_SECS * 1_000,
            heard_at_ms: now_ms,
            opened_at_ms: now_ms,
            check_ms: WAKE_CHECK_MAX_MS,
            check_by_ms: None,
        }
    }

    /// A frame (any frame) arrived at `now_ms`.
    pub fn heard(&mut self, now_ms: u64) {
        self.heard_at_ms = now_ms;
        self.check_by_ms = None;
    }

    /// `hello` arrived at `now_ms` announcing the server's heartbeat interval.
    pub fn hello(&mut self, heartbeat_ms: u64, now_ms: u64) {
        self.heartbeat_ms = heartbeat_ms;
        self.check_ms = now_ms
            .saturating_sub(self.opened_at_ms)
            .saturating_mul(2)
            .clamp(WAKE_CHECK_MIN_MS, WAKE_CHECK_MAX_MS);
        self.heard(now_ms);
    }

    /// The page woke up at `now_ms` (shown again, resumed, back online). True when the socket
    /// should be asked whether it lives (send a `ping`): unless a question is out already. From
    /// then on the connection counts as dead if nothing arrives within the wake-up check's time.
    ///
    /// A frame heard just before is no proof of life: what arrived while the page was frozen is
    /// read as it resumes, before the wake-up, and looks fresh however long ago it was sent.
    pub fn woke(&mut self, now_ms: u64) -> bool {
        if self.check_by_ms.is_some() {
            return false;
        }
        self.check_by_ms = Some(now_ms.saturating_add(self.check_ms));
        true
    }

    /// A wake-up's `ping` is waiting for its answer.
    pub fn checking(&self) -> bool {
        self.check_by_ms.is_some()
    }

    pub fn heartbeat_ms(&self) -> u64 {
        self.heartbeat_ms
    }

    /// How long this connection may stay silent.
    pub fn limit_ms(&self) -> u64 {
        silence_limit_ms(self.heartbeat_ms)
    }

    /// When the connection counts as dead unless something arrives first.
    pub fn deadline_ms(&self) -> u64 {
        let silence = self.heard_at_ms.saturating_add(self.limit_ms());
        self.check_by_ms.map_or(silence, |by| by.min(silence))
    }

    pub fn is_silent(&self, now_ms: u64) -> bool {
        now_ms >= self.deadline_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_ceiling() {
        assert_eq!(backoff_ms(1, 0.0), 0);
        assert_eq!(backoff_ms(1, 0.5), 125);
        assert_eq!(backoff_ms(1, 0.999_999), 249);
        assert_eq!(backoff_ms(2, 0.999_999), 499);
        assert_eq!(backoff_ms(3, 0.5), 500);
        assert_eq!(backoff_ms(4, 0.5), 1_000);
        assert_eq!(backoff_ms(5, 0.5), BACKOFF_CAP_MS / 2, "capped");
        assert_eq!(
            backoff_ms(30, 0.999_999),
            BACKOFF_CAP_MS - 1,
            "a returning service is found within the cap"
        );
        assert_eq!(backoff_ms(u32::MAX, 1.0), BACKOFF_CAP_MS);
        assert_eq!(backoff_ms(0, 1.0), BACKOFF_BASE_MS, "attempt 0 counts as 1");
    }

    #[test]
    fn odd_randomness_stays_within_the_ceiling() {
        assert_eq!(backoff_ms(3, -1.0), 0);
        assert_eq!(backoff_ms(3, 7.0), 1_000);
        assert_eq!(backoff_ms(3, f64::NAN), 0);
    }

    #[test]
    fn losses_in_a_row_back_off_further() {
        let mut policy = Reconnect::new();
        let delays: Vec<Next> = (0..3).map(|_| policy.lost(None, 0, 1.0)).collect();
        assert_eq!(
            delays,
            [250, 500, 1_000].map(|delay_ms| Next::Reconnect { delay_ms })
        );
        assert_eq!(policy.probe_failed(1.0), 2_000);
        assert_eq!(policy.failures(), 4);
    }

    #[test]
    fn a_stable_connection_resets_the_backoff() {
        let mut policy = Reconnect::new();
        for _ in 0..2 {
            policy.lost(None, 0, 0.5);
        }
        assert_eq!(
            policy.lost(Some(close_code::AGAIN), STABLE_MS - 1, 1.0),
            Next::Reconnect { delay_ms: 1_000 },
            "a short connection does not"
        );
        assert_eq!(
            policy.lost(Some(close_code::AGAIN), STABLE_MS, 1.0),
            Next::Reconnect { delay_ms: 250 }
        );
        assert_eq!(policy.failures(), 1);
    }

    #[test]
    fn a_restart_reconnects_soon_and_resets_the_backoff() {
        let mut policy = Reconnect::new();
        for _ in 0..5 {
            policy.lost(None, 0, 0.5);
        }
        assert_eq!(
            policy.lost(Some(close_code::RESTART), 0, 0.5),
            Next::Reconnect { delay_ms: 500 }
        );
        assert_eq!(policy.failures(), 0);
        assert_eq!(
            policy.lost(Some(close_code::RESTART), 0, 1.0),
            Next::Reconnect {
                delay_ms: RESTART_DELAY_MAX_MS
            }
        );
    }

    #[test]
    fn logged_out_stops_reconnecting() {
        let mut policy = Reconnect::new();
        assert_eq!(
            policy.lost(Some(close_code::LOGGED_OUT), 60_000, 0.5),
            Next::LogIn
        );
    }

    #[test]
    fn refused_frames_are_ordinary_losses() {
        for code in [close_code::UNSUPPORTED, close_code::TOO_BIG] {
            let mut policy = Reconnect::new();
            policy.lost(None, 0, 0.5);
            assert_eq!(
                policy.lost(Some(code), 0, 1.0),
                Next::Reconnect { delay_ms: 500 }
            );
        }
    }

    #[test]
    fn close_reasons_read_well() {
        assert_eq!(close_reason(1012, ""), "the server is restarting");
        assert_eq!(close_reason(1013, ""), "connection closed, code 1013");
        assert_eq!(close_reason(1013, "lagged"), "lagged");
        assert!(close_reason(1009, "").contains("1009"));
        assert_eq!(close_reason(4401, "bye"), "you were logged out");
    }

    #[test]
    fn silence_is_measured_from_the_last_frame() {
        let mut dog = Watchdog::new(1_000);
        assert_eq!(dog.heartbeat_ms(), HEARTBEAT_SECS * 1_000);
        assert_eq!(
            dog.deadline_ms(),
            1_000 + silence_limit_ms(HEARTBEAT_SECS * 1_000)
        );
        dog.heard(20_000);
        assert!(!dog.is_silent(20_000 + dog.limit_ms() - 1));
        assert!(dog.is_silent(20_000 + dog.limit_ms()));
    }

    #[test]
    fn the_limit_follows_the_heartbeat_announced_in_hello() {
        let mut dog = Watchdog::new(0);
        dog.hello(55_000, 1_000);
        assert_eq!(dog.limit_ms(), 115_000);
        assert!(
            !dog.is_silent(1_000 + 60_000),
            "a long heartbeat keeps a quiet socket alive"
        );
        assert!(dog.is_silent(1_000 + 115_000));

        let mut quick = Watchdog::new(0);
        quick.hello(2_000, 0);
        assert!(
            quick.is_silent(9_000),
            "a short heartbeat finds a dead socket sooner"
        );
    }

    #[test]
    fn a_wake_up_asks_the_socket_and_gives_it_twice_its_opening_time() {
        let mut dog = Watchdog::new(1_000);
        dog.hello(15_000, 1_400);
        // Ten quiet seconds later (a phone unlocked): ask, and expect an answer within 2 × 400 ms.
        let woke_at = 11_400;
        assert!(dog.woke(woke_at));
        assert!(dog.checking());
        assert!(!dog.woke(woke_at + 10), "one question at a time");
        assert_eq!(dog.deadline_ms(), woke_at + 800);
        assert!(!dog.is_silent(woke_at + 799));
        assert!(dog.is_silent(woke_at + 800));
        // The answer came: back to the heartbeat's limit.
        dog.heard(woke_at + 100);
        assert!(!dog.checking());
        assert_eq!(dog.deadline_ms(), woke_at + 100 + dog.limit_ms());
    }

    #[test]
    fn the_wake_up_check_is_bounded() {
        let mut fast = Watchdog::new(0);
        fast.hello(15_000, 5);
        assert!(fast.woke(10_000));
        assert_eq!(fast.deadline_ms(), 10_000 + WAKE_CHECK_MIN_MS);
        let mut slow = Watchdog::new(0);
        slow.hello(15_000, 60_000);
        assert!(slow.woke(70_000));
        assert_eq!(slow.deadline_ms(), 70_000 + WAKE_CHECK_MAX_MS);
    }

    #[test]
    fn two_sockets_that_never_say_hello_move_the_page_to_the_event_stream_and_back() {
        let mut transports = Transports::default();
        assert_eq!(transports.via(), Via::Socket);
        assert_eq!(
            transports.ended(Via::Socket, false),
            Via::Socket,
            "one miss"
        );
        assert_eq!(
            transports.ended(Via::Socket, true),
            Via::Socket,
            "a hello resets"
        );
        assert_eq!(transports.ended(Via::Socket, false), Via::Socket);
        assert_eq!(
            transports.ended(Via::Socket, false),
            Via::Events,
            "two in a row"
        );
        assert_eq!(
            transports.ended(Via::Events, false),
            Via::Events,
            "a stream's loss stays"
        );
        transports.sockets_work();
        assert_eq!(transports.via(), Via::Socket);
        assert_eq!(
            transports.ended(Via::Socket, false),
            Via::Socket,
            "counting afresh"
        );
    }
}
