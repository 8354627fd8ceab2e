//! Rooms that belong to their people: making a room or a direct conversation, the directory of
//! public rooms, a room's members, invitations, removals and bans, leaving, the topic, roles and
//! the moderation log. Server functions under `/api/rooms/…` (JSON in, JSON out), thin over the
//! [`ssr::Steward`] the server provides; the socket learns of what they change (a removal reaches
//! the removed person's sockets on every instance as a `removed` frame).
//!
//! Every function needs a signed-in session, and every answer about a room the caller may not
//! see is [`RoomError::NotFound`], exactly what a room that does not exist says.

use crate::calls::CallError;
use crate::protocol::{MessageId, RoomName, User, UserId};
use leptos::prelude::*;
use leptos::server_fn::codec::{Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Most people in one direct conversation, its opener included.
pub const MAX_DIRECT_PEOPLE: usize = 8;
/// Longest room title, in characters.
pub const MAX_TITLE_CHARS: usize = 64;
/// Longest topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 240;

/// How a room is found and entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Listed in the directory; anyone signed in may read and join it (unless banned).
    Public,
    /// Invite-only and unlisted; only its members know it exists.
    Private,
    /// A conversation between a fixed set of people, one per set.
    Direct,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Direct => "direct",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            "direct" => Some(Self::Direct),
            _ => None,
        }
    }
}

/// What a member may do, least first: a role includes everything below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    /// Removes messages and members, bans, sets the topic.
    Moderator,
    /// Also names moderators; a room has at most one.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Moderator => "moderator",
            Self::Owner => "owner",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "member" => Some(Self::Member),
            "moderator" => Some(Self::Moderator),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A room as the person asking sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: RoomName,
    pub kind: RoomKind,
    /// What people call it; a direct conversation's is its people's names.
    pub title: String,
    pub topic: String,
    /// The asker's role; `None` when they are not a member (a public room they have not
    /// joined).
    #[serde(default)]
    pub role: Option<Role>,
    /// Whether the asker may moderate here (their role, or a server admin).
    #[serde(default)]
    pub moderates: bool,
}

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub user: User,
    pub role: Role,
}

/// Most members [`RoomDetails`] lists (a public room may have thousands).
pub const MAX_LISTED_MEMBERS: usize = 200;

/// A room and its members (owner and moderators first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDetails {
    pub room: RoomInfo,
    /// The first [`MAX_LISTED_MEMBERS`] of them.
    pub members: Vec<MemberInfo>,
    /// How many members there are beyond those listed.
    #[serde(default)]
    pub unlisted: u64,
    /// The people banned from the room, for those who may moderate it (empty for others).
    #[serde(default)]
    pub banned: Vec<User>,
    /// The reader is a server admin (who may end a person's sign-ins).
    #[serde(default)]
    pub admin: bool,
}

/// A public room in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub room: RoomInfo,
    pub members: u64,
    /// People in it right now, on any instance.
    pub online: u64,
}

/// One moderation action, for the room's moderators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Who did it (`None`: an account since deleted).
    pub actor: Option<User>,
    /// `delete_message`, `remove_member`, `ban`, `unban`, `topic` or `role`.
    pub action: String,
    /// Whom it was done to, if anyone (`None` also for a deleted account).
    #[serde(default)]
    pub target: Option<User>,
    /// The new topic or role, or the removed message's id.
    #[serde(default)]
    pub detail: Option<String>,
    /// When, in Unix milliseconds.
    pub at_ms: u64,
}

/// Why a room call did nothing. Each message is written for the user. On the wire:
/// `{"error":"not_found"}`, `{"error":"no_such_person","reason":"bo"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "reason", rename_all = "snake_case")]
pub enum RoomError {
    /// `401`.
    #[error("Please sign in first.")]
    NotSignedIn,
    /// Rooms of one's own, direct conversations and invitations need an account (`403`).
    #[error("Guests cannot do this. Create an account to make rooms and send direct messages.")]
    AccountsOnly,
    /// No such room, or one the caller may not see: the two look the same (`404`).
    #[error("There is no such room, or you are not a member of it.")]
    NotFound,
    /// The caller may see the room but not do this in it (`403`).
    #[error("You may not do that in this room.")]
    Forbidden,
    /// No account has this handle (`404`).
    #[error("No one here has the handle @{0}.")]
    NoSuchPerson(String),
    /// A public room with this address exists already (`409`).
    #[error("A room with that name exists already.")]
    Taken,
    /// The person is banned from the room: unban them first (`409`).
    #[error("That person is banned from this room.")]
    Banned,
    /// A title or topic that is empty, too long, or has forbidden characters (`400`).
    #[error("{0}")]
    Invalid(String),
    /// A direct conversation with more people than [`MAX_DIRECT_PEOPLE`] (`400`).
    #[error("A direct conversation has at most {MAX_DIRECT_PEOPLE} people.")]
    TooManyPeople,
    /// The records are unavailable (`503`).
    #[error("Rooms are unavailable right now. Please try again in a moment.")]
    Unavailable,
    /// `400`.
    #[error("The request was not understood: {0}")]
    BadRequest(String),
    /// `413`.
    #[error("The request is too large.")]
    TooLarge,
    #[error("Something went wrong talking to the server: {0}")]
    Transport(String),
}

impl FromServerFnError for RoomError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match CallError::from_server_fn_error(value) {
            CallError::Unavailable => Self::Unavailable,
            CallError::BadRequest(why) => Self::BadRequest(why),
            CallError::TooLarge => Self::TooLarge,
            CallError::Transport(why) => Self::Transport(why),
        }
    }
}

/// Makes a room: `private` ones get an address no one can guess and the maker as owner; a public
/// one is addressed by its title (lowercased, spaces as `-`) and listed.
#[server(endpoint = "rooms/create", input = Json)]
pub async fn create_room(
    title: String,
    #[server(default)] topic: String,
    #[server(default)] private: bool,
) -> Result<RoomInfo, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.create(&actor, title, topic, private).await)
}

/// The direct conversation between the caller and the people with these handles, made if it is
/// new (one per set of people, whoever opens it).
#[server(endpoint = "rooms/direct", input = Json)]
pub async fn open_direct(handles: Vec<String>) -> Result<RoomInfo, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.direct(&actor, handles).await)
}

/// The public rooms, most members first.
#[server(endpoint = "rooms/directory", input = Json)]
pub async fn directory() -> Result<Vec<Listing>, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.directory(&actor).await)
}

/// The rooms the caller is a member of (titles for the private addresses in their list).
#[server(endpoint = "rooms/mine", input = Json)]
pub async fn my_rooms() -> Result<Vec<RoomInfo>, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.mine(&actor).await)
}

/// A room and its members, for anyone who may read it.
#[server(endpoint = "rooms/details", input = Json)]
pub async fn about_room(room: RoomName) -> Result<RoomDetails, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.details(&actor, room).await)
}

/// Adds the account with `handle` to a private room (any member may) or a public one.
#[server(endpoint = "rooms/invite", input = Json)]
pub async fn invite(room: RoomName, handle: String) -> Result<MemberInfo, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.invite(&actor, room, handle).await)
}

/// Takes a member out (a moderator's), and with `ban` keeps them out. Their sockets drop the
/// room on every instance.
#[server(endpoint = "rooms/remove", input = Json)]
pub async fn remove_member(
    room: RoomName,
    user: UserId,
    #[server(default)] ban: bool,
) -> Result<(), RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.remove(&actor, room, user, ban).await)
}

/// Lifts a ban (a moderator's).
#[server(endpoint = "rooms/unban", input = Json)]
pub async fn unban(room: RoomName, user: UserId) -> Result<(), RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.unban(&actor, room, user).await)
}

/// The caller leaves the room: every tab and device of theirs drops it.
#[server(endpoint = "rooms/leave", input = Json)]
pub async fn leave_room(room: RoomName) -> Result<(), RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.leave(&actor, room).await)
}

/// Sets the room's topic (a moderator's).
#[server(endpoint = "rooms/topic", input = Json)]
pub async fn set_topic(room: RoomName, topic: String) -> Result<RoomInfo, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.topic(&actor, room, topic).await)
}

/// Makes a member a moderator, or a member again (the owner's).
#[server(endpoint = "rooms/role", input = Json)]
pub async fn set_role(room: RoomName, user: UserId, role: Role) -> Result<(), RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.role(&actor, room, user, role).await)
}

/// The room's moderation log, newest first (for its moderators).
#[server(endpoint = "rooms/log", input = Json)]
pub async fn moderation_log(room: RoomName) -> Result<Vec<LogLine>, RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.log(&actor, room).await)
}

/// Deletes a message of the room (its moderators'): gone for everyone, in every later read.
#[server(endpoint = "rooms/delete_message", input = Json)]
pub async fn delete_message(room: RoomName, id: MessageId) -> Result<(), RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.delete_message(&actor, room, id).await)
}

/// Ends every sign-in of the person with `handle`, on every instance (server admins'): their
/// sockets close and their sessions no longer count. They may sign in again.
#[server(endpoint = "admin/end_sessions", input = Json)]
pub async fn end_sessions(handle: String) -> Result<(), RoomError> {
    let (steward, actor) = ssr::caller().await?;
    ssr::answer(steward.end_sessions(&actor, handle).await)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::*;
    use crate::calls::{status, Pending};
    use http::StatusCode;
    use std::sync::Arc;

    /// What the server does for the room calls (it provides one as context). `actor` is the
    /// signed-in caller, from the session.
    pub trait Steward: Send + Sync + 'static {
        fn create<'a>(
            &'a self,
            actor: &'a User,
            title: String,
            topic: String,
            private: bool,
        ) -> Pending<'a, Result<RoomInfo, RoomError>>;
        fn direct<'a>(
            &'a self,
            actor: &'a User,
            handles: Vec<String>,
        ) -> Pending<'a, Result<RoomInfo, RoomError>>;
        fn directory<'a>(&'a self, actor: &'a User)
            -> Pending<'a, Result<Vec<Listing>, RoomError>>;
        fn mine<'a>(&'a self, actor: &'a User) -> Pending<'a, Result<Vec<RoomInfo>, RoomError>>;
        fn details<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
        ) -> Pending<'a, Result<RoomDetails, RoomError>>;
        fn invite<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
            handle: String,
        ) -> Pending<'a, Result<MemberInfo, RoomError>>;
        fn remove<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
            user: UserId,
            ban: bool,
        ) -> Pending<'a, Result<(), RoomError>>;
        fn unban<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
            user: UserId,
        ) -> Pending<'a, Result<(), RoomError>>;
        fn leave<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
        ) -> Pending<'a, Result<(), RoomError>>;
        fn topic<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
            topic: String,
        ) -> Pending<'a, Result<RoomInfo, RoomError>>;
        fn role<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
            user: UserId,
            role: Role,
        ) -> Pending<'a, Result<(), RoomError>>;
        fn log<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
        ) -> Pending<'a, Result<Vec<LogLine>, RoomError>>;
        fn delete_message<'a>(
            &'a self,
            actor: &'a User,
            room: RoomName,
            id: MessageId,
        ) -> Pending<'a, Result<(), RoomError>>;
        fn end_sessions<'a>(
            &'a self,
            actor: &'a User,
            handle: String,
        ) -> Pending<'a, Result<(), RoomError>>;
    }

    /// The server's [`Steward`], as context.
    #[derive(Clone)]
    pub struct Stewards(pub Arc<dyn Steward>);

    /// The steward and the signed-in caller.
    pub async fn caller() -> Result<(Arc<dyn Steward>, User), RoomError> {
        let signed_in = crate::auth::ssr::signed_in()
            .await
            .map_err(|_| answered(RoomError::Unavailable))?;
        let Some(sign_in) = signed_in else {
            return Err(answered(RoomError::NotSignedIn));
        };
        let Some(Stewards(steward)) = leptos::prelude::use_context::<Stewards>() else {
            tracing::error!("no room steward provided to the server functions");
            return Err(answered(RoomError::Unavailable));
        };
        Ok((steward, sign_in.user))
    }

    /// The answer, with the status code of its error.
    pub fn answer<T>(result: Result<T, RoomError>) -> Result<T, RoomError> {
        result.map_err(answered)
    }

    fn answered(error: RoomError) -> RoomError {
        status(status_of(&error));
        error
    }

    pub fn status_of(error: &RoomError) -> StatusCode {
        match error {
            RoomError::NotSignedIn => StatusCode::UNAUTHORIZED,
            RoomError::AccountsOnly | RoomError::Forbidden => StatusCode::FORBIDDEN,
            RoomError::NotFound | RoomError::NoSuchPerson(_) => StatusCode::NOT_FOUND,
            RoomError::Taken | RoomError::Banned => StatusCode::CONFLICT,
            RoomError::Invalid(_) | RoomError::TooManyPeople | RoomError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            RoomError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RoomError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RoomError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
