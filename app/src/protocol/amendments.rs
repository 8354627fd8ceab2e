//! What can happen to a message after it is said: it is edited, deleted, reacted to, or quoted
//! by a reply.
//!
//! Each change is a *record* in the room's log ([`MessageKind::Edited`], [`MessageKind::Deleted`],
//! [`MessageKind::Reacted`]), stored and published like a message, naming its `target`. A live
//! socket or a resume after an earlier id receives the records in order and [applies] them; a
//! read of history returns each message as its records left it. Both ways give the same
//! conversation: applying a suffix of the log in order ends where the log ends, and each record
//! is idempotent (a reaction record says "this person's 👍 is on", not "one more").
//!
//! [applies]: ChatMessage::apply

use super::{ChatMessage, MessageId, MessageKind, User};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Most characters of the original a reply quotes.
pub const QUOTE_CHARS: usize = 120;
/// Most different reactions one message can have; a new one beyond is refused.
pub const MAX_REACTIONS: usize = 20;
/// Longest reaction, in characters (an emoji with skin tone and joiners fits).
pub const MAX_EMOJI_CHARS: usize = 12;

/// Why a reaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmojiError {
    #[error("a reaction is one emoji of at most {MAX_EMOJI_CHARS} characters")]
    Length,
    #[error("a reaction is an emoji, not text")]
    NotAnEmoji,
}

/// A reaction: one short symbol (an emoji), never text. It has no ASCII letter, space, control
/// or text-direction character and at least one character beyond ASCII (so `1️⃣` passes and `1`
/// does not).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Emoji(String);

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, EmojiError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_EMOJI_CHARS {
            return Err(EmojiError::Length);
        }
        let forbidden = |c: char| {
            c.is_ascii_alphabetic()
                || c.is_whitespace()
                || c.is_control()
                || super::is_bidi_control(c)
                || c == char::REPLACEMENT_CHARACTER
        };
        if raw.chars().any(forbidden) || raw.is_ascii() {
            return Err(EmojiError::NotAnEmoji);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Emoji {
    type Error = EmojiError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Emoji> for String {
    fn from(value: Emoji) -> Self {
        value.0
    }
}

impl fmt::Display for Emoji {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One reaction on a message: the emoji, and who chose it, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: Emoji,
    pub users: Vec<User>,
}

/// What a [`MessageKind::Reacted`] record says: the author's `emoji` on its target is now on
/// (`on: true`) or off. A state, not a step: applying it twice changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionChange {
    pub emoji: Emoji,
    pub on: bool,
}

/// What a reply quotes of the message it answers: which one, whose, and the start of its text.
/// The server fills it in from the log (never from the frame), and keeps it following the
/// original: an edit changes the snippet, a deletion empties it and sets `deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub id: MessageId,
    pub user: User,
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Quote {
    /// The quote of `original` (something said).
    pub fn of(original: &ChatMessage) -> Self {
        Self {
            id: original.id,
            user: original.user.clone(),
            text: snippet(&original.text),
            deleted: original.deleted,
        }
    }

    /// Follows the original as it stands now: deleted, or (when it was edited) with this text.
    /// The one rule for a quote, whether the original's change comes as a record or is read
    /// from the store.
    pub fn follow(&mut self, deleted: bool, edited_text: Option<&str>) {
        if deleted {
            self.text.clear();
            self.deleted = true;
        } else if let Some(text) = edited_text {
            self.text = snippet(text);
        }
    }
}

/// The first [`QUOTE_CHARS`] characters of `text`, with an ellipsis when there was more.
pub fn snippet(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
    }
}

impl ChatMessage {
    /// Applies `record`, a record naming this message as its target: an edit takes its text, a
    /// deletion blanks it, a reaction record turns its author's reaction on or off. A deleted
    /// message takes no more edits or reactions, and an edit to the text it has changes
    /// nothing. Returns whether anything changed.
    pub fn apply(&mut self, record: &ChatMessage) -> bool {
        if record.target != Some(self.id) || (self.deleted && record.kind != MessageKind::Deleted) {
            return false;
        }
        match (record.kind, &record.reaction) {
            (MessageKind::Deleted, _) if !self.deleted => {
                self.blank();
                true
            }
            (MessageKind::Edited, _)
                if record.text != self.text && self.edited.is_none_or(|at| at < record.id) =>
            {
                self.text.clone_from(&record.text);
                self.edited = Some(record.id);
                true
            }
            (MessageKind::Reacted, Some(change)) => self.react(&record.user, change),
            _ => false,
        }
    }

    /// Follows a record about the message this one quotes (if it does): its edit or deletion.
    pub fn apply_to_quote(&mut self, record: &ChatMessage) {
        if let Some(quote) = &mut self.reply {
            if record.target == Some(quote.id) {
                match record.kind {
                    MessageKind::Edited => quote.follow(false, Some(&record.text)),
                    MessageKind::Deleted => quote.follow(true, None),
                    _ => {}
                }
            }
        }
    }

    /// Turns `user`'s reaction `change.emoji` on or off. Returns whether it changed.
    fn react(&mut self, user: &User, change: &ReactionChange) -> bool {
        let at = self.reactions.iter().position(|r| r.emoji == change.emoji);
        match (at, change.on) {
            (None, true) => {
                self.reactions.push(Reaction {
                    emoji: change.emoji.clone(),
                    users: vec![user.clone()],
                });
                true
            }
            (Some(at), true) if !self.reactions[at].users.iter().any(|u| u.id == user.id) => {
                self.reactions[at].users.push(user.clone());
                true
            }
            (Some(at), false) => {
                let users = &mut self.reactions[at].users;
                let before = users.len();
                users.retain(|u| u.id != user.id);
                let changed = users.len() != before;
                if users.is_empty() {
                    self.reactions.remove(at);
                }
                changed
            }
            _ => false,
        }
    }
}
