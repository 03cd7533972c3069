//! # Training curves: `curves.svg` of a run directory
//!
//! One panel per question a researcher asks of a run: does it succeed more
//! (training success and validation pass@k), does it earn more (rewards and
//! returns), does it still act (valid-action ratio), and is the update sane
//! (policy loss, entropy, gradient norm, clip fraction, response length).
//! The caption says what the numbers are over — algorithm, environment,
//! splits, how many validation tasks, seed — so a plot read alone is not
//! misread.
//!
//! Axes are made for the small runs a CPU affords: steps are integers (no
//! `0.5` step ticks), a flat series gets a range around its value (not six
//! labels that all read `0.0`), rates keep the fixed range [0, 1], and every
//! point is marked, so a validation measured twice is visible.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::metrics::{MetricsError, StepMetrics};

/// A line of a panel: a metric as logged, or one minus it.
#[derive(Debug, Clone, Copy)]
enum Series {
    Key(&'static str),
    /// `1 − key`, labelled `label` (the validation logs the invalid ratio).
    Complement {
        key: &'static str,
        label: &'static str,
    },
}

impl Series {
    fn label(self) -> &'static str {
        match self {
            Series::Key(key) => key,
            Series::Complement { label, .. } => label,
        }
    }

    fn value(self, record: &StepMetrics) -> Option<f64> {
        match self {
            Series::Key(key) => record.get(key),
            Series::Complement { key, .. } => record.get(key).map(|v| 1.0 - v),
        }
    }
}

/// A panel: its title, whether it shows a rate in [0, 1], and its lines.
struct Panel {
    title: &'static str,
    rate: bool,
    series: &'static [Series],
}

const PANELS: &[Panel] = &[
    Panel {
        title: "success",
        rate: true,
        series: &[
            Series::Key("episode/success_rate"),
            Series::Key("val/pass@1"),
            Series::Key("val/pass@2"),
            Series::Key("val/pass@3"),
        ],
    },
    Panel {
        title: "reward and return",
        rate: false,
        series: &[
            Series::Key("episode/reward/mean"),
            Series::Key("val/mean_episode_return"),
            Series::Key("critic/returns/mean"),
        ],
    },
    Panel {
        title: "valid-action ratio",
        rate: true,
        series: &[
            Series::Key("episode/valid_ratio"),
            Series::Complement {
                key: "val/invalid_action_ratio",
                label: "val/valid_ratio",
            },
        ],
    },
    Panel {
        title: "policy-gradient loss",
        rate: false,
        series: &[Series::Key("actor/pg_loss")],
    },
    Panel {
        title: "entropy",
        rate: false,
        series: &[Series::Key("actor/entropy")],
    },
    Panel {
        title: "gradient norm (pre-clip)",
        rate: false,
        series: &[Series::Key("actor/grad_norm")],
    },
    Panel {
        title: "clip fraction",
        rate: false,
        series: &[Series::Key("actor/pg_clipfrac")],
    },
    Panel {
        title: "response length (tokens)",
        rate: false,
        series: &[Series::Key("response_length/mean")],
    },
];

const WIDTH: u32 = 1600;
const HEIGHT: u32 = 760;
const CAPTION_HEIGHT: u32 = 36;

/// The y range of a panel: [0, 1] (slightly padded) for rates; otherwise the
/// data's range padded by 5 %, or a range around the value when the series is
/// flat, so that its tick labels differ.
pub fn y_range(values: &[f64], rate: bool) -> (f64, f64) {
    if rate {
        return (-0.02, 1.02);
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= 1e-9 * lo.abs().max(1.0) {
        let half = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        return (lo - half, hi + half);
    }
    (lo - span * 0.05, hi + span * 0.05)
}

/// A y tick label with as many decimals as the range needs to tell ticks
/// a tenth of it apart (at most 6), e.g. `0.25` on [0, 1], `1250` on
/// [1000, 2000].
pub fn tick_label(value: f64, span: f64) -> String {
    let step = (span / 5.0).abs();
    let decimals = if step > 0.0 {
        ((-step.log10()).ceil() + 1.0).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    // `-0.00` reads as a different number from `0.00`.
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_string()
    } else {
        text
    }
}

/// Draws the curves of `records` to `path`, with `caption` above the panels.
pub fn plot_curves(
    records: &[StepMetrics],
    caption: &str,
    path: &Path,
) -> Result<(), MetricsError> {
    let plot_err = |e: &dyn std::fmt::Display| MetricsError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;
    let (top, body) = root.split_vertically(CAPTION_HEIGHT);
    top.titled(caption, ("sans-serif", 15))
        .map_err(|e| plot_err(&e))?;
    let first = records.iter().map(|r| r.step).min().unwrap_or(0) as i64;
    let last = records.iter().map(|r| r.step).max().unwrap_or(1) as i64;
    let steps = (first, last.max(first + 1));
    for (area, panel) in body.split_evenly((2, 4)).iter().zip(PANELS) {
        draw_panel(area, panel, records, steps).map_err(|e| plot_err(&e))?;
    }
    root.present().map_err(|e| plot_err(&e))?;
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel,
    records: &[StepMetrics],
    (first, last): (i64, i64),
) -> Result<(), String> {
    let lines: Vec<(Series, Vec<(i64, f64)>)> = panel
        .series
        .iter()
        .map(|&s| {
            let points = records
                .iter()
                .filter_map(|r| s.value(r).map(|v| (r.step as i64, v)))
                .collect();
            (s, points)
        })
        .collect();
    let values: Vec<f64> = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .collect();
    let (lo, hi) = y_range(&values, panel.rate);
    let span = hi - lo;
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(first..last, lo..hi)
        .map_err(|e| e.to_string())?;
    let x_labels = (last - first + 1).clamp(2, 8) as usize;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_labels(x_labels)
        .x_label_formatter(&|x| x.to_string())
        .y_labels(5)
        .y_label_formatter(&|y| tick_label(*y, span))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    let labelled = lines.len() > 1;
    for (i, (series, points)) in lines.into_iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(series.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 11))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize, success: f64) -> StepMetrics {
        let mut r = StepMetrics::new(step);
        r.set("episode/success_rate", success);
        r.set("actor/pg_loss", 0.0);
        r.set("actor/grad_norm", 0.5 + step as f64);
        r.set("val/invalid_action_ratio", 0.25);
        r
    }

    #[test]
    fn a_flat_series_gets_a_range_whose_ticks_differ() {
        for flat in [0.0, 3.0, -0.001, 1e6] {
            let (lo, hi) = y_range(&[flat, flat, flat], false);
            assert!(lo < flat && flat < hi, "{flat}: {lo}..{hi}");
            let ticks: Vec<String> = (0..5)
                .map(|i| tick_label(lo + (hi - lo) * i as f64 / 4.0, hi - lo))
                .collect();
            let distinct: std::collections::BTreeSet<_> = ticks.iter().collect();
            assert_eq!(distinct.len(), 5, "{flat}: {ticks:?}");
        }
    }

    #[test]
    fn tick_labels_carry_the_decimals_the_range_needs() {
        assert_eq!(tick_label(0.25, 1.0), "0.25");
        assert_eq!(tick_label(1250.0, 1000.0), "1250");
        assert_eq!(tick_label(0.001234, 0.001), "0.00123");
        assert_eq!(tick_label(-0.0000001, 1.0), "0.00");
        assert_eq!(tick_label(0.5, 1.0), "0.50");
        // Rates keep [0, 1] whatever the data.
        assert_eq!(y_range(&[0.0, 0.0], true), (-0.02, 1.02));
        assert_eq!(y_range(&[], false), (0.0, 1.0));
    }

    #[test]
    fn the_svg_has_the_caption_every_panel_and_integer_steps() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<_> = (0..=3).map(|s| record(s, s as f64 / 4.0)).collect();
        let path = dir.path().join("curves.svg");
        plot_curves(&records, "lamer on keydoor · seed 7 · val n = 32", &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..50]);
        assert!(svg.contains("lamer on keydoor · seed 7 · val n = 32"));
        for panel in PANELS {
            assert!(svg.contains(panel.title), "no panel {}", panel.title);
        }
        // The derived series: 1 − invalid ratio.
        assert!(svg.contains("val/valid_ratio"));
        // Four steps, four marked points on each drawn line.
        assert!(svg.matches("<circle").count() >= 4 * 4);
        // Step ticks are integers: no `0.5`-style step labels.
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1)?.split('<').next().map(str::trim))
            .collect();
        for step in ["0", "1", "2", "3"] {
            assert!(texts.contains(&step), "no step tick {step}: {texts:?}");
        }
        assert!(!texts.contains(&"0.5"), "{texts:?}");
        // An empty log still draws.
        plot_curves(&[], "empty", &dir.path().join("empty.svg")).unwrap();
    }
}
