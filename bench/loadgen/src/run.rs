//! What all clients of a run share: the options, the ledger, connection statistics and the
//! signals that start the sending and stop everything. The load generator runs on one thread
//! (clients are local tasks), so sharing is a `RefCell`, not a lock.

use crate::{cli::Args, ledger::Ledger};
use hdrhistogram::Histogram;
use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};
use tokio::{
    sync::{watch, Semaphore},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

pub struct Run {
    pub args: Args,
    /// This run's tag, at the start of every text, so other runs' messages are told apart.
    pub tag: String,
    pub http: reqwest::Client,
    pub ledger: RefCell<Ledger>,
    pub stats: RefCell<Stats>,
    /// Limits how many clients log in and connect at once.
    pub connect_gate: Semaphore,
    /// When sending starts (set once every client connected).
    pub start: watch::Receiver<Option<Instant>>,
    pub stop: CancellationToken,
}

/// Connections: how many, where, and how reconnects went.
#[derive(Debug)]
pub struct Stats {
    /// Clients whose first connect succeeded.
    pub connected_once: usize,
    /// Sockets open now.
    pub open: usize,
    /// Clients whose first connect failed for good, and the first few reasons.
    pub failed: usize,
    pub failures: Vec<String>,
    /// Sockets per instance (from `hello`), at their latest connect.
    pub instance_of: Vec<Option<String>>,
    pub disconnects: u64,
    pub resumed: u64,
    pub resume_ms: Histogram<u64>,
    /// Most a send was late against its schedule (timer granularity, a busy load generator, or
    /// a sender that was reconnecting).
    pub max_send_lag: Duration,
    pub first_disconnect: Option<Instant>,
    pub last_resume: Option<Instant>,
    pub logged_out: u64,
    pub errors: BTreeMap<String, u64>,
    pub unreadable: u64,
    /// Senders that sent everything and had it all acknowledged.
    pub senders_done: BTreeSet<usize>,
}

impl Stats {
    pub fn new(clients: usize) -> Self {
        Self {
            connected_once: 0,
            open: 0,
            failed: 0,
            failures: Vec::new(),
            instance_of: vec![None; clients],
            disconnects: 0,
            resumed: 0,
            resume_ms: Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds"),
            max_send_lag: Duration::ZERO,
            first_disconnect: None,
            last_resume: None,
            logged_out: 0,
            errors: BTreeMap::new(),
            unreadable: 0,
            senders_done: BTreeSet::new(),
        }
    }

    pub fn opened(&mut self, client: usize, instance: Option<String>) {
        if self.instance_of[client].is_none() {
            self.connected_once += 1;
        }
        // Socket.IO names no instance.
        self.instance_of[client] = Some(instance.unwrap_or_default());
        self.open += 1;
    }

    pub fn closed(&mut self) {
        self.open -= 1;
    }

    pub fn failed(&mut self, error: &anyhow::Error) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(format!("{error:#}"));
        }
    }

    pub fn disconnected(&mut self) {
        self.disconnects += 1;
        self.first_disconnect.get_or_insert_with(Instant::now);
    }

    pub fn resumed(&mut self, took: Duration) {
        self.resumed += 1;
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX).max(1);
        self.resume_ms.saturating_record(ms);
        self.last_resume = Some(Instant::now());
    }

    pub fn send_lag(&mut self, lag: Duration) {
        self.max_send_lag = self.max_send_lag.max(lag);
    }

    pub fn count_error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    /// Open sockets per instance name.
    pub fn per_instance(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for name in self.instance_of.iter().flatten() {
            *counts.entry(name.clone()).or_default() += 1;
        }
        counts
    }
}
