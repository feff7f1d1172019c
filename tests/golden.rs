//! Golden replays: each scenario is a file of numbered inputs (`NAME.jsonl`) next to the
//! outputs a replay must give (`NAME.expected.jsonl`), compared line by line. With
//! `VRRPX_UPDATE_GOLDEN=1` set the replay rewrites the expected files instead.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The scenarios in `tests/FOLDER`, in name order.
fn scenarios(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "jsonl")
                && !p.to_string_lossy().ends_with(".expected.jsonl")
        })
        .collect();
    found.sort();
    found
}

/// Replay every scenario in `tests/FOLDER` (at least `min` of them) with `replay` and
/// compare its lines with the expected ones.
pub fn check_scenarios(folder: &str, min: usize, replay: impl Fn(&Path) -> Vec<Value>) {
    let update = std::env::var_os("VRRPX_UPDATE_GOLDEN").is_some();
    let all = scenarios(folder);
    assert!(all.len() >= min, "{folder}: scenarios present");
    for s in all {
        let rendered: String = replay(&s).iter().map(|v| format!("{v}\n")).collect();
        let expected_path = s.with_extension("expected.jsonl");
        if update {
            std::fs::write(&expected_path, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} missing: run with VRRPX_UPDATE_GOLDEN=1",
                expected_path.display()
            )
        });
        for (i, (g, e)) in rendered.lines().zip(expected.lines()).enumerate() {
            assert_eq!(g, e, "{} step {i} differs", s.display());
        }
        assert_eq!(
            rendered.lines().count(),
            expected.lines().count(),
            "{}: number of steps",
            s.display()
        );
    }
}

/// Read a scenario: the set-up under `key` on its first line, then every step (the whole
/// line, and its `input`), skipping blank lines and `//` comments.
pub fn read<S: DeserializeOwned, I: DeserializeOwned>(
    path: &Path,
    key: &str,
) -> (S, Vec<(Value, I)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("//"));
    let first: Value = serde_json::from_str(lines.next().expect("a set-up line")).unwrap();
    let setup = serde_json::from_value(first[key].clone())
        .unwrap_or_else(|e| panic!("{}: {key}: {e}", path.display()));
    let steps = lines
        .enumerate()
        .map(|(n, line)| {
            let step: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} step {n}: {e}", path.display()));
            let input = serde_json::from_value(step["input"].clone())
                .unwrap_or_else(|e| panic!("{} step {n}: input: {e}", path.display()));
            (step, input)
        })
        .collect();
    (setup, steps)
}
