//! Progress within the epochs of a network search or training: batches done of the epoch, images
//! per second and the time left, on a terminal (never in pipes or logs).

use indicatif::{ProgressBar, ProgressStyle};
use modnas_torch::routine::estim::BatchProgress;
use std::io::IsTerminal;
use std::time::Instant;

/// A progress bar for the current epoch.
pub struct EpochBar {
    bar: Option<ProgressBar>,
    epoch: Option<(String, usize)>,
    started: Instant,
}

impl EpochBar {
    /// A bar when `show` and both stdout and stderr are terminals; otherwise silent.
    pub fn new(show: bool) -> Self {
        let on = show && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        EpochBar {
            bar: on.then(ProgressBar::hidden),
            epoch: None,
            started: Instant::now(),
        }
    }

    /// Moves the bar to `p` (a new bar when an epoch begins).
    pub fn tick(&mut self, p: &BatchProgress<'_>) {
        let Some(bar) = &mut self.bar else {
            return;
        };
        let key = (p.estim.to_string(), p.epoch);
        if self.epoch.as_ref() != Some(&key) {
            bar.finish_and_clear();
            let b = ProgressBar::new(p.batches as u64);
            if let Ok(s) = ProgressStyle::with_template(
                "{prefix} {bar:30.cyan/blue} {pos}/{len} batches · {msg} · {elapsed} elapsed, ETA {eta}",
            ) {
                b.set_style(s);
            }
            b.set_prefix(format!("[{}] epoch {}/{}", p.estim, p.epoch + 1, p.epochs));
            crate::logging::set_bar(Some(b.clone()));
            *bar = b;
            self.epoch = Some(key);
            self.started = Instant::now();
        }
        let rate = p.images as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{rate:.0} images/s"));
        bar.set_position(p.batch as u64);
    }

    /// Prints a line to stdout without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
            crate::logging::set_bar(None);
        }
    }
}
