//! # Training metrics: one JSON line per step, and a plot of the curves
//!
//! Each step appends one JSON object to `metrics.jsonl` in the run directory,
//! keyed by the metric names the paper's code logs (verl's), e.g.
//! `episode/success_rate`, `val/pass@1`, `actor/pg_loss`, `actor/entropy`,
//! `actor/grad_norm`, `actor/pg_clipfrac`, `response_length/mean`,
//! `timing_s/step`. After every step the curves are redrawn as `curves.svg`
//! ([`super::curves`]).
//!
//! On resume the log is cut back to the checkpoint's step, so a resumed run's
//! log equals an uninterrupted run's (except the timings).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the metrics could not be written.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metrics file {path}, line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
}

/// The metrics of one step: name → value (NaN-free; absent when unknown).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

impl StepMetrics {
    pub fn new(step: usize) -> Self {
        StepMetrics {
            step,
            values: BTreeMap::new(),
        }
    }

    /// Records a value; non-finite values are dropped (JSON has no NaN).
    pub fn set(&mut self, name: impl Into<String>, value: f64) {
        if value.is_finite() {
            self.values.insert(name.into(), value);
        }
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
}

/// The run's metrics log.
pub struct MetricsLog {
    path: PathBuf,
    records: Vec<StepMetrics>,
    /// Each record's line as the file holds it, so that cutting the log back
    /// on resume rewrites earlier steps byte for byte (a parse and
    /// re-serialisation can change a float's last digit).
    lines: Vec<String>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MetricsError + '_ {
    move |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl MetricsLog {
    /// Opens `path`, keeping the records of steps `<= keep_through` (all of
    /// them for `None`, none when the file does not exist) and rewriting the
    /// file to hold exactly those.
    pub fn open(path: &Path, keep_through: Option<usize>) -> Result<Self, MetricsError> {
        let mut records = Vec::new();
        let mut lines = Vec::new();
        if path.exists() {
            let file = std::fs::File::open(path).map_err(io_err(path))?;
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.map_err(io_err(path))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: StepMetrics =
                    serde_json::from_str(&line).map_err(|e| MetricsError::Parse {
                        path: path.to_path_buf(),
                        line: i + 1,
                        message: e.to_string(),
                    })?;
                if keep_through.is_none_or(|k| record.step <= k) {
                    records.push(record);
                    lines.push(line);
                }
            }
        }
        let log = MetricsLog {
            path: path.to_path_buf(),
            records,
            lines,
        };
        log.rewrite()?;
        Ok(log)
    }

    fn rewrite(&self) -> Result<(), MetricsError> {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&self.path, text).map_err(io_err(&self.path))
    }

    /// Appends one step's record.
    pub fn append(&mut self, record: StepMetrics) -> Result<(), MetricsError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io_err(&self.path))?;
        // StepMetrics holds only strings and finite numbers: always serialisable.
        let line = serde_json::to_string(&record).unwrap_or_default();
        writeln!(file, "{line}").map_err(io_err(&self.path))?;
        self.records.push(record);
        self.lines.push(line);
        Ok(())
    }

    pub fn records(&self) -> &[StepMetrics] {
        &self.records
    }

    /// Draws the training curves to an SVG file, `caption` above them.
    pub fn plot(&self, path: &Path, caption: &str) -> Result<(), MetricsError> {
        super::curves::plot_curves(&self.records, caption, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize, success: f64) -> StepMetrics {
        let mut r = StepMetrics::new(step);
        r.set("episode/success_rate", success);
        r.set("actor/pg_loss", -0.1 * step as f64);
        r.set("actor/entropy", f64::NAN);
        r
    }

    #[test]
    fn log_appends_and_cuts_back_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&path, None).unwrap();
        for s in 1..=4 {
            log.append(record(s, s as f64 / 4.0)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["step"], 1);
        assert_eq!(first["episode/success_rate"], 0.25);
        assert!(first.get("actor/entropy").is_none(), "NaN must be dropped");

        let log = MetricsLog::open(&path, Some(2)).unwrap();
        assert_eq!(log.records().len(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        assert_eq!(log.records()[1], record(2, 0.5));
    }

    #[test]
    fn cutting_back_keeps_earlier_lines_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        // Written by another serialiser (or by hand): digits serde_json would
        // print differently after a round trip, and key order.
        let lines = [
            r#"{"step":1,"val/pass@1":0.10000000000000001,"a":1e-7}"#,
            r#"{"step":2,"val/pass@1":0.30000000000000004}"#,
            r#"{"step":3,"val/pass@1":0.5}"#,
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let log = MetricsLog::open(&path, Some(2)).unwrap();
        assert_eq!(log.records().len(), 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n{}\n", lines[0], lines[1])
        );
    }
}
