//! Process metrics with the OpenTelemetry semantic conventions' names, units and attributes
//! (`process.*`): CPU time and utilization, virtual memory, threads, open file descriptors,
//! context switches and page faults, read from the operating system (`crate::sys`) on the
//! export thread when the series are collected. `process.memory.usage` (the RSS) is the
//! allocator part's, beside the live heap it is compared with.

use crate::model::Source;
use crate::model::series::{Data, Metric, Number};
use crate::sys;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

pub(crate) const SOURCE: Source = Source {
    series,
    ..Source::NONE
};

/// The CPU times at the previous collection, for `process.cpu.utilization`.
static LAST: Mutex<Option<(Instant, f64, f64)>> = Mutex::new(None);

/// The CPUs available to the process, read once (it reads the cgroup quota files).
fn cpus() -> f64 {
    static CPUS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from) as f64)
}

fn series(out: &mut Vec<Metric>) {
    push(out, sys::process_stats(), Instant::now());
}

fn push(out: &mut Vec<Metric>, s: sys::ProcessStats, now: Instant) {
    let int = |n: u64| Number::Int(n);
    if let Some((user, system)) = s.cpu {
        for (mode, secs) in [("user", user), ("system", system)] {
            out.push(
                Metric::new(
                    "process.cpu.time",
                    "s",
                    "Total CPU seconds broken down by different CPU modes",
                    Data::Counter(Number::Real(secs)),
                )
                .with_attr("cpu.mode", mode),
            );
        }
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, u0, s0)) = *last {
            let wall = now.duration_since(at).as_secs_f64();
            let cpus = cpus();
            if wall > 0.0 {
                for (mode, d) in [("user", user - u0), ("system", system - s0)] {
                    let ratio = (d.max(0.0) / (wall * cpus)).min(1.0);
                    out.push(
                        Metric::new(
                            "process.cpu.utilization",
                            "1",
                            "CPU time since the last collection over elapsed time and the CPUs available",
                            Data::Gauge(Number::Real(ratio)),
                        )
                        .with_attr("cpu.mode", mode),
                    );
                }
            }
        }
        *last = Some((now, user, system));
    }
    if let Some(v) = s.virtual_bytes {
        out.push(Metric::new(
            "process.memory.virtual",
            "By",
            "The amount of committed virtual memory",
            Data::UpDown(int(v)),
        ));
    }
    if let Some(n) = s.threads {
        out.push(Metric::new(
            "process.thread.count",
            "{thread}",
            "Process threads count",
            Data::UpDown(int(n)),
        ));
    }
    if let Some(n) = s.open_fds {
        out.push(Metric::new(
            "process.open_file_descriptor.count",
            "{file_descriptor}",
            "Number of file descriptors in use by the process",
            Data::UpDown(int(n)),
        ));
    }
    if let Some((voluntary, involuntary)) = s.switches {
        for (kind, n) in [("voluntary", voluntary), ("involuntary", involuntary)] {
            out.push(
                Metric::new(
                    "process.context_switches",
                    "{context_switch}",
                    "Number of times the process has been context switched",
                    Data::Counter(int(n)),
                )
                .with_attr("process.context_switch.type", kind),
            );
        }
    }
    if let Some((minor, major)) = s.faults {
        for (kind, n) in [("minor", minor), ("major", major)] {
            out.push(
                Metric::new(
                    "process.paging.faults",
                    "{fault}",
                    "Number of page faults the process has made",
                    Data::Counter(int(n)),
                )
                .with_attr("system.paging.fault.type", kind),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utilization_is_cpu_time_over_wall_time_and_cpus() {
        let cpus = cpus();
        let t0 = Instant::now();
        let at = |user, system| sys::ProcessStats {
            cpu: Some((user, system)),
            ..Default::default()
        };
        let mut out = Vec::new();
        *LAST.lock().unwrap() = None;
        push(&mut out, at(1.0, 0.5), t0);
        assert!(out.iter().all(|m| m.name != "process.cpu.utilization"));
        out.clear();
        push(&mut out, at(1.5, 0.5), t0 + Duration::from_secs(1));
        let util: Vec<_> = out
            .iter()
            .filter(|m| m.name == "process.cpu.utilization")
            .map(|m| m.data.clone())
            .collect();
        assert_eq!(
            util,
            [
                Data::Gauge(Number::Real((0.5 / cpus).min(1.0))),
                Data::Gauge(Number::Real(0.0))
            ]
        );
        assert_eq!(
            out[0],
            Metric::new(
                "process.cpu.time",
                "s",
                "Total CPU seconds broken down by different CPU modes",
                Data::Counter(Number::Real(1.5))
            )
            .with_attr("cpu.mode", "user")
        );
    }
}
