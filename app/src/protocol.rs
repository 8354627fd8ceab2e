//! The wire protocol: every frame that crosses the WebSocket, and the types inside them.
//!
//! Server and browser both compile this module, so a frame cannot mean one thing on one side and
//! another on the other. The same [`ChatMessage`] is what travels over Redis. Values that come from
//! outside (a user's name, a room, a message's text) are parsed once into newtypes here and are
//! valid from then on. `docs/protocol.md` describes every frame for people.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

mod amendments;
mod identity;
mod mentions;
pub use amendments::{
    snippet, Emoji, EmojiError, Quote, Reaction, ReactionChange, MAX_EMOJI_CHARS, MAX_REACTIONS,
    QUOTE_CHARS,
};
pub use identity::{
    Handle, HandleError, PasswordError, MAX_HANDLE_CHARS, MAX_PASSWORD_CHARS, MIN_HANDLE_CHARS,
    MIN_PASSWORD_CHARS,
};
pub use mentions::{mention_at_end, mentions, mentions_handle};

/// Longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 32;
/// Longest message text, in characters (after trimming).
pub const MAX_TEXT_CHARS: usize = 2000;
/// Largest client frame the server reads, in bytes. Bigger frames are refused with `too_large`.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Seconds between server heartbeats on an idle socket, unless the server is configured otherwise
/// (the interval in use travels in [`ServerMsg::Hello`]).
pub const HEARTBEAT_SECS: u64 = 15;
/// Slack the client allows past two missed heartbeats before it calls a connection dead.
pub const SILENCE_SLACK_MS: u64 = 5_000;

/// How long a client may hear nothing before it treats the connection as dead: two heartbeat
/// intervals plus [`SILENCE_SLACK_MS`]. Derived from the interval the server announced in `hello`,
/// so a server configured with long heartbeats never makes idle clients reconnect.
pub fn silence_limit_ms(heartbeat_ms: u64) -> u64 {
    heartbeat_ms
        .saturating_mul(2)
        .saturating_add(SILENCE_SLACK_MS)
}

/// WebSocket close codes the server uses, and what the client does on each.
pub mod close_code {
    /// RFC 6455 "unsupported data": a binary frame; the protocol is JSON text only. The client
    /// never sends binary, so this ends a foreign or broken client's socket.
    pub const UNSUPPORTED: u16 = 1003;
    /// RFC 6455 "message too big": a frame over the hard limit. Smaller oversize frames get a
    /// `too_large` error and the socket stays open.
    pub const TOO_BIG: u16 = 1009;
    /// RFC 6455 "service restart": the instance is draining. Reconnect soon (after a short random
    /// delay), elsewhere.
    pub const RESTART: u16 = 1012;
    /// RFC 6455 "try again later": the socket fell behind its room, or the instance could not
    /// recover messages it may have missed. Reconnect with `after=` to catch up exactly.
    pub const AGAIN: u16 = 1013;
    /// Application code: the session was logged out (in another tab, on another instance) or
    /// has expired. Do not reconnect; show the login form.
    pub const LOGGED_OUT: u16 = 4401;
}
/// Response header of `GET /`: `active` when the request's session has a user, else `none`. The
/// reconnecting client reads it from its probe to tell "instance gone" from "logged out".
pub const SESSION_HEADER: &str = "x-switchboard-session";
/// Request header of the reconnecting client's `GET /` (any value): the server cycles the
/// session id as for a page load and answers `204 No Content` with [`SESSION_HEADER`], without
/// rendering the page. After an instance dies, thousands of clients probe at once, and a page
/// (with its room's history) is what they would otherwise all wait for.
pub const PROBE_HEADER: &str = "x-switchboard-probe";
/// Most users a `presence` frame names; a bigger room's frame names this many and counts all.
pub const MAX_LISTED_ONLINE: usize = 20;
/// Most rooms one socket may be in at once (the URL's and those added by `join`).
pub const MAX_ROOMS_PER_SOCKET: usize = 16;
/// The room a socket joins when it names none.
pub const DEFAULT_ROOM: &str = "lobby";

/// Characters that reorder text visually (bidi embeddings, overrides and isolates). In a name they
/// let one user impersonate another ("alice" shown for "ecila"), so names may not contain them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why a user name was refused. The message is shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameError {
    #[error("Please enter a name.")]
    Empty,
    #[error("A name can have at most {MAX_NAME_CHARS} characters.")]
    TooLong,
    #[error("A name cannot contain control or text-direction characters.")]
    ForbiddenCharacter,
    /// It holds U+FFFD, what a decoder puts for bytes that are not UTF-8: a form sent in another
    /// encoding (`name=%ff%fe`) would otherwise log in as "��".
    #[error("A name must be UTF-8 text; this one arrived as bytes that are not.")]
    NotText,
}

/// A display name: trimmed, 1–32 characters, no control or bidi-control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        if name.chars().any(|c| c.is_control() || is_bidi_control(c)) {
            return Err(NameError::ForbiddenCharacter);
        }
        if name.contains(char::REPLACEMENT_CHARACTER) {
            return Err(NameError::NotText);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserName> for String {
    fn from(value: UserName) -> Self {
        value.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("a room name needs 1 to {MAX_ROOM_CHARS} characters")]
    Length,
    #[error("a room name may contain only a-z, 0-9, '-' and '_'")]
    Character,
}

/// A room's address: 1–32 characters of `a-z`, `0-9`, `-`, `_` for a public room, which people
/// name; [`PRIVATE_MARK`] and 16 to 31 of `a-z`, `0-9` for a private room or a direct
/// conversation, which the server names at random ([`RoomName::new_private`]). No public room can
/// take a private address, so an outsider who tries one cannot tell it from a room that does not
/// exist. Safe to put in a Redis key or channel name, and in a URL path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);

/// The first character of a private room's address.
pub const PRIVATE_MARK: char = '~';

/// How many random characters a new private address has (80 bits).
#[cfg(feature = "ssr")]
const PRIVATE_CHARS: usize = 20;

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, RoomError> {
        if let Some(rest) = raw.strip_prefix(PRIVATE_MARK) {
            if !(16..MAX_ROOM_CHARS).contains(&rest.len()) {
                return Err(RoomError::Length);
            }
            if !rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                return Err(RoomError::Character);
            }
            return Ok(Self(raw.to_owned()));
        }
        if raw.is_empty() || raw.chars().count() > MAX_ROOM_CHARS {
            return Err(RoomError::Length);
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(RoomError::Character);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn lobby() -> Self {
        Self(DEFAULT_ROOM.to_owned())
    }

    /// A new private address no one can guess.
    #[cfg(feature = "ssr")]
    pub fn new_private() -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{PRIVATE_MARK}{}", &random[..PRIVATE_CHARS]))
    }

    /// Whether this is a private room's or a direct conversation's address.
    pub fn is_private(&self) -> bool {
        self.0.starts_with(PRIVATE_MARK)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomName {
    type Error = RoomError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RoomName> for String {
    fn from(value: RoomName) -> Self {
        value.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's stable identity: a random UUID given at login. Names are not unique; ids are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who a logged-in user is. Always taken from the server-side session, never from a client frame.
///
/// A person with an account has a handle, unique among accounts, which the page shows beside
/// their display name. A guest (name-only login, where the server allows it) has none, and the
/// page marks them as a guest: a guest named "ada" never passes for the account `@ada`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// The display name.
    pub name: UserName,
    /// The account's handle; `None` for a guest. Messages stored before accounts existed have
    /// none: they were all written by guests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
}

impl User {
    /// A guest: a display name and a fresh id, no account.
    pub fn guest(id: UserId, name: UserName) -> Self {
        Self {
            id,
            name,
            handle: None,
        }
    }

    pub fn is_guest(&self) -> bool {
        self.handle.is_none()
    }
}

/// An id the browser gives each message it sends, so a re-sent message can be recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub Uuid);

impl ClientId {
    /// A version-4 id from 16 random bytes (the browser fills them from `crypto.getRandomValues`).
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
}

/// A message's position in its room: a Redis stream id, `<unix ms>-<sequence>`.
///
/// Ids are unique and strictly increasing within a room, so they order messages and tell a
/// reconnecting client exactly where it left off. On the wire it is the string form, as in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    pub ms: u64,
    pub seq: u64,
}

impl MessageId {
    /// The server time (unix ms) at which the message was stored.
    pub fn at(self) -> u64 {
        self.ms
    }
}

/// A string that is not a `<ms>-<seq>` message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a message id (expected <ms>-<seq>): {0:?}")]
pub struct MessageIdError(pub String);

impl FromStr for MessageId {
    type Err = MessageIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MessageIdError(s.chars().take(40).collect());
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        // Digits only: `u64::from_str` would also take a sign.
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u64>().map_err(|_| bad())
        };
        Ok(Self {
            ms: number(ms)?,
            seq: number(seq)?,
        })
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// What a message is: something said, an action (`/me waves`), a join/leave notice, or the
/// record of a change to an earlier message (its `target`): an edit, a deletion, a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Me,
    Join,
    Leave,
    /// Its author (or a moderator) deleted the message named by `target`. Stored in the room's
    /// log like any message, so live sockets receive it and a resume after an earlier id replays
    /// it: a reader who saw the message before blanks it then. Never shown itself.
    Deleted,
    /// Its author edited the message named by `target`: `text` is its text now. A record like
    /// `deleted`.
    Edited,
    /// Its author turned a reaction on the message named by `target` on or off (`reaction`). A
    /// record like `deleted`.
    Reacted,
}

impl MessageKind {
    /// The name used on the wire (`text`, `me`, `join`, `leave`, `deleted`, `edited`,
    /// `reacted`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Me => "me",
            MessageKind::Join => "join",
            MessageKind::Leave => "leave",
            MessageKind::Deleted => "deleted",
            MessageKind::Edited => "edited",
            MessageKind::Reacted => "reacted",
        }
    }

    /// The record of a change to another message, not a row of the conversation.
    pub fn is_record(self) -> bool {
        matches!(
            self,
            MessageKind::Deleted | MessageKind::Edited | MessageKind::Reacted
        )
    }

    /// Something a person said (a text or an action), as opposed to a join or leave notice.
    pub fn is_said(self) -> bool {
        matches!(self, MessageKind::Text | MessageKind::Me)
    }
}

/// Why a message's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the message is empty")]
    Empty,
    #[error("a message can have at most {MAX_TEXT_CHARS} characters")]
    TooLong,
    #[error("a message cannot contain control characters other than newline and tab")]
    ForbiddenCharacter,
}

/// What a user typed, classified: `/me waves` becomes an action with the text `waves`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub kind: MessageKind,
    pub text: String,
}

impl Said {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let trimmed = raw.trim();
        let (kind, text) = match trimmed.strip_prefix("/me") {
            Some(action) if action.is_empty() || action.starts_with(char::is_whitespace) => {
                (MessageKind::Me, action.trim())
            }
            _ => (MessageKind::Text, trimmed),
        };
        if text.is_empty() {
            return Err(TextError::Empty);
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(TextError::TooLong);
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(TextError::ForbiddenCharacter);
        }
        Ok(Self {
            kind,
            text: text.to_owned(),
        })
    }
}

/// Most users a join or leave notice names besides its `user`; the rest are counted.
pub const MAX_NOTICE_NAMES: usize = 3;

/// The other users a join or leave notice covers, when several joined (or left) together.
///
/// Notices are throttled per room: at most one per second and instance, naming who joined since
/// the last one. A crowd joining a room of N people then costs a few frames per second for each
/// member instead of N² in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Others {
    /// Up to [`MAX_NOTICE_NAMES`] more users, in the order they came.
    pub users: Vec<User>,
    /// How many more beyond `users`.
    #[serde(default)]
    pub more: u32,
}

impl Others {
    /// Everyone after the first of `users` (a notice's `user`), named up to the limit.
    pub fn after_first(users: &[User]) -> Option<Self> {
        let rest = users.get(1..).filter(|rest| !rest.is_empty())?;
        let named = rest.len().min(MAX_NOTICE_NAMES);
        Some(Self {
            users: rest[..named].to_vec(),
            more: u32::try_from(rest.len() - named).unwrap_or(u32::MAX),
        })
    }

    /// How many users in all: the named ones and the rest.
    pub fn count(&self) -> usize {
        self.users.len() + self.more as usize
    }
}

/// A message as stored and delivered. The server assigns `id`, `at` and `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub room: RoomName,
    pub user: User,
    pub text: String,
    pub kind: MessageKind,
    /// Unix milliseconds at which the server stored the message.
    pub at: u64,
    /// The sender's id for the message, echoed so the sender can match it to what it sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    /// On a join or leave notice for several users: the ones after `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others: Option<Others>,
    /// The message this one is about: on a record, the message it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<MessageId>,
    /// The message was deleted: its text, reactions and quote are gone, and it is shown as a
    /// small mark in its place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The message was edited; this is the id of its latest `edited` record (and so its time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<MessageId>,
    /// Its reactions, in the order they were first given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// On a reply: what it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Box<Quote>>,
    /// On a `reacted` record: the reaction, on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<ReactionChange>,
}

impl ChatMessage {
    /// Whether this is a row of the conversation: not a record of a change (a deleted message
    /// is one, shown as a mark where it was).
    pub fn is_shown(&self) -> bool {
        !self.kind.is_record()
    }

    /// Something a person said that is still there to read: a text or an action, not deleted.
    pub fn is_said(&self) -> bool {
        self.kind.is_said() && !self.deleted
    }

    /// What is left of the message once deleted: its place, author and time, not its text.
    pub fn into_deleted(mut self) -> Self {
        self.blank();
        self
    }

    /// Deletes the message in place (see [`Self::into_deleted`]).
    pub fn blank(&mut self) {
        self.text = String::new();
        self.others = None;
        self.edited = None;
        self.reactions = Vec::new();
        self.reply = None;
        self.deleted = true;
    }
}

/// The part of a message that is decided before it is stored; the store adds the id (and with it
/// the time). This is what a Redis stream entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub user: User,
    pub text: String,
    pub kind: MessageKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others: Option<Others>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Box<Quote>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<ReactionChange>,
}

impl Draft {
    /// Something `user` said (or a notice they are the subject of), about no other message.
    pub fn new(user: User, kind: MessageKind, text: impl Into<String>) -> Self {
        Self {
            user,
            text: text.into(),
            kind,
            client_id: None,
            others: None,
            target: None,
            reply: None,
            reaction: None,
        }
    }

    /// The record that `user` (its author or a moderator) deleted the message `target`.
    pub fn deletion(user: User, target: MessageId) -> Self {
        Self {
            target: Some(target),
            ..Self::new(user, MessageKind::Deleted, "")
        }
    }

    /// The record that `user` (its author) changed the text of `target` to `text`.
    pub fn edit(user: User, target: MessageId, text: impl Into<String>) -> Self {
        Self {
            target: Some(target),
            ..Self::new(user, MessageKind::Edited, text)
        }
    }

    /// The record that `user` turned their reaction `emoji` on `target` on or off.
    pub fn reaction(user: User, target: MessageId, emoji: Emoji, on: bool) -> Self {
        Self {
            target: Some(target),
            reaction: Some(ReactionChange { emoji, on }),
            ..Self::new(user, MessageKind::Reacted, "")
        }
    }

    /// The stored message this draft became under `id`.
    pub fn into_message(self, room: RoomName, id: MessageId) -> ChatMessage {
        ChatMessage {
            id,
            room,
            user: self.user,
            text: self.text,
            kind: self.kind,
            at: id.at(),
            client_id: self.client_id,
            others: self.others,
            target: self.target,
            deleted: false,
            edited: None,
            reactions: Vec::new(),
            reply: self.reply,
            reaction: self.reaction,
        }
    }
}

/// The query string of `GET /ws`: `room=<room>` (the lobby if absent) and, to resume,
/// `after=<id>`.
#[derive(Debug, Deserialize)]
struct SocketQuery {
    room: Option<String>,
    after: Option<String>,
}

/// What a socket asks for in its query string: the room and where to resume. Anything else is a
/// reason to refuse it (`400`). Every string is one or the other (fuzzed:
/// `fuzz/fuzz_targets/ws_query.rs`).
pub fn parse_socket_query(raw: &str) -> Result<(RoomName, Option<MessageId>), String> {
    let query: SocketQuery =
        serde_urlencoded::from_str(raw).map_err(|e| format!("query string: {e}"))?;
    let room = match query.room.as_deref().map(RoomName::parse) {
        None => RoomName::lobby(),
        Some(Ok(room)) => room,
        Some(Err(e)) => return Err(format!("room: {e}")),
    };
    let after = match query.after.as_deref().map(str::parse::<MessageId>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => return Err(format!("after: {e}")),
    };
    Ok((room, after))
}

/// Frames the browser sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Say something in one of the socket's rooms. The sender is taken from the session; a
    /// `user` or `name` field in the frame is ignored. With `reply_to`, the message answers that
    /// one (of the same room): the server quotes it.
    Send {
        room: RoomName,
        text: String,
        client_id: ClientId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
    },
    /// Replace the text of one of the user's own messages (a text or an action, not deleted).
    /// Answered by the `edited` record it becomes, like any message of the room, or by an
    /// `error` naming the message (`target`). The kind stays: `/me` is not read again.
    Edit {
        room: RoomName,
        id: MessageId,
        text: String,
    },
    /// Turn the user's reaction `emoji` on message `id` on (`on: true`) or off. A state, not a
    /// toggle: sending it twice is sending it once. Answered by the `reacted` record (none when
    /// nothing changed), or by an `error` naming the message.
    React {
        room: RoomName,
        id: MessageId,
        emoji: String,
        on: bool,
    },
    /// Add a room to this socket (the one in the URL is joined already). With `after`, a resume:
    /// every message after that id follows `joined`; without, the recent history.
    Join {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MessageId>,
    },
    /// Take a room off this socket. Answered by `left`; leaving a room the socket is not in
    /// changes nothing and is answered the same way.
    Leave { room: RoomName },
    /// The user is typing in one of the socket's rooms. Ephemeral: passed on to the room's
    /// sockets (as `typing`), never stored, never answered. Send it at most every
    /// [`TYPING_EVERY_MS`] while typing; the server ignores more than one a second.
    Typing { room: RoomName },
    /// Asks for the page of the room's history before `before` (older messages, for a reader
    /// scrolling up). Answered by `history`.
    History { room: RoomName, before: MessageId },
    /// The user has read the room (one the socket is in) up to message `id`: their read mark
    /// there moves forward to it (never back; an id past what this socket was sent counts as
    /// the last one it was sent). Kept for the person, not the page: every socket of theirs in
    /// the room, on any tab, device or instance, hears the new mark as a `read` frame, the
    /// sender's own included. Send it when the reader has seen messages of others past the
    /// mark, at most every [`READ_EVERY_MS`] per room.
    Read { room: RoomName, id: MessageId },
    /// Is the connection alive? Answered by a `heartbeat` at once. A page that wakes up (a tab
    /// shown again, a frozen page resumed, the network back) sends it to learn within a
    /// moment, rather than after the heartbeat limit, whether the socket it holds still works:
    /// mobile browsers drop sockets while asleep without a close event.
    Ping,
}

/// How often a client sends `read` for one room while new messages keep arriving on screen: the
/// first at once, the later ones together at the end of this time.
pub const READ_EVERY_MS: u64 = 1_000;

/// Messages per page of older history, and of the recent history a first join (or a page)
/// starts with: fewer than this is all the history the room keeps.
pub const HISTORY_PAGE: usize = 50;

/// How often a client repeats `typing` while the user keeps typing...
pub const TYPING_EVERY_MS: u64 = 2_000;
/// ...and how long after the last `typing` frame naming a user the page still shows them typing.
pub const TYPING_SHOWN_MS: u64 = 3_000;

/// The `client_id` of a client frame, read leniently (whatever else the frame holds, however
/// wrong), so that even a refused frame's error can name the message it refuses.
pub fn client_id_of(frame: &str) -> Option<ClientId> {
    #[derive(Deserialize)]
    struct Envelope {
        client_id: Option<ClientId>,
    }
    serde_json::from_str::<Envelope>(frame).ok()?.client_id
}

/// The message id (`id`) a client frame names, read as leniently: a refused `edit` or `react`
/// error names the message it was about.
pub fn target_of(frame: &str) -> Option<MessageId> {
    #[derive(Deserialize)]
    struct Envelope {
        id: Option<MessageId>,
    }
    serde_json::from_str::<Envelope>(frame).ok()?.id
}

/// Why the server refused something. Stable, machine-readable; `message` says it for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON of a known type.
    BadFrame,
    /// The frame was larger than [`MAX_FRAME_BYTES`].
    TooLarge,
    /// The message text was empty, too long or had forbidden characters.
    InvalidText,
    /// The frame named a room this socket has not joined.
    WrongRoom,
    /// A `join` beyond [`MAX_ROOMS_PER_SOCKET`]; the room was not joined.
    TooManyRooms,
    /// The message could not be stored (the backend is unavailable); it was not sent. Retry.
    Unavailable,
    /// This socket fell too far behind the room and is being closed; reconnect to catch up.
    Lagged,
    /// Too many messages (from this user, on any socket or instance) or requests (on this
    /// socket) in too short a time: nothing was done. Send it again after `retry_after_ms`.
    RateLimited,
    /// There is no such room, or it is private and this user is not a member: the two look the
    /// same. The room was not entered.
    NotFound,
    /// This user is banned from the room (a public one: a private room says `not_found`).
    Banned,
    /// The message an `edit`, `react` or reply named is not one that can take it: never in the
    /// room, trimmed from its history, deleted, or a notice. Nothing changed.
    NoSuchMessage,
    /// An `edit` of someone else's message. Nothing changed.
    NotYours,
    /// A reaction that is not one emoji, or one more kind of reaction than a message takes
    /// ([`MAX_REACTIONS`]). Nothing changed.
    InvalidReaction,
}

impl ErrorCode {
    /// Whether sending the same frame again later may succeed. A client retries transient
    /// refusals with backoff (re-sending is safe: the `client_id` makes it idempotent) and shows
    /// permanent ones to the user, who may retry or discard the message.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::Unavailable | ErrorCode::Lagged | ErrorCode::RateLimited
        )
    }
}

/// Why a person is no longer in a room (the `removed` frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// A moderator took them out; they may be invited (or, in a public room, join) again.
    Removed,
    /// A moderator took them out and keeps them out.
    Banned,
    /// They left it themselves, on this or another tab or device.
    Left,
}

impl Removal {
    /// What the person is told.
    pub fn explain(self, room: &RoomName) -> String {
        match self {
            Self::Removed => format!("You were removed from #{room}."),
            Self::Banned => format!("You were banned from #{room}."),
            Self::Left => format!("You left #{room}."),
        }
    }
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame on every socket: who you are (from the session), where you are connected.
    Hello {
        instance: String,
        user: User,
        room: RoomName,
        /// The server's heartbeat interval on this socket, in milliseconds. The client's silence
        /// limit derives from it ([`silence_limit_ms`]).
        heartbeat_ms: u64,
    },
    /// The room of a `join` is now part of this socket: its history (or, on a resume, every
    /// message after `after`) follows, then its live messages.
    Joined { room: RoomName },
    /// The room of a `leave` is no longer part of this socket: nothing more comes from it.
    Left { room: RoomName },
    /// This person is no longer in the room, on the records' word: they were removed or banned,
    /// or left it (from any tab or device). Nothing more comes from it on any socket of theirs,
    /// on any instance, and the room leaves their list; joining again is refused unless they
    /// are invited back (or, for a public room they were removed from, join it again).
    Removed { room: RoomName, reason: Removal },
    /// Who is in the room now, on any instance: `count` users, the first
    /// [`MAX_LISTED_ONLINE`] of them (by name) listed. Each frame replaces the last; one follows
    /// every `hello` and `joined`, and another whenever the room's presence changes (at most
    /// about once a second per room).
    Presence {
        room: RoomName,
        count: u32,
        users: Vec<User>,
    },
    /// These users typed in the room within the last second or so (at most one such frame per
    /// room a second). Show each as typing for [`TYPING_SHOWN_MS`], or until their message
    /// arrives.
    Typing { room: RoomName, users: Vec<User> },
    /// The answer to a `history` request: up to [`HISTORY_PAGE`] messages before `before`,
    /// oldest first. `complete`: the room's retained history ends with these.
    History {
        room: RoomName,
        before: MessageId,
        messages: Vec<ChatMessage>,
        complete: bool,
    },
    /// A message in one of the socket's rooms, live or from history. Shown once per id, in id
    /// order within its room.
    Message(ChatMessage),
    /// The message the client sent with `client_id` was stored as `id`.
    Ack { client_id: ClientId, id: MessageId },
    /// Something the client sent was refused, or the server has a problem the user should see.
    /// A refused `send` names its `client_id`, so the client can mark that outbox entry; every
    /// `send` ends in exactly one `ack` or one such `error`.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientId>,
        /// The room a refused `join` named, or the room the problem concerns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        /// With `rate_limited`: how long to wait before sending it again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// The message a refused `edit`, `react` or reply named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<MessageId>,
    },
    /// Messages after `after` and before `first` (all of them when `first` is absent) are no
    /// longer kept, so a resuming client cannot be given them. Sent before the replay.
    Gap {
        room: RoomName,
        after: MessageId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        first: Option<MessageId>,
    },
    /// How far the user has read the room, on whichever tab or device they read it: everything
    /// up to `id` is read. Follows the room's catch-up when the socket enters it (if the user
    /// has read any of it), and comes again whenever the mark moves (at most about once a
    /// second per room). Marks only move forward.
    Read { room: RoomName, id: MessageId },
    /// Sent every `heartbeat_ms` (see `hello`) while the socket is open. A client that hears
    /// nothing for [`silence_limit_ms`] treats the connection as dead (the browser cannot see a
    /// half-open TCP connection) and reconnects.
    Heartbeat,
}

impl ServerMsg {
    /// An error about no particular message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
            client_id: None,
            room: None,
            retry_after_ms: None,
            target: None,
        }
    }

    /// An error about one room of the socket (a refused `join`, a room that failed).
    pub fn about_room(code: ErrorCode, message: impl Into<String>, room: RoomName) -> Self {
        Self::Error {
            code,
            message: message.into(),
            client_id: None,
            room: Some(room),
            retry_after_ms: None,
            target: None,
        }
    }

    /// The refusal of the `send` that carried `client_id` (when the frame was readable enough
    /// to have one).
    pub fn refused(
        code: ErrorCode,
        message: impl Into<String>,
        client_id: Option<ClientId>,
    ) -> Self {
        Self::Error {
            code,
            message: message.into(),
            client_id,
            room: None,
            retry_after_ms: None,
            target: None,
        }
    }

    /// A refusal for going too fast: the `send` that carried `client_id` (or, without one, a
    /// request about `room`) may be sent again after `retry_after_ms`.
    pub fn rate_limited(
        message: impl Into<String>,
        client_id: Option<ClientId>,
        room: Option<RoomName>,
        retry_after_ms: u64,
    ) -> Self {
        Self::Error {
            code: ErrorCode::RateLimited,
            message: message.into(),
            client_id,
            room,
            retry_after_ms: Some(retry_after_ms),
            target: None,
        }
    }

    /// The refusal of an `edit`, a `react` or a reply about message `target` of `room`.
    pub fn about_message(
        code: ErrorCode,
        message: impl Into<String>,
        room: Option<RoomName>,
        target: Option<MessageId>,
    ) -> Self {
        Self::Error {
            code,
            message: message.into(),
            client_id: None,
            room,
            retry_after_ms: None,
            target,
        }
    }

    /// The JSON text of this frame. Serializing these types cannot fail (no maps with non-string
    /// keys, no custom serializers that error), so this returns the text directly.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("ServerMsg always serializes")
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            id: UserId(Uuid::nil()),
            name: UserName::parse("alice").unwrap(),
            handle: None,
        }
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(UserName::parse("  bob ").unwrap().as_str(), "bob");
        assert_eq!(UserName::parse("   "), Err(NameError::Empty));
        assert_eq!(UserName::parse(&"x".repeat(33)), Err(NameError::TooLong));
        assert!(
            UserName::parse(&"é".repeat(32)).is_ok(),
            "limit counts characters"
        );
        assert_eq!(
            UserName::parse("a\u{7}b"),
            Err(NameError::ForbiddenCharacter)
        );
        assert_eq!(
            UserName::parse("evil\u{202E}name"),
            Err(NameError::ForbiddenCharacter)
        );
        assert_eq!(UserName::parse("\u{FFFD}\u{FFFD}"), Err(NameError::NotText));
    }

    #[test]
    fn rooms_are_safe_identifiers() {
        assert!(RoomName::parse("lobby").is_ok());
        assert!(RoomName::parse("team-42_x").is_ok());
        assert_eq!(RoomName::parse(""), Err(RoomError::Length));
        assert_eq!(RoomName::parse("Lobby"), Err(RoomError::Character));
        assert_eq!(RoomName::parse("a:b"), Err(RoomError::Character));
    }

    #[test]
    fn message_ids_order_numerically() {
        let a: MessageId = "1700000000000-9".parse().unwrap();
        let b: MessageId = "1700000000000-10".parse().unwrap();
        let c: MessageId = "1700000000001-0".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-10");
        assert!("17-".parse::<MessageId>().is_err());
        assert!("abc".parse::<MessageId>().is_err());
    }

    #[test]
    fn kinds_are_named_as_on_the_wire() {
        for kind in [
            MessageKind::Text,
            MessageKind::Me,
            MessageKind::Join,
            MessageKind::Leave,
            MessageKind::Deleted,
            MessageKind::Edited,
            MessageKind::Reacted,
        ] {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }

    #[test]
    fn me_actions_are_recognised() {
        let said = Said::parse("/me waves ").unwrap();
        assert_eq!((said.kind, said.text.as_str()), (MessageKind::Me, "waves"));
        assert_eq!(Said::parse("/me   "), Err(TextError::Empty));
        assert_eq!(Said::parse("/meow").unwrap().kind, MessageKind::Text);
        assert_eq!(Said::parse("hi\u{0}"), Err(TextError::ForbiddenCharacter));
        assert!(Said::parse("line one\nline two").is_ok());
        assert_eq!(Said::parse(&"x".repeat(2001)), Err(TextError::TooLong));
    }

    #[test]
    fn frames_match_the_documented_json() {
        let client: ClientMsg = serde_json::from_str(
            r#"{"type":"send","room":"lobby","text":"hi","client_id":"00000000-0000-0000-0000-000000000000","user":"mallory"}"#,
        )
        .unwrap();
        assert!(matches!(client, ClientMsg::Send { ref text, .. } if text == "hi"));

        let id: MessageId = "1700000000000-0".parse().unwrap();
        let msg = Draft::new(alice(), MessageKind::Text, "hi").into_message(RoomName::lobby(), id);
        let json: serde_json::Value =
            serde_json::from_str(&ServerMsg::Message(msg).to_json()).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(json["id"], "1700000000000-0");
        assert_eq!(json["at"], 1700000000000u64);
        assert_eq!(json["kind"], "text");
        assert_eq!(json["user"]["name"], "alice");
        assert!(json.get("client_id").is_none());

        let err = ServerMsg::error(ErrorCode::TooLarge, "too big").to_json();
        assert_eq!(
            err,
            r#"{"type":"error","code":"too_large","message":"too big"}"#
        );
    }

    #[test]
    fn gap_and_heartbeat_frames() {
        let gap = ServerMsg::Gap {
            room: RoomName::lobby(),
            after: "5-0".parse().unwrap(),
            first: Some("9-0".parse().unwrap()),
        };
        assert_eq!(
            gap.to_json(),
            r#"{"type":"gap","room":"lobby","after":"5-0","first":"9-0"}"#
        );
        assert_eq!(ServerMsg::Heartbeat.to_json(), r#"{"type":"heartbeat"}"#);
    }

    #[test]
    fn refusals_name_the_message_they_refuse() {
        let id = ClientId(Uuid::nil());
        let frame = r#"{"type":"send","room":"NOPE!","text":"","client_id":"00000000-0000-0000-0000-000000000000"}"#;
        assert_eq!(client_id_of(frame), Some(id));
        assert_eq!(client_id_of("not json"), None);
        assert_eq!(client_id_of(r#"{"type":"send"}"#), None);
        let json = ServerMsg::refused(ErrorCode::InvalidText, "empty", Some(id)).to_json();
        assert_eq!(
            json,
            r#"{"type":"error","code":"invalid_text","message":"empty","client_id":"00000000-0000-0000-0000-000000000000"}"#
        );
        assert!(ErrorCode::Unavailable.is_transient());
        assert!(!ErrorCode::InvalidText.is_transient());
    }

    #[test]
    fn the_silence_limit_follows_the_announced_heartbeat() {
        assert_eq!(silence_limit_ms(15_000), 35_000);
        assert_eq!(silence_limit_ms(55_000), 115_000);
        assert_eq!(silence_limit_ms(u64::MAX), u64::MAX);
    }

    #[test]
    fn room_names_in_frames_are_validated() {
        let bad = serde_json::from_str::<ClientMsg>(
            r#"{"type":"send","room":"NOPE!","text":"hi","client_id":"00000000-0000-0000-0000-000000000000"}"#,
        );
        assert!(bad.is_err());
    }
}
