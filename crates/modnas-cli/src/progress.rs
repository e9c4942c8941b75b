//! Progress display: a bar with ETA on a terminal, periodic log lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use modnas_core::callback::{Callback, Status};
use modnas_core::trial::{Trial, TrialState};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Shows progress of a search.
pub struct Progress {
    bar: Option<ProgressBar>,
    last_log: Instant,
    started: Instant,
    done_at_start: u64,
}

impl Progress {
    /// A progress display; a bar only when stderr is a terminal.
    pub fn new(show_bar: bool) -> Self {
        Progress {
            bar: None,
            last_log: Instant::now(),
            started: Instant::now(),
            done_at_start: 0,
        }
        .with_bar(show_bar && std::io::stderr().is_terminal())
    }

    fn with_bar(mut self, bar: bool) -> Self {
        if bar {
            self.bar = Some(ProgressBar::hidden());
        }
        self
    }

    fn best_text(status: &Status<'_>) -> String {
        let o = status.objectives.primary();
        match status
            .best
            .and_then(|t| t.metrics.get(&o.metric).map(|v| (t.number, *v)))
        {
            Some((n, v)) => format!("best {} {v:.4} (trial {n})", o.metric),
            None => "no result yet".into(),
        }
    }
}

impl Callback for Progress {
    fn on_start(&mut self, status: &Status<'_>) {
        self.started = Instant::now();
        self.last_log = Instant::now();
        self.done_at_start = status.finished;
        if self.bar.is_some() {
            let bar = match status.max_trials {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let style = match status.max_trials {
                Some(_) => ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} trials · {msg} · {elapsed} elapsed, ETA {eta}",
                ),
                None => ProgressStyle::with_template(
                    "{spinner} {pos} trials · {msg} · {elapsed} elapsed",
                ),
            };
            if let Ok(s) = style {
                bar.set_style(s);
            }
            bar.set_position(status.finished);
            bar.set_message(Self::best_text(status));
            bar.enable_steady_tick(Duration::from_millis(200));
            crate::logging::set_bar(Some(bar.clone()));
            self.bar = Some(bar);
        }
        if status.finished > 0 {
            tracing::info!(
                "resuming: {} trials already finished, {}",
                status.finished,
                Self::best_text(status)
            );
        }
    }

    fn on_trial_end(&mut self, trial: &Trial, status: &Status<'_>) {
        match trial.state {
            TrialState::Failed => {
                let reason = trial.error.as_deref().unwrap_or("");
                let first = reason.lines().next().unwrap_or("");
                tracing::warn!("trial {} failed: {first}", trial.number);
            }
            _ => tracing::debug!(
                "trial {}: {} ({:.3} s)",
                trial.number,
                trial
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.5}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                trial.duration().unwrap_or(0.0)
            ),
        }
        if let Some(bar) = &self.bar {
            bar.set_position(status.finished);
            bar.set_message(Self::best_text(status));
        } else if self.last_log.elapsed() >= Duration::from_secs(10) {
            self.last_log = Instant::now();
            let done = status.finished - self.done_at_start;
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            let of = status
                .max_trials
                .map(|m| format!("/{m}"))
                .unwrap_or_default();
            tracing::info!(
                "{}{of} trials · {} · {rate:.1} trials/s",
                status.finished,
                Self::best_text(status)
            );
        }
    }

    fn on_end(&mut self, _status: &Status<'_>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            crate::logging::set_bar(None);
        }
    }
}
