//! A hand-written SVG of the benchmark results (no plotting dependency): panels of lines
//! (CPU or jitter against the number of instances), dot distributions (outages per
//! trial) and paired bars (false transitions), vrrp-agent in blue, keepalived in orange.

use std::fmt::Write as _;

pub const OURS: &str = "#1f6fb4";
pub const THEIRS: &str = "#e8770e";

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

pub enum Plot {
    Lines {
        title: String,
        x_label: String,
        y_label: String,
        log_x: bool,
        series: Vec<Series>,
        /// Horizontal reference lines (a target, an RFC floor) and their labels.
        refs: Vec<(f64, String)>,
    },
    /// Per group: our samples and keepalived's, one dot each, with a median bar.
    Dots {
        title: String,
        y_label: String,
        groups: Vec<(String, Vec<f64>, Vec<f64>)>,
        refs: Vec<(f64, String)>,
    },
    /// Per group: our value and keepalived's.
    Bars {
        title: String,
        y_label: String,
        groups: Vec<(String, f64, f64)>,
    },
}

/// Every panel's size, px.
const PANEL_WIDTH: f64 = 600.0;
const PANEL_HEIGHT: f64 = 380.0;

/// Room around a panel's plotting area, px.
struct Margin {
    /// The y ticks and the y label.
    left: f64,
    right: f64,
    /// The title.
    top: f64,
    /// The x labels (slanted group names) and the legend.
    bottom: f64,
}

const MARGIN: Margin = Margin {
    left: 64.0,
    right: 16.0,
    top: 44.0,
    bottom: 110.0,
};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round upper bound for an axis and its tick step.
fn nice_max(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

struct Frame {
    x0: f64,
    y0: f64,
    ymax: f64,
}

impl Frame {
    fn w(&self) -> f64 {
        PANEL_WIDTH - MARGIN.left - MARGIN.right
    }
    fn h(&self) -> f64 {
        PANEL_HEIGHT - MARGIN.top - MARGIN.bottom
    }
    fn y(&self, v: f64) -> f64 {
        self.y0 + MARGIN.top + self.h() * (1.0 - (v / self.ymax).clamp(0.0, 1.0))
    }
    fn left(&self) -> f64 {
        self.x0 + MARGIN.left
    }
}

/// Panel chrome: title, y axis with grid and ticks, y label.
fn chrome(s: &mut String, x0: f64, y0: f64, title: &str, y_label: &str, data_max: f64) -> Frame {
    let (ymax, step) = nice_max(data_max * 1.05);
    let f = Frame { x0, y0, ymax };
    let _ = writeln!(
        s,
        r##"<g><rect x="{x0}" y="{y0}" width="{PANEL_WIDTH}" height="{PANEL_HEIGHT}" fill="#fff" stroke="#ccc"/>
<text x="{}" y="{}" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"##,
        x0 + PANEL_WIDTH / 2.0,
        y0 + 22.0,
        esc(title)
    );
    let mut v = 0.0;
    while v <= ymax + step / 2.0 {
        let y = f.y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#eee"/><text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>"##,
            f.left(),
            f.left() + f.w(),
            f.left() - 4.0,
            y + 3.0,
            fmt_tick(v)
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#333"/><line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/>
<text x="{}" y="{}" font-size="11" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>"##,
        x0 + 14.0,
        y0 + MARGIN.top + f.h() / 2.0,
        x0 + 14.0,
        y0 + MARGIN.top + f.h() / 2.0,
        esc(y_label),
        l = f.left(),
        t = y0 + MARGIN.top,
        b = y0 + MARGIN.top + f.h(),
        r = f.left() + f.w(),
    );
    f
}

fn legend(s: &mut String, f: &Frame, items: &[(&str, &str, bool)]) {
    let mut x = f.left() + 6.0;
    let y = f.y0 + PANEL_HEIGHT - 12.0;
    for (name, color, dashed) in items {
        let dash = if *dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="{color}" stroke-width="2.5"{dash}/><text x="{}" y="{y}" font-size="10">{}</text>"##,
            y - 4.0,
            x + 18.0,
            y - 4.0,
            x + 22.0,
            esc(name)
        );
        x += 30.0 + 5.6 * name.len() as f64;
    }
}

/// `(title, x label, y label)` of a panel.
type Labels<'a> = (&'a str, &'a str, &'a str);

/// Dashed grey horizontal lines at `refs`, labelled at the right end.
fn references(s: &mut String, f: &Frame, refs: &[(f64, String)]) {
    for (v, label) in refs {
        let y = f.y(*v);
        let _ = writeln!(
            s,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#888" stroke-dasharray="2,3"/><text x="{}" y="{:.1}" font-size="10" fill="#555" text-anchor="end">{}</text>"##,
            f.left(),
            f.left() + f.w(),
            f.left() + f.w() - 2.0,
            y - 3.0,
            esc(label)
        );
    }
}

fn lines(
    s: &mut String,
    x0: f64,
    y0: f64,
    labels: Labels,
    (log_x, series, refs): (bool, &[Series], &[(f64, String)]),
) {
    let (title, x_label, y_label) = labels;
    let ymax = series
        .iter()
        .flat_map(|se| se.points.iter().map(|p| p.1))
        .chain(refs.iter().map(|r| r.0))
        .fold(0.0, f64::max);
    let f = chrome(s, x0, y0, title, y_label, ymax);
    references(s, &f, refs);
    let tx = |x: f64| if log_x { x.max(1.0).log10() } else { x };
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|se| se.points.iter().map(|p| p.0))
        .collect();
    let (lo, hi) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| {
        (a.min(tx(x)), b.max(tx(x)))
    });
    let (lo, hi) = if lo >= hi {
        (lo - 1.0, lo + 1.0)
    } else {
        (lo, hi)
    };
    let px = |x: f64| f.left() + 12.0 + (f.w() - 24.0) * (tx(x) - lo) / (hi - lo);
    let mut ticks: Vec<f64> = xs.clone();
    ticks.sort_by(|a, b| a.total_cmp(b));
    ticks.dedup();
    for t in &ticks {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
            px(*t),
            y0 + MARGIN.top + f.h() + 14.0,
            fmt_tick(*t)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>"##,
        f.left() + f.w() / 2.0,
        y0 + MARGIN.top + f.h() + 30.0,
        esc(x_label)
    );
    for se in series {
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), f.y(y)))
            .collect();
        let dash = if se.dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"##,
            pts.join(" "),
            se.color
        );
        for &(x, y) in &se.points {
            let _ = writeln!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"><title>{}: {} -> {:.3}</title></circle>"##,
                px(x),
                f.y(y),
                se.color,
                esc(&se.name),
                fmt_tick(x),
                y
            );
        }
    }
    let items: Vec<(&str, &str, bool)> = series
        .iter()
        .map(|se| (se.name.as_str(), se.color, se.dashed))
        .collect();
    legend(s, &f, &items);
}

fn categories(
    s: &mut String,
    f: &Frame,
    labels: &[&str],
    mut draw: impl FnMut(&mut String, f64, f64),
) {
    let n = labels.len().max(1) as f64;
    let slot = f.w() / n;
    // Labels wider than their slot (about 5.5 px a character) are slanted.
    let slant = labels.iter().any(|l| l.len() as f64 * 5.5 > slot - 4.0);
    for (i, l) in labels.iter().enumerate() {
        let cx = f.left() + slot * (i as f64 + 0.5);
        draw(s, cx, slot);
        let y = f.y0 + MARGIN.top + f.h() + 14.0;
        let _ = if slant {
            writeln!(
                s,
                r##"<text x="{cx:.1}" y="{y:.1}" font-size="10" text-anchor="end" transform="rotate(-30 {cx:.1} {y:.1})">{}</text>"##,
                esc(l)
            )
        } else {
            writeln!(
                s,
                r##"<text x="{cx:.1}" y="{y:.1}" font-size="10" text-anchor="middle">{}</text>"##,
                esc(l)
            )
        };
    }
}

/// Our samples and keepalived's per group, and reference lines.
type Groups<'a> = (&'a [(String, Vec<f64>, Vec<f64>)], &'a [(f64, String)]);

fn dots(s: &mut String, x0: f64, y0: f64, title: &str, y_label: &str, (g, refs): Groups) {
    let ymax = g
        .iter()
        .flat_map(|(_, a, b)| a.iter().chain(b))
        .chain(refs.iter().map(|r| &r.0))
        .fold(0.0f64, |m, &v| m.max(v));
    let f = chrome(s, x0, y0, title, y_label, ymax);
    references(s, &f, refs);
    let labels: Vec<&str> = g.iter().map(|x| x.0.as_str()).collect();
    let mut i = 0;
    categories(s, &f, &labels, |s, cx, slot| {
        let (_, ours, theirs) = &g[i];
        i += 1;
        for (vals, color, dx) in [(ours, OURS, -slot / 6.0), (theirs, THEIRS, slot / 6.0)] {
            for (j, &v) in vals.iter().enumerate() {
                let jitter = ((j % 5) as f64 - 2.0) * 3.0;
                let _ = writeln!(
                    s,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}" fill-opacity="0.7"><title>{v:.2}</title></circle>"##,
                    cx + dx + jitter,
                    f.y(v)
                );
            }
            if let Some((m, ..)) = super::common::stats(vals) {
                let _ = writeln!(
                    s,
                    r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"/>"##,
                    cx + dx - 12.0,
                    f.y(m),
                    cx + dx + 12.0,
                    f.y(m)
                );
            }
        }
    });
    legend(
        s,
        &f,
        &[
            ("vrrp-agent (bar: median)", OURS, false),
            ("keepalived", THEIRS, false),
        ],
    );
}

fn bars(s: &mut String, x0: f64, y0: f64, title: &str, y_label: &str, g: &[(String, f64, f64)]) {
    let ymax = g.iter().fold(0.0f64, |m, x| m.max(x.1).max(x.2)).max(1.0);
    let f = chrome(s, x0, y0, title, y_label, ymax);
    let labels: Vec<&str> = g.iter().map(|x| x.0.as_str()).collect();
    let mut i = 0;
    categories(s, &f, &labels, |s, cx, slot| {
        let (_, ours, theirs) = g[i];
        i += 1;
        let bw = (slot / 3.0).min(40.0);
        for (v, color, x) in [(ours, OURS, cx - bw), (theirs, THEIRS, cx)] {
            let top = f.y(v);
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{top:.1}" width="{bw:.1}" height="{:.1}" fill="{color}"><title>{v}</title></rect><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
                (f.y(0.0) - top).max(0.0),
                x + bw / 2.0,
                top - 3.0,
                fmt_tick(v)
            );
        }
    });
    legend(
        s,
        &f,
        &[("vrrp-agent", OURS, false), ("keepalived", THEIRS, false)],
    );
}

/// All panels, two per row.
pub fn render(plots: &[Plot]) -> String {
    let cols = 2usize;
    let rows = plots.len().div_ceil(cols).max(1);
    let (w, h) = (
        PANEL_WIDTH * cols as f64 + 10.0,
        PANEL_HEIGHT * rows as f64 + 10.0 * rows as f64,
    );
    let mut s = format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#f7f7f7"/>
"##
    );
    for (i, p) in plots.iter().enumerate() {
        let x0 = (i % cols) as f64 * (PANEL_WIDTH + 10.0);
        let y0 = (i / cols) as f64 * (PANEL_HEIGHT + 10.0);
        match p {
            Plot::Lines {
                title,
                x_label,
                y_label,
                log_x,
                series,
                refs,
            } => lines(
                &mut s,
                x0,
                y0,
                (title, x_label, y_label),
                (*log_x, series, refs),
            ),
            Plot::Dots {
                title,
                y_label,
                groups,
                refs,
            } => dots(&mut s, x0, y0, title, y_label, (groups, refs)),
            Plot::Bars {
                title,
                y_label,
                groups,
            } => bars(&mut s, x0, y0, title, y_label, groups),
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(4.3), (5.0, 1.0));
        assert_eq!(nice_max(87.0), (100.0, 20.0));
        assert_eq!(nice_max(0.0), (1.0, 0.25));
    }

    #[test]
    fn every_kind_of_panel_renders_and_escapes_text() {
        let svg = render(&[
            Plot::Lines {
                title: "CPU <a & b>".into(),
                x_label: "instances".into(),
                y_label: "% of a core".into(),
                log_x: true,
                series: vec![Series {
                    name: "ours".into(),
                    color: OURS,
                    dashed: false,
                    points: vec![(1.0, 0.5), (255.0, 3.0)],
                }],
                refs: vec![(10.0, "target".into())],
            },
            Plot::Dots {
                title: "outage".into(),
                y_label: "ms".into(),
                groups: vec![("max".into(), vec![300.0, 320.0], vec![310.0])],
                refs: vec![],
            },
            Plot::Bars {
                title: "false".into(),
                y_label: "n".into(),
                groups: vec![("stall".into(), 0.0, 4.0)],
            },
        ]);
        assert!(svg.contains("CPU &lt;a &amp; b&gt;"));
        assert_eq!(svg.matches("<g>").count(), 3);
        assert_eq!(svg.matches("</g>").count(), 3);
        assert!(svg.ends_with("</svg>\n"));
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn long_category_labels_are_slanted() {
        let groups: Vec<(String, f64, f64)> = [
            "flood mix @100k/s",
            "flood mix @max",
            "flood unknown-vrid @max",
            "flood bad-ttl @max",
            "flood bad-checksum @max",
            "flood lower-priority @max",
            "stall @10ms",
            "stall @100ms",
            "busy box",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| (l.to_string(), i as f64, 2.0 * i as f64))
        .collect();
        let svg = render(&[Plot::Bars {
            title: "t".into(),
            y_label: "n".into(),
            groups,
        }]);
        assert!(svg.contains("rotate(-30"));
    }
}
