//! Load generator for Switchboard and the Socket.IO reference.
//!
//! Phases: connect every client (a few at a time), settle and measure memory, send for warm-up
//! plus the measured window (running any `--at` commands on the way), drain until every
//! acknowledged message reached every member of its room (or the drain limit), hold, stop.
//! Everything runs on one thread, so the generator costs one core at most and its share of the
//! machine is visible in the result.

mod cli;
mod client;
mod ledger;
mod procfs;
mod report;
mod run;
mod wire;

use clap::Parser;
use cli::{secs, Args};
use ledger::{Layout, Ledger};
use procfs::CpuSample;
use report::{Latency, Reconnect, Report};
use run::{Run, Stats};
use std::{cell::RefCell, process::ExitCode, rc::Rc, time::Duration};
use tokio::{
    sync::{watch, Semaphore},
    task::LocalSet,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

/// How often the progress line is rewritten, and conditions are checked.
const TICK: Duration = Duration::from_millis(50);
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("loadgen: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let check = args.check;
    let report = LocalSet::new().block_on(&runtime, run(args));
    match report {
        Ok(report) if report.clean || !check => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let deadline = Instant::now() + secs(args.deadline);
    let tag = format!("{:08x}", fastrand::u32(..));
    let layout = Layout {
        clients: args.clients,
        rooms: args.rooms,
        senders: args.senders,
    };
    for c in 0..args.clients.min(args.rooms) {
        app::protocol::RoomName::parse(&args.room_of(c))
            .map_err(|e| anyhow::anyhow!("room {:?}: {e}", args.room_of(c)))?;
    }
    let (start_tx, start_rx) = watch::channel(None);
    let run = Rc::new(Run {
        tag: tag.clone(),
        http: wire::http_client(),
        ledger: RefCell::new(Ledger::new(tag, std::time::Instant::now(), layout)),
        stats: RefCell::new(Stats::new(args.clients)),
        connect_gate: Semaphore::new(args.connect_concurrency.max(1)),
        start: start_rx,
        stop: CancellationToken::new(),
        args: args.clone(),
    });
    let mut sampled = args.pids.clone();
    sampled.extend(args.redis_pid.iter().copied());
    let mut report = Report {
        label: args.label.clone(),
        proto: format!("{:?}", args.proto).to_lowercase(),
        urls: args.urls.clone(),
        clients: args.clients,
        rooms: args.rooms,
        pids: sampled.clone(),
        senders: args.senders,
        rate: args.rate,
        size: args.size,
        events: args
            .events
            .iter()
            .map(|e| format!("{:?}={}", e.after, e.command))
            .collect(),
        ..Report::default()
    };
    report.rss_kib_before = args.pids.iter().map(|&p| procfs::rss_kib(p)).collect();

    // Connect.
    let connecting = Instant::now();
    for index in 0..args.clients {
        tokio::task::spawn_local(client::client(run.clone(), index));
    }
    let all_in = || {
        let stats = run.stats.borrow();
        stats.connected_once + stats.failed >= args.clients
    };
    wait_for(&run, "connecting", deadline, all_in).await;
    report.connect_secs = round2(connecting.elapsed().as_secs_f64());
    {
        let stats = run.stats.borrow();
        report.connected = stats.connected_once;
        report.connect_failed = stats.failed;
        report.connect_failures = stats.failures.clone();
        report.connects_per_sec =
            (stats.connected_once as f64 / report.connect_secs.max(1e-3)).round();
    }
    tokio::time::sleep(secs(args.settle)).await;
    report.rss_kib_after = args.pids.iter().map(|&p| procfs::rss_kib(p)).collect();
    report.per_instance = run.stats.borrow().per_instance();
    report.rss_kib_per_conn = per_connection(&args, &report);

    // Send, measure, drain.
    if args.rate > 0.0 && report.connected > 0 {
        let start = Instant::now();
        let warmup = secs(args.warmup);
        let window = secs(args.duration);
        let epoch = run.ledger.borrow().epoch();
        let offset = start.into_std().duration_since(epoch);
        run.ledger
            .borrow_mut()
            .measure(offset + warmup, offset + warmup + window);
        start_tx.send_replace(Some(start));
        for event in &args.events {
            tokio::task::spawn_local(run_event(start + event.after, event.command.clone()));
        }
        wait_until(&run, "warming up", (start + warmup).min(deadline)).await;
        let before = CpuSample::take(&sampled);
        wait_until(&run, "measuring", (start + warmup + window).min(deadline)).await;
        let cpu = CpuSample::take(&sampled).since(&before);
        let drained = Instant::now() + secs(args.drain);
        let all_delivered = || {
            let done = run.stats.borrow().senders_done.len() >= args.senders;
            let ledger = run.ledger.borrow();
            done && ledger.delivered() >= ledger.expected()
        };
        wait_for(&run, "draining", drained.min(deadline), all_delivered).await;

        let ledger = run.ledger.borrow();
        report.window_secs = window.as_secs_f64();
        report.delivered_per_sec =
            (ledger.delivered_in_window() as f64 / report.window_secs).round();
        report.offered_deliveries_per_sec =
            (args.rate * (args.clients as f64 / args.rooms as f64)).round();
        report.latency_ms = Latency::of(&ledger.latency_us);
        let server_pct: f64 = cpu.pids_pct.iter().take(args.pids.len()).flatten().sum();
        if ledger.delivered_in_window() > 0 && !args.pids.is_empty() {
            let us = server_pct / 100.0 * cpu.seconds * 1e6 / ledger.delivered_in_window() as f64;
            report.server_cpu_us_per_delivery = Some(procfs::round1(us * 10.0) / 10.0);
        }
        report.cpu = Some(cpu);
    }
    if args.hold > 0.0 {
        wait_until(
            &run,
            "holding",
            (Instant::now() + secs(args.hold)).min(deadline),
        )
        .await;
    }
    run.stop.cancel();
    let closed = || run.stats.borrow().open == 0;
    wait_for(
        &run,
        "closing",
        Instant::now() + Duration::from_secs(5),
        closed,
    )
    .await;
    if !args.quiet {
        eprintln!();
    }

    report.tally = run.ledger.borrow().tally();
    let stats = run.stats.borrow();
    let resume = &stats.resume_ms;
    report.reconnect = Reconnect {
        disconnects: stats.disconnects,
        resumed: stats.resumed,
        logged_out: stats.logged_out,
        p50_ms: (!resume.is_empty()).then(|| resume.value_at_quantile(0.5)),
        p99_ms: (!resume.is_empty()).then(|| resume.value_at_quantile(0.99)),
        max_ms: (!resume.is_empty()).then(|| resume.max()),
        all_resumed_ms: match (stats.first_disconnect, stats.last_resume) {
            (Some(first), Some(last)) if last > first => {
                Some(u64::try_from(last.duration_since(first).as_millis()).unwrap_or(u64::MAX))
            }
            _ => None,
        },
    };
    report.errors = stats.errors.clone();
    report.max_send_lag_ms = round2(stats.max_send_lag.as_secs_f64() * 1000.0);
    let t = &report.tally;
    report.clean = report.connect_failed == 0
        && t.lost == 0
        && t.duplicated == 0
        && t.refused == 0
        && t.acked == t.sent
        && stats.unreadable == 0
        && stats.logged_out == 0;
    drop(stats);

    report.print_table();
    let json = serde_json::to_string(&report)?;
    println!("{json}");
    if let Some(path) = &args.json {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{json}")?;
    }
    Ok(report)
}

/// Server memory growth per connection on each pid, the clients spread over the URLs in turn.
fn per_connection(args: &Args, report: &Report) -> Vec<Option<f64>> {
    let urls = args.urls.len();
    (0..args.pids.len())
        .map(|k| {
            let conns = (0..report.connected).filter(|i| i % urls == k).count();
            let grew = report.rss_kib_after.get(k).copied().flatten()? as f64
                - report.rss_kib_before.get(k).copied().flatten()? as f64;
            (conns > 0 && urls == args.pids.len()).then(|| round2(grew / conns as f64))
        })
        .collect()
}

/// Runs `command` with `sh -c` at `at`.
async fn run_event(at: Instant, command: String) {
    tokio::time::sleep_until(at).await;
    eprintln!("\nloadgen: running `{command}`");
    match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .status()
        .await
    {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("loadgen: `{command}` exited with {status}"),
        Err(e) => eprintln!("loadgen: could not run `{command}`: {e}"),
    }
}

/// Waits until `done` holds or `until`, printing progress.
async fn wait_for(run: &Run, phase: &str, until: Instant, done: impl Fn() -> bool) {
    let mut last_progress = Instant::now();
    while !done() && Instant::now() < until {
        tokio::time::sleep(TICK).await;
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            progress(run, phase);
        }
    }
}

async fn wait_until(run: &Run, phase: &str, until: Instant) {
    wait_for(run, phase, until, || false).await;
}

fn progress(run: &Run, phase: &str) {
    if run.args.quiet {
        return;
    }
    let stats = run.stats.borrow();
    let ledger = run.ledger.borrow();
    let p99 = Latency::of(&ledger.latency_us).map_or("-".into(), |l| format!("{} ms", l.p99));
    eprint!(
        "\r{phase:<10} open {}/{} failed {} | sent {} acked {} | delivered {} of {} | lost {} dup {} | p99 {p99} | reconnects {}/{}   ",
        stats.open,
        run.args.clients,
        stats.failed,
        ledger.sent_total(),
        ledger.acked_total(),
        ledger.delivered(),
        ledger.expected(),
        ledger.lost(),
        ledger.duplicated(),
        stats.resumed,
        stats.disconnects,
    );
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
