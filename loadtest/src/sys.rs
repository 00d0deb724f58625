//! What this tool reads from the operating system: the open-file limit (raised
//! to its hard cap at start), its own CPU time (`getrusage`), and a server's CPU
//! time and resident memory from `/proc/PID/stat` and `/proc/PID/status`.
//!
//! Nothing here changes anything but this process's soft `RLIMIT_NOFILE`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Unix time in seconds.
pub fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix time in nanoseconds.
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Raise the soft open-file limit to the hard one; returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// CPU seconds (user + system) of this process (`RUSAGE_SELF`) or of its
/// waited-for children (`RUSAGE_CHILDREN`).
fn rusage_cpu_s(who: libc::c_int) -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the struct we own.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// This process's CPU seconds so far.
pub fn self_cpu_s() -> f64 {
    rusage_cpu_s(libc::RUSAGE_SELF)
}

/// CPU seconds of this process's children that have been waited for.
pub fn children_cpu_s() -> f64 {
    rusage_cpu_s(libc::RUSAGE_CHILDREN)
}

/// Server processes' resident memory and CPU time at one moment (summed over PIDs).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ServerSample {
    pub rss_kib: u64,
    pub cpu_s: f64,
}

/// Sample every PID; `None` (with a warning) if any cannot be read.
pub fn sample_servers(pids: &[u32]) -> Option<ServerSample> {
    if pids.is_empty() {
        return None;
    }
    let mut total = ServerSample {
        rss_kib: 0,
        cpu_s: 0.0,
    };
    for &pid in pids {
        match sample_server(pid) {
            Ok(s) => {
                total.rss_kib += s.rss_kib;
                total.cpu_s += s.cpu_s;
            }
            Err(err) => {
                eprintln!("warning: cannot sample server PID {pid}: {err}");
                return None;
            }
        }
    }
    Some(total)
}

fn sample_server(pid: u32) -> anyhow::Result<ServerSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); `after` starts at field 3.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse()?)
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu_s = (ticks(11)? + ticks(12)?) as f64 / hz;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(ServerSample { rss_kib, cpu_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let s = sample_servers(&[std::process::id()]).expect("own /proc entry");
        assert!(s.rss_kib > 0);
        assert!(self_cpu_s() >= 0.0);
    }
}
