//! The instance's subscriptions on a Redis Cluster: sharded pub/sub (`SSUBSCRIBE`).
//!
//! A plain `PUBLISH` on a cluster is broadcast to every node, so clustering it does not scale
//! fan-out. A sharded channel lives on the one shard that owns its slot; a room's channel
//! carries the room's hash tag, so the append script publishes it (`SPUBLISH`) on the node that
//! stores the room. The cluster connection here (RESP3, its pushes delivered to this task)
//! keeps one connection per node and sends each `SSUBSCRIBE` to the node owning the channel's
//! slot: one subscriber connection per node that owns subscribed rooms.
//!
//! Subscriptions are lost in three ways, and each takes the same path: the channel is
//! subscribed again (routed by the current slot map, which a `MOVED` reply refreshes), and only
//! once that is confirmed is [`Delivery::Interrupted`] reported for its room, so the fan-out's
//! backfill reads the room's stream after delivery is live again and misses nothing.
//! - a **node's connection drops** (a crash, a failover, a network cut): the library reports a
//!   disconnection without saying which node, so every subscription is renewed;
//! - a **slot moves** (resharding, `CLUSTER SETSLOT … NODE`): the old owner unsubscribes its
//!   clients from the slot's channels (an `sunsubscribe` push that this task did not ask for);
//! - the connection goes **deaf**: the instance's probe channel (sharded, on one node) has not
//!   been heard for [`PROBE_DEADLINE`].

use super::{
    codec,
    subscriber::{decode, send_probe, Command, SubscriberHandle},
    Keys, Timed,
};
use crate::backend::{delivery::DeliverySender, BackendError, Health};
use crate::metrics::Metrics;
use app::protocol::RoomName;
use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{stream, StreamExt};
use redis::{
    cluster::ClusterClientBuilder, cluster_async::ClusterConnection, ProtocolVersion, PushInfo,
    PushKind, Value,
};
use std::{
    collections::{BTreeSet, HashSet},
    sync::Arc,
    time::Duration,
};
use tokio::{
    sync::mpsc,
    time::{timeout, Instant, MissedTickBehavior},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The probe's rhythm is one Redis' (silence past the deadline: the subscriptions are renewed,
/// and the instance is not ready until it hears again).
pub use super::subscriber::{PROBE_DEADLINE, PROBE_EVERY};
/// How long one (un)subscribe may take (the library retries `MOVED` and lost nodes within it).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Renewal backoff: 50 ms, doubling to 2 s.
const RENEWAL: ExponentialBuilder = super::retrying(Duration::from_millis(50));
/// Subscriptions renewed at once.
const RENEW_CONCURRENCY: usize = 256;

/// What the sharded subscriber needs.
pub struct Setup {
    /// The cluster's seed nodes and timeouts; this module adds RESP3 and the push channel.
    pub client: ClusterClientBuilder,
    /// The command connection, for publishing probes.
    pub commands: Timed<ClusterConnection>,
    pub keys: Keys,
    pub metrics: Arc<Metrics>,
    pub deliveries: DeliverySender,
    pub health: Health,
    /// This instance's inbox (see `Keys::probe`).
    pub inbox: String,
}

/// Opens the subscribing connection and subscribes to the control and probe channels (so
/// start-up fails if the cluster is unreachable), then starts the task that owns it.
pub async fn spawn(
    setup: Setup,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> redis::RedisResult<SubscriberHandle> {
    let (push_tx, pushes) = mpsc::unbounded_channel();
    let client = setup
        .client
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(push_tx)
        .build()?;
    let mut connection = client.get_async_connection().await?;
    let control = setup.keys.control();
    let probe = setup.keys.probe(&setup.inbox);
    for channel in [&control, &probe] {
        subscribe(&mut connection, channel).await?;
    }
    let (commands_tx, commands) = mpsc::unbounded_channel();
    let task = Sharded {
        connection,
        pushes,
        publisher: setup.commands,
        keys: setup.keys,
        control,
        probe,
        commands,
        deliveries: setup.deliveries,
        health: setup.health,
        metrics: setup.metrics,
        rooms: HashSet::new(),
        lost: BTreeSet::new(),
        probe_sent: None,
    };
    tracker.spawn(task.run(shutdown));
    Ok(SubscriberHandle {
        commands: commands_tx,
    })
}

async fn subscribe(connection: &mut ClusterConnection, channel: &str) -> redis::RedisResult<()> {
    match timeout(SUBSCRIBE_TIMEOUT, connection.ssubscribe(channel)).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "ssubscribe timed out",
        ))),
    }
}

struct Sharded {
    connection: ClusterConnection,
    pushes: mpsc::UnboundedReceiver<PushInfo>,
    publisher: Timed<ClusterConnection>,
    keys: Keys,
    control: String,
    probe: String,
    commands: mpsc::UnboundedReceiver<Command>,
    deliveries: DeliverySender,
    health: Health,
    metrics: Arc<Metrics>,
    /// The rooms this instance wants.
    rooms: HashSet<RoomName>,
    /// Channels whose subscription was lost and is not renewed yet.
    lost: BTreeSet<String>,
    /// When the last probe went out, until it is heard: its round trip is measured.
    probe_sent: Option<Instant>,
}

impl Sharded {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut probe = tokio::time::interval(PROBE_EVERY);
        probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heard_at = Instant::now();
        let mut backoff = RENEWAL.build();
        let mut delay = backoff.next().unwrap_or(super::RETRY_MAX);
        let renew = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(renew);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = probe.tick() => {
                    // What arrived while the loop was busy (a slow subscribe, a starved thread)
                    // was heard: read it before judging the silence.
                    while let Ok(push) = self.pushes.try_recv() {
                        if !self.on_push(push, &mut heard_at) {
                            return;
                        }
                    }
                    if heard_at.elapsed() > PROBE_DEADLINE {
                        tracing::warn!("no probe heard on the cluster: renewing every subscription");
                        self.lose_everything();
                        heard_at = Instant::now();
                        renew.as_mut().reset(Instant::now());
                    }
                    self.send_probe();
                }
                command = self.commands.recv() => match command {
                    None => return,
                    Some(Command::Subscribe(room, ack)) => {
                        let channel = self.keys.channel(&room);
                        self.rooms.insert(room);
                        let result = subscribe(&mut self.connection, &channel).await;
                        if let Err(e) = &result {
                            tracing::warn!(error = %e, channel, "ssubscribe failed; will retry");
                            self.lost.insert(channel);
                            renew.as_mut().reset(Instant::now() + delay);
                        }
                        let _ = ack.send(result.map_err(BackendError::from));
                    }
                    Some(Command::Unsubscribe(room)) => {
                        let channel = self.keys.channel(&room);
                        self.rooms.remove(&room);
                        self.lost.remove(&channel);
                        let result = timeout(SUBSCRIBE_TIMEOUT, self.connection.sunsubscribe(&channel)).await;
                        if !matches!(result, Ok(Ok(()))) {
                            // Its messages, if any still come, find no local socket.
                            tracing::debug!(channel, "sunsubscribe failed");
                        }
                    }
                },
                push = self.pushes.recv() => match push {
                    None => return,
                    Some(push) => {
                        if !self.on_push(push, &mut heard_at) {
                            return;
                        }
                        if !self.lost.is_empty() && renew.is_elapsed() {
                            renew.as_mut().reset(Instant::now() + delay);
                        }
                    }
                },
                () = &mut renew, if !self.lost.is_empty() => {
                    if self.renew().await {
                        backoff = RENEWAL.build();
                        delay = backoff.next().unwrap_or(super::RETRY_MAX);
                    } else {
                        delay = backoff.next().unwrap_or(super::RETRY_MAX);
                        renew.as_mut().reset(Instant::now() + delay);
                    }
                    if !self.deliveries.interrupted([]) {
                        return;
                    }
                }
            }
        }
    }

    /// Handles one push from a node; false once the fan-out is gone.
    fn on_push(&mut self, push: PushInfo, heard_at: &mut Instant) -> bool {
        let channel = push.data.first().and_then(text);
        match (push.kind, channel) {
            (PushKind::SMessage, Some(channel)) => {
                if channel == self.probe {
                    *heard_at = Instant::now();
                    self.health.heard();
                    if let Some(Value::BulkString(payload)) = push.data.get(1) {
                        if let Some(posted) = codec::post_of(payload) {
                            return self.deliveries.send(posted);
                        }
                    }
                    if let Some(sent) = self.probe_sent.take() {
                        self.metrics
                            .pubsub_round_trip
                            .observe(sent.elapsed().as_secs_f64());
                    }
                    return true;
                }
                self.metrics.fanout_received.inc();
                let payload = match push.data.get(1) {
                    Some(Value::BulkString(bytes)) => bytes.as_slice(),
                    _ => return true,
                };
                match decode(&self.keys, &self.control, &channel, payload) {
                    Some(delivery) => self.deliveries.send(delivery),
                    None => true,
                }
            }
            // Not asked for when the channel is still wanted: its slot moved to another node.
            (PushKind::SUnsubscribe, Some(channel)) if self.wanted(&channel) => {
                tracing::info!(channel, "a sharded subscription was dropped (slot moved)");
                self.lost.insert(channel);
                true
            }
            (PushKind::Disconnection, _) => {
                tracing::warn!("a cluster node's connection dropped: renewing every subscription");
                self.lose_everything();
                true
            }
            _ => true,
        }
    }

    fn wanted(&self, channel: &str) -> bool {
        channel == self.control
            || channel == self.probe
            || self
                .keys
                .room_of_channel(channel)
                .is_some_and(|room| self.rooms.contains(&room))
    }

    fn lose_everything(&mut self) {
        self.health.lost();
        let rooms: Vec<String> = self.rooms.iter().map(|r| self.keys.channel(r)).collect();
        self.lost.extend(rooms);
        self.lost.insert(self.control.clone());
        self.lost.insert(self.probe.clone());
    }

    /// Subscribes the lost channels again; reports the rooms that are live again as
    /// interrupted. True when nothing is left to renew.
    ///
    /// One round takes at most [`SUBSCRIBE_TIMEOUT`], however many channels are lost and
    /// however many of them are on a node that is down: the loop must get back to the pushes
    /// (the other nodes' subscriptions keep delivering meanwhile). What a round did not confirm
    /// stays lost for the next one.
    async fn renew(&mut self) -> bool {
        let channels: Vec<String> = self.lost.iter().cloned().collect();
        let connection = self.connection.clone();
        let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
        let mut attempts = stream::iter(channels)
            .map(|channel| {
                let mut connection = connection.clone();
                async move {
                    let ok = subscribe(&mut connection, &channel).await;
                    if let Err(e) = &ok {
                        tracing::debug!(error = %e, channel, "renewing a subscription failed");
                    }
                    (channel, ok.is_ok())
                }
            })
            .buffer_unordered(RENEW_CONCURRENCY);
        let mut rooms = Vec::new();
        while let Ok(Some((channel, ok))) = tokio::time::timeout_at(deadline, attempts.next()).await
        {
            if ok {
                self.lost.remove(&channel);
                if let Some(room) = self.keys.room_of_channel(&channel) {
                    if self.rooms.contains(&room) {
                        rooms.push(room);
                    }
                }
            }
        }
        if !rooms.is_empty() {
            tracing::info!(rooms = rooms.len(), "sharded subscriptions restored");
            self.deliveries.interrupted(rooms);
        }
        self.lost.is_empty()
    }

    fn send_probe(&mut self) {
        self.probe_sent = Some(Instant::now());
        send_probe(self.publisher.clone(), &self.keys, self.probe.clone());
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}
