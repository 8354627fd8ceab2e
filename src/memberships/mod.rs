//! Whose room it is: the durable records of rooms, their members and roles, bans, and the
//! moderation log, kept beside the accounts (PostgreSQL through [`postgres`], or this process's
//! memory through [`memory`] when no database is configured).
//!
//! These records are what every door checks: joining over the socket, resuming, paging, the
//! server-rendered page. They are written before anything is told about a change (a removal
//! reaches the database first, the other instances second), so an instance that dies in between
//! leaves the records right, and the next door the removed person knocks on refuses them.
//!
//! A moderation action and its line in the log are one step ([`Memberships::moderate`]): there is
//! no removal without its record, and no record of a removal that did not happen.

mod memory;
mod postgres;

use app::protocol::{MessageId, RoomName, UserId};
use async_trait::async_trait;
use std::sync::Arc;

pub use app::conversations::{Role, RoomKind};

/// One room's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Its address, `/r/<name>`.
    pub name: RoomName,
    pub kind: RoomKind,
    /// What people call it (a direct conversation's is made from its people's names).
    pub title: String,
    pub topic: String,
    /// `None` for a room that predates the records, or whose creator deleted their account.
    pub created_by: Option<UserId>,
}

/// The people of a direct conversation, in one canonical order, so that each set of people has
/// one conversation whoever opens it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirectKey(String);

impl DirectKey {
    /// The key of `people` (in any order, repeats ignored).
    pub fn of(people: &[UserId]) -> Self {
        let mut ids: Vec<String> = people.iter().map(|id| id.0.to_string()).collect();
        ids.sort();
        ids.dedup();
        Self(ids.join(","))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a person stands in a room that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Member(Role),
    /// Not a member and not banned.
    Outsider,
    Banned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: UserId,
    pub role: Role,
}

/// A public room as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub room: Room,
    pub members: u64,
}

/// A moderation action: what [`Memberships::moderate`] does and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderation {
    /// A message deleted for everyone (the message log keeps the record of it; this says who).
    DeletedMessage(MessageId),
    /// A member taken out of the room; they may be invited again.
    RemovedMember(UserId),
    /// Taken out and kept out.
    Banned(UserId),
    Unbanned(UserId),
    Topic(String),
    /// A member's role changed (never to or from owner: a room keeps its one owner).
    Role(UserId, Role),
}

impl Moderation {
    /// The action's name in the log.
    pub fn action(&self) -> &'static str {
        match self {
            Self::DeletedMessage(_) => "delete_message",
            Self::RemovedMember(_) => "remove_member",
            Self::Banned(_) => "ban",
            Self::Unbanned(_) => "unban",
            Self::Topic(_) => "topic",
            Self::Role(..) => "role",
        }
    }

    /// The person it was done to, if any.
    pub fn target(&self) -> Option<UserId> {
        match self {
            Self::RemovedMember(user) | Self::Banned(user) | Self::Unbanned(user) => Some(*user),
            Self::Role(user, _) => Some(*user),
            Self::DeletedMessage(_) | Self::Topic(_) => None,
        }
    }
}

/// One line of a room's moderation log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub actor: UserId,
    pub action: Moderation,
    /// When it was done, in Unix milliseconds.
    pub at_ms: u64,
}

/// Why the store did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// A room with this address exists, or a direct conversation between these people does.
    #[error("that room exists already")]
    Taken,
    /// The room, or the member the action names, is not there (it changed meanwhile).
    #[error("no such room or member")]
    Missing,
    /// The database could not be reached or failed the statement.
    #[error("the room records are unavailable: {0}")]
    Unavailable(String),
}

/// The rooms' records, wherever they are kept. Every instance shares one (PostgreSQL).
#[async_trait]
pub trait Memberships: Send + Sync + 'static {
    /// Stores `room` with its first `members` (its owner among them), unless its address, or
    /// for a direct conversation its people, are taken.
    async fn create(&self, room: &Room, members: &[Member]) -> Result<(), MembershipError>;

    /// The public room `name`, stored first (ownerless, titled by its name) if it is not yet
    /// there: public rooms come into being by being opened. `None` when `name` is a private
    /// room or a direct conversation.
    async fn open_public(&self, name: &RoomName) -> Result<Option<Room>, MembershipError>;

    async fn room(&self, name: &RoomName) -> Result<Option<Room>, MembershipError>;

    /// The room and where `user` stands in it; `None` when there is no such room.
    async fn standing(
        &self,
        name: &RoomName,
        user: UserId,
    ) -> Result<Option<(Room, Standing)>, MembershipError>;

    /// The direct conversation between exactly these people, if they have one.
    async fn direct(&self, key: &DirectKey) -> Result<Option<Room>, MembershipError>;

    /// Makes `user` a member with `role`; `false` when they are one already (their role is
    /// kept) or are banned.
    async fn add(&self, name: &RoomName, user: UserId, role: Role)
        -> Result<bool, MembershipError>;

    /// Takes `user` out (they left); `false` when they were not a member.
    async fn leave(&self, name: &RoomName, user: UserId) -> Result<bool, MembershipError>;

    /// Forgets `user`'s memberships and bans: their account was deleted.
    async fn forget(&self, user: UserId) -> Result<(), MembershipError>;

    /// The first `limit` members, owner and moderators first, then by when they joined, and
    /// how many there are in all (a public room may have thousands: the list is bounded).
    async fn members(
        &self,
        name: &RoomName,
        limit: usize,
    ) -> Result<(Vec<Member>, u64), MembershipError>;

    /// The people banned from the room, longest banned first.
    async fn banned(&self, name: &RoomName) -> Result<Vec<UserId>, MembershipError>;

    /// The rooms `user` is a member of, with their role in each, by when they joined.
    async fn rooms_of(&self, user: UserId) -> Result<Vec<(Room, Role)>, MembershipError>;

    /// The public rooms with their member counts, most members first.
    async fn directory(&self) -> Result<Vec<Listing>, MembershipError>;

    /// Does `action` in `name` and records it as done by `actor`, in one step.
    /// [`MembershipError::Missing`] when the member it names is not one (a removal or a role
    /// change), or is not banned (an unban).
    async fn moderate(
        &self,
        name: &RoomName,
        actor: UserId,
        action: &Moderation,
    ) -> Result<(), MembershipError>;

    /// The room's moderation log, newest first, at most `limit` lines.
    async fn log(&self, name: &RoomName, limit: usize) -> Result<Vec<LogEntry>, MembershipError>;
}

/// The records in `pool` (shared with the accounts, migrated), or in memory.
pub fn store(pool: Option<sqlx::PgPool>) -> Arc<dyn Memberships> {
    match pool {
        Some(pool) => Arc::new(postgres::PgMemberships::new(pool)),
        None => in_memory(),
    }
}

/// Records in this process's memory (the tests', and the embedded default's).
pub fn in_memory() -> Arc<dyn Memberships> {
    Arc::new(memory::MemoryMemberships::default())
}
