//! Who may enter which room: the one rule every door asks, over the durable records
//! ([`crate::memberships`]). The socket asks it before it subscribes to a room (the URL's room,
//! a `join`, a resume with `after=`, which is the same door), and the server-rendered page asks
//! it before it renders a room's history.
//!
//! - A **public** room is open to everyone signed in, guests too, unless they are banned from
//!   it. It comes into being when it is first entered, and entering it makes an account a member
//!   (so the directory counts it, and a ban has something to end).
//! - A **private** room or a **direct** conversation is open to its members only. Anyone else,
//!   guests always, hears [`Refusal::NotFound`], exactly what a room that does not exist says.
//!
//! When the records cannot be read, a private address stays shut and a public one opens (see
//! [`Access::unreadable`]): a database outage must not stop the public chat. Nor slow it: after a
//! failed read, doors decide without the records for [`HOLD_OFF`] (instead of each waiting for
//! the pool's timeout), then the next door asks again.
//!
//! The records are read at the door and nowhere else: a delivered message costs no check. What
//! keeps a removed member from reading on is the removal reaching their socket; what keeps them
//! from coming back is this rule, which reads the records the removal wrote first.

use crate::memberships::{MembershipError, Memberships, Role, Room, RoomKind, Standing};
use app::protocol::{RoomName, User};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// After the records fail a read, how long doors decide without them.
pub const HOLD_OFF: Duration = Duration::from_secs(2);

/// Why a door stayed shut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such room, or a private one this person is not a member of.
    #[error("There is no such room, or you are not a member of it.")]
    NotFound,
    /// Banned from this (public) room.
    #[error("You have been banned from this room.")]
    Banned,
    /// The records could not be read: nothing was decided, try again.
    #[error("Rooms are unavailable right now; try again shortly.")]
    Unavailable,
}

#[derive(Clone)]
pub struct Access {
    memberships: Arc<dyn Memberships>,
    breaker: Arc<Breaker>,
}

/// Whether the records failed lately: until when doors decide without them.
#[derive(Default)]
struct Breaker(Mutex<Option<Instant>>);

impl Breaker {
    fn trip(&self, now: Instant) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(now + HOLD_OFF);
    }

    fn tripped(&self, now: Instant) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| now < until)
    }
}

impl Access {
    pub fn new(memberships: Arc<dyn Memberships>) -> Self {
        Self {
            memberships,
            breaker: Arc::default(),
        }
    }

    /// `user` enters `room`: a public room is stored if new, and an account becomes its member.
    pub async fn enter(&self, user: &User, room: &RoomName) -> Result<Room, Refusal> {
        if self.breaker.tripped(Instant::now()) {
            return self.undecided(room);
        }
        if user.is_guest() {
            return self.public(room).await;
        }
        match self.memberships.standing(room, user.id).await {
            Ok(Some((found, Standing::Member(_)))) => Ok(found),
            Ok(Some((found, Standing::Outsider))) if found.kind == RoomKind::Public => {
                self.join_public(user, room).await?;
                Ok(found)
            }
            Ok(Some((found, Standing::Banned))) if found.kind == RoomKind::Public => {
                Err(Refusal::Banned)
            }
            Ok(Some(_)) => Err(Refusal::NotFound),
            Ok(None) => {
                let found = self.public(room).await?;
                self.join_public(user, room).await?;
                Ok(found)
            }
            Err(e) => self.unreadable(room, e),
        }
    }

    /// The records could not be read. A private address stays shut. A public one opens: its
    /// name says it is public (no private room can have it), and only a ban could have kept this
    /// person out, so a database outage does not stop the public chat; the membership it would
    /// have recorded is not.
    fn unreadable(&self, room: &RoomName, e: MembershipError) -> Result<Room, Refusal> {
        tracing::warn!(error = %e, %room, hold_off = ?HOLD_OFF, "could not read the room's records; deciding without them for a while");
        self.breaker.trip(Instant::now());
        self.undecided(room)
    }

    /// What a door decides without the records.
    fn undecided(&self, room: &RoomName) -> Result<Room, Refusal> {
        if room.is_private() {
            return Err(Refusal::Unavailable);
        }
        Ok(Room {
            name: room.clone(),
            kind: RoomKind::Public,
            title: room.to_string(),
            topic: String::new(),
            created_by: None,
        })
    }

    /// Whether `user` may read `room`'s history without entering it (the page rendered before
    /// its socket opens): a public room that does not exist yet has nothing to read, and no
    /// record is written for it.
    pub async fn read(&self, user: &User, room: &RoomName) -> Result<(), Refusal> {
        if room.is_private() && user.is_guest() {
            return Err(Refusal::NotFound);
        }
        if self.breaker.tripped(Instant::now()) {
            return self.undecided(room).map(|_| ());
        }
        match self.memberships.standing(room, user.id).await {
            Ok(Some((_, Standing::Member(_)))) => Ok(()),
            Ok(Some((found, standing))) if found.kind == RoomKind::Public => match standing {
                Standing::Banned => Err(Refusal::Banned),
                _ => Ok(()),
            },
            Ok(Some(_)) => Err(Refusal::NotFound),
            Ok(None) if room.is_private() => Err(Refusal::NotFound),
            Ok(None) => Ok(()),
            Err(e) => self.unreadable(room, e).map(|_| ()),
        }
    }

    /// The public room `room`, stored if new; a private address that is not a room is not found.
    async fn public(&self, room: &RoomName) -> Result<Room, Refusal> {
        if room.is_private() {
            return Err(Refusal::NotFound);
        }
        match self.memberships.open_public(room).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(Refusal::NotFound),
            Err(e) => self.unreadable(room, e),
        }
    }

    /// Makes an account a member of the public room it entered. A ban placed between the look
    /// and this step wins: `add` refuses a banned person.
    async fn join_public(&self, user: &User, room: &RoomName) -> Result<(), Refusal> {
        match self.memberships.add(room, user.id, Role::Member).await {
            Ok(true) => Ok(()),
            // Already a member (another socket of theirs got there first), or banned meanwhile.
            Ok(false) => match self.memberships.standing(room, user.id).await {
                Ok(Some((_, Standing::Banned))) => Err(Refusal::Banned),
                Ok(_) => Ok(()),
                Err(e) => self.unreadable(room, e).map(|_| ()),
            },
            Err(e) => self.unreadable(room, e).map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memberships::{in_memory, Member};
    use app::protocol::{Handle, UserId, UserName};

    fn account(name: &str) -> User {
        User {
            id: UserId(uuid::Uuid::new_v4()),
            name: UserName::parse(name).unwrap(),
            handle: Some(Handle::parse(name).unwrap()),
        }
    }

    fn guest(name: &str) -> User {
        User::guest(UserId(uuid::Uuid::new_v4()), UserName::parse(name).unwrap())
    }

    #[tokio::test]
    async fn a_private_room_is_open_to_its_members_and_looks_absent_to_everyone_else() {
        let memberships = in_memory();
        let access = Access::new(memberships.clone());
        let (ada, bo, visitor) = (account("ada"), account("bo"), guest("Vi"));
        let name = RoomName::new_private();
        let room = Room {
            name: name.clone(),
            kind: RoomKind::Private,
            title: "Plans".to_owned(),
            topic: String::new(),
            created_by: Some(ada.id),
        };
        let owner = Member {
            user: ada.id,
            role: Role::Owner,
        };
        memberships.create(&room, &[owner]).await.unwrap();

        assert_eq!(access.enter(&ada, &name).await, Ok(room.clone()));
        assert_eq!(access.read(&ada, &name).await, Ok(()));
        let absent = RoomName::new_private();
        for who in [&bo, &visitor] {
            for room in [&name, &absent] {
                assert_eq!(access.enter(who, room).await, Err(Refusal::NotFound));
                assert_eq!(access.read(who, room).await, Err(Refusal::NotFound));
            }
        }
        assert_eq!(
            memberships.room(&absent).await.unwrap(),
            None,
            "nothing made"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failed_read_doors_decide_without_the_records_for_a_while() {
        let breaker = Breaker::default();
        let start = Instant::now();
        assert!(!breaker.tripped(start));
        breaker.trip(start);
        assert!(breaker.tripped(start));
        tokio::time::advance(HOLD_OFF - Duration::from_millis(1)).await;
        assert!(breaker.tripped(Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!breaker.tripped(Instant::now()), "the next door asks again");
    }

    #[tokio::test]
    async fn a_public_room_is_made_by_entering_it_and_keeps_out_whom_it_banned() {
        let memberships = in_memory();
        let access = Access::new(memberships.clone());
        let (ada, bo, visitor) = (account("ada"), account("bo"), guest("Vi"));
        let town = RoomName::parse("town").unwrap();

        assert_eq!(access.read(&bo, &town).await, Ok(()));
        assert_eq!(
            memberships.room(&town).await.unwrap(),
            None,
            "reading makes nothing"
        );
        let entered = access.enter(&ada, &town).await.unwrap();
        assert_eq!((entered.kind, entered.created_by), (RoomKind::Public, None));
        access.enter(&bo, &town).await.unwrap();
        access.enter(&visitor, &town).await.unwrap();
        let members: Vec<_> = memberships.members(&town, 10).await.unwrap().0;
        assert_eq!(members.len(), 2, "accounts become members; guests do not");

        let ban = crate::memberships::Moderation::Banned(bo.id);
        memberships.moderate(&town, ada.id, &ban).await.unwrap();
        assert_eq!(access.enter(&bo, &town).await, Err(Refusal::Banned));
        assert_eq!(access.read(&bo, &town).await, Err(Refusal::Banned));
        assert!(access.enter(&ada, &town).await.is_ok());
    }
}
