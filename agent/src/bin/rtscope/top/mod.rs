//! `rtscope top URL`: a live terminal view of a running service, from its `/metrics` (the
//! `export-prometheus` listener) and the recent spike events the same listener serves at
//! `/debug/rtscope/spikes`, read every second on a thread of their own so that keys are
//! answered at once whatever the service does. Keys: `1`-`4` or Tab to switch panes, `s` to
//! change the sort, `q` to quit.

mod http;
mod prom;
mod state;
mod view;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use state::{Figures, SpikeEvent, State};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the agent's Prometheus exporter listens by default.
pub(crate) const DEFAULT_URL: &str = "http://localhost:9464/metrics";
/// How often the service is read.
const EVERY: Duration = Duration::from_secs(1);
/// How often the screen is drawn without news (the "updated .. ago" line).
const REDRAW: Duration = Duration::from_millis(250);

/// What one round of reading brought.
struct Update {
    at: Instant,
    metrics: Result<Figures, String>,
    spikes: Result<Vec<SpikeEvent>, String>,
}

pub(crate) fn run(url: &str) -> Result<(), String> {
    let target = http::Target::parse(url)?;
    if !std::io::stdout().is_terminal() {
        return Err(
            "rtscope top: stdout is not a terminal (it draws a live view; for figures \
                    in a file use curl on the URL, or rtscope summary on the agent's file)"
                .to_owned(),
        );
    }
    let (tx, rx) = mpsc::channel();
    let reader = target.clone();
    std::thread::Builder::new()
        .name("rtscope-top-read".into())
        .spawn(move || {
            loop {
                let started = Instant::now();
                if tx.send(read(&reader)).is_err() {
                    return;
                }
                std::thread::sleep(EVERY.saturating_sub(started.elapsed()));
            }
        })
        .map_err(|e| format!("rtscope top: cannot start its reading thread: {e}"))?;
    let mut terminal =
        ratatui::try_init().map_err(|e| format!("rtscope top: cannot use the terminal: {e}"))?;
    let result = show(&mut terminal, &rx, State::new(target.url()));
    ratatui::restore();
    result
}

/// Reads the service once: its `/metrics`, then its recent spike events.
fn read(target: &http::Target) -> Update {
    let metrics = http::get(
        &target.authority,
        &target.metrics_path,
        "text/plain;version=0.0.4",
    )
    .and_then(|a| match a.status {
        200 => Ok(a.body),
        404 => Err(
            "404: nothing served at this path (rtscope serves /metrics; is \
             OTEL_METRICS_EXPORTER=prometheus set?)"
                .to_owned(),
        ),
        s => Err(format!("HTTP status {s}")),
    })
    .and_then(|body| {
        let figures = Figures::of(&prom::Scrape::parse(&String::from_utf8_lossy(&body)));
        if figures.is_rtscope {
            Ok(figures)
        } else {
            Err("no rtscope series there (is it a service under rtscope?)".to_owned())
        }
    })
    .map_err(|why| {
        if why.contains("refused") {
            format!("{why}; is the service running, with OTEL_METRICS_EXPORTER=prometheus?")
        } else {
            why
        }
    });
    let spikes = if metrics.is_ok() {
        http::get(&target.authority, http::SPIKES_PATH, "application/json").and_then(|a| {
            match a.status {
                200 => state::parse_spikes(&a.body)
                    .ok_or_else(|| format!("{} is not rtscope's list", http::SPIKES_PATH)),
                404 => Err(format!(
                    "this service's rtscope serves no {} (an older version): only /metrics \
                     is shown",
                    http::SPIKES_PATH
                )),
                s => Err(format!("{}: HTTP status {s}", http::SPIKES_PATH)),
            }
        })
    } else {
        Ok(Vec::new())
    };
    Update {
        at: Instant::now(),
        metrics,
        spikes,
    }
}

fn show(
    terminal: &mut ratatui::DefaultTerminal,
    updates: &mpsc::Receiver<Update>,
    mut state: State,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("rtscope top: the terminal failed: {e}");
    loop {
        while let Ok(u) = updates.try_recv() {
            match u.metrics {
                Ok(figures) => {
                    state.scraped(u.at, figures);
                    match u.spikes {
                        Ok(spikes) => {
                            state.spikes = spikes;
                            state.spikes_error = None;
                        }
                        Err(why) => state.spikes_error = Some(why),
                    }
                }
                Err(why) => state.failed(u.at, why),
            }
        }
        terminal
            .draw(|frame| view::draw(frame, &state, Instant::now()))
            .map_err(io)?;
        if !event::poll(REDRAW).map_err(io)? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(io)? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
            KeyCode::Tab | KeyCode::Right => state.next_pane(1),
            KeyCode::BackTab | KeyCode::Left => state.next_pane(-1),
            KeyCode::Char(c @ '1'..='4') => {
                state.pane = state::Pane::ALL[(c as u8 - b'1') as usize];
            }
            KeyCode::Char('s') => state.next_sort(),
            _ => {}
        }
    }
}
