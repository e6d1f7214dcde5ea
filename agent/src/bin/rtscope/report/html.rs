//! The page: one self-contained HTML document, its charts inline SVG drawn here, no script
//! or style from anywhere else (its Content-Security-Policy forbids any network access).
//! Every text from the file is escaped.

use super::read::{Hist, Run};
use std::fmt::Write as _;

const W: f64 = 760.0;
const H: f64 = 240.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 58.0;
const COLORS: [&str; 6] = [
    "#1f6feb", "#d9480f", "#2f9e44", "#7048e8", "#c2255c", "#868e96",
];
/// Rows of a horizontal bar chart shown (pools, scopes); the rest are counted.
const MAX_ROWS: usize = 15;

/// The whole page for `run`, read from `sources` (file names, shown escaped).
pub(crate) fn page(run: &Run, sources: &[String]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = if run.service.is_empty() {
        "rtscope report".to_owned()
    } else {
        format!("rtscope report: {}", run.service)
    };
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<header><h1>{}</h1>",
        esc(&title),
        esc(&title)
    );
    let seconds = run.end_ns.saturating_sub(run.start_ns) as f64 / 1e9;
    let _ = write!(
        out,
        "<p class=\"meta\">process {} &middot; {:.1} s of data &middot; {} lines from {}{}{}</p>",
        esc(&run.pid),
        seconds,
        run.lines,
        esc(&sources.join(", ")),
        if run.skipped > 0 {
            format!(" ({} skipped)", run.skipped)
        } else {
            String::new()
        },
        if run.other_runs > 0 {
            format!(
                " &middot; {} earlier run(s) in the file not shown",
                run.other_runs
            )
        } else {
            String::new()
        }
    );
    let last = run.heap.last();
    let facts = [
        ("allocations", count(run.allocations as f64)),
        ("allocated", bytes(run.allocated_bytes as f64)),
        ("peak live heap", bytes(last.map_or(0.0, |p| p.peak))),
        ("live heap at the end", bytes(last.map_or(0.0, |p| p.live))),
        ("allocation samples", count(run.samples as f64)),
        (
            "spike events",
            count((run.spikes.len() + run.spikes_not_kept) as f64),
        ),
    ];
    out.push_str("<dl class=\"facts\">");
    for (k, v) in facts {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
    }
    out.push_str("</dl></header>\n");
    if run.heap.is_empty() {
        out.push_str(
            "<p class=\"empty\">No metrics in this file: is it an rtscope OTLP/JSON file \
             (RTSCOPE_FILE, default ./rtscope-otlp.jsonl)?</p>",
        );
    }

    section(&mut out, "heap", "Heap over time", |out| {
        if run.heap.len() < 2 {
            return empty(out, "fewer than two exports: nothing to draw over time");
        }
        let x = |p: &super::read::HeapPoint| p.t_ns as f64 / 1e9;
        let mut series = vec![
            (
                "live",
                run.heap.iter().map(|p| (x(p), p.live)).collect::<Vec<_>>(),
            ),
            ("peak", run.heap.iter().map(|p| (x(p), p.peak)).collect()),
        ];
        let resident: Vec<_> = run
            .heap
            .iter()
            .filter_map(|p| Some((x(p), p.resident?)))
            .collect();
        if !resident.is_empty() {
            series.push(("resident", resident));
        }
        line_chart(out, "chart-heap", &series, bytes);
        caption(
            out,
            "Live heap (allocated, not freed), its peak so far and the process's resident \
             memory, at each export; x: seconds since the process started.",
        );
    });

    section(&mut out, "classes", "Allocations by size class", |out| {
        let Some(h) = run.classes.as_ref().filter(|h| h.count() > 0) else {
            return empty(out, "no allocation counted");
        };
        // The classes with allocations only (there are up to a hundred).
        let bars: Vec<(String, f64)> = hist_bars(h, bytes)
            .into_iter()
            .filter(|(_, v)| *v > 0.0)
            .collect();
        bar_chart(out, "chart-classes", &bars, count);
        caption(
            out,
            &format!(
                "{} allocations by the size class their request fell in (upper bound of each \
                 class); only classes with allocations.",
                count(h.count() as f64)
            ),
        );
    });

    section(&mut out, "lateness", "Timer lateness", |out| {
        duration_hist(out, "chart-lateness", run.lateness.as_ref(), "timers fired");
    });
    section(&mut out, "schedule", "Scheduler delay", |out| {
        if run.schedule.values().all(|h| h.count() == 0) {
            return empty(out, "no scheduler delay measured");
        }
        for (kind, h) in run.schedule.iter().filter(|(_, h)| h.count() > 0) {
            let _ = write!(out, "<h3>{}</h3>", esc(kind));
            duration_hist(
                out,
                &format!("chart-schedule-{}", slug(kind)),
                Some(h),
                "waits",
            );
        }
    });
    if !run.latencies.is_empty() || run.polls.is_some() {
        section(&mut out, "latency", "Latencies and task polls", |out| {
            for (name, h) in &run.latencies {
                let _ = write!(out, "<h3>latency {}</h3>", esc(name));
                duration_hist(
                    out,
                    &format!("chart-latency-{}", slug(name)),
                    Some(h),
                    "observations",
                );
            }
            if let Some(h) = run.polls.as_ref().filter(|h| h.count() > 0) {
                out.push_str("<h3>task poll duration</h3>");
                duration_hist(out, "chart-polls", Some(h), "polls");
            }
        });
    }

    section(&mut out, "pools", "Pool hit ratio", |out| {
        let mut rows: Vec<(String, f64, String)> = run
            .pools
            .iter()
            .filter(|(_, p)| p.hits + p.misses > 0)
            .map(|(name, p)| {
                let gets = p.hits + p.misses;
                let ratio = p.hits as f64 / gets as f64;
                let text = format!(
                    "{:.1} % of {} gets; {} discarded",
                    ratio * 100.0,
                    count(gets as f64),
                    count(p.discarded as f64)
                );
                (name.clone(), ratio, text)
            })
            .collect();
        if rows.is_empty() {
            return empty(out, "no pool was used");
        }
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        hbar_chart(out, "chart-pools", &rows, 1.0);
        caption(out, "Share of gets served from each pool (lowest first).");
    });

    section(&mut out, "spikes", "Spike events", |out| {
        if run.spikes.is_empty() {
            return empty(out, "no rust.spike event: no latency crossed its threshold");
        }
        timeline(out, "chart-spikes", run);
        out.push_str("<ol class=\"spikes\">");
        for s in &run.spikes {
            let _ = write!(
                out,
                "<li><span class=\"t\">+{:.2} s</span> <span class=\"kind\">{}</span> {}</li>",
                s.t_ns as f64 / 1e9,
                esc(&s.kind),
                esc(&s.sentence)
            );
        }
        out.push_str("</ol>");
        if run.spikes_not_kept > 0 {
            let _ = write!(out, "<p>{} more not shown.</p>", run.spikes_not_kept);
        }
    });

    section(&mut out, "scopes", "Top scopes by sampled bytes", |out| {
        let mut rows: Vec<(String, f64, String)> = run
            .scopes
            .iter()
            .filter(|(_, b)| **b > 0)
            .map(|(s, b)| (s.clone(), *b as f64, bytes(*b as f64)))
            .collect();
        if rows.is_empty() {
            return empty(out, "no allocation sample");
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let max = rows[0].1;
        hbar_chart(out, "chart-scopes", &rows, max);
        caption(
            out,
            "Bytes allocated per scope or span, estimated from Poisson byte samples (unbiased).",
        );
    });

    section(&mut out, "stacks", "Top stacks (heap profile)", |out| {
        if run.stacks_allocated.is_empty() {
            return empty(out, no_profile_why(run));
        }
        for (id, title, stacks) in [
            ("chart-stacks-inuse", "In use now", &run.stacks_inuse),
            ("chart-stacks-allocated", "Allocated", &run.stacks_allocated),
        ] {
            let _ = write!(out, "<h3>{}</h3>", esc(title));
            let rows: Vec<(String, f64, String)> = stacks
                .iter()
                .map(|(f, b)| (f.clone(), *b as f64, bytes(*b as f64)))
                .collect();
            if rows.is_empty() {
                empty(out, "nothing held: every sampled block was freed");
                continue;
            }
            let max = rows[0].1;
            hbar_chart(out, id, &rows, max);
        }
        caption(
            out,
            "Estimated bytes by the innermost function outside the standard library of each \
             sampled allocation's stack, from the last heap profile (go tool pprof on \
             RTSCOPE_PPROF_DIR or /debug/pprof/heap shows the whole stacks).",
        );
    });

    out.push_str(
        "<footer>Made by rtscope's report from an OTLP/JSON file; nothing here is loaded from \
         the network.</footer>\n",
    );
    out.push_str(SCRIPT);
    out.push_str("</body></html>\n");
    out
}

/// Why a file has no heap profile, naming only what is missing: the profiles' own series
/// (`rtscope.profile.*`) are in the file when the feature was built and turned on.
fn no_profile_why(run: &Run) -> &'static str {
    if run.totals.contains_key("rtscope.profile.stacks") {
        "no heap profile in the file: heap profiles were on but not exported (set \
         OTEL_PROFILES_EXPORTER=otlp to write them into the file with the metrics)"
    } else {
        "no heap profile in the file (build with rtscope's profiles feature and set \
         OTEL_PROFILES_EXPORTER=otlp)"
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:820px;\
color:#212529;padding:0 12px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px;\
border-bottom:1px solid #dee2e6}h3{font-size:14px;margin:12px 0 2px}.meta{color:#6c757d;margin:0}\
.facts{display:flex;flex-wrap:wrap;gap:8px 24px;margin:12px 0}.facts dt{color:#6c757d;font-size:12px}\
.facts dd{margin:0;font-size:17px;font-weight:600}svg.chart{display:block;width:100%;height:auto;\
background:#fff}svg text{font:11px system-ui,sans-serif;fill:#495057}.axis{stroke:#adb5bd}\
.grid{stroke:#f1f3f5}figcaption,.empty{color:#6c757d;font-size:12px}.legend rect{rx:2}\
ol.spikes{padding-left:20px;font-size:13px}ol.spikes li{white-space:pre-line;margin-bottom:6px}ol.spikes .t{color:#6c757d;font-variant-numeric:tabular-nums}\
ol.spikes .kind{font-weight:600}footer{margin-top:32px;color:#adb5bd;font-size:12px}";

/// Marks each chart with the size it was drawn at (`data-drawn="760x240"`), and the page with
/// how many charts drew and any script error (what a test in a headless browser reads back).
const SCRIPT: &str = "<script>(function(){var errors=[];window.addEventListener('error',\
function(e){errors.push(String(e.message))});window.addEventListener('load',function(){\
var charts=document.querySelectorAll('svg.chart'),drawn=0;charts.forEach(function(s){\
var r=s.getBoundingClientRect();s.setAttribute('data-drawn',Math.round(r.width)+'x'+\
Math.round(r.height));if(r.width>0&&r.height>0)drawn++});var b=document.body;\
b.setAttribute('data-charts',String(charts.length));b.setAttribute('data-drawn',String(drawn));\
b.setAttribute('data-errors',errors.join(' | '))})})();</script>\n";

fn section(out: &mut String, id: &str, title: &str, body: impl FnOnce(&mut String)) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
    body(out);
    out.push_str("</section>\n");
}

fn empty(out: &mut String, why: &str) {
    let _ = write!(out, "<p class=\"empty\">{}</p>", esc(why));
}

fn caption(out: &mut String, text: &str) {
    let _ = write!(out, "<figcaption>{}</figcaption>", esc(text));
}

/// A duration histogram (bounds in seconds) as bars, with its p50 and p99 buckets; `what`
/// names its observations (`timers fired`).
fn duration_hist(out: &mut String, id: &str, h: Option<&Hist>, what: &str) {
    let Some(h) = h.filter(|h| h.count() > 0) else {
        return empty(out, &format!("nothing measured ({what}: 0)"));
    };
    let bars = hist_bars(h, duration);
    bar_chart(out, id, &bars, count);
    let q = |p: f64| quantile_bucket(h, p);
    caption(
        out,
        &format!(
            "{} {what}; p50 {}, p99 {}, mean {} (bars: count per bucket, by upper bound).",
            count(h.count() as f64),
            q(0.5),
            q(0.99),
            duration(h.sum / h.count() as f64)
        ),
    );
}

/// `≤ 500µs`: the upper bound of the bucket holding quantile `p`.
fn quantile_bucket(h: &Hist, p: f64) -> String {
    let rank = (p * h.count() as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, c) in h.counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return match h.bounds.get(i) {
                Some(b) => format!("≤ {}", duration(*b)),
                None => format!("> {}", duration(*h.bounds.last().unwrap_or(&0.0))),
            };
        }
    }
    "?".to_owned()
}

/// The bars of a histogram from its first to its last non-empty bucket.
fn hist_bars(h: &Hist, label: impl Fn(f64) -> String) -> Vec<(String, f64)> {
    let first = h.counts.iter().position(|&c| c > 0).unwrap_or(0);
    let last = h.counts.iter().rposition(|&c| c > 0).unwrap_or(0);
    (first..=last)
        .map(|i| {
            let name = match h.bounds.get(i) {
                Some(b) => format!("≤{}", label(*b)),
                None => format!(">{}", label(*h.bounds.last().unwrap_or(&0.0))),
            };
            (name, h.counts[i] as f64)
        })
        .collect()
}

/// A round step for about four grid lines up to `max`.
fn step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The frame: the y grid with labels up to `max`; the top of the scale. Byte scales step in
/// round numbers of their unit (KiB, MiB).
fn frame(out: &mut String, max: f64, fmt: &dyn Fn(f64) -> String) -> f64 {
    let s = if fmt(1024.0) == bytes(1024.0) {
        let mut unit = 1.0;
        while max / unit >= 1024.0 {
            unit *= 1024.0;
        }
        step(max / unit) * unit
    } else {
        step(max)
    };
    let top = (max / s).ceil().max(1.0) * s;
    let plot_h = H - TOP - BOTTOM;
    let mut v = 0.0;
    while v <= top + s / 2.0 {
        let y = TOP + plot_h * (1.0 - v / top);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&fmt(v))
        );
        v += s;
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>",
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM
    );
    top
}

fn svg_open(out: &mut String, id: &str, label: &str) {
    let _ = write!(
        out,
        "<figure><svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
}

fn svg_close(out: &mut String) {
    out.push_str("</svg></figure>");
}

/// Lines over a common x (seconds), each series in its colour, with a legend.
fn line_chart(
    out: &mut String,
    id: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    fmt: fn(f64) -> String,
) {
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(0.0_f64, f64::max);
    svg_open(out, id, "line chart");
    let top = frame(out, y_max, &fmt);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let sx = |x: f64| LEFT + plot_w * x / x_max;
    let sy = |y: f64| TOP + plot_h * (1.0 - y / top);
    // x labels: five evenly spaced.
    for i in 0..=4 {
        let x = x_max * i as f64 / 4.0;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{} s</text>",
            sx(x),
            H - BOTTOM + 16.0,
            seconds(x)
        );
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            pts.join(" "),
            esc(name)
        );
        let lx = LEFT + 10.0 + i as f64 * 110.0;
        let ly = H - 16.0;
        let _ = write!(
            out,
            "<g class=\"legend\"><rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"{ly}\">{}</text></g>",
            ly - 10.0,
            lx + 16.0,
            esc(name)
        );
    }
    svg_close(out);
}

/// Vertical bars with their labels under them (turned when many).
fn bar_chart(out: &mut String, id: &str, bars: &[(String, f64)], fmt: fn(f64) -> String) {
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    svg_open(out, id, "bar chart");
    let top = frame(out, max, &fmt);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / bars.len().max(1) as f64;
    let turned = bars.len() > 12;
    // Past 40 bars every other label, so they stay readable.
    let every = if bars.len() > 40 { 2 } else { 1 };
    for (i, (label, v)) in bars.iter().enumerate() {
        let h = plot_h * v / top;
        let x = LEFT + slot * i as f64 + slot * 0.1;
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
             <title>{}: {}</title></rect>",
            H - BOTTOM - h,
            slot * 0.8,
            COLORS[0],
            esc(label),
            esc(&fmt(*v))
        );
        let cx = LEFT + slot * (i as f64 + 0.5);
        let ly = H - BOTTOM + 12.0;
        if i % every != 0 {
            continue;
        }
        if turned {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{ly}\" text-anchor=\"end\" font-size=\"10\" \
                 transform=\"rotate(-60 {cx:.1} {ly})\">{}</text>",
                esc(label)
            );
        } else {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                ly + 4.0,
                esc(label)
            );
        }
    }
    svg_close(out);
}

/// Horizontal bars: a name, a bar scaled to `max`, and a text; at most [`MAX_ROWS`].
fn hbar_chart(out: &mut String, id: &str, rows: &[(String, f64, String)], max: f64) {
    let shown = &rows[..rows.len().min(MAX_ROWS)];
    let row_h = 22.0;
    let height = shown.len() as f64 * row_h + 8.0;
    let _ = write!(
        out,
        "<figure><svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {W} {height}\" width=\"{W}\" height=\"{height}\" role=\"img\" \
         aria-label=\"bar chart\">"
    );
    let name_w = 170.0;
    let bar_w = W - name_w - 230.0;
    for (i, (name, v, text)) in shown.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let w = if max > 0.0 { bar_w * v / max } else { 0.0 };
        let shown_name: String = name.chars().take(28).collect();
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{name_w}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"16\" fill=\"#f1f3f5\"/>\
             <rect x=\"{name_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"16\" fill=\"{}\">\
             <title>{}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            name_w - 8.0,
            y + 12.0,
            esc(&shown_name),
            COLORS[2],
            esc(name),
            name_w + bar_w + 8.0,
            y + 12.0,
            esc(text)
        );
    }
    svg_close(out);
    if rows.len() > shown.len() {
        let _ = write!(
            out,
            "<p class=\"empty\">{} more not shown.</p>",
            rows.len() - shown.len()
        );
    }
}

/// Spike events on the run's time axis, one row per kind.
fn timeline(out: &mut String, id: &str, run: &Run) {
    let mut kinds: Vec<&str> = run.spikes.iter().map(|s| s.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let row_h = 26.0;
    let height = TOP + kinds.len() as f64 * row_h + 30.0;
    let span = (run.end_ns.saturating_sub(run.start_ns) as f64 / 1e9)
        .max(
            run.spikes
                .iter()
                .map(|s| s.t_ns as f64 / 1e9)
                .fold(0.0, f64::max),
        )
        .max(1e-9);
    let _ = write!(
        out,
        "<figure><svg class=\"chart\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {W} {height}\" width=\"{W}\" height=\"{height}\" role=\"img\" \
         aria-label=\"timeline\">"
    );
    let plot_w = W - LEFT - RIGHT;
    let sx = |t: f64| LEFT + plot_w * t / span;
    for (k, kind) in kinds.iter().enumerate() {
        let y = TOP + k as f64 * row_h + row_h / 2.0;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
            LEFT - 6.0,
            y + 4.0,
            esc(kind),
            W - RIGHT
        );
        for s in run.spikes.iter().filter(|s| s.kind == *kind) {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{}\" fill-opacity=\"0.8\">\
                 <title>+{:.2} s: {}</title></circle>",
                sx(s.t_ns as f64 / 1e9),
                COLORS[(k + 1) % COLORS.len()],
                s.t_ns as f64 / 1e9,
                esc(&s.sentence)
            );
        }
    }
    let axis_y = height - 24.0;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{axis_y}\" y2=\"{axis_y}\"/>",
        W - RIGHT
    );
    for i in 0..=4 {
        let t = span * i as f64 / 4.0;
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{} s</text>",
            sx(t),
            axis_y + 16.0,
            seconds(t)
        );
    }
    svg_close(out);
}

/// Text from the file, safe inside HTML text and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// An id fragment: letters, digits and `-` only.
fn slug(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect()
}

/// `1.5 MiB`, `12 KiB`, `300 B`.
pub(crate) fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else if v < 10.0 && v.fract() != 0.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

/// `1.2 M`, `35 k`, `812`.
pub(crate) fn count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1} M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.0} k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// `500µs`, `2ms`, `1.5s` for seconds.
pub(crate) fn duration(s: f64) -> String {
    if s >= 1.0 {
        format!("{}s", trim(s))
    } else if s >= 1e-3 {
        format!("{}ms", trim(s * 1e3))
    } else if s >= 1e-6 {
        format!("{}µs", trim(s * 1e6))
    } else {
        format!("{}ns", trim(s * 1e9))
    }
}

/// `0.75`, `1.5`, `3`: seconds on an axis, at most two decimals.
fn seconds(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}
