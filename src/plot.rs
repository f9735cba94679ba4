//! A scatter plot as SVG: labelled points, the Pareto front through them (fewest x for the
//! least y), and horizontal reference lines. Plain SVG 1.1 text, no dependencies; any browser
//! shows it.

use std::fmt::Write;

/// One point of a [`Scatter`].
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Text beside the point.
    pub label: String,
}

/// A scatter plot with its axes' titles.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis title.
    pub x_title: String,
    /// Vertical axis title.
    pub y_title: String,
    /// The points.
    pub points: Vec<Point>,
    /// Horizontal lines `(y, label)`, e.g. a target.
    pub lines: Vec<(f64, String)>,
    /// Vertical lines `(x, label)`, e.g. a part's capacity.
    pub x_lines: Vec<(f64, String)>,
    /// Whether a larger y is better (tokens per second) rather than a smaller one
    /// (perplexity): the Pareto front then keeps the fewest x for the most y.
    pub maximise_y: bool,
}

/// Indices of the points on the Pareto front of minimising both x and y: no other point is at
/// most as large in both and smaller in one. Sorted by x.
pub fn pareto_front(points: &[Point]) -> Vec<usize> {
    let mut front: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let p = &points[i];
            !points
                .iter()
                .any(|q| q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y))
        })
        .collect();
    front.sort_by(|&a, &b| points[a].x.total_cmp(&points[b].x));
    front
}

const W: f64 = 720.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `n` round tick values covering `lo..=hi`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

impl Scatter {
    /// The plot as an SVG document.
    pub fn svg(&self) -> String {
        let finite = |v: f64| v.is_finite();
        let xs = (self.points.iter().map(|p| p.x))
            .chain(self.x_lines.iter().map(|l| l.0))
            .filter(|&v| finite(v));
        let ys = self
            .points
            .iter()
            .map(|p| p.y)
            .chain(self.lines.iter().map(|l| l.0))
            .filter(|&v| finite(v));
        let range = |it: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = it.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            if !lo.is_finite() {
                (0.0, 1.0)
            } else if hi - lo < 1e-9 {
                (lo - 0.5, hi + 0.5)
            } else {
                let pad = (hi - lo) * 0.06;
                (lo - pad, hi + pad)
            }
        };
        let (x0, x1) = range(&mut xs.into_iter());
        let (y0, y1) = range(&mut ys.into_iter());
        let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
        let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        // Axes, ticks and grid.
        let (left, right, top, bottom) = (px(x0), px(x1), py(y1), py(y0));
        let _ = writeln!(
            s,
            r##"<path d="M{left:.1},{top:.1} V{bottom:.1} H{right:.1}" fill="none" stroke="#333"/>"##
        );
        for t in ticks(x0, x1, 8) {
            let x = px(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 16.0,
                t
            );
        }
        for t in ticks(y0, y1, 6) {
            let y = py(t);
            let _ = writeln!(
                s,
                r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left - 6.0,
                y + 4.0,
                t
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (left + right) / 2.0,
            H - 12.0,
            escape(&self.x_title)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (top + bottom) / 2.0,
            escape(&self.y_title)
        );
        for (y, label) in &self.lines {
            if finite(*y) {
                let yy = py(*y);
                let _ = writeln!(
                    s,
                    r##"<line x1="{left:.1}" y1="{yy:.1}" x2="{right:.1}" y2="{yy:.1}" stroke="#c33" stroke-dasharray="6,4"/><text x="{:.1}" y="{:.1}" fill="#c33">{}</text>"##,
                    right + 4.0,
                    yy + 4.0,
                    escape(label)
                );
            }
        }
        for (x, label) in &self.x_lines {
            if finite(*x) {
                let xx = px(*x);
                let _ = writeln!(
                    s,
                    r##"<line x1="{xx:.1}" y1="{top:.1}" x2="{xx:.1}" y2="{bottom:.1}" stroke="#c33" stroke-dasharray="6,4"/><text x="{:.1}" y="{:.1}" fill="#c33" text-anchor="end">{}</text>"##,
                    xx - 4.0,
                    top + 14.0,
                    escape(label)
                );
            }
        }
        let front = if self.maximise_y {
            let flipped: Vec<Point> = (self.points.iter())
                .map(|p| Point {
                    y: -p.y,
                    ..p.clone()
                })
                .collect();
            pareto_front(&flipped)
        } else {
            pareto_front(&self.points)
        };
        if front.len() > 1 {
            let d: Vec<String> = front
                .iter()
                .map(|&i| format!("{:.1},{:.1}", px(self.points[i].x), py(self.points[i].y)))
                .collect();
            let _ = writeln!(
                s,
                r##"<polyline points="{}" fill="none" stroke="#36c" stroke-width="1.5"/>"##,
                d.join(" ")
            );
        }
        for (i, p) in self.points.iter().enumerate() {
            if !(finite(p.x) && finite(p.y)) {
                continue;
            }
            let fill = if front.contains(&i) { "#36c" } else { "#999" };
            let (x, y) = (px(p.x), py(p.y).clamp(top, bottom));
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{fill}"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                x + 6.0,
                y - 6.0,
                escape(&p.label)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            label: format!("{x}/{y}"),
        }
    }

    #[test]
    fn pareto_front_keeps_the_undominated() {
        let pts = [
            pt(3.0, 40.0),
            pt(4.0, 20.0),
            pt(4.0, 25.0),
            pt(5.0, 19.0),
            pt(6.0, 19.0),
        ];
        assert_eq!(pareto_front(&pts), vec![0, 1, 3]);
    }

    #[test]
    fn a_front_for_the_most_y_keeps_the_fewest_x_for_it() {
        let plot = Scatter {
            title: "t".into(),
            x_title: "DSPs".into(),
            y_title: "tokens/s".into(),
            points: vec![pt(1.0, 10.0), pt(2.0, 20.0), pt(3.0, 15.0)],
            lines: Vec::new(),
            x_lines: Vec::new(),
            maximise_y: true,
        };
        // (3, 15) has more x and less y than (2, 20): off the front.
        assert_eq!(plot.svg().matches(r##"fill="#36c""##).count(), 2);
    }

    #[test]
    fn svg_draws_every_point_and_line() {
        let plot = Scatter {
            title: "a <title>".into(),
            x_title: "bits".into(),
            y_title: "perplexity".into(),
            points: vec![pt(3.0, 40.0), pt(4.0, 20.0), pt(8.0, f64::NAN)],
            lines: vec![(21.0, "+15%".into())],
            x_lines: vec![(7.0, "limit".into())],
            maximise_y: false,
        };
        let svg = plot.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("a &lt;title&gt;") && svg.contains("+15%") && svg.contains("limit"));
        assert!(svg.contains("<polyline"));
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }
}
