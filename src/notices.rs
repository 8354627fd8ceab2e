//! "alice joined" / "bob left": join and leave notices, throttled per room.
//!
//! Every notice goes to every member of the room, so one notice per socket makes a crowd of N
//! joining a room cost N² frames (10,000 users: 50 million). Instead, each room posts at most one
//! notice of each kind per [`NOTICE_WINDOW`] from this instance: the first one at once (a quiet room
//! sees "alice joined" immediately), and the ones during the window together at its end ("bob,
//! carol, dave, erin and 496 others joined"). A user who leaves and comes back within the window
//! (a page refresh, a reconnect to this instance) cancels out: neither notice is posted.

use crate::backend::MessageLog;
use app::protocol::{Draft, MessageKind, Others, RoomName, User, UserId};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// At most one notice of each kind per room and instance in this time.
pub const NOTICE_WINDOW: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Notices {
    inner: Arc<Inner>,
}

struct Inner {
    log: Arc<dyn MessageLog>,
    /// Rooms inside a window: a notice was posted less than [`NOTICE_WINDOW`] ago. Short critical
    /// sections only, never held across an await.
    rooms: Mutex<HashMap<RoomName, Waiting>>,
}

/// Who joined and left a room since its last notice: each user at most once per list (a crowd
/// of N costs N entries and constant time each), in the order they came.
#[derive(Default)]
struct Waiting {
    joined: HashMap<UserId, (u64, User)>,
    left: HashMap<UserId, (u64, User)>,
    /// Order of arrival, for naming users in the order they came.
    next: u64,
}

impl Waiting {
    fn list(&mut self, kind: MessageKind) -> &mut HashMap<UserId, (u64, User)> {
        match kind {
            MessageKind::Leave => &mut self.left,
            _ => &mut self.joined,
        }
    }

    fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

/// The users of a list, in the order they came.
fn in_order(list: HashMap<UserId, (u64, User)>) -> Vec<User> {
    let mut users: Vec<(u64, User)> = list.into_values().collect();
    users.sort_unstable_by_key(|(at, _)| *at);
    users.into_iter().map(|(_, user)| user).collect()
}

impl Notices {
    pub fn new(log: Arc<dyn MessageLog>) -> Self {
        Self {
            inner: Arc::new(Inner {
                log,
                rooms: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `user` joined (`kind` = join) or left (leave) `room`. Returns at once; the notice is
    /// posted now or at the end of the room's window.
    pub fn announce(&self, room: &RoomName, kind: MessageKind, user: &User) {
        let opposite = match kind {
            MessageKind::Join => MessageKind::Leave,
            MessageKind::Leave => MessageKind::Join,
            _ => return,
        };
        {
            let mut rooms = self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(waiting) = rooms.get_mut(room) {
                // Back (or gone) again before the notice went out: neither is posted.
                if waiting.list(opposite).remove(&user.id).is_some() {
                    return;
                }
                let at = waiting.next;
                waiting.next += 1;
                waiting
                    .list(kind)
                    .entry(user.id)
                    .or_insert_with(|| (at, user.clone()));
                return;
            }
            rooms.insert(room.clone(), Waiting::default());
        }
        // Outside a window: post now, and open one.
        let this = self.clone();
        let room = room.clone();
        let user = user.clone();
        tokio::spawn(async move {
            this.post(&room, kind, std::slice::from_ref(&user)).await;
            this.window(room).await;
        });
    }

    /// Runs windows for `room` until one passes with nothing to post.
    async fn window(&self, room: RoomName) {
        loop {
            tokio::time::sleep(NOTICE_WINDOW).await;
            let waiting = {
                let mut rooms = self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner());
                let Some(waiting) = rooms.get_mut(&room) else {
                    return;
                };
                if waiting.is_empty() {
                    rooms.remove(&room);
                    return;
                }
                std::mem::take(waiting)
            };
            self.post(&room, MessageKind::Join, &in_order(waiting.joined))
                .await;
            self.post(&room, MessageKind::Leave, &in_order(waiting.left))
                .await;
        }
    }

    async fn post(&self, room: &RoomName, kind: MessageKind, users: &[User]) {
        let Some(first) = users.first() else {
            return;
        };
        let draft = Draft {
            others: Others::after_first(users),
            ..Draft::new(first.clone(), kind, "")
        };
        if let Err(e) = self.inner.log.append(room, &draft).await {
            tracing::warn!(error = %e, ?kind, users = users.len(), "could not post a notice");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{backend, settings::StoreSettings, testing::user};
    use app::protocol::ChatMessage;

    async fn setup() -> (Notices, Arc<dyn MessageLog>, RoomName) {
        let log = backend::memory::start(&StoreSettings::default()).stores.log;
        (Notices::new(log.clone()), log, RoomName::lobby())
    }

    /// Waits (in paused time) until the room holds `n` notices, and returns them.
    async fn posted(log: &Arc<dyn MessageLog>, room: &RoomName, n: usize) -> Vec<ChatMessage> {
        for _ in 0..100 {
            let recent = log.recent(room, 100).await.unwrap();
            if recent.len() >= n {
                return recent;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("fewer than {n} notices");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_room_hears_at_once_and_a_crowd_in_one_notice() {
        let (notices, log, room) = setup().await;
        let crowd: Vec<User> = (0..25).map(|i| user(&format!("u{i}"))).collect();
        for u in &crowd {
            notices.announce(&room, MessageKind::Join, u);
        }
        let first = posted(&log, &room, 1).await;
        assert_eq!(first[0].user, crowd[0]);
        assert_eq!(first[0].others, None);
        assert_eq!(first.len(), 1, "the rest wait for the window to end");
        // The other 24 come together at the end of the window: one as the user, 3 more named,
        // 20 counted.
        let both = posted(&log, &room, 2).await;
        let others = both[1].others.clone().expect("a crowd notice");
        assert_eq!(both[1].user, crowd[1]);
        assert_eq!(others.users, crowd[2..5]);
        assert_eq!((others.more, others.count()), (20, 23));
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_and_coming_back_within_the_window_posts_nothing() {
        let (notices, log, room) = setup().await;
        let (alice, bob) = (user("alice"), user("bob"));
        notices.announce(&room, MessageKind::Join, &alice);
        posted(&log, &room, 1).await;
        // Bob refreshes: leaves and joins again; Alice's second tab joins.
        notices.announce(&room, MessageKind::Leave, &bob);
        notices.announce(&room, MessageKind::Join, &bob);
        notices.announce(&room, MessageKind::Join, &alice);
        notices.announce(&room, MessageKind::Join, &alice);
        tokio::time::sleep(NOTICE_WINDOW * 3).await;
        let all = log.recent(&room, 100).await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!((all[1].kind, &all[1].user), (MessageKind::Join, &alice));
        // The window closed with nothing waiting: the next notice is immediate again.
        notices.announce(&room, MessageKind::Leave, &bob);
        let last = posted(&log, &room, 3).await;
        assert_eq!((last[2].kind, &last[2].user), (MessageKind::Leave, &bob));
    }
}
