//! The event streams open on this instance (`GET /sse`, the transport for networks that block
//! WebSockets), by id, so that what their clients post (`POST /sse/<id>`) reaches them.
//!
//! A stream is a connection like a socket's, read by the client as Server-Sent Events; the
//! client's frames come as separate requests, which the load balancer may send to any
//! instance. Each frame is handed to its stream here when the stream is on this instance, and
//! to the instance holding it otherwise (the id says which; see [`StreamId::inbox`]). A stream
//! takes frames only from the user it serves.

use app::protocol::UserId;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::mpsc;

/// Frames a stream's posts may get ahead of its connection. A client sends one frame at a
/// time per action, so a full queue means a client posting far faster than it is answered.
pub const QUEUE: usize = 64;

/// A stream's id: the holding instance's inbox (see [`Streams::new`]), a dot, and 128 random
/// bits. Unguessable, and it names where to take the stream's frames.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId(String);

impl StreamId {
    /// Reads an id from a request's path: two parts of plain letters and digits.
    pub fn parse(text: &str) -> Option<Self> {
        let (inbox, random) = text.split_once('.')?;
        let plain = |part: &str| {
            !part.is_empty() && part.len() <= 64 && part.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        (plain(inbox) && plain(random)).then(|| Self(text.to_owned()))
    }

    /// The inbox of the instance holding the stream.
    pub fn inbox(&self) -> &str {
        self.0.split_once('.').map_or("", |(inbox, _)| inbox)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What became of a frame handed to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handed {
    /// Queued for the stream's connection: its answer comes on the stream.
    Taken,
    /// The stream's queue is full.
    Busy,
    /// No such stream here (it ended, or it never was).
    Gone,
    /// The stream serves someone else.
    NotYours,
}

/// The streams open here.
#[derive(Clone)]
pub struct Streams {
    inbox: Arc<str>,
    open: Arc<Mutex<HashMap<StreamId, Entry>>>,
}

struct Entry {
    user: UserId,
    frames: mpsc::Sender<String>,
}

/// A stream's place in [`Streams`], held by its connection; dropping it removes the stream.
pub struct Registration {
    streams: Streams,
    id: StreamId,
}

impl Registration {
    pub fn id(&self) -> &StreamId {
        &self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.streams.lock().remove(&self.id);
    }
}

impl Streams {
    /// The streams of an instance whose inbox (where other instances send its streams' frames)
    /// is `inbox`: letters and digits, unique to the process.
    pub fn new(inbox: impl Into<Arc<str>>) -> Self {
        Self {
            inbox: inbox.into(),
            open: Arc::default(),
        }
    }

    /// This instance's inbox.
    pub fn inbox(&self) -> &str {
        &self.inbox
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Entry>> {
        // A panic while holding the lock leaves the map as it was: nothing to repair.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a stream for `user`: its registration, and where its posted frames arrive.
    pub fn open(&self, user: UserId) -> (Registration, mpsc::Receiver<String>) {
        let id = StreamId(format!("{}.{}", self.inbox, uuid::Uuid::new_v4().simple()));
        let (frames, received) = mpsc::channel(QUEUE);
        self.lock().insert(id.clone(), Entry { user, frames });
        let registration = Registration {
            streams: self.clone(),
            id,
        };
        (registration, received)
    }

    /// Whether `id` names a stream of this instance (open or not).
    pub fn is_here(&self, id: &StreamId) -> bool {
        id.inbox() == &*self.inbox
    }

    /// Whether the stream `id` is open here and serves `user`.
    pub fn serves(&self, id: &StreamId, user: UserId) -> bool {
        self.lock().get(id).is_some_and(|entry| entry.user == user)
    }

    /// Hands `frame`, posted by `user`, to the stream `id` if it is open here.
    pub fn hand(&self, id: &StreamId, user: UserId, frame: String) -> Handed {
        let open = self.lock();
        let Some(entry) = open.get(id) else {
            return Handed::Gone;
        };
        if entry.user != user {
            return Handed::NotYours;
        }
        match entry.frames.try_send(frame) {
            Ok(()) => Handed::Taken,
            Err(mpsc::error::TrySendError::Full(_)) => Handed::Busy,
            Err(mpsc::error::TrySendError::Closed(_)) => Handed::Gone,
        }
    }

    /// How many streams are open here.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId(uuid::Uuid::from_bytes([n; 16]))
    }

    #[test]
    fn frames_reach_the_stream_of_their_user_until_it_closes() {
        let streams = Streams::new("inbox1");
        let (registration, mut frames) = streams.open(user(1));
        let id = registration.id().clone();
        assert!(streams.is_here(&id));
        assert_eq!(StreamId::parse(id.as_str()), Some(id.clone()));
        assert!(streams.serves(&id, user(1)));
        assert!(!streams.serves(&id, user(2)));
        assert_eq!(streams.hand(&id, user(1), "a".into()), Handed::Taken);
        assert_eq!(frames.try_recv().unwrap(), "a");
        assert_eq!(streams.hand(&id, user(2), "b".into()), Handed::NotYours);
        drop(registration);
        assert_eq!(streams.hand(&id, user(1), "c".into()), Handed::Gone);
        assert!(streams.is_empty());
    }

    #[test]
    fn a_full_queue_is_busy() {
        let streams = Streams::new("inbox1");
        let (registration, _frames) = streams.open(user(1));
        for _ in 0..QUEUE {
            assert_eq!(
                streams.hand(registration.id(), user(1), "x".into()),
                Handed::Taken
            );
        }
        assert_eq!(
            streams.hand(registration.id(), user(1), "x".into()),
            Handed::Busy
        );
    }

    #[test]
    fn ids_are_two_plain_parts() {
        assert!(StreamId::parse("abc.def").is_some());
        for bad in ["abc", ".def", "abc.", "a/b.c", "a.b.c", "a.b c"] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
        assert_eq!(StreamId::parse("abc.def").unwrap().inbox(), "abc");
        assert!(!Streams::new("other").is_here(&StreamId::parse("abc.def").unwrap()));
    }
}
