//! Faults of a Redis Cluster under a busy room, on real processes: a master killed and its
//! replica promoted, and the room's slot migrated to another master while messages flow. What
//! the clients on both instances read is checked: every acknowledged message exactly once, in
//! order (`Watch` panics on a repeat or a reordering), and no gap where no data was lost.

use super::RedisCluster;
use crate::{
    faults::{fresh, send_and_settle, until_ready_is, watch_until, Trio, Watch},
    helpers::{Instance, PATIENCE},
};
use app::protocol::ErrorCode;
use std::time::Instant;

/// The lobby of two instances on the cluster (see [`Trio`]), and what was acknowledged so far.
struct Busy {
    trio: Trio,
    seen_by_sender: Watch,
    acked: Vec<String>,
}

impl Busy {
    async fn on(cluster: &RedisCluster) -> Self {
        let urls = cluster.urls();
        let env = [("REDIS_CLUSTER_URLS", urls.as_str())];
        let trio = Trio::on(
            Instance::start_with("a", None, &env),
            Instance::start_with("b", None, &env),
        )
        .await;
        Self {
            trio,
            seen_by_sender: Watch::default(),
            acked: Vec::new(),
        }
    }

    /// Sends `text` until it is acknowledged, re-sending with the same client id after each
    /// `unavailable` (as the page's outbox does). Returns how many attempts were refused.
    async fn send(&mut self, text: String) -> usize {
        let client_id = fresh();
        let started = Instant::now();
        let mut refused = 0;
        loop {
            match send_and_settle(
                &mut self.trio.sender,
                &mut self.seen_by_sender,
                "m-",
                &text,
                client_id,
            )
            .await
            {
                Ok(_) => break,
                Err(ErrorCode::Unavailable) => {
                    refused += 1;
                    assert!(started.elapsed() < 3 * PATIENCE, "{text} was never stored");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(other) => panic!("{text}: {other:?}"),
            }
        }
        self.acked.push(text);
        refused
    }

    /// Every client reads up to the last acknowledged message; returns the gaps they saw.
    async fn read_everything(&mut self) -> usize {
        let last = self.acked.last().expect("something was sent").clone();
        let mut on_a = Watch::default();
        let mut on_b = Watch::default();
        watch_until(&mut self.trio.on_a, &mut on_a, "m-", &last).await;
        watch_until(&mut self.trio.on_b, &mut on_b, "m-", &last).await;
        assert_eq!(on_a.texts, self.acked, "a client on the sending instance");
        assert_eq!(on_b.texts, self.acked, "a client on the other instance");
        on_a.gaps + on_b.gaps
    }
}

/// The master holding the lobby is killed; its replica takes over. Sends made meanwhile are
/// refused (`unavailable`) and re-sent; once the replica leads, every client has every
/// acknowledged message once, in order, and the instances are ready again.
#[tokio::test]
async fn a_killed_master_fails_over_and_loses_no_acknowledged_message() {
    let mut cluster = RedisCluster::start(3, 1);
    let mut busy = Busy::on(&cluster).await;
    for i in 0..5 {
        busy.send(format!("m-{i:02}")).await;
    }
    let owner = cluster.owner_of(cluster.slot_of("{lobby}"));
    // Replication is asynchronous: make sure the replica has what was acknowledged, so that
    // "nothing lost" is what this test can demand (an unreplicated write would be a `gap`).
    let replicas: i64 = cluster.nodes[owner]
        .query(redis::cmd("WAIT").arg(1).arg(5000))
        .expect("WAIT");
    assert_eq!(replicas, 1);
    cluster.kill(owner);
    let killed = Instant::now();
    let mut refused = 0;
    for i in 5..20 {
        refused += busy.send(format!("m-{i:02}")).await;
    }
    let sending_again = killed.elapsed();
    until_ready_is(&busy.trio.a, 200).await;
    until_ready_is(&busy.trio.b, 200).await;
    let gaps = busy.read_everything().await;
    assert_eq!(gaps, 0, "nothing acknowledged was lost");
    let promoted = cluster.owner_of(cluster.slot_of("{lobby}"));
    assert_ne!(promoted, owner, "the replica leads the slot now");
    eprintln!(
        "master killed: {refused} sends refused, all 20 stored {sending_again:?} after the kill; \
         every client had every message once"
    );
}

/// The lobby's slot moves to another master while Alice keeps sending: the old owner drops the
/// sharded subscriptions, the instances subscribe on the new owner and backfill. Nothing is
/// lost, repeated or reordered, and no gap is reported.
#[tokio::test]
async fn a_slot_migrated_while_busy_loses_nothing() {
    let cluster = std::sync::Arc::new(RedisCluster::start(3, 0));
    let mut busy = Busy::on(&cluster).await;
    for i in 0..5 {
        busy.send(format!("m-{i:02}")).await;
    }
    let slot = cluster.slot_of("{lobby}");
    let from = cluster.owner_of(slot);
    let to = (from + 1) % 3;

    // The migration runs on its own thread while this task keeps sending, and a few more after.
    let migration = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            cluster.migrate_slot(slot, from, to, || {
                std::thread::sleep(std::time::Duration::from_millis(100))
            })
        })
    };
    let mut sent = 5;
    let mut during = 0;
    while !migration.is_finished() || sent < 30 {
        during += usize::from(!migration.is_finished());
        busy.send(format!("m-{sent:02}")).await;
        sent += 1;
        assert!(sent < 1000, "the migration never finished");
    }
    migration.await.expect("the migration ran");
    assert!(
        during > 0,
        "some messages were sent while the slot was moving"
    );
    assert_eq!(cluster.owner_of(slot), to, "the slot moved");
    let gaps = busy.read_everything().await;
    assert_eq!(gaps, 0);
    eprintln!(
        "slot {slot} migrated with {during} of {sent} messages sent during the move: every \
         client had each once"
    );
}
