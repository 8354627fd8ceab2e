//! Command-line options: what to connect to, how many clients, what load, and how long.

use clap::{Parser, ValueEnum};
use std::{path::PathBuf, time::Duration};

/// Which server protocol the clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    /// Switchboard: `POST /api/login`, then `GET /ws?room=` with the session cookie; resumes with
    /// `after=` and re-sends unacknowledged messages after a reconnect.
    Sb,
    /// Switchboard over its second transport: `GET /sse?room=` read as Server-Sent Events, each
    /// frame a `POST` to the stream's address (one at a time, in order).
    Sse,
    /// The Socket.IO reference (`../shared/bench/socketio-peer`): Engine.IO v4 frames over a
    /// plain WebSocket, `join` with an ack, `chat` events.
    Sio,
}

impl Proto {
    /// Whether it speaks Switchboard's protocol (over either transport): log in, resume,
    /// acknowledgements.
    pub fn is_switchboard(self) -> bool {
        matches!(self, Proto::Sb | Proto::Sse)
    }
}

/// A chat load generator: N clients in R rooms, M of them sending at a total open-loop rate.
///
/// Every message carries its sender, sequence number and scheduled send time, so each delivery is
/// checked (lost, duplicated, out of order) and timed end to end. Runs are bounded: connecting,
/// warm-up, measuring, draining and holding each have a limit, and `--deadline` ends everything.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Args {
    /// Wire protocol.
    #[arg(long, value_enum, default_value = "sb")]
    pub proto: Proto,
    /// Base URLs (`http://host:port`), comma-separated; client i uses URL i mod n. Loopback only.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:3000")]
    pub urls: Vec<String>,
    /// Clients (sockets).
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Rooms; client i joins room i mod rooms.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Room name prefix (the room is the prefix alone when there is one room).
    #[arg(long, default_value = "lobby")]
    pub room: String,
    /// How many of the clients send (the first M); 0 with `--rate 0`.
    #[arg(long, default_value_t = 20)]
    pub senders: usize,
    /// Messages per second across all senders (open loop: sends are scheduled, not paced by
    /// replies). 0 measures connecting and idle memory only.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Text bytes per message.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Seconds of sending before the measured window.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds of the measured window.
    #[arg(long, default_value_t = 8.0)]
    pub duration: f64,
    /// Most seconds to wait after sending for the last deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// Seconds to wait after connecting before taking memory figures.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Seconds to keep the sockets open at the end.
    #[arg(long, default_value_t = 0.0)]
    pub hold: f64,
    /// Clients logging in and connecting at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Server pids whose CPU and memory are sampled from /proc (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub pids: Vec<u32>,
    /// The Redis server's pid, sampled like the servers; comma-separated for a cluster's nodes.
    #[arg(long, value_delimiter = ',')]
    pub redis_pid: Vec<u32>,
    /// On a reconnect, first `GET /` (as the browser does; through a load balancer this also
    /// renews the affinity cookie and rotates the session id).
    #[arg(long)]
    pub probe: bool,
    /// A shell command to run this many seconds after sending starts: `SECS=COMMAND`
    /// (for example `3=scripts/cluster.sh kill 1`). Repeatable.
    #[arg(long = "at", value_parser = parse_event)]
    pub events: Vec<Event>,
    /// Label recorded in the result.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Append the JSON result to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Exit with status 1 unless every client connected and every message was delivered exactly
    /// once, in order (for CI; timings are never asserted).
    #[arg(long)]
    pub check: bool,
    /// Hard limit on the whole run, in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub deadline: f64,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// A command run at a moment of the sending phase.
#[derive(Debug, Clone)]
pub struct Event {
    pub after: Duration,
    pub command: String,
}

fn parse_event(raw: &str) -> Result<Event, String> {
    let (secs, command) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected SECS=COMMAND, got {raw:?}"))?;
    let secs: f64 = secs
        .trim()
        .parse()
        .map_err(|e| format!("{secs:?} is not a number of seconds: {e}"))?;
    Ok(Event {
        after: Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())?,
        command: command.to_owned(),
    })
}

impl Args {
    pub fn validate(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.clients > 0, "--clients must be at least 1");
        anyhow::ensure!(self.rooms > 0, "--rooms must be at least 1");
        anyhow::ensure!(!self.urls.is_empty(), "--urls names no server");
        for url in &self.urls {
            let authority = url
                .strip_prefix("http://")
                .ok_or_else(|| anyhow::anyhow!("{url}: only http:// URLs"))?;
            anyhow::ensure!(
                ["127.", "localhost:", "localhost/", "[::1]"]
                    .iter()
                    .any(|p| authority.starts_with(p))
                    || authority == "localhost",
                "{url}: the load generator only targets this machine (loopback)"
            );
        }
        anyhow::ensure!(
            self.rate >= 0.0 && self.rate.is_finite(),
            "--rate must be ≥ 0"
        );
        self.senders = if self.rate > 0.0 {
            self.senders.clamp(1, self.clients)
        } else {
            0
        };
        Ok(())
    }

    /// The room of client `i`.
    pub fn room_of(&self, client: usize) -> String {
        if self.rooms == 1 {
            self.room.clone()
        } else {
            format!("{}-{}", self.room, client % self.rooms)
        }
    }
}

/// Seconds as a [`Duration`], for options given in (fractional) seconds.
pub fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.max(0.0))
}
