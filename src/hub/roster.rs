//! One room's presence as this instance's sockets see it: the users present (from a snapshot
//! read when the room is first opened here, kept current by the transitions the backend
//! delivers) and the `presence` frame that shows them.
//!
//! A frame is encoded once per change for every socket in the room, and at most once per
//! [`super::window::FRAME_WINDOW`]: a crowd of N arriving costs each socket a few frames, not N. Each
//! frame carries a version, so a socket that took the current frame when it joined skips older
//! ones still in its channel.

use super::window::{Flush, Window};
use app::protocol::{RoomName, ServerMsg, User, UserId, MAX_LISTED_ONLINE};
use axum::extract::ws::Utf8Bytes;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// The users present, in the order the frame lists them (by name, then id).
type Users = BTreeMap<(String, UserId), User>;

/// A presence frame and its version (increasing per room on this instance).
#[derive(Debug, Clone)]
pub struct Frame {
    pub version: u64,
    pub bytes: Utf8Bytes,
}

#[derive(Default)]
pub struct Roster {
    users: Users,
    /// False until the snapshot is read (and while it is read again after an interruption):
    /// transitions are kept aside meanwhile and applied to the snapshot once it arrives.
    loaded: bool,
    pending: Vec<(Vec<User>, Vec<User>)>,
    /// The last frame sent.
    frame: Option<Frame>,
    /// Changed since the last frame.
    dirty: bool,
    window: Window,
}

fn key(user: &User) -> (String, UserId) {
    (user.name.to_string(), user.id)
}

impl Roster {
    /// Users arrived and departed (a transition the backend delivered).
    pub fn changed(&mut self, arrived: Vec<User>, departed: Vec<User>, now: Instant) -> Flush {
        if !self.loaded {
            self.pending.push((arrived, departed));
            return Flush::Nothing;
        }
        self.apply(arrived, departed);
        self.dirty = true;
        self.when(now)
    }

    fn apply(&mut self, arrived: Vec<User>, departed: Vec<User>) {
        for user in departed {
            self.users.remove(&key(&user));
        }
        for user in arrived {
            self.users.insert(key(&user), user);
        }
    }

    /// The snapshot was read: transitions delivered meanwhile are applied on top of it (those
    /// it already reflects change nothing: arriving twice or departing twice is the same).
    pub fn loaded(&mut self, snapshot: Vec<User>, now: Instant) -> Flush {
        self.users = snapshot.into_iter().map(|u| (key(&u), u)).collect();
        for (arrived, departed) in std::mem::take(&mut self.pending) {
            self.apply(arrived, departed);
        }
        self.loaded = true;
        self.dirty = true;
        self.when(now)
    }

    /// Delivery was interrupted: transitions may have been missed, so the snapshot is read again.
    pub fn reload(&mut self) {
        self.loaded = false;
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    fn when(&mut self, now: Instant) -> Flush {
        if !self.dirty {
            return Flush::Nothing;
        }
        self.window.changed(now)
    }

    /// Encodes the current frame (marking the window's start), if anything changed.
    pub fn flush(&mut self, room: &RoomName, now: Instant) -> Option<Frame> {
        self.window.flushed(now, self.dirty);
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let frame = ServerMsg::Presence {
            room: room.clone(),
            count: u32::try_from(self.users.len()).unwrap_or(u32::MAX),
            users: self
                .users
                .values()
                .take(MAX_LISTED_ONLINE)
                .cloned()
                .collect(),
        };
        let frame = Frame {
            version: self.frame.as_ref().map_or(1, |f| f.version + 1),
            bytes: frame.to_json().into(),
        };
        self.frame = Some(frame.clone());
        Some(frame)
    }

    /// The last frame sent, for a socket joining the room.
    pub fn frame(&self) -> Option<Frame> {
        self.frame.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::window::FRAME_WINDOW;
    use crate::testing::user;
    use tokio::time::Duration;

    fn listed(frame: &Frame) -> (u32, Vec<String>) {
        match serde_json::from_str(&frame.bytes).unwrap() {
            ServerMsg::Presence { count, users, .. } => (
                count,
                users.into_iter().map(|u| u.name.to_string()).collect(),
            ),
            other => panic!("not a presence frame: {other:?}"),
        }
    }

    #[test]
    fn transitions_before_the_snapshot_apply_on_top_of_it() {
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        let room = RoomName::lobby();
        let now = Instant::now();
        let mut p = Roster::default();
        // Delivered while the snapshot was being read: bob left, carol came.
        assert_eq!(
            p.changed(vec![carol.clone()], vec![bob.clone()], now),
            Flush::Nothing
        );
        assert_eq!(p.loaded(vec![alice, bob], now), Flush::Now);
        let frame = p.flush(&room, now).unwrap();
        assert_eq!(listed(&frame), (2, vec!["alice".into(), "carol".into()]));
    }

    #[test]
    fn one_frame_per_window_and_versions_increase() {
        let room = RoomName::lobby();
        let t0 = Instant::now();
        let mut p = Roster::default();
        p.loaded(Vec::new(), t0);
        let first = p.flush(&room, t0).unwrap();
        // A crowd arrives within the window: one scheduled flush at its end.
        assert_eq!(
            p.changed(vec![user("a")], vec![], t0 + Duration::from_millis(10)),
            Flush::At(t0 + FRAME_WINDOW)
        );
        for name in ["b", "c", "d"] {
            assert_eq!(p.changed(vec![user(name)], vec![], t0), Flush::Nothing);
        }
        let second = p.flush(&room, t0 + FRAME_WINDOW).unwrap();
        assert_eq!(listed(&second).0, 4);
        assert!(second.version > first.version);
        assert!(
            p.flush(&room, t0 + FRAME_WINDOW).is_none(),
            "nothing changed since"
        );
        // After a quiet window, the next change goes out at once.
        assert_eq!(
            p.changed(vec![user("e")], vec![], t0 + FRAME_WINDOW * 3),
            Flush::Now
        );
    }

    #[test]
    fn a_big_room_lists_the_first_names_and_counts_everyone() {
        let room = RoomName::lobby();
        let now = Instant::now();
        let mut p = Roster::default();
        let crowd: Vec<User> = (0..MAX_LISTED_ONLINE + 20)
            .map(|i| user(&format!("u{i:04}")))
            .collect();
        p.loaded(crowd, now);
        let (count, names) = listed(&p.flush(&room, now).unwrap());
        assert_eq!(count as usize, MAX_LISTED_ONLINE + 20);
        assert_eq!(names.len(), MAX_LISTED_ONLINE);
        assert_eq!(names[0], "u0000");
    }
}
