//! `include PATTERN`: splices the tokens of other files into the token stream, so every
//! token keeps the file and line it really came from.
//!
//! As in keepalived, a relative pattern is taken from the directory of the file that holds
//! the `include`, and a pattern that matches nothing is reported but is not fatal (keepalived
//! logs it and goes on). Wildcards (`*`, `?`) are understood in the last path component;
//! matches are read in name order, like glob(3). An include cycle is an error.
//!
//! A file that includes itself is a cycle, but a file that includes two files that each
//! include two more is not, and twelve levels of that are 4096 reads; twenty thousand
//! levels of plain nesting would exhaust the stack. So includes nest at most
//! [`MAX_INCLUDE_DEPTH`] deep and read at most [`MAX_INCLUDED_FILES`] files in all, and going
//! past either is an error naming the `include` that did. Only regular files are read (see
//! [`read_regular_file`]).

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::lexer::{tokenize, Token, TokenKind};
use super::report::Diagnostics;

/// How deep includes may nest: the main file is level 0, a file it includes level 1.
/// Real configurations use one or two levels (`conf.d/*.conf`).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// How many files includes may read in all, counting a file each time it is included.
pub const MAX_INCLUDED_FILES: usize = 1000;

/// The largest configuration file read (each file, included or not).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a configuration file, refusing anything that is not a regular file: a FIFO or a
/// character device given as the configuration would block the reader forever or never
/// end. The open does not block (O_NONBLOCK), the type is checked on the opened file
/// (not on the name, which could change in between), and a file larger than
/// [`MAX_FILE_BYTES`] is refused. Symbolic links are followed, as keepalived does: the
/// configuration is often a link into a deployment directory.
pub fn read_regular_file(path: &Path) -> Result<String, String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let kind = file.metadata().map_err(|e| e.to_string())?.file_type();
    if !kind.is_file() {
        return Err(format!(
            "not a regular file (it is {}); only regular files are read",
            file_kind(&kind)
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {} MiB; not a configuration file",
            MAX_FILE_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

fn file_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

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
    let mut walk = Walk {
        stack: vec![identity(file)],
        files_read: 0,
    };
    walk.expand(text, file, diag)
}

/// Where the expansion is: the files being read, outermost first, and how many files have
/// been read so far.
struct Walk {
    stack: Vec<PathBuf>,
    files_read: usize,
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

impl Walk {
    fn expand(&mut self, text: &str, file: &Path, diag: &mut Diagnostics) -> Vec<Token> {
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
                if let Some(start) = self.stack.iter().position(|seen| *seen == id) {
                    let chain: Vec<String> = self.stack[start..]
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
                if self.stack.len() > MAX_INCLUDE_DEPTH {
                    diag.error(
                        &token.location,
                        format!(
                        "include {}: includes nest more than {MAX_INCLUDE_DEPTH} deep (from {}); \
                         {} is not read",
                        pattern.text,
                        self.stack[0].display(),
                        path.display()
                    ),
                    );
                    continue;
                }
                if self.files_read >= MAX_INCLUDED_FILES {
                    if self.files_read > MAX_INCLUDED_FILES {
                        // Said once already.
                        continue;
                    }
                    diag.error(
                        &token.location,
                        format!(
                            "include {}: more than {MAX_INCLUDED_FILES} files included in all \
                         (a file included twice counts twice); {} and the rest are not read",
                            pattern.text,
                            path.display()
                        ),
                    );
                    self.files_read += 1;
                    continue;
                }
                self.files_read += 1;
                match read_regular_file(&path) {
                    Ok(included) => {
                        self.stack.push(id);
                        out.extend(self.expand(&included, &path, diag));
                        self.stack.pop();
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
        // A name that exists but is not a regular file is returned, so that reading it
        // says what it is; a wildcard only ever matches regular files.
        return Ok(if pattern.symlink_metadata().is_ok() {
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

    /// A fresh directory for one test, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("vrrpx-include-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn expand_file(path: &Path) -> (Vec<Token>, Diagnostics) {
        let mut diag = Diagnostics::default();
        let text = read_regular_file(path).unwrap();
        (tokens_with_includes(&text, path, &mut diag), diag)
    }

    #[test]
    fn a_chain_of_includes_deeper_than_the_limit_is_an_error_at_the_include_too_deep() {
        let dir = Scratch::new("depth");
        // f0 includes f1 includes f2 ... each also holding one statement of its own.
        let files = MAX_INCLUDE_DEPTH + 5;
        for level in 0..files {
            dir.write(
                &format!("f{level}.conf"),
                &format!("level {level}\ninclude f{}.conf\n", level + 1),
            );
        }
        let (tokens, diag) = expand_file(&dir.0.join("f0.conf"));
        assert_eq!(diag.errors.len(), 1, "{:?}", diag.errors);
        let error = &diag.errors[0];
        assert!(
            error.message.contains("nest more than 16 deep"),
            "{}",
            error.message
        );
        // Reported in the deepest file read, at its include line.
        let deepest = dir.0.join(format!("f{MAX_INCLUDE_DEPTH}.conf"));
        assert_eq!(error.location.file, deepest);
        assert_eq!(error.location.line, 2);
        // Levels 0..=16 were read, no deeper.
        let levels = tokens.iter().filter(|t| t.text == "level").count();
        assert_eq!(levels, MAX_INCLUDE_DEPTH + 1);
    }

    #[test]
    fn fan_out_stops_at_the_file_limit_with_one_error() {
        let dir = Scratch::new("fanout");
        // Each level includes the next one 4 times: 4^12 files if nothing stopped it.
        for level in 0..12 {
            let next = format!("include l{}.conf\n", level + 1).repeat(4);
            dir.write(&format!("l{level}.conf"), &format!("x {level}\n{next}"));
        }
        dir.write("l12.conf", "leaf 1\n");
        let started = std::time::Instant::now();
        let (tokens, diag) = expand_file(&dir.0.join("l0.conf"));
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(diag.errors.len(), 1, "{:?}", diag.errors);
        assert!(
            diag.errors[0]
                .message
                .contains("more than 1000 files included"),
            "{}",
            diag.errors[0].message
        );
        // The main file plus at most the limit: two tokens per file read.
        assert!(
            tokens.len() <= 2 * (MAX_INCLUDED_FILES + 1),
            "{}",
            tokens.len()
        );
    }

    #[test]
    fn the_same_file_may_be_included_a_few_times() {
        let dir = Scratch::new("twice");
        dir.write("part.conf", "x 1\n");
        let main = dir.write("main.conf", "include part.conf\ninclude part.conf\n");
        let (tokens, diag) = expand_file(&main);
        assert!(diag.errors.is_empty(), "{:?}", diag.errors);
        assert_eq!(tokens.len(), 4);
    }

    #[test]
    fn a_fifo_is_refused_as_a_configuration_file_without_blocking() {
        let dir = Scratch::new("fifo");
        let fifo = dir.0.join("keepalived.conf");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) reads a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let error = read_regular_file(&fifo).unwrap_err();
        assert!(
            error.contains("not a regular file (it is a FIFO)"),
            "{error}"
        );
        // An include naming it is refused the same way, at the include line.
        let main = dir.write("main.conf", "x 1\ninclude keepalived.conf\n");
        let (_, diag) = expand_file(&main);
        assert_eq!(diag.errors.len(), 1, "{:?}", diag.errors);
        assert!(diag.errors[0].message.contains("it is a FIFO"));
        assert_eq!(diag.errors[0].location.line, 2);
    }

    #[test]
    fn a_directory_is_refused_as_a_configuration_file() {
        let error = read_regular_file(Path::new("/")).unwrap_err();
        assert!(error.contains("it is a directory"), "{error}");
    }

    #[test]
    fn wildcards_in_directories_are_refused() {
        assert!(glob(Path::new("/etc/*/x.conf")).is_err());
    }
}
