//! The instance's one pub/sub connection.
//!
//! A single task owns the connection. The hub asks it (through [`SubscriberHandle`]) to subscribe
//! to a room when the room's first local socket joins and to unsubscribe when the last one leaves;
//! requests are handled in the order they were made. Every published message is decoded once and
//! handed to the fan-out.
//!
//! Besides the rooms, the connection always listens on two channels of its own:
//! - the **control** channel, where logouts are announced to every instance;
//! - this instance's **probe** channel: every [`PROBE_EVERY`] the task publishes a probe there
//!   through the command connection and must hear it back. A connection that has not heard one
//!   for [`PROBE_DEADLINE`] is deaf (a half-open TCP connection, a paused or failed-over Redis, a
//!   proxy that stopped forwarding) and is dropped, exactly like a connection that closed.
//!
//! When the connection drops (or goes deaf) the task reconnects with backoff, subscribes to the
//! same rooms again, and only then reports [`Delivery::Interrupted`] for them: whatever was
//! published while it was away is in the rooms' streams, and a read started after the report
//! finds it.

use super::{codec, Keys};
use crate::backend::{
    delivery::{Delivery, DeliverySender},
    BackendError, Health,
};
use crate::metrics::Metrics;
use app::protocol::RoomName;
use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{FutureExt, StreamExt};
use redis::aio::{ConnectionManager, PubSub, PubSubSink, PubSubStream};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::{collections::HashSet, time::Duration};
use tokio::{
    sync::{mpsc, oneshot},
    time::{timeout, Instant, MissedTickBehavior},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How often the subscriber proves it can hear.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Silence on the probe channel longer than this: the connection is deaf, and not ready.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(3);
/// How long a (un)subscribe may take before the connection counts as lost.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnect backoff: 100 ms, doubling to 2 s.
const RECONNECT: ExponentialBuilder = super::retrying(Duration::from_millis(100));

pub(super) enum Command {
    Subscribe(RoomName, oneshot::Sender<Result<(), BackendError>>),
    Unsubscribe(RoomName),
}

/// Asks the subscriber task (this module's, or the cluster's [`super::sharded`] one) to change
/// its subscriptions.
#[derive(Clone)]
pub struct SubscriberHandle {
    pub(super) commands: mpsc::UnboundedSender<Command>,
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
        // Err only when the task has stopped (shutdown): nothing left to unsubscribe from.
        let _ = self.commands.send(Command::Unsubscribe(room));
    }
}

/// What the subscriber task needs.
pub struct Setup {
    pub client: redis::Client,
    /// The command connection, for publishing probes.
    pub commands: super::Timed<ConnectionManager>,
    pub keys: Keys,
    pub metrics: Arc<Metrics>,
    pub deliveries: DeliverySender,
    pub health: Health,
    /// This instance's inbox (see `Keys::probe`).
    pub inbox: String,
    pub connect_timeout: Duration,
}

/// Opens the first pub/sub connection (so start-up fails if Redis is unreachable) and starts the
/// task that owns it.
pub async fn spawn(
    setup: Setup,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> redis::RedisResult<SubscriberHandle> {
    let first = setup.client.get_async_pubsub().await?;
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let probe = setup.keys.probe(&setup.inbox);
    let task = Subscriber {
        control: setup.keys.control(),
        probe,
        client: setup.client,
        publisher: setup.commands,
        keys: setup.keys,
        commands,
        deliveries: setup.deliveries,
        health: setup.health,
        connect_timeout: setup.connect_timeout,
        rooms: HashSet::new(),
        shutdown,
        metrics: setup.metrics,
        probe_sent: None,
    };
    tracker.spawn(task.run(first));
    Ok(SubscriberHandle {
        commands: commands_tx,
    })
}

struct Subscriber {
    client: redis::Client,
    publisher: super::Timed<ConnectionManager>,
    keys: Keys,
    control: String,
    probe: String,
    commands: mpsc::UnboundedReceiver<Command>,
    deliveries: DeliverySender,
    health: Health,
    connect_timeout: Duration,
    /// The rooms this instance wants, kept across reconnects.
    rooms: HashSet<RoomName>,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    /// When the last probe went out, until it is heard: its round trip is measured.
    probe_sent: Option<Instant>,
}

/// Why [`Subscriber::serve`] returned.
enum Ended {
    Shutdown,
    ConnectionLost(&'static str),
}

impl Subscriber {
    async fn run(mut self, first: PubSub) {
        let mut connection = Some(first);
        let mut backoff = RECONNECT.build();
        let mut reconnecting = false;
        loop {
            if let Some(pubsub) = connection.take() {
                let (mut sink, mut stream) = pubsub.split();
                match self.resubscribe(&mut sink).await {
                    Ok(()) => {
                        backoff = RECONNECT.build();
                        // A fresh connection gets the full deadline to hear its first probe.
                        let since = Instant::now();
                        if reconnecting {
                            tracing::info!(rooms = self.rooms.len(), "redis pub/sub restored");
                            // Live again: only now can a backfill read miss nothing.
                            if !self.deliveries.interrupted(self.rooms.iter().cloned()) {
                                return;
                            }
                        }
                        match self.serve(&mut sink, &mut stream, since).await {
                            Ended::Shutdown => return,
                            Ended::ConnectionLost(why) => {
                                tracing::warn!(why, "redis pub/sub connection lost; reconnecting")
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not restore subscriptions"),
                }
                self.health.lost();
            }
            reconnecting = true;
            // Wait, answering requests meanwhile, then try again.
            let delay = backoff.next().unwrap_or(super::RETRY_MAX);
            let retry = tokio::time::sleep(delay);
            tokio::pin!(retry);
            loop {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = &mut retry => break,
                    Some(command) = self.commands.recv() => self.while_offline(command),
                }
            }
            match timeout(self.connect_timeout, self.client.get_async_pubsub()).await {
                Ok(Ok(pubsub)) => connection = Some(pubsub),
                Ok(Err(e)) => tracing::warn!(error = %e, "redis pub/sub reconnect failed"),
                Err(_) => tracing::warn!("redis pub/sub reconnect timed out"),
            }
        }
    }

    /// Subscribes a new connection to our own channels and every wanted room.
    async fn resubscribe(&self, sink: &mut PubSubSink) -> redis::RedisResult<()> {
        let mut channels: Vec<String> = self.rooms.iter().map(|r| self.keys.channel(r)).collect();
        channels.push(self.control.clone());
        channels.push(self.probe.clone());
        match timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(channels)).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "subscribe timed out",
            ))),
        }
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

    async fn serve(
        &mut self,
        sink: &mut PubSubSink,
        stream: &mut PubSubStream,
        since: Instant,
    ) -> Ended {
        let mut probe = tokio::time::interval(PROBE_EVERY);
        probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heard_at = since;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return Ended::Shutdown,
                _ = probe.tick() => {
                    // What arrived while the loop was busy (a slow subscribe, a starved thread)
                    // was heard: read it before judging the silence.
                    while let Some(queued) = stream.next().now_or_never() {
                        if let ControlFlow::Break(ended) = self.on_message(queued, &mut heard_at) {
                            return ended;
                        }
                    }
                    if heard_at.elapsed() > PROBE_DEADLINE {
                        return Ended::ConnectionLost("no probe heard: the connection is deaf");
                    }
                    self.send_probe();
                }
                command = self.commands.recv() => match command {
                    // Every handle is gone: the server is shutting down.
                    None => return Ended::Shutdown,
                    Some(Command::Subscribe(room, ack)) => {
                        let result = timeout(SUBSCRIBE_TIMEOUT, sink.subscribe(self.keys.channel(&room))).await;
                        self.rooms.insert(room);
                        match result {
                            Ok(Ok(())) => {
                                let _ = ack.send(Ok(()));
                            }
                            Ok(Err(e)) => {
                                let _ = ack.send(Err(e.into()));
                                return Ended::ConnectionLost("subscribe failed");
                            }
                            Err(_) => {
                                let _ = ack.send(Err(BackendError::SubscriberGone));
                                return Ended::ConnectionLost("subscribe timed out");
                            }
                        }
                    }
                    Some(Command::Unsubscribe(room)) => {
                        self.rooms.remove(&room);
                        let result = timeout(SUBSCRIBE_TIMEOUT, sink.unsubscribe(self.keys.channel(&room))).await;
                        if !matches!(result, Ok(Ok(()))) {
                            return Ended::ConnectionLost("unsubscribe failed");
                        }
                    }
                },
                message = stream.next() => {
                    if let ControlFlow::Break(ended) = self.on_message(message, &mut heard_at) {
                        return ended;
                    }
                }
            }
        }
    }

    /// What the subscription stream yielded: a probe heard, a delivery, or its end. Breaks with
    /// why serving ends (the connection closed, or the fan-out is gone).
    fn on_message(
        &mut self,
        message: Option<redis::Msg>,
        heard_at: &mut Instant,
    ) -> ControlFlow<Ended> {
        let Some(message) = message else {
            return ControlFlow::Break(Ended::ConnectionLost("closed"));
        };
        if message.get_channel_name() != self.probe {
            return if self.forward(&message) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(Ended::Shutdown)
            };
        }
        *heard_at = Instant::now();
        self.health.heard();
        if let Some(posted) = codec::post_of(message.get_payload_bytes()) {
            return if self.deliveries.send(posted) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(Ended::Shutdown)
            };
        }
        if let Some(sent) = self.probe_sent.take() {
            self.metrics
                .pubsub_round_trip
                .observe(sent.elapsed().as_secs_f64());
        }
        ControlFlow::Continue(())
    }

    fn send_probe(&mut self) {
        self.probe_sent = Some(Instant::now());
        send_probe(self.publisher.clone(), &self.keys, self.probe.clone());
    }

    /// Hands one published message to the fan-out; false once the fan-out is gone.
    fn forward(&mut self, message: &redis::Msg) -> bool {
        self.metrics.fanout_received.inc();
        match decode(
            &self.keys,
            &self.control,
            message.get_channel_name(),
            message.get_payload_bytes(),
        ) {
            Some(delivery) => self.deliveries.send(delivery),
            None => true,
        }
    }
}

/// What a message published on `channel` (a room's or the control channel) means for the
/// fan-out; `None` for what is not ours or cannot be read (logged).
pub(super) fn decode(
    keys: &Keys,
    control: &str,
    channel: &str,
    payload: &[u8],
) -> Option<Delivery> {
    if channel == control {
        let revocation = codec::revoked(payload);
        if revocation.is_none() {
            tracing::warn!("ignoring an unreadable control message");
        }
        return revocation.map(Delivery::Revoked);
    }
    let room = keys.room_of_channel(channel)?;
    codec::room_event(room, payload)
        .inspect_err(|e| tracing::warn!(error = %e, "dropping an unreadable published event"))
        .ok()
}

/// Publishes a probe on `channel` without holding up the subscriber's loop: the reply on the
/// subscribing connection is what counts, so the command's own outcome only matters for the log.
pub(super) fn send_probe<C>(mut commands: C, keys: &Keys, channel: String)
where
    C: redis::aio::ConnectionLike + Send + 'static,
{
    let publish = redis::cmd(keys.publish_command())
        .arg(channel)
        .arg("probe")
        .to_owned();
    tokio::spawn(async move {
        if let Err(e) = publish.query_async::<()>(&mut commands).await {
            tracing::debug!(error = %e, "probe publish failed");
        }
    });
}
