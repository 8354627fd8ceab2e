//! Smoke runs of the load generator (`bench/loadgen`) against real instances: a few dozen sockets
//! and a few hundred messages, checked for exactness only — every acknowledged message reaches
//! every member of its room exactly once, in order. Timings are measured by the benchmark
//! (`docs/performance.md`), never asserted here.
//!
//! The binary is built by `cargo build -p loadgen` (the test command does it first).

use crate::helpers::{Instance, RedisServer};
use serde_json::Value;
use std::{path::PathBuf, process::Command};

fn loadgen_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_switchboard")).with_file_name("loadgen");
    assert!(
        bin.exists(),
        "no load generator at {}: run `cargo build -p loadgen` first",
        bin.display()
    );
    bin
}

/// Runs the load generator with `--check` and returns its JSON result.
fn run_loadgen(args: &[&str]) -> Value {
    let output = Command::new(loadgen_bin())
        .args(["--quiet", "--check", "--deadline", "90"])
        .args(args)
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the load generator reported a problem:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON result");
    serde_json::from_str(json).expect("the result is JSON")
}

/// A Redis and two instances on it, and their URLs as `--urls` takes them.
fn two_instances() -> (RedisServer, Instance, Instance, String) {
    let redis = RedisServer::start();
    let a = Instance::start("a", Some(&redis.url()));
    let b = Instance::start("b", Some(&redis.url()));
    let urls = format!("{},{}", a.base, b.base);
    (redis, a, b, urls)
}

#[test]
fn fan_out_over_two_instances_is_exact() {
    let (_redis, _a, _b, urls) = two_instances();
    let result = run_loadgen(&[
        "--urls",
        &urls,
        "--clients",
        "40",
        "--rooms",
        "4",
        "--senders",
        "8",
        "--rate",
        "150",
        "--warmup",
        "0.5",
        "--duration",
        "2",
    ]);
    let tally = &result["tally"];
    assert_eq!(result["connected"], 40);
    assert!(tally["acked"].as_u64().unwrap() > 200, "{tally}");
    assert_eq!(tally["delivered"], tally["expected"], "{tally}");
    assert_eq!(
        (&tally["lost"], &tally["duplicated"]),
        (&Value::from(0), &Value::from(0))
    );
}

#[test]
fn a_killed_instance_loses_and_duplicates_nothing() {
    let (_redis, a, _b, urls) = two_instances();
    // Half the sockets (and half the senders) are on `a`, killed with -9 a second into sending;
    // they come back on `b` (the browser's way: probe, then the socket with `after=`), re-sending
    // what was not acknowledged.
    let kill = format!("1=kill -9 {}", a.pid());
    let result = run_loadgen(&[
        "--urls",
        &urls,
        "--clients",
        "30",
        "--senders",
        "6",
        "--rate",
        "120",
        "--warmup",
        "0",
        "--duration",
        "3",
        "--probe",
        "--at",
        &kill,
    ]);
    let reconnect = &result["reconnect"];
    assert_eq!(reconnect["disconnects"], 15, "{reconnect}");
    assert_eq!(reconnect["resumed"], 15, "{reconnect}");
    let tally = &result["tally"];
    assert_eq!(tally["delivered"], tally["expected"], "{tally}");
    assert_eq!(
        (&tally["lost"], &tally["duplicated"]),
        (&Value::from(0), &Value::from(0))
    );
}
