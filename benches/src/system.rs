//! What the report needs from the system: peak memory, the machine, and output digests.

use std::hash::Hasher;
use std::path::Path;
use std::process::Command;

/// This process's peak resident set size (`VmHWM` in /proc/self/status), in KiB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time (user and system, all threads, in seconds) this process has used so far:
/// `utime` and `stime` of `/proc/self/stat`, in clock ticks of 1/100 s.
pub fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces), from the state (field 3) on.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
    let mut ticks = || fields.next()?.parse::<u64>().ok();
    Some((ticks()? + ticks()?) as f64 / 100.0)
}

/// What an output file holds, independent of line order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    pub lines: u64,
    /// FNV-1a over the sorted lines, each followed by `\n`.
    pub hash: u64,
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} lines, {:016x}", self.lines, self.hash)
    }
}

/// The digest of a file: its lines sorted, then hashed.
pub fn digest(path: &Path) -> std::io::Result<Digest> {
    let text = std::fs::read(path)?;
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.sort_unstable();
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for line in &lines {
        h.write(line);
        h.write(b"\n");
    }
    Ok(Digest { lines: lines.len() as u64, hash: h.finish() })
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The machine as the report describes it.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub date: String,
    pub commit: String,
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown".to_string());
    let commit = match command_output("git", &["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} (with uncommitted changes)")
            } else {
                c
            }
        }
        None => "unknown".to_string(),
    };
    Machine {
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model,
        memory,
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".to_string()),
        commit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_ignore_order_and_the_last_newline() {
        let dir = std::env::temp_dir().join(format!("eddy-bench-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        std::fs::write(&a, "x\ny\n").unwrap();
        std::fs::write(&b, "y\nx").unwrap();
        std::fs::write(&c, "y\nx\nx\n").unwrap();
        assert_eq!(digest(&a).unwrap(), digest(&b).unwrap());
        assert_ne!(digest(&a).unwrap(), digest(&c).unwrap());
        assert_eq!(digest(&c).unwrap().lines, 3);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(peak_rss_kb().is_some_and(|kb| kb > 0));
        // Spins until the clock has ticked: the CPU time grows.
        let before = cpu_secs().unwrap();
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 50 {
            std::hint::black_box(start.elapsed());
        }
        assert!(cpu_secs().unwrap() > before);
    }
}
