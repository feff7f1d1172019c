//! The benchmarks' common output: one row per (scenario, metric) with vrrp-agent's and
//! keepalived's samples side by side, printed as one table (median, min, max, the ratio,
//! whether our target is met), written as JSON under target/bench/, and drawn as an SVG.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::common::{git_state, keepalived_version, loadavg, machine_jiffies, stats};
use super::svg::{self, Plot};

/// What we promise for a metric (judged on vrrp-agent's samples).
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The median under this value.
    Below(f64),
    /// The median at most this value.
    AtMost(f64),
    /// The median at least this value.
    AtLeast(f64),
    /// Every sample under this value: a worst case that must hold in each trial.
    EveryBelow(f64),
    /// Every sample zero.
    Zero,
    /// The median no higher than keepalived's median.
    NoWorseThanKeepalived,
}

impl Target {
    fn describe(self) -> String {
        match self {
            Target::Below(x) => format!("< {x}"),
            Target::AtMost(x) => format!("<= {x}"),
            Target::AtLeast(x) => format!(">= {x}"),
            Target::EveryBelow(x) => format!("each < {x}"),
            Target::Zero => "0".into(),
            Target::NoWorseThanKeepalived => "<= keepalived".into(),
        }
    }

    fn met(self, ours: &[f64], theirs: &[f64]) -> Option<bool> {
        let (med, _, hi) = stats(ours)?;
        Some(match self {
            Target::Below(x) => med < x,
            Target::AtMost(x) => med <= x,
            Target::AtLeast(x) => med >= x,
            Target::EveryBelow(x) => hi < x,
            Target::Zero => hi == 0.0,
            Target::NoWorseThanKeepalived => med <= stats(theirs)?.0,
        })
    }
}

/// One row of the table; made with [`Metric::new`] and the builder methods.
pub struct Metric {
    scenario: String,
    metric: String,
    ours: Vec<f64>,
    keepalived: Vec<f64>,
    target: Option<Target>,
    higher_is_better: bool,
    /// Context only: no ratio.
    info: bool,
    note: Option<String>,
    /// The bench that made it (flood, stall, ...).
    bench: String,
}

impl Metric {
    pub fn new(scenario: &str, metric: &str) -> Metric {
        Metric {
            scenario: scenario.into(),
            metric: metric.into(),
            ours: Vec::new(),
            keepalived: Vec::new(),
            target: None,
            higher_is_better: false,
            info: false,
            note: None,
            bench: String::new(),
        }
    }
    pub fn ours(mut self, v: Vec<f64>) -> Metric {
        self.ours = v;
        self
    }
    pub fn keepalived(mut self, v: Vec<f64>) -> Metric {
        self.keepalived = v;
        self
    }
    pub fn target(mut self, t: Target) -> Metric {
        self.target = Some(t);
        self
    }
    /// The target where `applies` (e.g. only at the generator's maximum), none elsewhere.
    pub fn target_if(mut self, applies: bool, t: Target) -> Metric {
        if applies {
            self.target = Some(t);
        }
        self
    }
    pub fn higher_is_better(mut self) -> Metric {
        self.higher_is_better = true;
        self
    }
    pub fn info(mut self) -> Metric {
        self.info = true;
        self
    }
    pub fn note(mut self, n: &str) -> Metric {
        self.note = Some(n.into());
        self
    }

    /// How many times better vrrp-agent's median is than keepalived's (> 1: ours better).
    fn ratio(&self) -> String {
        if self.info {
            return String::new();
        }
        let (Some((o, ..)), Some((k, ..))) = (stats(&self.ours), stats(&self.keepalived)) else {
            return "-".into();
        };
        let (num, den) = if self.higher_is_better {
            (o, k)
        } else {
            (k, o)
        };
        if den.abs() < 1e-9 {
            return if num.abs() < 1e-9 {
                "=".into()
            } else if self.higher_is_better {
                "ka 0".into()
            } else {
                "ours 0".into()
            };
        }
        if num.abs() < 1e-9 && !self.higher_is_better {
            return "ka 0".into();
        }
        format!("{:.1}x", num / den)
    }

    fn met(&self) -> Option<bool> {
        self.target?.met(&self.ours, &self.keepalived)
    }

    /// The target beside the figure and whether vrrp-agent meets it.
    fn verdict(&self) -> String {
        let Some(t) = self.target else {
            return String::new();
        };
        let said = match self.met() {
            None => "no data",
            Some(true) => "met",
            Some(false) => "NOT met",
        };
        format!("{}: {said}", t.describe())
    }

    fn json(&self) -> Value {
        let s = |v: &[f64]| {
            stats(v).map(|(m, lo, hi)| json!({"median": m, "min": lo, "max": hi, "samples": v}))
        };
        json!({
            "bench": self.bench,
            "scenario": self.scenario,
            "metric": self.metric,
            "vrrp-agent": s(&self.ours),
            "keepalived": s(&self.keepalived),
            "ratio_ours_better_by": self.ratio(),
            "higher_is_better": self.higher_is_better,
            "target": self.target.map(|t| t.describe()),
            "target_met": self.met(),
            "note": self.note,
        })
    }
}

fn cell(v: &[f64]) -> String {
    let num = |x: f64| {
        if x == 0.0 {
            "0".to_string()
        } else if x.abs() >= 100.0 {
            format!("{x:.0}")
        } else if x.abs() >= 10.0 {
            format!("{x:.1}")
        } else {
            format!("{x:.2}")
        }
    };
    match stats(v) {
        None => "-".into(),
        Some((m, lo, hi)) if v.len() == 1 || lo == hi => num(m),
        Some((m, lo, hi)) => format!("{} [{}-{}]", num(m), num(lo), num(hi)),
    }
}

/// Results of one `cargo xtask bench ...` run.
pub struct Report {
    name: String,
    root: PathBuf,
    current: String,
    rows: Vec<Metric>,
    raw: Map<String, Value>,
    errors: Vec<Value>,
    plots: Vec<Plot>,
    /// False takeovers and transitions of the stall and busy benches, one panel.
    bars: Vec<(String, f64, f64)>,
    started: Instant,
    load_before: String,
    loads: Vec<Value>,
    notes: Vec<String>,
}

impl Report {
    pub fn new(name: &str) -> Report {
        let root = vrrpx_tests::workspace().join("target/bench");
        let _ = std::fs::create_dir_all(&root);
        Report {
            name: name.into(),
            root,
            current: name.into(),
            rows: Vec::new(),
            raw: Map::new(),
            errors: Vec::new(),
            plots: Vec::new(),
            bars: Vec::new(),
            started: Instant::now(),
            load_before: loadavg(),
            loads: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Rows and files from here on belong to bench `name`; its directory is emptied.
    pub fn dir(&mut self, name: &str) -> PathBuf {
        self.current = name.into();
        let d = self.root.join(name);
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        // How busy the machine is before we add anything: others' builds and tests share it.
        let (b0, t0) = machine_jiffies();
        std::thread::sleep(std::time::Duration::from_secs(1));
        let (b1, t1) = machine_jiffies();
        let busy = (b1 - b0) as f64 / (t1 - t0).max(1) as f64 * 100.0;
        self.loads.push(json!({
            "bench": name,
            "loadavg_at_start": loadavg(),
            "machine_busy_pct_before_start": busy,
        }));
        println!(
            "[{name}] load average {}; machine {busy:.0}% busy in the second before the start",
            loadavg()
        );
        d
    }

    pub fn add(&mut self, mut m: Metric) {
        m.bench = self.current.clone();
        self.rows.push(m);
    }

    pub fn plot(&mut self, p: Plot) {
        self.plots.push(p);
    }

    /// Paired bars (ours, keepalived) for the shared "things that should not happen" panel.
    pub fn add_bars(&mut self, groups: Vec<(String, f64, f64)>) {
        self.bars.extend(groups);
    }

    /// A line under the table (a legend, a floor); said once however many benches add it.
    pub fn note(&mut self, n: String) {
        if !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    pub fn error(&mut self, bench: &str, e: &str) {
        self.errors.push(json!({"bench": bench, "error": e}));
    }

    /// Print one trial's line (stderr, as the benches' progress), with its error if it had
    /// one; the error also goes to the results, under the current bench and `what`.
    pub fn trial_line(&mut self, line: &str, what: &str, error: Option<&str>) {
        match error {
            None => eprintln!("{line}"),
            Some(e) => {
                eprintln!("{line}  ERROR: {e}");
                let bench = self.current.clone();
                self.error(&bench, &format!("{what}: {e}"));
            }
        }
    }

    fn machine(&self) -> Value {
        json!({
            "keepalived": keepalived_version(),
            "workspace": git_state(),
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_before": self.load_before,
            "loadavg_now": loadavg(),
            "loadavg_per_bench": self.loads,
            "wall_seconds": self.started.elapsed().as_secs_f64(),
        })
    }

    /// The raw results of the current bench: kept for results.json and written now to
    /// target/bench/<bench>.json with its rows.
    pub fn scenario_json(&mut self, bench: &str, raw: Value) {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .filter(|r| r.bench == bench)
            .map(Metric::json)
            .collect();
        let doc = json!({
            "bench": bench,
            "machine": self.machine(),
            "rows": rows,
            "raw": raw,
        });
        let _ = std::fs::write(
            self.root.join(format!("{bench}.json")),
            serde_json::to_string_pretty(&doc).unwrap_or_default(),
        );
        self.raw.insert(bench.into(), raw);
    }

    pub fn print_table(&self) {
        let w = [34usize, 36, 24, 24, 8, 22];
        let line = |c: [&str; 6]| {
            println!(
                "{:<w0$} | {:<w1$} | {:>w2$} | {:>w3$} | {:>w4$} | {:<w5$}",
                c[0],
                c[1],
                c[2],
                c[3],
                c[4],
                c[5],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4],
                w5 = w[5]
            )
        };
        println!();
        println!("median [min-max] over trials (or per-second samples where so noted)");
        line([
            "scenario",
            "metric",
            "vrrp-agent",
            "keepalived",
            "ratio",
            "target (ours)",
        ]);
        println!("{}", "-".repeat(w.iter().sum::<usize>() + 3 * w.len()));
        let mut last = String::new();
        for r in &self.rows {
            let sc = if r.scenario == last {
                ""
            } else {
                r.scenario.as_str()
            };
            last = r.scenario.clone();
            line([
                sc,
                &r.metric,
                &cell(&r.ours),
                &cell(&r.keepalived),
                &r.ratio(),
                &r.verdict(),
            ]);
        }
        println!(
            "ratio: how many times better vrrp-agent's median is than keepalived's (lower is \
             better unless the metric says rejected/s); \"ours 0\": ours is zero, theirs is not; \"ka 0\": the reverse."
        );
        let mut notes: Vec<String> = self
            .rows
            .iter()
            .filter_map(|r| {
                r.note
                    .as_ref()
                    .map(|n| format!("{} / {}: {n}", r.scenario, r.metric))
            })
            .collect();
        notes.extend(self.notes.iter().cloned());
        for n in notes {
            println!("  - {n}");
        }
        for e in &self.errors {
            println!(
                "  ! {}: {}",
                e["bench"].as_str().unwrap_or(""),
                e["error"].as_str().unwrap_or("")
            );
        }
    }

    /// Print the table; write results.json (or <bench>.json for one bench) and the
    /// picture.
    pub fn finish(mut self) -> Result<()> {
        self.print_table();
        if !self.bars.is_empty() {
            self.plots.push(Plot::Bars {
                title: "Takeovers/transitions that should not happen (sum)".into(),
                y_label: "count".into(),
                groups: std::mem::take(&mut self.bars),
            });
        }
        let (json_name, svg_name) = if self.name == "all" {
            ("results.json".to_string(), "bench.svg".to_string())
        } else {
            (format!("{}.json", self.name), format!("{}.svg", self.name))
        };
        let json_path = self.root.join(&json_name);
        let doc = json!({
            "bench": self.name,
            "machine": self.machine(),
            "rows": self.rows.iter().map(Metric::json).collect::<Vec<_>>(),
            "errors": self.errors,
            "notes": self.notes,
            "raw": self.raw,
        });
        std::fs::write(&json_path, serde_json::to_string_pretty(&doc)?)?;
        let mut written = vec![json_path.display().to_string()];
        if !self.plots.is_empty() {
            let p = self.root.join(&svg_name);
            std::fs::write(&p, svg::render(&self.plots))?;
            written.push(p.display().to_string());
        }
        println!(
            "\nload average before {}, now {}; {:.0} s; written: {}",
            self.load_before,
            loadavg(),
            self.started.elapsed().as_secs_f64(),
            written.join(", ")
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_says_how_many_times_better_ours_is() {
        // (ours, keepalived's, higher is better, the ratio printed)
        let cases = [
            (1.0, 4.0, false, "4.0x"),
            (8.0, 2.0, true, "4.0x"),
            (0.0, 3.0, false, "ours 0"),
            (2.0, 0.0, false, "ka 0"),
        ];
        for (ours, theirs, higher, want) in cases {
            let mut m = Metric::new("s", "m")
                .ours(vec![ours])
                .keepalived(vec![theirs]);
            if higher {
                m = m.higher_is_better();
            }
            assert_eq!(m.ratio(), want, "ours {ours}, keepalived {theirs}");
        }
    }

    #[test]
    fn targets_judge_our_samples() {
        // (target, ours, keepalived's, met)
        let cases = [
            (Target::Zero, vec![0.0, 0.0], vec![], Some(true)),
            (Target::Zero, vec![0.0, 1.0], vec![], Some(false)),
            (Target::Below(5.0), vec![1.0, 2.0, 9.0], vec![], Some(true)),
            (Target::Below(5.0), vec![5.0], vec![], Some(false)),
            (Target::Below(5.0), vec![], vec![1.0], None),
            (Target::AtMost(20.0), vec![20.0], vec![], Some(true)),
            (Target::AtMost(20.0), vec![20.5], vec![], Some(false)),
            (
                Target::AtLeast(100.0),
                vec![100.0, 99.0, 100.0],
                vec![],
                Some(true),
            ),
            (Target::AtLeast(100.0), vec![99.9], vec![], Some(false)),
            (
                Target::EveryBelow(12.0),
                vec![10.1, 11.9],
                vec![],
                Some(true),
            ),
            (
                Target::EveryBelow(12.0),
                vec![10.1, 12.0],
                vec![],
                Some(false),
            ),
            (
                Target::NoWorseThanKeepalived,
                vec![0.2],
                vec![0.3],
                Some(true),
            ),
            (
                Target::NoWorseThanKeepalived,
                vec![0.3],
                vec![0.3],
                Some(true),
            ),
            (
                Target::NoWorseThanKeepalived,
                vec![0.4],
                vec![0.3],
                Some(false),
            ),
            (Target::NoWorseThanKeepalived, vec![0.4], vec![], None),
        ];
        for (t, ours, theirs, want) in cases {
            assert_eq!(
                t.met(&ours, &theirs),
                want,
                "{t:?} on {ours:?} vs {theirs:?}"
            );
        }
    }

    #[test]
    fn each_row_says_its_target_and_whether_it_is_met() {
        let row = |ours: f64| {
            Metric::new("s", "cpu")
                .ours(vec![ours])
                .keepalived(vec![9.0])
                .target(Target::Below(5.0))
                .verdict()
        };
        assert_eq!(row(1.0), "< 5: met");
        assert_eq!(row(7.0), "< 5: NOT met");
        assert_eq!(
            Metric::new("s", "cpu").target(Target::Zero).verdict(),
            "0: no data"
        );
        assert_eq!(Metric::new("s", "cpu").ours(vec![1.0]).verdict(), "");
        assert_eq!(
            Metric::new("s", "cpu")
                .target_if(false, Target::Zero)
                .verdict(),
            ""
        );
    }
}
