//! The Prometheus text exposition format 0.0.4: families (HELP, TYPE) and their samples.

use std::fmt::{self, Write as _};

/// A sample value in the exposition format: integers as is, floats with the format's
/// spelling of infinities.
pub(super) enum Num {
    Int(u64),
    Float(f64),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Num::Int(n) => write!(f, "{n}"),
            Num::Float(x) if x.is_nan() => f.write_str("NaN"),
            Num::Float(x) if x == f64::INFINITY => f.write_str("+Inf"),
            Num::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Inf"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A label value with `\`, `"` and newline escaped as the format requires.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Builds the exposition text: a family's HELP and TYPE, then its samples together.
pub(super) struct Exposition {
    text: String,
}

impl Exposition {
    pub(super) fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            text: String::with_capacity(bytes),
        }
    }

    pub(super) fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes only backslash and newline; ours has neither.
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Num) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label_value(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family of one sample.
    pub(super) fn single(
        &mut self,
        (name, kind, help): (&str, &str, &str),
        labels: &[(&str, &str)],
        value: Num,
    ) {
        self.family(name, kind, help);
        self.sample(name, labels, value);
    }

    pub(super) fn into_text(self) -> String {
        self.text
    }
}

/// The sample names a page holds (`name` up to its labels), in order, each once.
pub fn sample_names(page: &str) -> Vec<&str> {
    let mut seen = std::collections::BTreeSet::new();
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| seen.insert(*n))
        .collect()
}

/// A small reader of the text format for tests: every family declared once, its samples
/// right after its TYPE, names and label syntax valid, values parseable.
#[cfg(test)]
pub(super) fn check_exposition(text: &str) {
    let mut declared = std::collections::HashSet::new();
    let mut current: Option<(String, String)> = None;
    assert!(text.is_empty() || text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(declared.insert(name.to_string()), "{name} declared twice");
            current = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (family, kind) = current.as_ref().expect("sample before any TYPE");
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let ok = match kind.as_str() {
            "histogram" => [
                format!("{family}_bucket"),
                format!("{family}_sum"),
                format!("{family}_count"),
            ]
            .contains(&name.to_string()),
            _ => name == family,
        };
        assert!(ok, "{name} outside its family {family}: {line}");
        if kind == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
        let value = line.rsplit_once(' ').unwrap().1;
        assert!(
            matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok(),
            "{line}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_use_the_format_spelling() {
        assert_eq!(Num::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Num::Float(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(Num::Float(f64::NAN).to_string(), "NaN");
        assert_eq!(Num::Float(0.0025).to_string(), "0.0025");
        assert_eq!(Num::Float(2.0).to_string(), "2");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("line\nbreak"), r"line\nbreak");
        assert_eq!(escape_label_value("plain é"), "plain é");
    }

    #[test]
    fn sample_names_lists_each_name_once() {
        let page = "# TYPE a counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 2\nb 3\n";
        assert_eq!(sample_names(page), ["a_total", "b"]);
    }
}
