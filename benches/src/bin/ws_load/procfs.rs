//! CPU time, resident memory and thread count of a process, from /proc.

/// Linux reports CPU times in /proc in USER_HZ ticks, which is 100 on every
/// architecture Linux supports (it is part of the ABI, unlike CONFIG_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// User plus system CPU seconds since the process started.
    pub cpu_seconds: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    pub threads: u64,
}

/// Reads `/proc/<pid>/stat` and `status`; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    read(&format!("/proc/{pid}"))
}

/// Reads this process's own counters.
pub fn own() -> Option<Sample> {
    read("/proc/self")
}

fn read(dir: &str) -> Option<Sample> {
    let mut s = parse_stat(&std::fs::read_to_string(format!("{dir}/stat")).ok()?)?;
    s.rss_kib = parse_vm_rss(&std::fs::read_to_string(format!("{dir}/status")).ok()?)?;
    Some(s)
}

/// `VmRSS:  1234 kB` from proc(5) `status` (in KiB whatever the page size).
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// The fields of proc(5) `stat` after the command name, which may itself
/// contain spaces and parentheses, so the split is at the last ')'.
fn parse_stat(stat: &str) -> Option<Sample> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": field 3 (state) is index 0, so field N is index N - 3.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let ticks = field(14)? + field(15)?;
    Some(Sample {
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        threads: field(20)?,
        rss_kib: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_command_name_with_spaces_and_parentheses() {
        let line =
            "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 12345678 300 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let s = parse_stat(line).expect("parses");
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7);
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t    1234 kB\nThreads:\t1\n"),
            Some(1234)
        );
    }

    #[test]
    fn reads_this_process() {
        let s = own().expect("/proc/self/stat");
        assert!(s.threads >= 1);
        assert!(s.rss_kib > 0);
    }
}
