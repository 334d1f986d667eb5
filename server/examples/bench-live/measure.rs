//! What the benchmark reads of itself: percentiles, resident memory, CPU seconds per thread.

pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q) as usize]
}

/// This process's resident memory (MB): the server, the load generator and the displays.
pub fn rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// CPU seconds used so far by this process's threads with a given name (Linux `/proc`).
pub fn cpu_seconds(thread_name: &str) -> f64 {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if &stat[open + 1..close] != thread_name {
            continue;
        }
        // Fields after the name: state is field 3; utime and stime are fields 14 and 15.
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        ticks += rest.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + rest.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks as f64 / 100.0 // USER_HZ
}
