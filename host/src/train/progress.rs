//! # Progress of a training run, for a person watching it
//!
//! On a terminal, a bar that ticks steadily (it keeps moving through a long
//! rollout or validation) and names the phase. Without a terminal (a log file,
//! CI), one line per step on stderr with the figures that say whether the run
//! learns: success, validation pass@k, reward, valid-action ratio, time.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::metrics::StepMetrics;

/// How a run reports its progress.
pub struct StepProgress {
    bar: ProgressBar,
    /// Print one line per step (no terminal to draw a bar on).
    lines: bool,
    total: usize,
}

impl StepProgress {
    /// `enabled: false` reports nothing. `start` is the step a resumed run
    /// continues from.
    pub fn new(enabled: bool, total: usize, start: usize) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = if enabled && terminal {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} step {pos}/{len} [{elapsed_precise} < {eta_precise}] {wide_bar} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(start as u64);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        } else {
            ProgressBar::hidden()
        };
        StepProgress {
            bar,
            lines: enabled && !terminal,
            total,
        }
    }

    /// Names what the run is doing now (`rollout`, `update`, `validation`).
    pub fn phase(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    /// A step (or the initial validation, step 0) has ended with `m`.
    pub fn step_done(&self, m: &StepMetrics) {
        let summary = summary(m);
        if self.lines {
            eprintln!("step {}/{}  {summary}", m.step, self.total);
        } else if m.step > 0 {
            self.bar.set_message(summary);
            self.bar.inc(1);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The figures of a step that a person looks at, present ones only.
pub fn summary(m: &StepMetrics) -> String {
    let fields = [
        ("success", "episode/success_rate", 3),
        ("val pass@1", "val/pass@1", 3),
        ("pass@3", "val/pass@3", 3),
        ("reward", "episode/reward/mean", 2),
        ("valid", "episode/valid_ratio", 2),
        ("val valid", "val/invalid_action_ratio", 2),
    ];
    let mut parts: Vec<String> = Vec::new();
    for (label, key, digits) in fields {
        if let Some(v) = m.get(key) {
            // The validation reports the invalid ratio; show the valid one.
            let v = if key == "val/invalid_action_ratio" {
                1.0 - v
            } else {
                v
            };
            parts.push(format!("{label} {v:.digits$}"));
        }
    }
    if let Some(s) = m.get("timing_s/step").or(m.get("timing_s/validation")) {
        parts.push(format!("{s:.1} s"));
    }
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_shows_what_is_there() {
        let mut m = StepMetrics::new(3);
        m.set("episode/success_rate", 0.25);
        m.set("val/pass@1", 0.5);
        m.set("val/invalid_action_ratio", 0.125);
        m.set("timing_s/step", 12.34);
        assert_eq!(
            summary(&m),
            "success 0.250  val pass@1 0.500  val valid 0.88  12.3 s"
        );
        assert_eq!(summary(&StepMetrics::new(1)), "");
    }
}
