//! # What a run learned: validation before → after
//!
//! The end of a run answers one question before any curve is read: is the
//! trained model better on held-out tasks than what the run started from?
//! Its **stages** are validations of the same kind (split, tasks, attempts,
//! sampling): the untrained built-in model when the run warm-started it, the
//! start of RL, and the end. They are printed as a small table and drawn as
//! `learning.svg`: grouped bars of pass@1…pass@k and the valid-action ratio.
//!
//! The SVG is written by hand, as the pass@k plot is: a handful of bars with
//! labels needs no font backend, and the SVG viewer renders the text.

use std::fmt::Write;

use super::metrics::StepMetrics;
use crate::eval::plot::{escape, percent_grid, svg_open};

/// One validated stage of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub label: String,
    /// pass@1, pass@2, … as validated.
    pub pass_at_k: Vec<f64>,
    /// The share of turns with a valid action.
    pub valid_ratio: Option<f64>,
}

impl Stage {
    /// The stage that the validation recorded in `metrics` measured, if it
    /// holds one.
    pub fn from_metrics(label: impl Into<String>, metrics: &StepMetrics) -> Option<Stage> {
        let pass_at_k: Vec<f64> = (1..)
            .map_while(|k| metrics.get(&format!("val/pass@{k}")))
            .collect();
        if pass_at_k.is_empty() {
            return None;
        }
        Some(Stage {
            label: label.into(),
            pass_at_k,
            valid_ratio: metrics.get("val/invalid_action_ratio").map(|v| 1.0 - v),
        })
    }
}

/// The validations of a run's log: its first and its last (when they differ).
pub fn run_stages(records: &[StepMetrics], start_label: &str) -> Vec<Stage> {
    let validated: Vec<&StepMetrics> = records
        .iter()
        .filter(|r| r.get("val/pass@1").is_some())
        .collect();
    let mut stages = Vec::new();
    if let Some(first) = validated.first() {
        stages.extend(Stage::from_metrics(
            format!("{start_label} (step {})", first.step),
            first,
        ));
    }
    if let Some(last) = validated.last().filter(|_| validated.len() > 1) {
        stages.extend(Stage::from_metrics(
            format!("after step {}", last.step),
            last,
        ));
    }
    stages
}

/// The stages as aligned text lines: a header, then one line per stage.
pub fn table(stages: &[Stage]) -> Vec<String> {
    let k = stages.iter().map(|s| s.pass_at_k.len()).max().unwrap_or(0);
    let width = stages.iter().map(|s| s.label.len()).max().unwrap_or(0);
    let mut header = format!("  {:width$}", "");
    for i in 1..=k {
        let _ = write!(header, "  pass@{i}");
    }
    header.push_str("  valid");
    let mut lines = vec![header];
    for s in stages {
        let mut line = format!("  {:width$}", s.label);
        for i in 0..k {
            match s.pass_at_k.get(i) {
                Some(v) => {
                    let _ = write!(line, "  {v:>6.3}");
                }
                None => line.push_str("       -"),
            }
        }
        match s.valid_ratio {
            Some(v) => {
                let _ = write!(line, "  {v:>5.2}");
            }
            None => line.push_str("      -"),
        }
        lines.push(line);
    }
    lines
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 72.0;
const COLORS: [&str; 4] = ["#bbbbbb", "#6baed6", "#2171b5", "#08306b"];

/// Grouped bars: one group per measure (pass@1…pass@k, valid), one bar per
/// stage, each labelled with its value; a legend names the stages.
pub fn learning_svg(title: &str, stages: &[Stage]) -> String {
    let k = stages.iter().map(|s| s.pass_at_k.len()).max().unwrap_or(0);
    let mut measures: Vec<String> = (1..=k).map(|i| format!("pass@{i}")).collect();
    measures.push("valid actions".into());
    let value = |s: &Stage, m: usize| {
        if m < k {
            s.pass_at_k.get(m).copied()
        } else {
            s.valid_ratio
        }
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let group_w = plot_w / measures.len() as f64;
    let bar_w = group_w * 0.8 / stages.len().max(1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v.clamp(0.0, 1.0));
    let mut svg = svg_open(WIDTH, HEIGHT, 11, title);
    percent_grid(&mut svg, LEFT, WIDTH - RIGHT, y);
    for (m, name) in measures.iter().enumerate() {
        let x0 = LEFT + group_w * m as f64 + group_w * 0.1;
        for (i, stage) in stages.iter().enumerate() {
            let Some(v) = value(stage, m) else { continue };
            let x = x0 + bar_w * i as f64;
            let _ = writeln!(
                svg,
                r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{:.0}%</text>"#,
                y(v),
                bar_w * 0.92,
                (TOP + plot_h - y(v)).max(0.5),
                COLORS[i.min(COLORS.len() - 1)],
                x + bar_w * 0.46,
                y(v) - 3.0,
                v * 100.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + group_w * (m as f64 + 0.5),
            TOP + plot_h + 16.0,
            escape(name)
        );
    }
    for (i, stage) in stages.iter().enumerate() {
        let x = LEFT + (plot_w / stages.len().max(1) as f64) * i as f64;
        let ly = HEIGHT - 22.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{ly:.1}">{}</text>"#,
            ly - 9.0,
            COLORS[i.min(COLORS.len() - 1)],
            x + 14.0,
            escape(&stage.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(step: usize, pass: [f64; 3], invalid: f64) -> StepMetrics {
        let mut m = StepMetrics::new(step);
        for (k, p) in pass.iter().enumerate() {
            m.set(format!("val/pass@{}", k + 1), *p);
        }
        m.set("val/invalid_action_ratio", invalid);
        m
    }

    #[test]
    fn the_first_and_last_validations_are_the_run_stages() {
        let mut trained = StepMetrics::new(1);
        trained.set("episode/success_rate", 0.5);
        let records = vec![
            validated(0, [0.1, 0.2, 0.3], 0.5),
            trained,
            validated(2, [0.2, 0.3, 0.4], 0.25),
            validated(4, [0.4, 0.5, 0.6], 0.0),
        ];
        let stages = run_stages(&records, "start of RL");
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].label, "start of RL (step 0)");
        assert_eq!(stages[0].valid_ratio, Some(0.5));
        assert_eq!(stages[1].label, "after step 4");
        assert_eq!(stages[1].pass_at_k, vec![0.4, 0.5, 0.6]);
        // One validation is one stage; none is none.
        assert_eq!(run_stages(&records[..1], "start").len(), 1);
        assert!(run_stages(&records[1..2], "start").is_empty());
    }

    #[test]
    fn the_table_aligns_the_stages() {
        let stages = vec![
            Stage::from_metrics("untrained", &validated(0, [0.0, 0.0, 0.0], 1.0)).unwrap(),
            Stage::from_metrics("after step 8", &validated(8, [0.25, 0.5, 0.625], 0.0)).unwrap(),
        ];
        let lines = table(&stages);
        assert_eq!(lines[0], "                pass@1  pass@2  pass@3  valid");
        assert_eq!(lines[1], "  untrained      0.000   0.000   0.000   0.00");
        assert_eq!(lines[2], "  after step 8   0.250   0.500   0.625   1.00");
    }

    #[test]
    fn the_svg_draws_a_bar_per_stage_and_measure() {
        let stages = vec![
            Stage::from_metrics("untrained <tiny>", &validated(0, [0.0, 0.0, 0.0], 1.0)).unwrap(),
            Stage::from_metrics("after", &validated(8, [0.25, 0.5, 1.0], 0.0)).unwrap(),
        ];
        let svg = learning_svg("sokoban · n = 32", &stages);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // (3 pass@k + valid) × 2 stages.
        assert_eq!(svg.matches(r#"class="bar""#).count(), 8);
        assert!(svg.contains("untrained &lt;tiny&gt;"));
        assert!(svg.contains("pass@3") && svg.contains("valid actions"));
        // pass@3 = 1.0 reaches the top of the plot area.
        assert!(svg.contains(&format!(r#"y="{TOP:.1}""#)));
    }
}
