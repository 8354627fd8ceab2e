//! CPU time and memory of processes, and of the whole machine, from `/proc`.

use std::fs;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux for x86 and ARM).
const TICKS_PER_SEC: f64 = 100.0;

/// A process's resident memory in KiB (`VmRSS`), if it is alive.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User plus system CPU time a process has used, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_secs_of(&stat)
}

/// The load generator's own CPU time.
pub fn own_cpu_secs() -> Option<f64> {
    cpu_secs_of(&fs::read_to_string("/proc/self/stat").ok()?)
}

fn cpu_secs_of(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_name.split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Busy and total CPU time of the whole machine, in seconds (all cores).
pub fn machine_cpu_secs() -> Option<(f64, f64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: f64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some(((total - idle) / TICKS_PER_SEC, total / TICKS_PER_SEC))
}

/// CPU counters of several processes, the machine and this process at one moment.
#[derive(Debug, Clone)]
pub struct CpuSample {
    pids: Vec<Option<f64>>,
    machine: Option<(f64, f64)>,
    own: Option<f64>,
    at: std::time::Instant,
}

/// Percent of one core used between two samples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuUse {
    /// Per sampled pid, in the order given (the servers, then Redis).
    pub pids_pct: Vec<Option<f64>>,
    /// The whole machine (100 per core).
    pub machine_pct: Option<f64>,
    pub loadgen_pct: Option<f64>,
    pub seconds: f64,
}

impl CpuSample {
    pub fn take(pids: &[u32]) -> Self {
        Self {
            pids: pids.iter().map(|&p| cpu_secs(p)).collect(),
            machine: machine_cpu_secs(),
            own: own_cpu_secs(),
            at: std::time::Instant::now(),
        }
    }

    pub fn since(&self, earlier: &CpuSample) -> CpuUse {
        let seconds = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let pct =
            |now: Option<f64>, then: Option<f64>| Some(round1((now? - then?) / seconds * 100.0));
        CpuUse {
            pids_pct: self
                .pids
                .iter()
                .zip(&earlier.pids)
                .map(|(&now, &then)| pct(now, then))
                .collect(),
            machine_pct: match (self.machine, earlier.machine) {
                (Some((busy, _)), Some((then, _))) => Some(round1((busy - then) / seconds * 100.0)),
                _ => None,
            },
            loadgen_pct: pct(self.own, earlier.own),
            seconds: round1(seconds),
        }
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_secs(me).is_some());
        assert!(machine_cpu_secs().unwrap().1 > 0.0);
    }

    #[test]
    fn names_with_spaces_and_parentheses_do_not_shift_fields() {
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
        assert_eq!(cpu_secs_of(stat), Some(4.0));
    }
}
