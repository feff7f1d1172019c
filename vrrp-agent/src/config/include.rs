//! `include PATTERN`: splices the tokens of other files into the token stream, so every
//! token keeps the file and line it really came from.
//!
//! As in keepalived, a relative pattern is taken from the directory of the file that holds
//! the `include`, and a pattern that matches nothing is reported but is not fatal (keepalived
//! logs it and goes on). Wildcards (`*`, `?`) are understood in the last path component;
//! matches are read in name order, like glob(3). An include cycle is an error.

use std::fs;
use std::path::{Path, PathBuf};

use super::lexer::{tokenize, Token, TokenKind};
use super::report::Diagnostics;

/// keepalived's `include` and its variants, which only differ in how loudly a missing file
/// is reported.
fn is_include_keyword(word: &str) -> bool {
    matches!(
        word,
        "include" | "includer" | "includem" | "includew" | "includeb" | "includea"
    )
}

/// Tokens of `text` (the contents of `file`), with every `include` replaced by the tokens of
/// the files it names.
pub fn tokens_with_includes(text: &str, file: &Path, diag: &mut Diagnostics) -> Vec<Token> {
    let mut stack = vec![identity(file)];
    expand(text, file, &mut stack, diag)
}

/// A file's identity for cycle detection: its canonical path when it exists.
fn identity(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn starts_statement(tokens: &[Token], index: usize) -> bool {
    match index.checked_sub(1).map(|i| &tokens[i]) {
        None => true,
        Some(previous) => !previous.is_value() || !previous.same_line(&tokens[index]),
    }
}

fn expand(text: &str, file: &Path, stack: &mut Vec<PathBuf>, diag: &mut Diagnostics) -> Vec<Token> {
    let tokens = tokenize(text, file, diag);
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if !(token.kind == TokenKind::Word
            && is_include_keyword(&token.text)
            && starts_statement(&tokens, i))
        {
            out.push(token.clone());
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < tokens.len() && tokens[end].is_value() && tokens[end].same_line(token) {
            end += 1;
        }
        let args = &tokens[i + 1..end];
        i = end;
        let Some(pattern) = args.first() else {
            diag.error(
                &token.location,
                format!("`{}` needs a file name or pattern", token.text),
            );
            continue;
        };
        if args.len() > 1 {
            diag.warn(
                &token.location,
                format!(
                    "`{}` takes one file name or pattern; ignored the rest of the line",
                    token.text
                ),
            );
        }
        let base = file.parent().unwrap_or(Path::new(""));
        let matches = match glob(&base.join(&pattern.text)) {
            Ok(matches) => matches,
            Err(message) => {
                diag.error(
                    &token.location,
                    format!("include {}: {message}", pattern.text),
                );
                continue;
            }
        };
        if matches.is_empty() {
            diag.warn(
                &token.location,
                format!(
                    "include {}: no such file; nothing included (keepalived goes on too)",
                    pattern.text
                ),
            );
        }
        for path in matches {
            let id = identity(&path);
            if let Some(start) = stack.iter().position(|seen| *seen == id) {
                let chain: Vec<String> = stack[start..]
                    .iter()
                    .chain(std::iter::once(&id))
                    .map(|p| p.display().to_string())
                    .collect();
                diag.error(
                    &token.location,
                    format!("include cycle: {}", chain.join(" includes ")),
                );
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(included) => {
                    stack.push(id);
                    out.extend(expand(&included, &path, stack, diag));
                    stack.pop();
                }
                Err(e) => diag.error(
                    &token.location,
                    format!(
                        "include {}: cannot read {}: {e}",
                        pattern.text,
                        path.display()
                    ),
                ),
            }
        }
    }
    out
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The files `pattern` names, in name order. Wildcards are allowed in the file name only.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = pattern.parent().unwrap_or(Path::new(""));
    if has_wildcard(&dir.to_string_lossy()) {
        return Err("wildcards are supported in the file name only, not in directories".into());
    }
    if !has_wildcard(&name) {
        return Ok(if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let listing_dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let entries = match fs::read_dir(listing_dir) {
        Ok(entries) => entries,
        // A missing directory matches nothing, like glob(3).
        Err(_) => return Ok(Vec::new()),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            let candidate = entry.file_name().to_string_lossy().into_owned();
            // glob(3) leaves dot files out unless the pattern asks for them.
            (!candidate.starts_with('.') || name.starts_with('.'))
                && wildcard_match(&name, &candidate)
        })
        .map(|entry| dir.join(entry.file_name()))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    Ok(found)
}

/// `*` matches any run of characters, `?` exactly one.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is currently standing in for.
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark_match_like_a_shell() {
        assert!(wildcard_match("*.conf", "vrrp.conf"));
        assert!(wildcard_match("*.conf", ".conf"));
        assert!(!wildcard_match("*.conf", "vrrp.conf.bak"));
        assert!(wildcard_match("r?.conf", "r1.conf"));
        assert!(!wildcard_match("r?.conf", "r10.conf"));
        assert!(wildcard_match("a*b*c", "aXXbYYbc"));
        assert!(wildcard_match("*", "anything"));
        assert!(!wildcard_match("a*", "ba"));
    }

    #[test]
    fn include_is_recognised_only_where_a_statement_starts() {
        let mut diag = Diagnostics::default();
        let tokens = tokens_with_includes(
            "notify_master include\n",
            Path::new("/nonexistent/t.conf"),
            &mut diag,
        );
        assert_eq!(tokens.len(), 2);
        assert!(diag.warnings.is_empty() && diag.errors.is_empty());
    }

    #[test]
    fn wildcards_in_directories_are_refused() {
        assert!(glob(Path::new("/etc/*/x.conf")).is_err());
    }
}
