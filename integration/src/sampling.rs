//! The statistics of Poisson byte sampling, for tests that check estimates at the default
//! interval without a normal approximation.
//!
//! A thread's sample points are a Poisson process over the bytes it allocates, with one point
//! every `mean` bytes on average, so a block of `s` bytes is sampled (one or more points fall
//! in it) with probability `p = 1 - exp(-s / mean)`, independently of every other block, and
//! a sample weighs `s / p`. An estimate is then a sum of independent weighted Bernoulli
//! variables, whose tails [`estimate_bounds`] bounds with Chernoff's inequality: a rigorous
//! bound (no normal approximation), so a test that asserts it fails with at most the
//! probability it names.

/// Bytes of Go's `runtime.MemProfileRate`, rtscope's default sampling interval.
pub const DEFAULT_INTERVAL: f64 = 512.0 * 1024.0;

/// The estimate of `blocks` (`(size, count)`: `count` blocks of `size` bytes) sampled at mean
/// interval `mean` falls within the returned `(low, high)` except with probability at most
/// `fail` (`fail / 2` on each side). The truth is `sum(size * count)`.
pub fn estimate_bounds(blocks: &[(u64, u64)], mean: f64, fail: f64) -> (f64, f64) {
    let truth: f64 = blocks.iter().map(|&(s, n)| (s * n) as f64).sum();
    let groups: Vec<(f64, f64, f64)> = blocks
        .iter()
        .filter(|&&(s, n)| s > 0 && n > 0)
        .map(|&(s, n)| {
            let p = -(-(s as f64) / mean).exp_m1();
            (n as f64, p, s as f64 / p)
        })
        // A block sampled for certain (in f64) adds nothing to the spread.
        .filter(|&(_, p, _)| p < 1.0)
        .collect();
    let largest = groups.iter().map(|g| g.2).fold(1.0, f64::max);
    // The log moment generating function of the estimate minus its mean, at `l`.
    let psi = |l: f64| -> f64 {
        groups
            .iter()
            .map(|&(n, p, w)| {
                let a = l * w;
                let log_mgf = if a > 0.0 {
                    a + (p + (1.0 - p) * (-a).exp()).ln()
                } else {
                    (p * a.exp_m1()).ln_1p()
                };
                n * (log_mgf - a * p)
            })
            .sum()
    };
    let c = (2.0 / fail).ln();
    // P(X - EX >= t) <= exp(psi(l) - l t) for l > 0: the smallest such t at `fail / 2` is
    // min over l of (psi(l) + c) / l (and with -l for the lower tail).
    let tail = |sign: f64| -> f64 {
        (0..6000)
            .map(|i| {
                let u = 1e-6 * (1e12f64).powf(i as f64 / 5999.0); // 1e-6 .. 1e6
                let l = u / largest;
                (psi(sign * l) + c) / l
            })
            .fold(f64::INFINITY, f64::min)
    };
    (truth - tail(-1.0), truth + tail(1.0))
}

/// The variance of the estimate of `blocks` at mean interval `mean`:
/// `sum(count * size^2 * (1 - p) / p)`; about `mean x truth` when blocks are small.
pub fn estimate_variance(blocks: &[(u64, u64)], mean: f64) -> f64 {
    blocks
        .iter()
        .filter(|&&(s, _)| s > 0)
        .map(|&(s, n)| {
            let s = s as f64;
            let p = -(-s / mean).exp_m1();
            n as f64 * s * s * (1.0 - p) / p
        })
        .sum()
}

/// Blocks of at least 64 KiB a traced case allocates at the defaults (see [`paced_blocks`]).
///
/// A 64 KiB block is sampled with `p = 1 - exp(-64 KiB / 512 KiB) = 0.1175`, independently of
/// every other block, so a case's samples are Binomial(576, 0.1175): 67.7 expected, fewer
/// than 32 (the tests' minimum) with probability 1.3e-7 (exact binomial tail), 7e-7 for the
/// five cases of a run. Paced by [`paced_blocks`], every one of them becomes a log record.
pub const CASE_BLOCKS: usize = 576;

/// Blocks [`paced_blocks`] allocates at once before it pauses.
pub const PACE_GROUP: usize = 4;
/// The pause after each group.
pub const PACE_PAUSE: std::time::Duration = std::time::Duration::from_millis(12);

/// Allocates `count` blocks of `size` bytes on the calling thread (each freed before the
/// next group), [`PACE_GROUP`] at a time with a [`PACE_PAUSE`] after each group: at most
/// 333 blocks a second (fewer on a loaded machine, never a catch-up burst), so at most 39
/// samples a second are expected from 64 KiB blocks at the default 512 KiB interval.
///
/// That keeps every sample a log record: the keep probability stays 1 while a tick's
/// samples come slower than the target (100/s; a second's worth of blocks exceeds it with
/// probability 6e-19, Binomial(340, 0.1175) > 100), and the log budget (150/s sustained,
/// 50 records at once) is never found spent (a third of a second's blocks give more than
/// 50 samples with probability 2e-17). The CPU budget (1 % of a core) is not reached
/// either: in a debug build with heap profiles the sample path took about 65 µs a sample
/// (`rtscope.sampling.time`, 22-24 ms over `trace_workload`'s run), 0.25 % of a core at
/// 39 samples a second (`rtscope.sampling.raised` stayed 0).
pub fn paced_blocks(size: usize, count: usize) {
    let mut left = count;
    while left > 0 {
        let n = left.min(PACE_GROUP);
        let group: Vec<Vec<u8>> = (0..n)
            .map(|i| std::hint::black_box(vec![i as u8; size]))
            .collect();
        drop(std::hint::black_box(group));
        left -= n;
        std::thread::sleep(PACE_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P(X < k)` for X ~ Binomial(n, p), summed exactly (in logs).
    fn binomial_below(n: usize, p: f64, k: usize) -> f64 {
        let mut log_c = 0.0; // ln C(n, i)
        let mut sum = 0.0;
        for i in 0..k {
            if i > 0 {
                log_c += ((n - i + 1) as f64 / i as f64).ln();
            }
            sum += (log_c + i as f64 * p.ln() + (n - i) as f64 * (-p).ln_1p()).exp();
        }
        sum
    }

    #[test]
    fn a_paced_case_has_32_records_with_overwhelming_probability() {
        let p = -(-(64.0 * 1024.0) / DEFAULT_INTERVAL).exp_m1();
        assert!((p - 0.1175).abs() < 1e-4, "{p}");
        let expected = CASE_BLOCKS as f64 * p;
        assert!((expected - 67.7).abs() < 0.05, "{expected}");
        let fail = binomial_below(CASE_BLOCKS, p, 32);
        assert!((1.2e-7..1.4e-7).contains(&fail), "{fail}");
        // The pace: a second's blocks stay well below the 100 records/s target.
        let per_second = PACE_GROUP as f64 / PACE_PAUSE.as_secs_f64();
        assert!(per_second * p < 40.0, "{per_second} blocks/s");
    }

    #[test]
    fn bounds_are_a_few_standard_deviations_wide() {
        // 64 MiB in 64 B blocks: sd = sqrt(mean x truth) = 5.66 MiB.
        let blocks = [(64, 1 << 20)];
        let truth = 64.0 * (1 << 20) as f64;
        let sd = estimate_variance(&blocks, DEFAULT_INTERVAL).sqrt();
        assert!((sd / (DEFAULT_INTERVAL * truth).sqrt() - 1.0).abs() < 0.01);
        let (lo, hi) = estimate_bounds(&blocks, DEFAULT_INTERVAL, 1e-4);
        // A normal's 1e-4 two-sided is 3.9 sd; Chernoff is wider, more so above (the
        // count of samples is skewed).
        for (side, k) in [("low", (truth - lo) / sd), ("high", (hi - truth) / sd)] {
            assert!((3.9..5.5).contains(&k), "{side}: {k} sd");
        }
        assert!(hi - truth > truth - lo);
        // Blocks far larger than the mean are always sampled: an exact estimate.
        let (lo, hi) = estimate_bounds(&[(64 << 20, 4)], DEFAULT_INTERVAL, 1e-4);
        assert!(((lo - (256 << 20) as f64) / (256 << 20) as f64).abs() < 1e-4);
        assert!(((hi - (256 << 20) as f64) / (256 << 20) as f64).abs() < 1e-4);
    }
}
