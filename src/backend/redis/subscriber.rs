//! The instance's one pub/sub connection.
//!
//! A single task owns the connection. The hub asks it (through [`SubscriberHandle`]) to subscribe
//! to a room when the room's first local socket joins and to unsubscribe when the last one leaves;
//! requests are handled in the order they were made. Every published message is decoded once and
//! handed to the fan-out. When the connection drops, the task reconnects with backoff and
//! subscribes to the same rooms again.

use super::{broker::decode_published, Keys};
use crate::backend::BackendError;
use app::protocol::{ChatMessage, RoomName};
use futures_util::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use std::{collections::HashSet, time::Duration};
use tokio::sync::{mpsc, oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

enum Command {
    Subscribe(RoomName, oneshot::Sender<Result<(), BackendError>>),
    Unsubscribe(RoomName),
}

/// Asks the subscriber task to change its subscriptions.
#[derive(Clone)]
pub struct SubscriberHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl SubscriberHandle {
    /// Subscribes to `room`; returns once Redis has confirmed the subscription.
    pub async fn subscribe(&self, room: RoomName) -> Result<(), BackendError> {
        let (ack, confirmed) = oneshot::channel();
        self.commands
            .send(Command::Subscribe(room, ack))
            .map_err(|_| BackendError::SubscriberGone)?;
        confirmed.await.map_err(|_| BackendError::SubscriberGone)?
    }

    /// Unsubscribes from `room`. Queued in order behind earlier requests; does not wait.
    pub fn unsubscribe(&self, room: RoomName) {
        let _ = self.commands.send(Command::Unsubscribe(room));
    }
}

/// Opens the first pub/sub connection (so start-up fails if Redis is unreachable) and starts the
/// task that owns it.
pub async fn spawn(
    client: redis::Client,
    keys: Keys,
    deliveries: mpsc::UnboundedSender<ChatMessage>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> redis::RedisResult<SubscriberHandle> {
    let first = client.get_async_pubsub().await?;
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let task = Subscriber {
        client,
        keys,
        commands,
        deliveries,
        rooms: HashSet::new(),
        shutdown,
    };
    tracker.spawn(task.run(first));
    Ok(SubscriberHandle {
        commands: commands_tx,
    })
}

struct Subscriber {
    client: redis::Client,
    keys: Keys,
    commands: mpsc::UnboundedReceiver<Command>,
    deliveries: mpsc::UnboundedSender<ChatMessage>,
    /// The rooms this instance wants, kept across reconnects.
    rooms: HashSet<RoomName>,
    shutdown: CancellationToken,
}

/// Why [`Subscriber::serve`] returned.
enum Ended {
    Shutdown,
    ConnectionLost,
}

impl Subscriber {
    async fn run(mut self, first: PubSub) {
        let mut connection = Some(first);
        let mut delay = Duration::from_millis(100);
        loop {
            if let Some(pubsub) = connection.take() {
                let (mut sink, mut stream) = pubsub.split();
                match self.resubscribe(&mut sink).await {
                    Ok(()) => {
                        delay = Duration::from_millis(100);
                        match self.serve(&mut sink, &mut stream).await {
                            Ended::Shutdown => return,
                            Ended::ConnectionLost => {
                                tracing::warn!("redis pub/sub connection lost; reconnecting")
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not restore subscriptions"),
                }
            }
            // Wait, answering requests meanwhile, then try again.
            let retry = tokio::time::sleep(delay);
            tokio::pin!(retry);
            loop {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = &mut retry => break,
                    Some(command) = self.commands.recv() => self.while_offline(command),
                }
            }
            delay = (delay * 2).min(Duration::from_secs(5));
            match self.client.get_async_pubsub().await {
                Ok(pubsub) => {
                    tracing::info!(rooms = self.rooms.len(), "redis pub/sub reconnected");
                    connection = Some(pubsub);
                }
                Err(e) => tracing::warn!(error = %e, "redis pub/sub reconnect failed"),
            }
        }
    }

    async fn resubscribe(&self, sink: &mut PubSubSink) -> redis::RedisResult<()> {
        if self.rooms.is_empty() {
            return Ok(());
        }
        let channels: Vec<String> = self.rooms.iter().map(|r| self.keys.channel(r)).collect();
        sink.subscribe(channels).await
    }

    /// Without a connection: remember what is wanted, and say subscribing failed for now.
    fn while_offline(&mut self, command: Command) {
        match command {
            Command::Subscribe(room, ack) => {
                self.rooms.insert(room);
                let _ = ack.send(Err(BackendError::SubscriberGone));
            }
            Command::Unsubscribe(room) => {
                self.rooms.remove(&room);
            }
        }
    }

    async fn serve(&mut self, sink: &mut PubSubSink, stream: &mut PubSubStream) -> Ended {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return Ended::Shutdown,
                command = self.commands.recv() => match command {
                    // Every handle is gone: the server is shutting down.
                    None => return Ended::Shutdown,
                    Some(Command::Subscribe(room, ack)) => {
                        let result = sink.subscribe(self.keys.channel(&room)).await;
                        self.rooms.insert(room);
                        let failed = result.is_err();
                        let _ = ack.send(result.map_err(BackendError::from));
                        if failed {
                            return Ended::ConnectionLost;
                        }
                    }
                    Some(Command::Unsubscribe(room)) => {
                        self.rooms.remove(&room);
                        if sink.unsubscribe(self.keys.channel(&room)).await.is_err() {
                            return Ended::ConnectionLost;
                        }
                    }
                },
                message = stream.next() => match message {
                    None => return Ended::ConnectionLost,
                    Some(message) => self.deliver(&message),
                },
            }
        }
    }

    fn deliver(&self, message: &redis::Msg) {
        let Some(room) = self.keys.room_of_channel(message.get_channel_name()) else {
            return;
        };
        match decode_published(room, message.get_payload_bytes()) {
            Ok(chat) => {
                let _ = self.deliveries.send(chat);
            }
            Err(e) => tracing::warn!(error = %e, "dropping unreadable published message"),
        }
    }
}
