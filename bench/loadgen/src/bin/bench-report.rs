//! Turns the load generator's JSON results (from `bench/scenarios.sh`) into the results section
//! of `docs/performance.md` and a latency-against-load plot beside it (`perf-latency.svg`).
//!
//!     bench-report RESULTS.jsonl docs/performance.md
//!
//! The section between `<!-- results:begin -->` and `<!-- results:end -->` is replaced (or added
//! at the end); the rest of the document, the record of changes, is left as it is. Repeated runs
//! of one label are reported by their median.

use serde_json::Value;
use std::{collections::BTreeMap, fmt::Write as _, fs, path::Path};

const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";
const STACKS: [(&str, &str); 2] = [("sb", "Switchboard"), ("sio", "Socket.IO")];

const FANOUT: [Col; 11] = [
    Col::Median("/delivered_per_sec", 0),
    Col::Median("/latency_ms/p50", 2),
    Col::Median("/latency_ms/p99", 2),
    Col::Median("/latency_ms/max", 1),
    Col::SumOfTwo("/cpu/pids_pct", 1),
    Col::Median("/server_cpu_us_per_delivery", 2),
    Col::Median("/cpu/pids_pct/2", 1),
    Col::Median("/cpu/loadgen_pct", 1),
    Col::Median("/tally/lost", 0),
    Col::Median("/tally/duplicated", 0),
    Col::Median("/max_send_lag_ms", 1),
];
const JOIN: [Col; 4] = [
    Col::Median("/connected", 0),
    Col::Median("/connect_secs", 2),
    Col::Median("/connects_per_sec", 0),
    Col::Median("/tally/other_messages", 0),
];
const ROOMS: [Col; 7] = [
    Col::Median("/delivered_per_sec", 0),
    Col::Median("/latency_ms/p50", 2),
    Col::Median("/latency_ms/p99", 2),
    Col::SumOfTwo("/cpu/pids_pct", 1),
    Col::Median("/server_cpu_us_per_delivery", 2),
    Col::Median("/tally/lost", 0),
    Col::Median("/tally/duplicated", 0),
];
const PAGE: [Col; 9] = [
    Col::Median("/runs", 0),
    Col::Median("/ttfb_ms", 0),
    Col::Median("/dom_content_loaded_ms", 0),
    Col::Median("/load_ms", 0),
    Col::Median("/interactive_ms", 0),
    Col::Median("/interactive_max_ms", 0),
    Col::Kib("/wasm_transfer_bytes"),
    Col::Kib("/wasm_decoded_bytes"),
    Col::Kib("/js_transfer_bytes"),
];
const STORM: [Col; 10] = [
    Col::Median("/reconnect/disconnects", 0),
    Col::Median("/reconnect/resumed", 0),
    Col::Median("/reconnect/all_resumed_ms", 0),
    Col::Median("/reconnect/p50_ms", 0),
    Col::Median("/reconnect/p99_ms", 0),
    Col::Median("/reconnect/max_ms", 0),
    Col::Median("/tally/sent", 0),
    Col::Median("/tally/acked", 0),
    Col::Median("/tally/lost", 0),
    Col::Median("/tally/duplicated", 0),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [results, doc] = args.as_slice() else {
        anyhow::bail!("usage: bench-report RESULTS.jsonl docs/performance.md");
    };
    let mut runs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in fs::read_to_string(results)?
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let run: Value = serde_json::from_str(line)?;
        let label = run["label"].as_str().unwrap_or_default().to_owned();
        runs.entry(label).or_default().push(run);
    }
    let svg_path = Path::new(doc).with_file_name("perf-latency.svg");
    let section = section(&runs, results, &svg_path)?;
    let old = fs::read_to_string(doc).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{section}{}", &old[..b], &old[e + END.len()..]),
        _ => format!("{old}\n{section}\n"),
    };
    fs::write(doc, new)?;
    Ok(())
}

/// The median over the runs of `label` of what `value` reads from each run (runs without it are
/// skipped).
fn median_of(
    runs: &BTreeMap<String, Vec<Value>>,
    label: &str,
    value: impl Fn(&Value) -> Option<f64>,
) -> Option<f64> {
    let mut values: Vec<f64> = runs.get(label)?.iter().filter_map(value).collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// The median of `path` (a JSON pointer) over the runs of `label`.
fn median(runs: &BTreeMap<String, Vec<Value>>, label: &str, path: &str) -> Option<f64> {
    median_of(runs, label, |r| r.pointer(path)?.as_f64())
}

/// The sum of the first `n` numbers at `path` (per-pid CPU figures), median over runs.
fn median_sum(
    runs: &BTreeMap<String, Vec<Value>>,
    label: &str,
    path: &str,
    n: usize,
) -> Option<f64> {
    median_of(runs, label, |r| {
        let list = r.pointer(path)?.as_array()?;
        Some(list.iter().take(n).filter_map(Value::as_f64).sum())
    })
}

/// A table column: the median over runs of a JSON pointer, or of the sum of the first two
/// numbers of a list there (the two servers' CPU), shown with so many decimals.
#[derive(Clone, Copy)]
enum Col {
    Median(&'static str, usize),
    SumOfTwo(&'static str, usize),
    /// Bytes shown in KiB.
    Kib(&'static str),
}

/// The cells of one table row for `label`, each followed by " |".
fn cells(runs: &BTreeMap<String, Vec<Value>>, label: &str, cols: &[Col]) -> String {
    cols.iter()
        .map(|col| {
            let value = match *col {
                Col::Median(path, digits) => fmt(median(runs, label, path), digits),
                Col::SumOfTwo(path, digits) => fmt(median_sum(runs, label, path, 2), digits),
                Col::Kib(path) => fmt(median(runs, label, path).map(|b| b / 1024.0), 1),
            };
            format!(" {value} |")
        })
        .collect()
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// `a / b` as "×N.N", for the reference against Switchboard.
fn ratio(reference: Option<f64>, ours: Option<f64>) -> String {
    match (reference, ours) {
        (Some(r), Some(o)) if o > 0.0 => format!("{:.1}×", r / o),
        _ => "–".into(),
    }
}

fn section(
    runs: &BTreeMap<String, Vec<Value>>,
    results: &str,
    svg: &Path,
) -> anyhow::Result<String> {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    let _ = writeln!(md, "## Results\n");
    let _ = writeln!(
        md,
        "Generated by `bench/scenarios.sh` from `{}` ({} runs). Both stacks ran in the same sitting on this \
         2-core machine with the same load generator (`bench/loadgen`, one thread, sharing the cores). \
         Ratios are the reference's figure over Switchboard's (above 1× means Switchboard is better). \
         Repeated runs are reported by their median.\n",
        results.rsplit("bench/").next().map_or(results.to_owned(), |r| format!("bench/{r}")),
        runs.values().map(Vec::len).sum::<usize>()
    );

    // Idle memory.
    let _ = writeln!(md, "### Idle memory per connection (one instance)\n");
    let _ = writeln!(md, "| connections | Switchboard KiB/conn | Socket.IO KiB/conn | ratio | Switchboard connect/s | Socket.IO connect/s |");
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for n in [1000, 5000, 10000] {
        let sb = median(runs, &format!("idle-sb-{n}"), "/rss_kib_per_conn/0");
        let sio = median(runs, &format!("idle-sio-{n}"), "/rss_kib_per_conn/0");
        if sb.is_none() && sio.is_none() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {n} | {} | {} | {} | {} | {} |",
            fmt(sb, 1),
            fmt(sio, 1),
            ratio(sio, sb),
            fmt(
                median(runs, &format!("idle-sb-{n}"), "/connects_per_sec"),
                0
            ),
            fmt(
                median(runs, &format!("idle-sio-{n}"), "/connects_per_sec"),
                0
            ),
        );
    }

    // Fan-out ladder.
    let mut rates: Vec<u64> = runs
        .keys()
        .filter_map(|l| {
            l.strip_prefix("fanout-sb-r")
                .or_else(|| l.strip_prefix("fanout-sio-r"))
        })
        .filter_map(|r| r.parse().ok())
        .collect();
    rates.sort_unstable();
    rates.dedup();
    let _ = writeln!(
        md,
        "\n### Fan-out: 200 clients on two instances, 20 senders, 100-byte texts\n"
    );
    let _ = writeln!(
        md,
        "| offered deliveries/s | stack | delivered/s | p50 ms | p99 ms | max ms | server CPU % (both) | server µs/delivery | Redis CPU % | load generator CPU % | lost | dup | sends late by (ms) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut points: Vec<(&str, f64, f64)> = Vec::new();
    for rate in &rates {
        for (stack, name) in STACKS {
            let label = format!("fanout-{stack}-r{rate}");
            if !runs.contains_key(&label) {
                continue;
            }
            let delivered = median(runs, &label, "/delivered_per_sec");
            let p99 = median(runs, &label, "/latency_ms/p99");
            if let (Some(d), Some(p)) = (delivered, p99) {
                points.push((stack, d, p));
            }
            let _ = writeln!(
                md,
                "| {} | {name} |{}",
                fmt(median(runs, &label, "/offered_deliveries_per_sec"), 0),
                cells(runs, &label, &FANOUT)
            );
        }
    }
    if !points.is_empty() {
        fs::write(svg, plot(&points))?;
        let _ = writeln!(
            md,
            "\n![p99 latency against delivered load, both stacks]({})\n",
            svg.file_name().and_then(|f| f.to_str()).unwrap_or_default()
        );
    }

    // Join storm.
    let _ = writeln!(
        md,
        "\n### 10,000 users log in and join one room (two instances)\n"
    );
    let _ = writeln!(
        md,
        "| stack | connected | seconds | per second | notice frames delivered |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for (stack, name) in STACKS {
        let label = format!("join-{stack}-10000");
        if runs.contains_key(&label) {
            let _ = writeln!(md, "| {name} |{}", cells(runs, &label, &JOIN));
        }
    }

    // Many rooms.
    let _ = writeln!(
        md,
        "\n### 1,000 rooms of 5 users (two instances, one sender per room, 2,000 msg/s)\n"
    );
    let _ = writeln!(md, "| stack | delivered/s | p50 ms | p99 ms | server CPU % (both) | server µs/delivery | lost | dup |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (stack, name) in STACKS {
        let label = format!("rooms-{stack}-1000x5");
        if runs.contains_key(&label) {
            let _ = writeln!(md, "| {name} |{}", cells(runs, &label, &ROOMS));
        }
    }

    // Reconnect storm and drain.
    let _ = writeln!(
        md,
        "\n### 5,000 clients of one instance (of three, behind HAProxy) lose it, a sender throughout\n"
    );
    let _ = writeln!(
        md,
        "Switchboard only: the reference has no resume (a reconnecting Socket.IO client misses what was sent meanwhile).\n"
    );
    let _ = writeln!(md, "| how | sockets lost | resumed | all back after (ms) | each: p50 ms | p99 ms | max ms | messages sent | acked | lost | dup |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, how) in [
        ("storm-sb-5000", "kill -9"),
        ("drain-sb-5000", "SIGTERM (drain)"),
    ] {
        if runs.contains_key(label) {
            let _ = writeln!(md, "| {how} |{}", cells(runs, label, &STORM));
        }
    }
    // The first page.
    if runs.contains_key("page-sb") {
        let _ = writeln!(
            md,
            "\n### First page in Chromium, cold cache, logged in, until the chat socket is open\n"
        );
        let _ = writeln!(
            md,
            "`bench/page-load.cjs`: a new browser context per run (nothing cached), medians of the runs.\n"
        );
        let _ = writeln!(md, "| runs | first byte ms | DOM ready ms | load ms | interactive ms (median) | interactive ms (slowest) | WASM transferred KiB | WASM KiB | JS transferred KiB |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        let _ = writeln!(md, "|{}", cells(runs, "page-sb", &PAGE));
    }
    let _ = write!(md, "\n{END}");
    Ok(md)
}

/// An SVG line plot of p99 latency (log scale) against delivered deliveries per second.
fn plot(points: &[(&str, f64, f64)]) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 420.0, 70.0, 50.0, 30.0, 150.0);
    let max_x = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.05;
    let (min_y, max_y) = (
        0.1f64,
        points.iter().map(|p| p.2).fold(1.0, f64::max).max(100.0),
    );
    let x = |v: f64| left + v / max_x * (w - left - right);
    let y = |v: f64| {
        let t = (v.max(min_y).log10() - min_y.log10()) / (max_y.log10() - min_y.log10());
        h - bottom - t * (h - bottom - top)
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="18" font-size="14">p99 latency (ms, log scale) against delivered messages per second</text>"#
    );
    let mut tick = 0.1;
    while tick <= max_y * 1.001 {
        let ty = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{tick}</text>"##,
            w - right,
            left - 6.0,
            ty + 4.0
        );
        tick *= 10.0;
    }
    let step = nice_step(max_x / 6.0);
    let mut tx = 0.0;
    while tx <= max_x {
        let px = x(tx);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{top}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{}k</text>"##,
            h - bottom,
            h - bottom + 18.0,
            tx / 1000.0
        );
        tx += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">deliveries per second</text>"#,
        (left + w - right) / 2.0,
        h - 10.0
    );
    for (i, (stack, name)) in STACKS.iter().enumerate() {
        let colour = if i == 0 { "#1f6feb" } else { "#d1242f" };
        let mut line: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == *stack)
            .map(|p| (p.1, p.2))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = line
            .iter()
            .map(|(d, p)| format!("{:.1},{:.1}", x(*d), y(*p)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (d, p) in &line {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(*d),
                y(*p)
            );
        }
        let ly = top + 20.0 + 20.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A round step (1, 2 or 5 × 10ⁿ) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}
