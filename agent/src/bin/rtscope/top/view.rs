//! The screen: a title and status line, the header (heap with its sparkline, allocation
//! rate, tokio workers, the agent's own cost), the pane tabs and the chosen pane.

use super::state::{Pane, State};
use crate::shown;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, Wrap};
use std::time::Instant;

pub(crate) fn draw(frame: &mut Frame<'_>, state: &State, now: Instant) {
    let [title, status, header, spark, tabs, body] = Layout::vertical([
        Constraint::Length(1),
        // Room for the reason a service cannot be reached, and what to check.
        Constraint::Length(2),
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(frame.area());
    frame.render_widget(title_line(state), title);
    frame.render_widget(status_line(state, now), status);
    frame.render_widget(header_lines(state), header);
    draw_sparkline(frame, state, spark);
    frame.render_widget(tab_line(state), tabs);
    match state.pane {
        Pane::Memory => draw_classes(frame, state, body),
        Pane::Pools => draw_pools(frame, state, body),
        Pane::Latency => draw_latency(frame, state, body),
        Pane::Spikes => draw_spikes(frame, state, body, now),
    }
}

fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

fn title_line(state: &State) -> Paragraph<'static> {
    let mut spans = vec![Span::styled("rtscope top", bold())];
    if let Some(f) = state.now() {
        spans.push(Span::raw(format!(
            "  {} (pid {})",
            shown(&f.service),
            shown(&f.pid)
        )));
    }
    spans.push(Span::styled(format!("  {}", state.url), dim()));
    Paragraph::new(Line::from(spans))
}

fn status_line(state: &State, now: Instant) -> Paragraph<'static> {
    if let Some((why, since)) = &state.error {
        let failing = now.saturating_duration_since(*since).as_secs();
        let shown_figures = if state.now().is_some() {
            "the figures below are from before; "
        } else {
            ""
        };
        return Paragraph::new(Line::from(Span::styled(
            format!(
                "cannot reach {}: {} (for {failing} s); {shown_figures}retrying every second",
                state.url,
                shown(why)
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        )))
        .wrap(Wrap { trim: true });
    }
    let text = match state.scraped_at() {
        Some(at) => format!(
            "updated {:.1} s ago, every second",
            now.saturating_duration_since(at).as_secs_f64()
        ),
        None => "waiting for the first scrape".to_owned(),
    };
    Paragraph::new(Line::from(Span::styled(text, dim())))
}

fn header_lines(state: &State) -> Paragraph<'static> {
    let Some(f) = state.now() else {
        return Paragraph::new("");
    };
    let label = |s: &'static str| Span::styled(format!("{s:<7}"), bold());
    let mut heap = vec![
        label("heap"),
        Span::raw(format!(
            "live {}  peak {}  {} objects",
            bytes(f.live),
            bytes(f.peak),
            whole(f.objects)
        )),
    ];
    if let Some(rss) = f.resident {
        heap.push(Span::raw(format!("  resident {}", bytes(rss))));
    }
    let rate = |get: fn(&super::state::Figures) -> f64| state.rate(get);
    let alloc = vec![
        label("alloc"),
        Span::raw(format!(
            "{}/s  {} allocations/s  ({} in {} allocations so far)",
            rate(|f| f.allocated).map_or_else(|| "-".to_owned(), bytes),
            rate(|f| f.allocations).map_or_else(|| "-".to_owned(), compact),
            bytes(f.allocated),
            whole(f.allocations)
        )),
    ];
    let mut runtime = vec![label("tokio")];
    if f.workers.is_empty() {
        runtime.push(Span::styled("no tokio runtime registered", dim()));
    } else {
        let busy: Vec<String> = f
            .workers
            .iter()
            .map(|w| format!("{:.0}%", w.busy * 100.0))
            .collect();
        runtime.push(Span::raw(format!(
            "{} workers busy {}",
            f.workers.len(),
            busy.join(" ")
        )));
        if let Some(tasks) = f.alive_tasks {
            runtime.push(Span::raw(format!(", {} tasks", whole(tasks))));
        }
    }
    let cpu = rate(|f| f.agent_cpu);
    let process = rate(|f| f.process_cpu);
    runtime.push(Span::styled("   agent ", bold()));
    runtime.push(Span::raw(match (cpu, process) {
        (Some(a), Some(p)) if p > 0.0 => format!(
            "{:.1}% CPU ({:.0}% of the process's), {} live",
            a * 100.0,
            100.0 * a / p,
            bytes(f.agent_live)
        ),
        (Some(a), _) => format!("{:.1}% CPU, {} live", a * 100.0, bytes(f.agent_live)),
        _ => format!("{} live", bytes(f.agent_live)),
    }));
    Paragraph::new(vec![
        Line::from(heap),
        Line::from(alloc),
        Line::from(runtime),
    ])
}

fn draw_sparkline(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let width = area.width.saturating_sub(2) as usize;
    let data: Vec<u64> = state
        .heap
        .iter()
        .skip(state.heap.len().saturating_sub(width))
        .copied()
        .collect();
    let max = data.iter().copied().max().unwrap_or(0);
    let min = data.iter().copied().min().unwrap_or(0);
    // The line spans the range seen, so a small change in a large heap shows (a flat heap
    // is a full line).
    let floor = if max == min {
        0
    } else {
        min.saturating_sub((max - min) / 8)
    };
    let shifted: Vec<u64> = data.iter().map(|v| v - floor).collect();
    let title = format!(
        " live heap, last {} s: {} .. {} ",
        data.len(),
        bytes(min as f64),
        bytes(max as f64)
    );
    frame.render_widget(
        Sparkline::default()
            .block(Block::default().borders(Borders::ALL).title(title))
            .data(&shifted)
            .max((max - floor).max(1))
            .style(Style::default().fg(Color::Cyan)),
        area,
    );
}

fn tab_line(state: &State) -> Paragraph<'static> {
    let mut spans = Vec::new();
    for (i, pane) in Pane::ALL.iter().enumerate() {
        let text = format!(" {} {} ", i + 1, pane.title());
        spans.push(if *pane == state.pane {
            Span::styled(text, Style::default().add_modifier(Modifier::REVERSED))
        } else {
            Span::raw(text)
        });
    }
    spans.push(Span::styled(
        format!("   sort: {} (s)   tab: pane   q: quit", state.sort_name()),
        dim(),
    ));
    Paragraph::new(Line::from(spans))
}

fn table<'a>(
    header: &[&'static str],
    rows: Vec<Vec<String>>,
    widths: &[Constraint],
    title: String,
) -> Table<'a> {
    let header = Row::new(header.iter().map(|h| Cell::from(*h))).style(bold());
    let rows = rows
        .into_iter()
        .map(|r| Row::new(r.into_iter().map(Cell::from)));
    Table::new(rows, widths.to_vec())
        .header(header)
        .block(Block::default().borders(Borders::TOP).title(title))
}

fn empty(frame: &mut Frame<'_>, area: Rect, text: &str) {
    frame.render_widget(
        Paragraph::new(Span::styled(text.to_owned(), dim()))
            .block(Block::default().borders(Borders::TOP)),
        area,
    );
}

fn draw_classes(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let mut classes = state.classes();
    if classes.is_empty() {
        return empty(frame, area, "no allocation counted yet");
    }
    let all: f64 = classes.iter().map(|c| c.2).sum();
    match state.sort_name() {
        "allocations" => classes.sort_by(|a, b| b.2.total_cmp(&a.2)),
        "size" => classes.sort_by(|a, b| a.0.total_cmp(&b.0)),
        _ => classes.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.total_cmp(&a.2))),
    }
    let rows = classes
        .iter()
        .map(|(le, rate, total)| {
            vec![
                if le.is_finite() {
                    format!("<= {}", bytes(*le))
                } else {
                    "larger".to_owned()
                },
                format!("{rate:.1}"),
                whole(*total),
                format!("{:.1}%", 100.0 * total / all.max(1.0)),
            ]
        })
        .collect();
    frame.render_widget(
        table(
            &["size class", "allocations/s", "allocations", "share"],
            rows,
            &[
                Constraint::Length(14),
                Constraint::Length(15),
                Constraint::Length(14),
                Constraint::Length(8),
            ],
            format!(
                " allocations by size class ({} classes used) ",
                classes.len()
            ),
        ),
        area,
    );
}

fn draw_pools(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let mut pools = state.pools();
    if pools.is_empty() {
        return empty(
            frame,
            area,
            "no pool (rtscope::pool::Pool, PoolMeter) in this service",
        );
    }
    let ratio = |p: &super::state::PoolTotals| p.hits / (p.hits + p.misses).max(1.0);
    match state.sort_name() {
        "hit ratio" => pools.sort_by(|a, b| ratio(&a.1).total_cmp(&ratio(&b.1))),
        "gets" => pools.sort_by(|a, b| (b.1.hits + b.1.misses).total_cmp(&(a.1.hits + a.1.misses))),
        "name" => pools.sort_by(|a, b| a.0.cmp(&b.0)),
        _ => pools.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0))),
    }
    let rows = pools
        .iter()
        .map(|(name, p, misses, gets)| {
            vec![
                shown(name),
                if p.hits + p.misses > 0.0 {
                    format!("{:.1}%", 100.0 * ratio(p))
                } else {
                    "-".to_owned()
                },
                format!("{misses:.1}"),
                format!("{gets:.1}"),
                whole(p.hits),
                whole(p.misses),
                whole(p.discarded),
                whole(p.idle),
            ]
        })
        .collect();
    frame.render_widget(
        table(
            &[
                "pool",
                "hit ratio",
                "misses/s",
                "gets/s",
                "hits",
                "misses",
                "discarded",
                "idle",
            ],
            rows,
            &[
                Constraint::Length(22),
                Constraint::Length(10),
                Constraint::Length(9),
                Constraint::Length(9),
                Constraint::Length(10),
                Constraint::Length(9),
                Constraint::Length(10),
                Constraint::Length(6),
            ],
            " pools (hits and misses since start) ".to_owned(),
        ),
        area,
    );
}

fn draw_latency(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let Some(f) = state.now() else {
        return empty(frame, area, "waiting for the first scrape");
    };
    if f.durations.is_empty() {
        return empty(
            frame,
            area,
            "no timer, scheduler delay or latency measured yet",
        );
    }
    /// One measured series: its quantile bounds over the window and since start.
    struct Measured {
        label: String,
        p50: Option<f64>,
        p99: Option<f64>,
        p99_all: Option<f64>,
        n: f64,
        n_all: f64,
    }
    let mut rows: Vec<Measured> = f
        .durations
        .iter()
        .map(|(label, all)| {
            let (window, _) = state.window(label);
            Measured {
                label: label.clone(),
                p50: window.quantile_bound(0.5),
                p99: window.quantile_bound(0.99),
                p99_all: all.quantile_bound(0.99),
                n: window.count(),
                n_all: all.count(),
            }
        })
        .collect();
    let key = |v: Option<f64>| v.unwrap_or(-1.0);
    match state.sort_name() {
        "p50" => rows.sort_by(|a, b| {
            key(b.p50)
                .total_cmp(&key(a.p50))
                .then(a.label.cmp(&b.label))
        }),
        "name" => rows.sort_by(|a, b| a.label.cmp(&b.label)),
        _ => rows.sort_by(|a, b| {
            key(b.p99)
                .total_cmp(&key(a.p99))
                .then(key(b.p99_all).total_cmp(&key(a.p99_all)))
                .then(a.label.cmp(&b.label))
        }),
    }
    let q = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), bound);
    let rows = rows
        .into_iter()
        .map(|m| {
            vec![
                shown(&m.label),
                q(m.p50),
                q(m.p99),
                q(m.p99_all),
                whole(m.n),
                whole(m.n_all),
            ]
        })
        .collect();
    frame.render_widget(
        table(
            &[
                "measured",
                "p50 10s",
                "p99 10s",
                "p99 all",
                "count 10s",
                "count all",
            ],
            rows,
            &[
                Constraint::Length(30),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
            ],
            " durations (bucket upper bounds) ".to_owned(),
        ),
        area,
    );
}

fn draw_spikes(frame: &mut Frame<'_>, state: &State, area: Rect, now: Instant) {
    let title = match state.now() {
        Some(f) => format!(
            " recent spikes ({} emitted since start) ",
            whole(f.spikes_emitted)
        ),
        None => " recent spikes ".to_owned(),
    };
    let block = Block::default().borders(Borders::TOP).title(title);
    if state.spikes.is_empty() {
        let why = state
            .spikes_error
            .clone()
            .unwrap_or_else(|| "no spike event yet: no latency crossed its threshold".to_owned());
        frame.render_widget(Paragraph::new(Span::styled(why, dim())).block(block), area);
        return;
    }
    let _ = now;
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut lines = Vec::new();
    for s in state.spikes.iter().rev() {
        let ago = wall.saturating_sub(s.time_unix_nano) as f64 / 1e9;
        lines.push(Line::from(vec![
            Span::styled(format!("{ago:>6.0} s ago  "), dim()),
            Span::styled(format!("{} {}", shown(&s.kind), shown(&s.name)), bold()),
        ]));
        for (i, part) in s.sentence.lines().enumerate() {
            let style = if i == 0 { Style::default() } else { dim() };
            lines.push(Line::from(Span::styled(
                format!("    {}", crate::shown_at_most(part, 2000)),
                style,
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// `300 B`, `1.5 KiB`, `16.1 MiB`, as the agent's summary says it.
pub(crate) fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0.0);
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count as a whole number, exactly.
pub(crate) fn whole(n: f64) -> String {
    format!("{:.0}", n.max(0.0))
}

/// `812`, `35.2k`, `1.2M`: a rate.
fn compact(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// `<= 5ms`, `<= 500µs`, `> 10s`: a bucket bound in seconds.
pub(crate) fn bound(s: f64) -> String {
    if !s.is_finite() {
        return "larger".to_owned();
    }
    let d = std::time::Duration::from_nanos((s * 1e9).round() as u64);
    format!("<= {d:?}")
}

#[cfg(test)]
mod tests {
    use super::super::prom::Scrape;
    use super::super::state::Figures;
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(state: &State) -> String {
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal.draw(|f| draw(f, state, Instant::now())).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_screen_shows_the_figures_and_each_pane() {
        let scrape = Scrape::parse(
            "target_info{service_name=\"svc\",process_pid=\"42\"} 1\n\
             rust_memory_used_bytes 16911000\n\
             rust_memory_used_peak_bytes 17000000\n\
             rust_memory_objects 348\n\
             rust_memory_allocation_size_bytes_bucket{le=\"8\"} 5\n\
             rust_memory_allocation_size_bytes_bucket{le=\"16\"} 9\n\
             rust_memory_allocation_size_bytes_bucket{le=\"+Inf\"} 9\n\
             rust_pool_gets_total{rust_pool_name=\"buffers\",rust_pool_result=\"hit\"} 111\n\
             rust_pool_gets_total{rust_pool_name=\"buffers\",rust_pool_result=\"miss\"} 13\n\
             rust_timer_lateness_seconds_bucket{le=\"0.001\"} 10\n\
             rust_timer_lateness_seconds_bucket{le=\"0.005\"} 20\n\
             rust_timer_lateness_seconds_bucket{le=\"+Inf\"} 20\n\
             tokio_worker_busy_ratio{tokio_runtime_id=\"1\",tokio_worker_index=\"0\"} 0.25\n",
        );
        let mut state = State::new("http://127.0.0.1:9464/metrics".into());
        state.scraped(Instant::now(), Figures::of(&scrape));
        let memory = screen(&state);
        for want in [
            "rtscope top  svc (pid 42)",
            "live 16.1 MiB  peak 16.2 MiB  348 objects",
            "1 workers busy 25%",
            "<= 8 B",
            "55.6%",
        ] {
            assert!(memory.contains(want), "{want:?} not on\n{memory}");
        }
        assert!(!memory.contains('\u{1b}'));
        state.next_pane(1);
        let pools = screen(&state);
        assert!(pools.contains("buffers"), "{pools}");
        assert!(pools.contains("89.5%"), "{pools}");
        assert!(pools.contains("111"), "{pools}");
        state.next_pane(1);
        let latency = screen(&state);
        assert!(latency.contains("timer lateness"), "{latency}");
        assert!(latency.contains("<= 5ms"), "{latency}");
        state.next_pane(1);
        assert!(screen(&state).contains("no spike event yet"));
        state.failed(Instant::now(), "Connection refused (os error 111)".into());
        let down = screen(&state);
        assert!(
            down.contains("cannot reach http://127.0.0.1:9464/metrics: Connection refused"),
            "{down}"
        );
    }
}
