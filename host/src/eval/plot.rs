//! The pass@k plot, as a small hand-written SVG.
//!
//! Written by hand rather than with `plotters`: plotters lays out axis labels
//! with a font backend (system fonts through fontconfig, or a bundled font),
//! and a chart of three points needs neither — an SVG viewer renders `<text>`
//! with its own fonts.

use std::fmt::Write;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 48.0;

/// `text` escaped for SVG text and attributes.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The start of a white SVG of `width` × `height` with `title` centred on
/// top; the caller appends the body and `</svg>`.
pub(crate) fn svg_open(width: f64, height: f64, font_size: u32, title: &str) -> String {
    let mut svg = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{font_size}">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="22" text-anchor="middle" font-size="{}">{}</text>"#,
        width / 2.0,
        font_size + 2,
        escape(title)
    );
    svg
}

/// Horizontal grid lines at 0, 25, 50, 75 and 100 % from `left` to
/// `right`, labelled on the left; `y` maps a share in [0, 1] to its height.
pub(crate) fn percent_grid(svg: &mut String, left: f64, right: f64, y: impl Fn(f64) -> f64) {
    for tick in 0..=4 {
        let v = tick as f64 / 4.0;
        let yv = y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{yv:.1}" x2="{right:.1}" y2="{yv:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.0}%</text>"##,
            left - 6.0,
            yv + 4.0,
            v * 100.0,
        );
    }
}

/// An SVG line chart of pass@k (in [0, 1]) against k = 1..=n, with a title.
pub fn pass_at_k_svg(title: &str, pass_at_k: &[f64]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let n = pass_at_k.len().max(1);
    let x = |k: usize| {
        if n == 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * k as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - v.clamp(0.0, 1.0));
    let mut svg = svg_open(WIDTH, HEIGHT, 12, title);
    percent_grid(&mut svg, LEFT, WIDTH - RIGHT, y);
    let _ = writeln!(
        svg,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="black"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        TOP + plot_h,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h
    );
    let points: Vec<String> = pass_at_k
        .iter()
        .enumerate()
        .map(|(k, &v)| format!("{:.1},{:.1}", x(k), y(v)))
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        points.join(" ")
    );
    for (k, &v) in pass_at_k.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1f77b4"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{:.1}%</text><text x="{:.1}" y="{:.1}" text-anchor="middle">pass@{}</text>"##,
            x(k),
            y(v),
            x(k),
            y(v) - 9.0,
            v * 100.0,
            x(k),
            TOP + plot_h + 18.0,
            k + 1
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">attempts k</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_attempt_and_escaped_title() {
        let svg = pass_at_k_svg("keydoor <random>", &[0.25, 0.5, 1.0]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("keydoor &lt;random&gt;"));
        assert!(svg.contains("pass@3") && svg.contains("100.0%"));
        // pass@3 = 1.0 sits on the top line of the plot area.
        assert!(svg.contains(&format!(r#"cy="{TOP:.1}""#)));
    }
}
