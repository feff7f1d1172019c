//! How the demos talk: a title with where their files go, then numbered steps in bold.

use std::path::PathBuf;

/// The demo's scratch directory `name`, announced under `title`.
pub fn begin(name: &str, title: &str) -> PathBuf {
    let dir = vrrpx_tests::scratch(name);
    println!("{title} — files under {}", dir.display());
    dir
}

/// Step `n` of the demo's five.
pub fn step(n: u32, text: &str) {
    println!("\n\x1b[1m[{n}/5] {text}\x1b[0m");
}
