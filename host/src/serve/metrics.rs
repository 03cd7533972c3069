//! Counters for `/metrics`, in the Prometheus text format.
//!
//! Sessions open (a gauge), sessions opened / closed (by reason) / refused at
//! capacity, resets and steps (counters), steps per second since the previous
//! scrape (a gauge, for people reading it by hand; Prometheus users take the
//! `rate()` of the counter), and errors by their [`ServeError::code`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::error::ServeError;
use super::session::CloseReason;

/// The server's counters.
pub struct Metrics {
    opened: AtomicU64,
    closed_client: AtomicU64,
    closed_idle: AtomicU64,
    resets: AtomicU64,
    steps: AtomicU64,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    last_scrape: Mutex<(Instant, u64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            opened: AtomicU64::new(0),
            closed_client: AtomicU64::new(0),
            closed_idle: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            steps: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            last_scrape: Mutex::new((Instant::now(), 0)),
        }
    }
}

impl Metrics {
    pub fn session_opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sessions_closed(&self, reason: CloseReason, count: usize) {
        let counter = match reason {
            CloseReason::Client => &self.closed_client,
            CloseReason::Idle => &self.closed_idle,
        };
        counter.fetch_add(count as u64, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    pub fn step(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, error: &ServeError) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        *errors.entry(error.code()).or_insert(0) += 1;
    }

    fn steps_per_second(&self, steps: u64) -> f64 {
        let mut last = self
            .last_scrape
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let seconds = last.0.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            steps.saturating_sub(last.1) as f64 / seconds
        } else {
            0.0
        };
        *last = (Instant::now(), steps);
        rate
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self, open: usize, max: usize) -> String {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let steps = load(&self.steps);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let one = |v: String| vec![(String::new(), v)];
        metric(
            "lamer_sessions_open",
            "gauge",
            "Sessions open now.",
            &one(open.to_string()),
        );
        metric(
            "lamer_sessions_max",
            "gauge",
            "The most sessions that may be open at once.",
            &one(max.to_string()),
        );
        metric(
            "lamer_sessions_opened_total",
            "counter",
            "Sessions opened.",
            &one(load(&self.opened).to_string()),
        );
        metric(
            "lamer_sessions_closed_total",
            "counter",
            "Sessions closed, by reason (client: the connection or /close; idle: the reaper).",
            &[
                (
                    "{reason=\"client\"}".into(),
                    load(&self.closed_client).to_string(),
                ),
                (
                    "{reason=\"idle\"}".into(),
                    load(&self.closed_idle).to_string(),
                ),
            ],
        );
        metric(
            "lamer_resets_total",
            "counter",
            "Resets and restarts served.",
            &one(load(&self.resets).to_string()),
        );
        metric(
            "lamer_steps_total",
            "counter",
            "Steps served.",
            &one(steps.to_string()),
        );
        let rate = self.steps_per_second(steps);
        metric(
            "lamer_steps_per_second",
            "gauge",
            "Steps per second since the previous scrape.",
            &one(format!("{rate:.1}")),
        );
        let errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        let samples: Vec<(String, String)> = errors
            .iter()
            .map(|(code, n)| (format!("{{code=\"{code}\"}}"), n.to_string()))
            .collect();
        metric(
            "lamer_errors_total",
            "counter",
            "Errors answered, by code.",
            &samples,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_by_code() {
        let metrics = Metrics::default();
        metrics.error(&ServeError::Capacity { active: 1, max: 1 });
        metrics.error(&ServeError::Capacity { active: 1, max: 1 });
        metrics.step();
        let text = metrics.render(1, 4);
        assert!(
            text.contains("lamer_errors_total{code=\"CAPACITY_REACHED\"} 2"),
            "{text}"
        );
        assert!(text.contains("lamer_steps_total 1"), "{text}");
        assert!(text.contains("lamer_sessions_open 1"), "{text}");
    }
}
