//! Who is here: this instance's share of every room's presence, kept alive in the backend's
//! [`PresenceStore`], and the "joined" / "left" notices that presence transitions post.
//!
//! Presence is held in the store, not in instance memory, so it is true across instances and
//! survives the death of one: each instance holds an entry per (room, user) it has sockets for,
//! pushing its deadline [`PresenceSettings::ttl`] ahead every third of it. A `kill -9`'d instance stops
//! pushing; its users' entries end within the TTL and the next sweep (by any instance with
//! sockets in the room) removes them, unless they reconnected elsewhere, which added an entry
//! of the new instance first: then they never flicker out.
//!
//! When a user's last socket on this instance leaves a room, the entry is not removed but given
//! a short [`PresenceSettings::grace`]: a refresh, a reconnect or a move to another instance within it
//! finds the user still present, so it changes nothing and posts no notice. Notices come only
//! from transitions the store reports — a first entry (arrived) or a last entry swept (departed)
//! — and each transition is reported to exactly one caller.

use crate::{backend::PresenceStore, clock::unix_ms, notices::Notices, settings::PresenceSettings};
use app::protocol::{MessageKind, RoomName, User, UserId};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn PresenceStore>,
    notices: Notices,
    settings: PresenceSettings,
    /// This instance's sockets per room and user, and rooms it still sweeps for a while after
    /// its last socket there left (so that user's departure is announced even in a room no
    /// other instance watches). Short critical sections only.
    local: Mutex<Local>,
}

#[derive(Default)]
struct Local {
    rooms: HashMap<RoomName, HashMap<UserId, Sockets>>,
    /// Rooms without sockets here, swept until the tick after this (unix ms).
    lingering: HashMap<RoomName, u64>,
}

/// A user's sockets in one room on this instance.
struct Sockets {
    user: User,
    sockets: u32,
}

/// One socket's presence in one room; dropping it leaves (see [`Presence::leave`]).
pub struct Here {
    presence: Presence,
    room: RoomName,
    user: UserId,
}

impl Drop for Here {
    fn drop(&mut self) {
        self.presence.leave(&self.room, self.user);
    }
}

impl Presence {
    pub fn new(
        store: Arc<dyn PresenceStore>,
        notices: Notices,
        settings: PresenceSettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                notices,
                settings,
                local: Mutex::new(Local::default()),
            }),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.inner.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many (room, user) pairs this instance holds presence for (for the metrics).
    pub fn held(&self) -> usize {
        self.local().rooms.values().map(HashMap::len).sum()
    }

    /// A socket of `user` entered `room`. Its first socket there holds an entry in the store
    /// (a failure is logged; the next tick holds it again); a user who arrived with it is
    /// announced. The socket is here until the returned guard drops.
    pub async fn enter(&self, room: &RoomName, user: &User) -> Here {
        let here = Here {
            presence: self.clone(),
            room: room.clone(),
            user: user.id,
        };
        self.hold_first(room, user).await;
        here
    }

    async fn hold_first(&self, room: &RoomName, user: &User) {
        let first = {
            let mut local = self.local();
            local.lingering.remove(room);
            let here = local
                .rooms
                .entry(room.clone())
                .or_default()
                .entry(user.id)
                .or_insert_with(|| Sockets {
                    user: user.clone(),
                    sockets: 0,
                });
            here.sockets += 1;
            here.sockets == 1
        };
        if !first {
            return;
        }
        let until = unix_ms() + millis(self.inner.settings.ttl);
        match self
            .inner
            .store
            .hold(room, std::slice::from_ref(user), until)
            .await
        {
            Ok(arrived) => {
                for user in &arrived {
                    self.inner.notices.announce(room, MessageKind::Join, user);
                }
            }
            Err(e) => tracing::warn!(error = %e, %room, "could not record presence"),
        }
    }

    /// A socket of `user` left `room` (it left the room, or closed). After their last socket
    /// here, the entry ends after the grace period unless held again.
    fn leave(&self, room: &RoomName, user: UserId) {
        let settings = self.inner.settings;
        let until = unix_ms() + millis(settings.grace);
        let last = {
            let mut local = self.local();
            let Some(users) = local.rooms.get_mut(room) else {
                return;
            };
            let Some(here) = users.get_mut(&user) else {
                return;
            };
            here.sockets -= 1;
            let last = here.sockets == 0;
            if last {
                users.remove(&user);
                if users.is_empty() {
                    local.rooms.remove(room);
                    let swept_until = until + 2 * millis(settings.tick());
                    local.lingering.insert(room.clone(), swept_until);
                }
            }
            last
        };
        if !last {
            return;
        }
        let store = self.inner.store.clone();
        let room = room.clone();
        tokio::spawn(async move {
            if let Err(e) = store.release(&room, user, until).await {
                // The entry then ends with its TTL instead of the grace period.
                tracing::warn!(error = %e, %room, "could not release presence");
            }
        });
    }

    /// Holds this instance's entries again and sweeps ended ones in its rooms, every
    /// [`PresenceSettings::tick`], until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.inner.settings.tick());
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.refresh().await,
            }
        }
    }

    /// One tick: for each room with sockets here, hold their users' entries and sweep; sweep
    /// the rooms whose last socket here left recently.
    pub async fn refresh(&self) {
        let rooms: Vec<(RoomName, Vec<User>)> = {
            let mut local = self.local();
            let now = unix_ms();
            local.lingering.retain(|_, until| *until >= now);
            let lingering = local
                .lingering
                .keys()
                .map(|room| (room.clone(), Vec::new()));
            local
                .rooms
                .iter()
                .map(|(room, users)| {
                    (
                        room.clone(),
                        users.values().map(|h| h.user.clone()).collect(),
                    )
                })
                .chain(lingering)
                .collect()
        };
        let settings = self.inner.settings;
        for (room, users) in rooms {
            let now = unix_ms();
            // Users arriving here were already present from this instance's point of view (an
            // entry the store lost, with Redis restarted): listed again, but not announced.
            if let Err(e) = self
                .inner
                .store
                .hold(&room, &users, now + millis(settings.ttl))
                .await
            {
                tracing::warn!(error = %e, %room, "could not hold presence");
                continue;
            }
            match self.inner.store.sweep(&room, now).await {
                Ok(departed) => {
                    // An entry that ended long ago (nobody was here to sweep it) is removed
                    // quietly: "left" an hour late would mislead.
                    let fresh = now.saturating_sub(2 * millis(settings.ttl));
                    for (user, ended) in departed.iter().filter(|(_, ended)| *ended >= fresh) {
                        tracing::debug!(%room, user = %user.name, ended, "departed");
                        self.inner.notices.announce(&room, MessageKind::Leave, user);
                    }
                }
                Err(e) => tracing::warn!(error = %e, %room, "could not sweep presence"),
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
