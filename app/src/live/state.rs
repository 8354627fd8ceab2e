//! What the chat page knows, as plain data: the rooms the user has open, each with its messages
//! by id, its outbox and its bookkeeping, and which one is on screen.
//!
//! Pure state, like [`super::outbox`]: no signal, no socket, no clock. The browser task feeds it
//! the server's frames (with the time) and sends the frames it hands back, so what happens on a
//! `hello`, a `joined`, a message for a room in the background or an answer to a message is
//! unit-tested on the native target.
//!
//! One socket carries every open room: the one on screen is named in the socket's URL (and
//! confirmed by `hello`), the others are added with `join` frames once `hello` arrives, each
//! with the last id it has, so a reconnect resumes every room exactly.

use super::outbox::{Entry, Outbox};
use super::read_mark::ReadMark;
use super::unsent::Unsent;
use crate::protocol::{
    ChatMessage, ClientId, ClientMsg, ErrorCode, MessageId, RoomName, User, HISTORY_PAGE,
    TYPING_SHOWN_MS,
};
use std::collections::BTreeMap;

/// Most messages kept per room (beyond those the reader loaded by scrolling up); older ones drop
/// off the top.
pub const MAX_SHOWN: usize = 500;

/// One open room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: RoomName,
    /// Messages by id: each shown once, in id order, however often it arrives.
    pub messages: BTreeMap<MessageId, ChatMessage>,
    /// Sent but not yet acknowledged, oldest first.
    pub outbox: Outbox,
    /// Part of the current socket: the URL's room after `hello`, another after its `joined`.
    /// Messages for it are sent only then; until then they wait in the outbox.
    pub joined: bool,
    /// A resume of this room could not be complete (a `gap` frame).
    pub gap: bool,
    /// How far the person has read the room (on any tab or device), and the divider.
    pub read: ReadMark,
    /// How far down the reader had scrolled when they left the room, restored on return.
    pub scroll: Option<i32>,
    /// Who is in the room now (at most `MAX_LISTED_ONLINE` of them, by name)...
    pub online: Vec<User>,
    /// ...and how many in all. `None` until the server said.
    pub online_count: Option<u32>,
    /// Who is typing, and until when (ms on the caller's clock) they are shown as typing.
    typing: Vec<(User, u64)>,
    /// Older history: asked for and not answered yet...
    pub loading_older: bool,
    /// ...or known to end with the oldest message shown.
    pub history_end: bool,
    /// How many messages to keep: [`MAX_SHOWN`] plus every older page the reader loaded.
    keep: usize,
    /// The socket is sending the room's recent history on a first join (it had no messages):
    /// that is not news, so it is not unread. Over with the `presence` frame that follows it.
    catching_up: bool,
}

impl Room {
    fn new(name: RoomName) -> Self {
        Self {
            outbox: Outbox::new(name.clone()),
            name,
            messages: BTreeMap::new(),
            joined: false,
            gap: false,
            read: ReadMark::default(),
            scroll: None,
            online: Vec::new(),
            online_count: None,
            typing: Vec::new(),
            loading_older: false,
            history_end: false,
            keep: MAX_SHOWN,
            catching_up: false,
        }
    }

    /// Who is typing at `now_ms`, in the order they started.
    pub fn typists(&self, now_ms: u64) -> Vec<&User> {
        self.typing
            .iter()
            .filter(|(_, until)| *until > now_ms)
            .map(|(user, _)| user)
            .collect()
    }

    /// Nobody has said anything here, as far as the page knows: no message (only notices of
    /// who came and went, if any; a deleted message counts, its mark shows) and nothing in the
    /// outbox.
    pub fn is_quiet(&self) -> bool {
        self.outbox.is_empty() && !self.messages.values().any(|m| m.kind.is_said())
    }

    /// Messages of others past the read mark, oldest first (`me`'s own are never unread).
    fn unread_messages(
        &self,
        me: Option<crate::protocol::UserId>,
    ) -> impl Iterator<Item = &ChatMessage> + '_ {
        let after = match self.read.at() {
            Some(at) => std::ops::Bound::Excluded(at),
            None => std::ops::Bound::Unbounded,
        };
        self.messages
            .range((after, std::ops::Bound::Unbounded))
            .map(|(_, m)| m)
            .filter(move |m| m.is_said() && Some(m.user.id) != me && self.read.is_unread(m.id))
    }

    /// The newest message id seen: where a resume of this room starts.
    pub fn last_seen(&self) -> Option<MessageId> {
        self.messages.keys().next_back().copied()
    }

    /// Keeps `message` in its place (once). A new record (an edit, a deletion, a reaction) is
    /// applied to the message it names and to the replies that quote it. Returns whether it is
    /// new.
    ///
    /// Records are applied as they come from the live log, a resume or a first join: those are
    /// the log's newest part, in order, so applying them ends where the log does. Not from an
    /// older page ([`Chat::older`]), whose messages arrive as their records left them.
    fn place(&mut self, message: ChatMessage) -> bool {
        if self.messages.contains_key(&message.id) {
            return false;
        }
        if message.kind.is_record() {
            self.apply(&message);
        }
        self.messages.insert(message.id, message);
        true
    }

    /// Applies `record` to its target and to the replies quoting it, if they are here.
    fn apply(&mut self, record: &ChatMessage) {
        let Some(target) = record.target else {
            return;
        };
        if let Some(message) = self.messages.get_mut(&target) {
            message.apply(record);
        }
        let later = (
            std::ops::Bound::Excluded(target),
            std::ops::Bound::Unbounded,
        );
        for (_, reply) in self.messages.range_mut(later) {
            reply.apply_to_quote(record);
        }
    }

    /// Keeps the messages of an older page. Their records are not applied (the messages came as
    /// their records left them, and an old record would take them back); the records held
    /// already, all newer than the page, are applied to them again, in order, in case one was
    /// stored while the page was on its way.
    fn place_older(&mut self, messages: Vec<ChatMessage>) {
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
        for message in messages {
            self.messages.entry(message.id).or_insert(message);
        }
        let Some(newest) = ids.iter().max().copied() else {
            return;
        };
        let records: Vec<ChatMessage> = self
            .messages
            .range((
                std::ops::Bound::Excluded(newest),
                std::ops::Bound::Unbounded,
            ))
            .map(|(_, m)| m)
            .filter(|m| m.kind.is_record() && m.target.is_some_and(|t| ids.contains(&t)))
            .cloned()
            .collect();
        for record in &records {
            self.apply(record);
        }
    }

    fn insert(&mut self, message: ChatMessage) -> bool {
        let new = self.place(message);
        while self.messages.len() > self.keep {
            self.messages.pop_first();
            self.history_end = false;
        }
        new
    }

    /// The frame that adds this room to a socket, resuming after what it has.
    fn join_frame(&self) -> ClientMsg {
        ClientMsg::Join {
            room: self.name.clone(),
            after: self.last_seen(),
        }
    }
}

/// Every open room, in the order they were opened, and the one on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    rooms: Vec<Room>,
    current: usize,
    /// Whose messages never count as unread: the user's own.
    me: Option<crate::protocol::UserId>,
    /// The tab is on screen: the room shown is being read.
    visible: bool,
}

impl Chat {
    /// A page on `room`. The lobby is always open too: everyone's common room.
    pub fn new(room: RoomName) -> Self {
        let lobby = RoomName::lobby();
        let mut rooms = vec![Room::new(room)];
        if rooms[0].name != lobby {
            rooms.push(Room::new(lobby));
        }
        Self {
            rooms,
            current: 0,
            me: None,
            visible: true,
        }
    }

    /// Follows the user's open rooms as the server lists them now (`listed`): the page's first
    /// list (with an empty `before`) opens them all, after those open already and in their
    /// order; later lists follow what another tab opened or closed. A listed room not open here
    /// opens (joined at once when `connected`, else by the next `hello`); a room that the previous list had (`before`) and this one has not was
    /// closed elsewhere, and closes here too, unless it is on screen or the lobby. A room this
    /// page opened that no list has shown yet is kept: the server may not have recorded it yet.
    /// Returns the frames to send.
    pub fn follow_list(
        &mut self,
        listed: &[RoomName],
        before: &[RoomName],
        connected: bool,
    ) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        let closed: Vec<RoomName> = self
            .rooms
            .iter()
            .map(|r| r.name.clone())
            .filter(|name| before.contains(name) && !listed.contains(name))
            .filter(|name| *name != RoomName::lobby())
            .collect();
        for name in &closed {
            frames.extend(self.close(name));
        }
        for name in listed {
            if self.room(name).is_none() {
                let room = Room::new(name.clone());
                if connected {
                    frames.push(room.join_frame());
                }
                self.rooms.push(room);
            }
        }
        frames
    }

    /// The user this page is for (their own messages are never unread).
    pub fn with_user(mut self, me: crate::protocol::UserId) -> Self {
        self.me = Some(me);
        self
    }

    pub fn rooms(&self) -> &[Room] {
        &self.rooms
    }

    pub fn current(&self) -> &Room {
        &self.rooms[self.current]
    }

    pub fn room(&self, name: &RoomName) -> Option<&Room> {
        self.rooms.iter().find(|r| &r.name == name)
    }

    fn room_mut(&mut self, name: &RoomName) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| &r.name == name)
    }

    /// The room of an outbox entry.
    fn room_of(&mut self, client_id: ClientId) -> Option<&mut Room> {
        self.rooms
            .iter_mut()
            .find(|r| r.outbox.get(client_id).is_some())
    }

    /// Unread messages in `room`: said by others, past the person's read mark.
    pub fn unread_in(&self, room: &Room) -> u32 {
        u32::try_from(room.unread_messages(self.me).count()).unwrap_or(u32::MAX)
    }

    /// The unread messages of `room` that `is_for_me` picks (mentions of the person).
    pub fn unread_matching(&self, room: &Room, is_for_me: impl Fn(&ChatMessage) -> bool) -> u32 {
        let picked = room.unread_messages(self.me).filter(|m| is_for_me(m));
        u32::try_from(picked.count()).unwrap_or(u32::MAX)
    }

    /// Unread messages in all rooms but those `skip` names (the muted ones).
    pub fn unread(&self, skip: impl Fn(&RoomName) -> bool) -> u32 {
        self.rooms
            .iter()
            .filter(|r| !skip(&r.name))
            .map(|r| self.unread_in(r))
            .sum()
    }

    /// The tab is on screen (`visible`) or hidden: only what is on screen is read. Coming back
    /// puts the divider above what arrived meanwhile.
    pub fn set_visible(&mut self, visible: bool) {
        if visible && !self.visible {
            let me = self.me;
            let current = self.current;
            let room = &mut self.rooms[current];
            if room.unread_messages(me).next().is_some() {
                room.read.divider = None;
            }
        }
        self.visible = visible;
    }

    /// The reader sees the room on screen (the tab is visible): its read mark moves to its
    /// newest message, if messages of others are past it. Returns the `read` frames due now.
    pub fn reading(&mut self, now_ms: u64) -> Vec<ClientMsg> {
        let me = self.me;
        let current = self.current;
        let room = &mut self.rooms[current];
        if self.visible && room.joined {
            let first = room.unread_messages(me).next().map(|m| m.id);
            if let (Some(first), Some(newest)) = (first, room.last_seen()) {
                room.read.read_to(newest, Some(first));
            }
        }
        self.due_reads(now_ms)
    }

    /// The `read` frames due at `now_ms` in the rooms the socket is in.
    fn due_reads(&mut self, now_ms: u64) -> Vec<ClientMsg> {
        self.rooms
            .iter_mut()
            .filter(|r| r.joined)
            .filter_map(|r| r.read.due(&r.name, now_ms))
            .collect()
    }

    /// The server said how far the person has read `room` (a `read` frame).
    pub fn read(&mut self, room: &RoomName, id: MessageId) {
        if let Some(room) = self.room_mut(room) {
            room.read.heard(id);
        }
    }

    /// Puts `name` on screen, opening it if it is new, and remembers where the reader was in
    /// the room they leave (`scroll`). Returns the `join` to send when a new room opens while
    /// connected; otherwise the next `hello` joins it.
    pub fn show(
        &mut self,
        name: RoomName,
        scroll: Option<i32>,
        connected: bool,
    ) -> Option<ClientMsg> {
        if self.current().name == name {
            return None;
        }
        self.rooms[self.current].scroll = scroll;
        // The divider is for one visit.
        self.rooms[self.current].read.divider = None;
        let (index, join) = match self.rooms.iter().position(|r| r.name == name) {
            Some(index) => (index, None),
            None => {
                let room = Room::new(name);
                let join = connected.then(|| room.join_frame());
                self.rooms.push(room);
                (self.rooms.len() - 1, join)
            }
        };
        self.current = index;
        join
    }

    /// Closes a room that is not on screen, with its messages and outbox. Returns the `leave`
    /// to send if the socket is in it.
    pub fn close(&mut self, name: &RoomName) -> Option<ClientMsg> {
        let index = self.rooms.iter().position(|r| &r.name == name)?;
        if index == self.current {
            return None;
        }
        let room = self.rooms.remove(index);
        if index < self.current {
            self.current -= 1;
        }
        room.joined.then_some(ClientMsg::Leave { room: room.name })
    }

    /// The socket was lost: no room is joined until the next `hello` (and unanswered requests
    /// for older history are lost with it).
    pub fn disconnected(&mut self) {
        for room in &mut self.rooms {
            room.joined = false;
            room.loading_older = false;
            room.read.reconnected();
        }
    }

    /// The reader wants older messages of the room on screen. Returns the request to send, unless
    /// one is under way, the history is known to end, or the socket is not in the room.
    pub fn want_older(&mut self) -> Option<ClientMsg> {
        let current = self.current;
        let room = &mut self.rooms[current];
        if room.loading_older || room.history_end || !room.joined {
            return None;
        }
        let before = *room.messages.keys().next()?;
        room.loading_older = true;
        Some(ClientMsg::History {
            room: room.name.clone(),
            before,
        })
    }

    /// A page of older history arrived.
    pub fn older(&mut self, room: &RoomName, messages: Vec<ChatMessage>, complete: bool) {
        let Some(room) = self.room_mut(room) else {
            return;
        };
        room.loading_older = false;
        room.history_end = complete;
        room.keep = room.keep.saturating_add(messages.len());
        room.place_older(messages);
    }

    /// A new socket said `hello` for `room` (the URL's). Returns what to send on it: the room's
    /// waiting messages, then a `join` for every other open room.
    pub fn hello(&mut self, room: &RoomName, now_ms: u64) -> Vec<ClientMsg> {
        let mut frames = self.joined(room, now_ms);
        frames.extend(
            self.rooms
                .iter()
                .filter(|r| !r.joined)
                .map(Room::join_frame),
        );
        frames
    }

    /// The socket is in `room` now (`hello` or `joined`): its waiting messages go out.
    pub fn joined(&mut self, room: &RoomName, now_ms: u64) -> Vec<ClientMsg> {
        match self.room_mut(room) {
            Some(room) => {
                room.joined = true;
                room.gap = false;
                room.catching_up = room.messages.is_empty();
                room.outbox.on_reconnect(now_ms)
            }
            None => Vec::new(),
        }
    }

    /// The socket left `room` (`left`).
    pub fn left(&mut self, room: &RoomName) {
        if let Some(room) = self.room_mut(room) {
            room.joined = false;
        }
    }

    /// A message arrived. Shown once per id; it confirms the user's own message with its
    /// `client_id`. Returns whether it is news: new, live (not the history a first join
    /// brings), said by someone else, and unread.
    pub fn message(&mut self, message: ChatMessage) -> bool {
        let me = self.me;
        let Some(index) = self.rooms.iter().position(|r| r.name == message.room) else {
            return false;
        };
        let room = &mut self.rooms[index];
        if let Some(client_id) = message.client_id {
            room.outbox.acked(client_id);
        }
        // Whoever said something has stopped typing it.
        if message.kind.is_said() {
            room.typing.retain(|(user, _)| user.id != message.user.id);
        }
        let news = !room.catching_up
            && message.kind.is_said()
            && Some(message.user.id) != me
            && room.read.is_unread(message.id);
        room.insert(message) && news
    }

    /// The server stored the message sent with `client_id`.
    pub fn acked(&mut self, client_id: ClientId) {
        if let Some(room) = self.room_of(client_id) {
            room.outbox.acked(client_id);
        }
    }

    /// The server said the message sent with `client_id` came too fast: it goes again later.
    pub fn slowed(&mut self, client_id: ClientId, message: &str, retry_after_ms: u64, now_ms: u64) {
        if let Some(room) = self.room_of(client_id) {
            room.outbox
                .slowed(client_id, message, retry_after_ms, now_ms);
        }
    }

    /// The server refused the message sent with `client_id`.
    pub fn refused(&mut self, client_id: ClientId, code: ErrorCode, message: &str, now_ms: u64) {
        if let Some(room) = self.room_of(client_id) {
            room.outbox.refused(client_id, code, message, now_ms);
        }
    }

    /// The room on screen's recent messages, rendered with the page; `complete` when they are
    /// all the history it has.
    pub fn rendered(&mut self, messages: Vec<ChatMessage>, complete: bool) {
        let current = self.current;
        let room = &mut self.rooms[current];
        for message in messages {
            room.insert(message);
        }
        room.history_end = complete;
    }

    /// Who is in `room` now (a `presence` frame, which replaces the last). The first after a
    /// join ends its catch-up: a first join that brought fewer than a page of messages brought
    /// the room's whole history, so there is nothing older to ask for.
    pub fn presence(&mut self, room: &RoomName, count: u32, users: Vec<User>) {
        if let Some(room) = self.room_mut(room) {
            room.online = users;
            room.online_count = Some(count);
            // The catch-up is over, and with it the `read` frame, if the person has a mark.
            room.read.settled(room.last_seen());
            if std::mem::take(&mut room.catching_up) && room.messages.len() < HISTORY_PAGE {
                room.history_end = true;
            }
        }
    }

    /// The server could not do something for `room` (an `error` about the room, not about a
    /// message): if that was its catch-up, what arrived says nothing of where history ends.
    pub fn room_error(&mut self, room: &RoomName) {
        if let Some(room) = self.room_mut(room) {
            room.catching_up = false;
            room.read.settled(room.last_seen());
        }
    }

    /// These users typed in `room` (a `typing` frame received at `now_ms`). The user's own
    /// typing is not shown to them.
    pub fn typing(&mut self, room: &RoomName, users: Vec<User>, now_ms: u64) {
        let me = self.me;
        let Some(room) = self.room_mut(room) else {
            return;
        };
        let until = now_ms + TYPING_SHOWN_MS;
        room.typing.retain(|(_, shown)| *shown > now_ms);
        for user in users.into_iter().filter(|u| Some(u.id) != me) {
            match room.typing.iter_mut().find(|(u, _)| u.id == user.id) {
                Some((_, shown)) => *shown = until,
                None => room.typing.push((user, until)),
            }
        }
    }

    /// The socket was refused `room` (`not_found`, `banned`): it is not in it, and nothing of
    /// it is on its way.
    pub fn shut_out(&mut self, room: &RoomName) {
        if let Some(room) = self.room_mut(room) {
            room.joined = false;
            room.catching_up = false;
        }
    }

    /// The person is no longer in `room` (a `removed` frame): off the list, with its messages
    /// and outbox; the room on screen stays, shut, so the page can say what happened.
    pub fn removed(&mut self, name: &RoomName) {
        let Some(index) = self.rooms.iter().position(|r| &r.name == name) else {
            return;
        };
        if index == self.current {
            return self.shut_out(name);
        }
        self.rooms.remove(index);
        if index < self.current {
            self.current -= 1;
        }
    }

    /// A resume of `room` could not be complete.
    pub fn gap(&mut self, room: &RoomName) {
        if let Some(room) = self.room_mut(room) {
            room.gap = true;
        }
    }

    pub fn dismiss_gap(&mut self) {
        let current = self.current;
        self.rooms[current].gap = false;
    }

    /// The user wrote `text` in the room on screen. Returns its frame when the socket is in the
    /// room; otherwise it waits in the outbox for the room's `hello` or `joined`.
    /// `now_ms` is when (unix ms), kept with it if it outlives the page.
    pub fn push(
        &mut self,
        client_id: ClientId,
        text: String,
        reply_to: Option<MessageId>,
        now_ms: u64,
    ) -> Option<ClientMsg> {
        let current = self.current;
        let room = &mut self.rooms[current];
        let frame = room.outbox.push_reply(client_id, text, reply_to, now_ms)?;
        room.joined.then_some(frame)
    }

    /// Every room's unsent messages, room by room, oldest first: what the browser keeps.
    pub fn unsent(&self) -> Vec<Unsent> {
        self.rooms
            .iter()
            .flat_map(|room| {
                room.outbox.entries().iter().map(|e| Unsent {
                    room: room.name.clone(),
                    client_id: e.client_id,
                    text: e.text.clone(),
                    reply_to: e.reply_to,
                    at: e.written_ms,
                })
            })
            .collect()
    }

    /// Takes back the messages an earlier page left unsent, at `now_ms` (unix ms): each joins its
    /// room's outbox (the room opens if it is not open) and shows as pending. Returns what to
    /// send now: the messages of rooms the socket is in, and a `join` for each room opened while
    /// `connected`; the others go with their room's `hello` or `joined`.
    pub fn restore(&mut self, kept: Vec<Unsent>, now_ms: u64, connected: bool) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        for unsent in kept {
            let index = match self.rooms.iter().position(|r| r.name == unsent.room) {
                Some(index) => index,
                None => {
                    let room = Room::new(unsent.room.clone());
                    if connected {
                        frames.push(room.join_frame());
                    }
                    self.rooms.push(room);
                    self.rooms.len() - 1
                }
            };
            let room = &mut self.rooms[index];
            let frame = room.outbox.restore(
                unsent.client_id,
                unsent.text,
                unsent.reply_to,
                unsent.at,
                now_ms,
            );
            frames.extend(frame.filter(|_| room.joined));
        }
        frames
    }

    /// The user asked to send a failed message again.
    pub fn retry(&mut self, client_id: ClientId) -> Option<ClientMsg> {
        let room = self.room_of(client_id)?;
        let frame = room.outbox.retry(client_id)?;
        room.joined.then_some(frame)
    }

    /// The user gave up on a failed message.
    pub fn discard(&mut self, client_id: ClientId) -> bool {
        self.room_of(client_id)
            .is_some_and(|room| room.outbox.discard(client_id))
    }

    /// Retries and read marks due at `now_ms` in the rooms the socket is in.
    pub fn due(&mut self, now_ms: u64) -> Vec<ClientMsg> {
        let mut frames: Vec<ClientMsg> = self
            .rooms
            .iter_mut()
            .filter(|r| r.joined)
            .flat_map(|r| r.outbox.due(now_ms))
            .collect();
        frames.extend(self.due_reads(now_ms));
        frames
    }

    /// When the next retry or read mark in a joined room is due.
    pub fn next_deadline(&self) -> Option<u64> {
        self.rooms
            .iter()
            .filter(|r| r.joined)
            .flat_map(|r| [r.outbox.next_deadline(), r.read.deadline()])
            .flatten()
            .min()
    }

    /// The outbox of the room on screen, oldest first.
    pub fn pending(&self) -> &[Entry] {
        self.current().outbox.entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Draft, Emoji, MessageKind, UserId, UserName};
    use uuid::Uuid;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn user(n: u8) -> User {
        User {
            id: UserId(Uuid::from_bytes([n; 16])),
            name: UserName::parse(&format!("user{n}")).unwrap(),
            handle: None,
        }
    }

    fn cid(n: u8) -> ClientId {
        ClientId(Uuid::from_bytes([n; 16]))
    }

    fn msg(room_name: &str, id: &str, from: u8, client_id: Option<ClientId>) -> ChatMessage {
        let draft = Draft {
            client_id,
            ..Draft::new(user(from), MessageKind::Text, "hi")
        };
        draft.into_message(room(room_name), id.parse().unwrap())
    }

    fn joins(frames: &[ClientMsg]) -> Vec<(String, Option<String>)> {
        frames
            .iter()
            .filter_map(|f| match f {
                ClientMsg::Join { room, after } => {
                    Some((room.to_string(), after.map(|a| a.to_string())))
                }
                _ => None,
            })
            .collect()
    }

    fn sends(frames: &[ClientMsg]) -> Vec<ClientId> {
        frames
            .iter()
            .filter_map(|f| match f {
                ClientMsg::Send { client_id, .. } => Some(*client_id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn hello_rejoins_every_other_open_room_where_it_left_off() {
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        assert_eq!(
            joins(
                &chat
                    .show(room("rust"), None, true)
                    .into_iter()
                    .collect::<Vec<_>>()
            ),
            [("rust".to_owned(), None)]
        );
        chat.joined(&room("rust"), 0);
        chat.message(msg("rust", "10-0", 2, None));
        chat.message(msg("lobby", "5-0", 2, None));

        chat.disconnected();
        assert!(chat.rooms().iter().all(|r| !r.joined));
        // The reconnect names the room on screen (rust) in its URL; hello rejoins the lobby.
        let frames = chat.hello(&room("rust"), 0);
        assert_eq!(
            joins(&frames),
            [("lobby".to_owned(), Some("5-0".to_owned()))]
        );
    }

    #[test]
    fn a_page_on_another_room_keeps_the_lobby_open_too() {
        let mut chat = Chat::new(room("rust"));
        assert_eq!(chat.current().name, room("rust"));
        let frames = chat.hello(&room("rust"), 0);
        assert_eq!(joins(&frames), [("lobby".to_owned(), None)]);
    }

    #[test]
    fn unsent_messages_kept_by_an_earlier_page_come_back_in_their_rooms() {
        // An earlier page wrote in the lobby and in rust, which this page has not open.
        let mut earlier = Chat::new(room("lobby"));
        earlier.push(cid(1), "one".into(), None, 5);
        earlier.show(room("rust"), None, false);
        earlier.push(cid(2), "two".into(), None, 6);
        let kept = earlier.unsent();
        assert_eq!(kept.iter().map(|u| u.at).collect::<Vec<_>>(), [5, 6]);

        let mut chat = Chat::new(room("lobby"));
        assert_eq!(chat.restore(kept.clone(), 10, false), [], "not connected");
        assert_eq!(chat.unsent(), kept);
        assert_eq!(chat.pending().len(), 1, "shown as pending");
        let frames = chat.hello(&room("lobby"), 10);
        assert_eq!(sends(&frames), [cid(1)]);
        assert_eq!(joins(&frames), [("rust".to_owned(), None)]);
        assert_eq!(sends(&chat.joined(&room("rust"), 10)), [cid(2)]);

        // Taken back again (another tab's copy): nothing doubles.
        assert_eq!(chat.restore(kept, 10, true), []);
        assert_eq!(chat.unsent().len(), 2);
    }

    #[test]
    fn a_message_kept_for_a_room_not_open_while_connected_joins_it() {
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        let mut earlier = Chat::new(room("rust"));
        earlier.push(cid(1), "one".into(), None, 0);
        earlier.push(cid(2), "two".into(), None, 0);
        let frames = chat.restore(earlier.unsent(), 0, true);
        assert_eq!(joins(&frames), [("rust".to_owned(), None)]);
        assert_eq!(sends(&frames), [], "sent once the room is joined");
    }

    #[test]
    fn a_message_waits_until_its_room_is_joined() {
        let mut chat = Chat::new(room("lobby"));
        assert_eq!(
            chat.push(cid(1), "early".into(), None, 0),
            None,
            "no hello yet"
        );
        let frames = chat.hello(&room("lobby"), 0);
        assert_eq!(sends(&frames), [cid(1)]);
        assert!(chat.push(cid(2), "now".into(), None, 0).is_some());

        chat.show(room("rust"), None, true);
        assert_eq!(chat.push(cid(3), "before joined".into(), None, 0), None);
        assert_eq!(sends(&chat.joined(&room("rust"), 0)), [cid(3)]);
        // Retries and deadlines only concern joined rooms.
        chat.disconnected();
        assert_eq!(chat.due(u64::MAX), []);
    }

    #[test]
    fn answers_find_their_room() {
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        chat.push(cid(1), "in lobby".into(), None, 0);
        chat.show(room("rust"), None, true);
        chat.joined(&room("rust"), 0);
        chat.push(cid(2), "in rust".into(), None, 0);

        chat.refused(cid(1), ErrorCode::InvalidText, "no", 0);
        chat.acked(cid(2));
        assert!(chat.current().outbox.is_empty());
        let lobby = chat.room(&room("lobby")).unwrap();
        assert!(matches!(
            lobby.outbox.get(cid(1)).unwrap().state,
            super::super::outbox::State::Failed { .. }
        ));
        // The message itself confirms it too.
        chat.push(cid(3), "again".into(), None, 0);
        chat.message(msg("rust", "20-0", 1, Some(cid(3))));
        assert!(chat.current().outbox.is_empty());
    }

    #[test]
    fn a_page_reopens_the_users_rooms_once_each_and_joins_them_on_hello() {
        let mut chat = Chat::new(room("feat"));
        let listed = [room("lobby"), room("feat"), room("ops"), room("ops")];
        assert_eq!(chat.follow_list(&listed, &[], false), []);
        let names: Vec<&str> = chat.rooms().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["feat", "lobby", "ops"]);
        let joins = chat.hello(&room("feat"), 0);
        assert_eq!(
            joins,
            [room("lobby"), room("ops")].map(|room| ClientMsg::Join { room, after: None })
        );
    }

    #[test]
    fn a_page_follows_rooms_opened_and_closed_in_another_tab() {
        let mut chat = Chat::new(room("feat"));
        chat.follow_list(&[room("ops"), room("old")], &[], false);
        chat.hello(&room("feat"), 0);
        chat.joined(&room("ops"), 0);
        chat.joined(&room("old"), 0);
        // This page opened "new" (not listed yet); another tab closed "old" and opened "more".
        chat.show(room("new"), None, true);
        chat.show(room("feat"), None, true);
        chat.joined(&room("new"), 0);
        let before = [room("feat"), room("lobby"), room("ops"), room("old")];
        let listed = [room("feat"), room("lobby"), room("ops"), room("more")];
        let frames = chat.follow_list(&listed, &before, true);
        assert_eq!(
            frames,
            [
                ClientMsg::Leave { room: room("old") },
                ClientMsg::Join {
                    room: room("more"),
                    after: None
                }
            ]
        );
        let names: Vec<&str> = chat.rooms().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["feat", "lobby", "ops", "new", "more"]);
        // The room on screen and the lobby never close this way ("more" was not joined yet:
        // no `leave` for it).
        let frames = chat.follow_list(&[], &listed, true);
        assert_eq!(frames, [ClientMsg::Leave { room: room("ops") }]);
        let names: Vec<&str> = chat.rooms().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["feat", "lobby", "new"]);
    }

    fn reads(frames: &[ClientMsg]) -> Vec<(String, String)> {
        frames
            .iter()
            .filter_map(|f| match f {
                ClientMsg::Read { room, id } => Some((room.to_string(), id.to_string())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn unread_counts_new_messages_from_others_in_background_rooms() {
        let mut chat = Chat::new(room("lobby")).with_user(user(1).id);
        chat.hello(&room("lobby"), 0);
        chat.message(msg("lobby", "1-0", 2, None));
        // The catch-up ends with who is here.
        chat.presence(&room("lobby"), 1, Vec::new());
        chat.show(room("rust"), None, true);
        chat.joined(&room("rust"), 0);
        chat.presence(&room("rust"), 1, Vec::new());

        assert!(chat.message(msg("lobby", "2-0", 2, None)), "news");
        assert!(!chat.message(msg("lobby", "2-0", 2, None)), "a duplicate");
        assert!(!chat.message(msg("lobby", "3-0", 1, None)), "mine");
        let mut notice = msg("lobby", "4-0", 3, None);
        notice.kind = MessageKind::Join;
        chat.message(notice);
        chat.message(msg("rust", "5-0", 2, None)); // on screen
        assert_eq!(reads(&chat.reading(0)), [("rust".into(), "5-0".into())]);
        assert_eq!(chat.unread_in(chat.room(&room("lobby")).unwrap()), 1);
        assert_eq!(chat.unread(|_| false), 1);
        assert_eq!(chat.unread(|r| r.as_str() == "lobby"), 0, "muted");

        chat.show(room("lobby"), Some(120), true);
        assert_eq!(
            reads(&chat.reading(2_000)),
            [("lobby".into(), "4-0".into())]
        );
        assert_eq!(chat.unread(|_| false), 0);
        assert_eq!(chat.current().read.divider, Some("2-0".parse().unwrap()));
        assert_eq!(chat.room(&room("rust")).unwrap().scroll, Some(120));
    }

    #[test]
    fn a_background_rooms_first_history_is_not_unread_but_what_it_missed_is() {
        let mut chat = Chat::new(room("rust")).with_user(user(1).id);
        chat.hello(&room("rust"), 0);
        chat.joined(&room("lobby"), 0);
        // The lobby's recent history on a first join, then its presence: nothing new.
        chat.message(msg("lobby", "1-0", 2, None));
        chat.message(msg("lobby", "2-0", 2, None));
        chat.presence(&room("lobby"), 2, Vec::new());
        assert_eq!(chat.unread(|_| false), 0);
        chat.message(msg("lobby", "3-0", 2, None));
        assert_eq!(chat.unread(|_| false), 1, "live from here on");
        // A resume after a lost connection: what was missed is news.
        chat.disconnected();
        chat.hello(&room("rust"), 0);
        chat.joined(&room("lobby"), 0);
        chat.message(msg("lobby", "4-0", 2, None));
        assert_eq!(chat.unread(|_| false), 2);
    }

    #[test]
    fn reading_in_one_tab_clears_the_other_and_a_hidden_tab_reads_nothing() {
        let (mut laptop, mut phone) = (
            Chat::new(room("lobby")).with_user(user(1).id),
            Chat::new(room("lobby")).with_user(user(1).id),
        );
        for tab in [&mut laptop, &mut phone] {
            tab.hello(&room("lobby"), 0);
            tab.message(msg("lobby", "1-0", 2, None));
            // The server's mark, after the catch-up.
            tab.read(&room("lobby"), "1-0".parse().unwrap());
            tab.presence(&room("lobby"), 2, Vec::new());
            tab.set_visible(false);
            assert!(tab.reading(0).is_empty());
            assert!(tab.message(msg("lobby", "2-0", 2, None)));
            assert!(tab.message(msg("lobby", "3-0", 2, None)));
            assert_eq!(tab.unread(|_| false), 2, "hidden: nothing is read");
        }
        laptop.set_visible(true);
        let frames = laptop.reading(5_000);
        assert_eq!(reads(&frames), [("lobby".into(), "3-0".into())]);
        assert_eq!(laptop.current().read.divider, Some("2-0".parse().unwrap()));
        assert_eq!(laptop.unread(|_| false), 0);
        // The server passes the mark on to every socket of the person.
        phone.read(&room("lobby"), "3-0".parse().unwrap());
        assert_eq!(phone.unread(|_| false), 0);
        assert!(phone.reading(5_000).is_empty(), "nothing to send back");
    }

    #[test]
    fn nothing_counts_until_the_catch_up_says_where_the_mark_is() {
        let mut chat = Chat::new(room("lobby")).with_user(user(1).id);
        chat.rendered(vec![msg("lobby", "1-0", 2, None)], false);
        chat.hello(&room("lobby"), 0);
        // A resume: what arrived since the page was rendered, before the mark.
        chat.message(msg("lobby", "2-0", 2, None));
        assert_eq!(chat.unread(|_| false), 0);
        assert!(chat.reading(0).is_empty(), "the mark is not known yet");
        chat.read(&room("lobby"), "1-0".parse().unwrap());
        chat.presence(&room("lobby"), 2, Vec::new());
        assert_eq!(reads(&chat.reading(0)), [("lobby".into(), "2-0".into())]);
        assert_eq!(chat.current().read.divider, Some("2-0".parse().unwrap()));
    }

    #[test]
    fn messages_are_kept_once_in_order_and_bounded() {
        let mut chat = Chat::new(room("lobby"));
        for n in (1..=MAX_SHOWN as u64 + 10).rev() {
            chat.message(msg("lobby", &format!("{n}-0"), 2, None));
        }
        chat.message(msg("lobby", "600-0", 2, None));
        let ids: Vec<_> = chat.current().messages.keys().copied().collect();
        assert_eq!(ids.len(), MAX_SHOWN);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        // A message for a room that is not open is ignored.
        chat.message(msg("elsewhere", "1-0", 2, None));
        assert!(chat.room(&room("elsewhere")).is_none());
    }

    #[test]
    fn a_deletion_blanks_its_message_wherever_it_comes_from() {
        let mut chat = Chat::new(room("lobby"));
        chat.message(msg("lobby", "5-0", 2, None));
        assert!(!chat.current().is_quiet());
        let deletion = |id: &str| {
            Draft::deletion(user(3), "5-0".parse().unwrap())
                .into_message(room("lobby"), id.parse().unwrap())
        };
        chat.message(deletion("6-0"));
        let kept = &chat.current().messages;
        assert!(kept[&"5-0".parse().unwrap()].deleted);
        // The message stays a row (a "deleted" mark); the record of its deletion is none.
        assert!(kept.values().all(|m| m.is_shown() == m.deleted));
        assert!(!chat.current().is_quiet(), "its mark is left");
        // Resumed from before it, the same: the record comes after the message it deletes.
        chat.message(deletion("6-0"));
        assert_eq!(chat.current().last_seen(), Some("6-0".parse().unwrap()));
        chat.older(&room("lobby"), vec![msg("lobby", "4-0", 2, None)], false);
        assert!(!chat.current().is_quiet());
    }

    #[test]
    fn typing_shows_for_a_while_and_ends_with_the_message() {
        let mut chat = Chat::new(room("lobby")).with_user(user(1).id);
        chat.typing(&room("lobby"), vec![user(1), user(2), user(3)], 1_000);
        let names = |chat: &Chat, at| -> Vec<String> {
            chat.current()
                .typists(at)
                .iter()
                .map(|u| u.name.to_string())
                .collect()
        };
        assert_eq!(names(&chat, 1_000), ["user2", "user3"], "not myself");
        // User 3 says what they typed; user 2 types on.
        chat.message(msg("lobby", "1-0", 3, None));
        chat.typing(&room("lobby"), vec![user(2)], 3_500);
        assert_eq!(names(&chat, 4_000), ["user2"]);
        assert!(names(&chat, 3_500 + TYPING_SHOWN_MS).is_empty(), "expired");
    }

    #[test]
    fn a_short_history_is_known_complete_without_asking() {
        let page = |n: usize| -> Vec<ChatMessage> {
            (1..=n)
                .map(|i| msg("lobby", &format!("{i}-0"), 2, None))
                .collect()
        };
        // Rendered with the page: complete when the server said so.
        let mut chat = Chat::new(room("lobby"));
        chat.rendered(page(3), true);
        assert!(chat.current().history_end);
        let mut chat = Chat::new(room("lobby"));
        chat.rendered(page(HISTORY_PAGE), false);
        assert!(!chat.current().history_end);

        // A first join's catch-up of less than a page is all there is...
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        for m in page(HISTORY_PAGE - 1) {
            chat.message(m);
        }
        chat.presence(&room("lobby"), 1, vec![user(1)]);
        assert!(chat.current().history_end);
        assert_eq!(chat.want_older(), None);
        // ...a full page may not be...
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        for m in page(HISTORY_PAGE) {
            chat.message(m);
        }
        chat.presence(&room("lobby"), 1, vec![user(1)]);
        assert!(!chat.current().history_end);
        // ...and a catch-up that failed says nothing.
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        chat.room_error(&room("lobby"));
        chat.presence(&room("lobby"), 1, vec![user(1)]);
        assert!(!chat.current().history_end);
        // A resume (the room had messages) is not a first page either.
        let mut chat = Chat::new(room("lobby"));
        chat.rendered(page(HISTORY_PAGE), false);
        chat.hello(&room("lobby"), 0);
        chat.presence(&room("lobby"), 1, vec![user(1)]);
        assert!(!chat.current().history_end);
    }

    #[test]
    fn older_pages_are_asked_for_once_kept_and_end() {
        let mut chat = Chat::new(room("lobby"));
        assert_eq!(chat.want_older(), None, "not joined yet");
        chat.hello(&room("lobby"), 0);
        assert_eq!(chat.want_older(), None, "nothing to page back from");
        for n in 1..=MAX_SHOWN as u64 {
            chat.message(msg("lobby", &format!("{}-0", 1000 + n), 2, None));
        }
        let ask = chat.want_older().expect("a request");
        assert_eq!(
            ask,
            ClientMsg::History {
                room: room("lobby"),
                before: "1001-0".parse().unwrap()
            }
        );
        assert_eq!(chat.want_older(), None, "one at a time");
        let page: Vec<_> = (1..=10)
            .map(|n| msg("lobby", &format!("{n}-0"), 2, None))
            .collect();
        chat.older(&room("lobby"), page, true);
        assert_eq!(
            chat.current().messages.len(),
            MAX_SHOWN + 10,
            "loaded pages are kept"
        );
        assert!(chat.current().history_end);
        assert_eq!(chat.want_older(), None, "the history ends");
    }

    #[test]
    fn closing_a_room_leaves_it_but_the_room_on_screen_stays() {
        let mut chat = Chat::new(room("lobby"));
        chat.hello(&room("lobby"), 0);
        chat.show(room("rust"), None, true);
        assert_eq!(chat.close(&room("rust")), None, "on screen");
        chat.joined(&room("rust"), 0);
        chat.show(room("lobby"), None, true);
        assert_eq!(
            chat.close(&room("rust")),
            Some(ClientMsg::Leave { room: room("rust") })
        );
        assert_eq!(chat.rooms().len(), 1);
        assert_eq!(chat.current().name, room("lobby"));
    }

    proptest::proptest! {
        /// However replayed and live copies of a room's messages interleave and repeat, the page
        /// shows each once, in id order.
        #[test]
        fn any_interleaving_shows_each_message_once_in_order(
            arrivals in proptest::collection::vec(1u64..60, 0..200),
        ) {
            let mut chat = Chat::new(room("lobby"));
            chat.hello(&room("lobby"), 0);
            for n in &arrivals {
                chat.message(msg("lobby", &format!("{n}-0"), 2, None));
            }
            let shown: Vec<u64> = chat.current().messages.keys().map(|id| id.ms).collect();
            let mut expected: Vec<u64> = arrivals.clone();
            expected.sort_unstable();
            expected.dedup();
            proptest::prop_assert_eq!(shown, expected);
        }
    }

    fn record(id: &str, draft: Draft) -> ChatMessage {
        draft.into_message(room("lobby"), id.parse().unwrap())
    }

    fn thumbs(from: u8, target: &str, on: bool) -> Draft {
        let emoji = Emoji::parse("👍").unwrap();
        Draft::reaction(user(from), target.parse().unwrap(), emoji, on)
    }

    #[test]
    fn live_records_change_their_message_and_the_replies_quoting_it() {
        let mut chat = Chat::new(room("lobby")).with_user(user(1).id);
        chat.hello(&room("lobby"), 0);
        chat.message(msg("lobby", "1-0", 2, None));
        let mut reply = msg("lobby", "2-0", 3, None);
        reply.reply = Some(Box::new(crate::protocol::Quote::of(&msg(
            "lobby", "1-0", 2, None,
        ))));
        chat.message(reply);
        let edit = record("3-0", Draft::edit(user(2), "1-0".parse().unwrap(), "hello"));
        chat.message(edit.clone());
        chat.message(record("4-0", thumbs(3, "1-0", true)));
        // A record that comes twice (a resume over what the socket brought) is applied once.
        chat.message(record("4-0", thumbs(3, "1-0", true)));
        chat.message(record("5-0", thumbs(4, "1-0", true)));
        chat.message(record("6-0", thumbs(3, "1-0", false)));
        let messages = &chat.current().messages;
        let original = &messages[&"1-0".parse().unwrap()];
        assert_eq!(
            (original.text.as_str(), original.edited),
            ("hello", Some(edit.id))
        );
        assert_eq!(original.reactions[0].users, vec![user(4)]);
        assert_eq!(
            messages[&"2-0".parse().unwrap()]
                .reply
                .as_ref()
                .unwrap()
                .text,
            "hello"
        );
        // Records are not rows, nor news.
        assert_eq!(
            chat.current()
                .messages
                .values()
                .filter(|m| m.is_shown())
                .count(),
            2
        );

        chat.message(record(
            "7-0",
            Draft::deletion(user(2), "1-0".parse().unwrap()),
        ));
        let messages = &chat.current().messages;
        assert!(messages[&"1-0".parse().unwrap()].deleted);
        assert!(messages[&"1-0".parse().unwrap()].reactions.is_empty());
        assert!(
            messages[&"2-0".parse().unwrap()]
                .reply
                .as_ref()
                .unwrap()
                .deleted
        );
    }

    #[test]
    fn an_older_page_keeps_its_state_and_takes_the_newer_records_held() {
        let mut chat = Chat::new(room("lobby")).with_user(user(1).id);
        chat.hello(&room("lobby"), 0);
        // What the socket brought: a record about a message not loaded yet (dropped then)...
        chat.message(record("9-0", thumbs(4, "1-0", true)));
        // ...and the page, read before that record was stored: the message as it was then, and
        // an old record of its own that the page's state already includes.
        let mut original = msg("lobby", "1-0", 2, None);
        original.text = "v2".to_owned();
        let mut page = vec![
            original,
            record("2-0", Draft::edit(user(2), "1-0".parse().unwrap(), "v1")),
        ];
        page[0].edited = Some("3-0".parse().unwrap());
        page.push(record(
            "3-0",
            Draft::edit(user(2), "1-0".parse().unwrap(), "v2"),
        ));
        chat.older(&room("lobby"), page, true);
        let original = &chat.current().messages[&"1-0".parse().unwrap()];
        assert_eq!(
            original.text, "v2",
            "an old record on the page does not take it back"
        );
        assert_eq!(
            original.reactions[0].users,
            vec![user(4)],
            "the newer record held is applied"
        );
    }
}
