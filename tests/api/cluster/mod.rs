//! A real Redis Cluster for the tests: `redis-server` processes in cluster mode on free local
//! ports, slots spread evenly over the masters, each master with its replicas, all killed when
//! the handle drops.
//!
//! Built the way `redis-cli --cluster create` builds one (config epochs, `ADDSLOTSRANGE`,
//! `MEET`, `REPLICATE`), but without its fixed waits, so a 3-master cluster is up in about a
//! second.

mod faults;

use crate::helpers::PATIENCE;
use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Slots in every Redis Cluster.
pub const SLOTS: u16 = 16384;

pub struct Node {
    child: Child,
    pub port: u16,
    bus: u16,
    pub id: String,
}

impl Node {
    /// A node on free ports. A port found free can be taken by another test's process before
    /// this one binds it (the node then exits at once): that attempt is dropped and another
    /// made on fresh ports.
    fn spawn(dir: &Path) -> Self {
        for _ in 0..5 {
            if let Some(node) = Self::try_spawn(dir) {
                return node;
            }
        }
        panic!("no redis-server would start: its ports were taken five times");
    }

    fn try_spawn(dir: &Path) -> Option<Self> {
        let (port, bus) = (free_port(), free_port());
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            // A lone replica of a lost master may take over at once (no data-age limit).
            .args(["--cluster-replica-validity-factor", "0"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--cluster-port")
            .arg(bus.to_string())
            .arg("--cluster-config-file")
            .arg(dir.join(format!("nodes-{port}.conf")))
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh test installs it)");
        let mut node = Self {
            child,
            port,
            bus,
            id: String::new(),
        };
        // The process that answers on the port must be this one, not another test's node that
        // took the port first.
        let ours = format!("process_id:{}", node.child.id());
        let deadline = Instant::now() + PATIENCE;
        loop {
            if !matches!(node.child.try_wait(), Ok(None)) {
                return None;
            }
            let info = node.query::<String>(redis::cmd("INFO").arg("server"));
            if info.is_ok_and(|info| info.lines().any(|line| line.trim() == ours)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node.id = node
            .query(redis::cmd("CLUSTER").arg("MYID"))
            .expect("the node's id");
        Some(node)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command on a fresh connection to this node.
    pub fn query<T: redis::FromRedisValue>(
        &self,
        command: &mut redis::Cmd,
    ) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
        command.query(&mut conn)
    }

    fn info(&self, section: &str) -> String {
        self.query(redis::cmd("INFO").arg(section))
            .unwrap_or_default()
    }

    fn cluster_info(&self) -> String {
        self.query(redis::cmd("CLUSTER").arg("INFO"))
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free local TCP port (bound, then released: another process can take it in between, which
/// [`Node::spawn`] survives by starting again on fresh ports).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

pub struct RedisCluster {
    /// Masters first (`masters` of them), then the replicas, master by master.
    pub nodes: Vec<Node>,
    masters: usize,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// `masters` masters sharing the slots evenly, each with `replicas` replicas.
    pub fn start(masters: usize, replicas: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the cluster");
        let nodes: Vec<Node> = (0..masters * (1 + replicas))
            .map(|_| Node::spawn(dir.path()))
            .collect();
        for (i, node) in nodes.iter().enumerate() {
            node.query::<()>(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(i + 1))
                .expect("SET-CONFIG-EPOCH");
        }
        for (i, master) in nodes[..masters].iter().enumerate() {
            let first = i * SLOTS as usize / masters;
            let last = (i + 1) * SLOTS as usize / masters - 1;
            master
                .query::<()>(
                    redis::cmd("CLUSTER")
                        .arg("ADDSLOTSRANGE")
                        .arg(first)
                        .arg(last),
                )
                .expect("ADDSLOTSRANGE");
        }
        for node in &nodes[1..] {
            node.query::<()>(
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg("127.0.0.1")
                    .arg(nodes[0].port)
                    .arg(nodes[0].bus),
            )
            .expect("CLUSTER MEET");
        }
        let cluster = Self {
            nodes,
            masters,
            _dir: dir,
        };
        cluster.until("every node knows every other", |node| {
            let known: String = node
                .query(redis::cmd("CLUSTER").arg("NODES"))
                .unwrap_or_default();
            known.lines().count() == cluster.nodes.len()
        });
        for (i, replica) in cluster.nodes[masters..].iter().enumerate() {
            let master = &cluster.nodes[i / replicas];
            replica
                .query::<()>(redis::cmd("CLUSTER").arg("REPLICATE").arg(&master.id))
                .expect("CLUSTER REPLICATE");
        }
        cluster.until_healthy();
        cluster
    }

    /// Waits until `check` holds on every live node.
    fn until(&self, what: &str, check: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !self.nodes.iter().filter(|n| n.alive()).all(&check) {
            assert!(
                Instant::now() < deadline,
                "the cluster never got to: {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every live node sees the cluster as ok and every replica is in sync.
    pub fn until_healthy(&self) {
        self.until("cluster_state:ok with replicas in sync", |node| {
            node.cluster_info().contains("cluster_state:ok")
                && (!node.info("replication").contains("role:slave")
                    || node.info("replication").contains("master_link_status:up"))
        });
    }

    /// The seed list for `REDIS_CLUSTER_URLS`: every master.
    pub fn urls(&self) -> String {
        self.nodes[..self.masters]
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The slot of `key` (asked of the cluster itself).
    pub fn slot_of(&self, key: &str) -> u16 {
        self.nodes[0]
            .query(redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
            .expect("CLUSTER KEYSLOT")
    }

    /// The index of the live master that owns `slot` now.
    pub fn owner_of(&self, slot: u16) -> usize {
        let live = self.nodes.iter().find(|n| n.alive()).expect("a live node");
        let shards: redis::Value = live
            .query(redis::cmd("CLUSTER").arg("SLOTS"))
            .expect("CLUSTER SLOTS");
        let redis::Value::Array(ranges) = shards else {
            panic!("CLUSTER SLOTS: {shards:?}")
        };
        for range in ranges {
            let redis::Value::Array(parts) = range else {
                continue;
            };
            let number = |v: &redis::Value| match v {
                redis::Value::Int(n) => *n,
                _ => -1,
            };
            let (first, last) = (number(&parts[0]), number(&parts[1]));
            if (first..=last).contains(&i64::from(slot)) {
                let redis::Value::Array(master) = &parts[2] else {
                    continue;
                };
                let port = number(&master[1]);
                return self
                    .nodes
                    .iter()
                    .position(|n| i64::from(n.port) == port)
                    .expect("the owner is one of ours");
            }
        }
        panic!("nobody owns slot {slot}");
    }

    /// Kills node `i` (SIGKILL, as a crash).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Moves `slot` with its keys from node `from` to node `to`, the way resharding does:
    /// `IMPORTING`/`MIGRATING`, `MIGRATE` the keys in batches, then `SETSLOT … NODE` on both
    /// and the other masters. `between` runs after every batch (to keep traffic flowing).
    pub fn migrate_slot(&self, slot: u16, from: usize, to: usize, mut between: impl FnMut()) {
        let (source, target) = (&self.nodes[from], &self.nodes[to]);
        let setslot = |node: &Node, state: &str, id: &str| {
            node.query::<()>(
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg(state)
                    .arg(id),
            )
            .unwrap_or_else(|e| panic!("SETSLOT {slot} {state}: {e}"));
        };
        setslot(target, "IMPORTING", &source.id);
        setslot(source, "MIGRATING", &target.id);
        loop {
            let keys: Vec<String> = source
                .query(redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(1))
                .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            source
                .query::<()>(
                    redis::cmd("MIGRATE")
                        .arg("127.0.0.1")
                        .arg(target.port)
                        .arg("")
                        .arg(0)
                        .arg(5000)
                        .arg("KEYS")
                        .arg(&keys),
                )
                .expect("MIGRATE");
            between();
        }
        setslot(target, "NODE", &target.id);
        setslot(source, "NODE", &target.id);
        for (i, master) in self.nodes[..self.masters].iter().enumerate() {
            if i != from && i != to && master.alive() {
                setslot(master, "NODE", &target.id);
            }
        }
    }
}

impl Node {
    fn alive(&self) -> bool {
        self.query::<String>(&mut redis::cmd("PING")).is_ok()
    }
}
