//! The result of a run: one JSON object (appended to `--json`) and a short table for people.

use crate::{ledger::Tally, procfs::CpuUse};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub label: String,
    pub proto: String,
    pub urls: Vec<String>,
    pub clients: usize,
    pub rooms: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub connect_failures: Vec<String>,
    /// Seconds from the first login to the last socket's greeting.
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    pub per_instance: BTreeMap<String, usize>,
    pub pids: Vec<u32>,
    pub rss_kib_before: Vec<Option<u64>>,
    pub rss_kib_after: Vec<Option<u64>>,
    /// Server memory growth per connection on each pid (sockets spread evenly over the URLs).
    pub rss_kib_per_conn: Vec<Option<f64>>,
    pub senders: usize,
    pub rate: f64,
    pub size: usize,
    pub window_secs: f64,
    /// Deliveries per second the rate asks for (messages × members of the room).
    pub offered_deliveries_per_sec: f64,
    /// Deliveries received during the measured window, per second.
    pub delivered_per_sec: f64,
    pub tally: Tally,
    pub latency_ms: Option<Latency>,
    /// Most a send was late against the open-loop schedule, in ms.
    pub max_send_lag_ms: f64,
    pub cpu: Option<CpuUse>,
    /// Server CPU (the `--pids`, not Redis) per delivery in the window, in µs.
    pub server_cpu_us_per_delivery: Option<f64>,
    pub reconnect: Reconnect,
    pub errors: BTreeMap<String, u64>,
    pub events: Vec<String>,
    /// Whether every client connected and every message arrived exactly once, in order.
    pub clean: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub samples: u64,
}

impl Latency {
    pub fn of(us: &Histogram<u64>) -> Option<Self> {
        let ms = |v: u64| (v as f64 / 10.0).round() / 100.0;
        (!us.is_empty()).then(|| Self {
            p50: ms(us.value_at_quantile(0.50)),
            p90: ms(us.value_at_quantile(0.90)),
            p99: ms(us.value_at_quantile(0.99)),
            p999: ms(us.value_at_quantile(0.999)),
            max: ms(us.max()),
            samples: us.len(),
        })
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Reconnect {
    pub disconnects: u64,
    pub resumed: u64,
    pub logged_out: u64,
    /// From losing a socket to the greeting on the new one, in ms.
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
    /// From the first lost socket to the last resume, in ms: how long the storm lasted.
    pub all_resumed_ms: Option<u64>,
}

impl Report {
    pub fn print_table(&self) {
        let t = &self.tally;
        println!("== {} ({})", self.label, self.proto);
        println!(
            "connect   {}/{} in {:.2} s ({:.0}/s), failed {}, per instance {:?}",
            self.connected,
            self.clients,
            self.connect_secs,
            self.connects_per_sec,
            self.connect_failed,
            self.per_instance
        );
        if self.rss_kib_per_conn.iter().any(Option::is_some) {
            let per: Vec<String> = self
                .rss_kib_per_conn
                .iter()
                .map(|v| v.map_or("-".into(), |v| format!("{v:.1}")))
                .collect();
            println!(
                "memory    server RSS per connection: {} KiB",
                per.join(" / ")
            );
        }
        if self.rate > 0.0 {
            println!(
                "load      {} msg/s by {} senders, offered {:.0} deliveries/s, delivered {:.0}/s",
                self.rate, self.senders, self.offered_deliveries_per_sec, self.delivered_per_sec
            );
            if let Some(l) = &self.latency_ms {
                println!(
                    "latency   p50 {} ms, p90 {}, p99 {}, p99.9 {}, max {} ({} samples); sends up to {} ms late",
                    l.p50, l.p90, l.p99, l.p999, l.max, l.samples, self.max_send_lag_ms
                );
            }
            if let Some(cpu) = &self.cpu {
                println!(
                    "cpu       pids {:?} % of a core; machine {:?} %; load generator {:?} %; server µs/delivery {:?}",
                    cpu.pids_pct, cpu.machine_pct, cpu.loadgen_pct, self.server_cpu_us_per_delivery
                );
            }
            println!(
                "messages  sent {}, acked {}, refused {}, expected deliveries {}, delivered {}, lost {}, duplicated {}",
                t.sent, t.acked, t.refused, t.expected, t.delivered, t.lost, t.duplicated
            );
        }
        let r = &self.reconnect;
        if r.disconnects > 0 {
            println!(
                "reconnect {} lost sockets, {} resumed (each: p50 {:?} ms, p99 {:?}, max {:?}); all back {:?} ms after the first was lost",
                r.disconnects, r.resumed, r.p50_ms, r.p99_ms, r.max_ms, r.all_resumed_ms
            );
        }
        if !self.errors.is_empty() {
            println!("errors    {:?}", self.errors);
        }
        println!(
            "result    {}",
            if self.clean { "clean" } else { "NOT CLEAN" }
        );
    }
}
