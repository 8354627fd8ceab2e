//! At most one frame of a kind per room and instance per [`FRAME_WINDOW`]: the first change in a quiet
//! room goes out at once, the changes during the window together at its end. Frames that every
//! socket of a room gets for every change (presence, typing) would otherwise cost a crowd of N
//! N² frames.

use tokio::time::{Duration, Instant};

/// The shortest time between two frames of a kind in one room.
pub const FRAME_WINDOW: Duration = Duration::from_secs(1);

/// What a change asks of the hub.
#[derive(Debug, PartialEq, Eq)]
pub enum Flush {
    /// Encode and send the frame now.
    Now,
    /// Send it at this moment (the window ends then): schedule a flush.
    At(Instant),
    /// A flush is scheduled already.
    Nothing,
}

#[derive(Debug, Default)]
pub struct Window {
    last: Option<Instant>,
    scheduled: bool,
}

impl Window {
    /// Something changed at `now`: when its frame should go.
    pub fn changed(&mut self, now: Instant) -> Flush {
        if self.scheduled {
            return Flush::Nothing;
        }
        match self.last {
            Some(at) if now < at + FRAME_WINDOW => {
                self.scheduled = true;
                Flush::At(at + FRAME_WINDOW)
            }
            _ => Flush::Now,
        }
    }

    /// A flush ran at `now`; `sent` says whether it sent a frame (which starts a window).
    pub fn flushed(&mut self, now: Instant, sent: bool) {
        self.scheduled = false;
        if sent {
            self.last = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_goes_at_once_and_the_rest_at_the_windows_end() {
        let t0 = Instant::now();
        let mut w = Window::default();
        assert_eq!(w.changed(t0), Flush::Now);
        w.flushed(t0, true);
        let later = t0 + Duration::from_millis(300);
        assert_eq!(w.changed(later), Flush::At(t0 + FRAME_WINDOW));
        assert_eq!(w.changed(later), Flush::Nothing, "already scheduled");
        w.flushed(t0 + FRAME_WINDOW, true);
        assert_eq!(
            w.changed(t0 + FRAME_WINDOW * 3),
            Flush::Now,
            "a quiet window passed"
        );
    }
}
