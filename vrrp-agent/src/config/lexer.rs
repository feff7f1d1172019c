//! Splits the text of one keepalived.conf file into tokens.
//!
//! The rules follow keepalived: words are separated by whitespace; `{` and `}` are tokens
//! of their own even when they touch a word; a double-quoted string is one token (quotes
//! removed, no escapes, never spanning lines); and `#` or `!` outside quotes starts a comment
//! that runs to the end of the line, even in the middle of a word. That last rule turns
//! `auth_pass s3cret!!` into `s3cret`, which is keepalived's behaviour and so ours, but it is
//! almost always a mistake, so it earns a warning. The warning quotes the word it cut,
//! except when that word is a password (the value of a [`is_secret_keyword`]): passwords
//! never appear in messages.

use std::path::Path;

use super::model::Location;
use super::report::Diagnostics;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word.
    Word,
    /// A double-quoted string, quotes removed.
    Quoted,
    /// `{`
    Open,
    /// `}`
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub text: String,
    pub location: Location,
}

impl Token {
    /// A word or a quoted string: something that can be a keyword or a value.
    pub fn is_value(&self) -> bool {
        matches!(self.kind, TokenKind::Word | TokenKind::Quoted)
    }

    /// True when both tokens sit on the same line of the same file: keepalived's statements
    /// end at the end of a line.
    pub fn same_line(&self, other: &Token) -> bool {
        self.location == other.location
    }
}

/// Keywords whose value is a secret, never to be quoted in a message.
pub fn is_secret_keyword(word: &str) -> bool {
    word == "auth_pass"
}

fn is_comment_start(c: char) -> bool {
    c == '#' || c == '!'
}

/// Tokenises `text`, read from `file`. Problems go to `diag`; lexing never stops early.
pub fn tokenize(text: &str, file: &Path, diag: &mut Diagnostics) -> Vec<Token> {
    let mut tokens = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let location = Location {
            file: file.to_path_buf(),
            line: index + 1,
        };
        tokenize_line(line, &location, &mut tokens, diag);
    }
    tokens
}

fn tokenize_line(line: &str, location: &Location, tokens: &mut Vec<Token>, diag: &mut Diagnostics) {
    let push = |tokens: &mut Vec<Token>, kind, text: String| {
        tokens.push(Token {
            kind,
            text,
            location: location.clone(),
        })
    };
    let mut word = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c.is_whitespace() || c == '{' || c == '}' || c == '"' || is_comment_start(c) {
            if is_comment_start(c) && !word.is_empty() {
                let secret = tokens
                    .last()
                    .is_some_and(|t: &Token| t.location == *location && is_secret_keyword(&t.text));
                let message = if secret {
                    format!(
                        "`{c}` directly after the value of `{}` starts a comment, so the \
                         password ends there and the rest of the line is dropped (keepalived \
                         reads it the same way); put the password in double quotes if `{c}` \
                         belongs to it",
                        tokens.last().map_or("", |t| t.text.as_str())
                    )
                } else {
                    let rest: String = chars.clone().collect();
                    format!(
                        "`{c}` directly after `{word}` starts a comment, so the value is \
                         `{word}` and `{c}{rest}` is dropped (keepalived reads it the same \
                         way); put the value in double quotes if `{c}` belongs to it, or a \
                         space before the comment"
                    )
                };
                diag.warn(location, message);
            }
            if !word.is_empty() {
                push(tokens, TokenKind::Word, std::mem::take(&mut word));
            }
            match c {
                '{' => push(tokens, TokenKind::Open, "{".into()),
                '}' => push(tokens, TokenKind::Close, "}".into()),
                '"' => {
                    let mut quoted = String::new();
                    let mut closed = false;
                    for q in chars.by_ref() {
                        if q == '"' {
                            closed = true;
                            break;
                        }
                        quoted.push(q);
                    }
                    if !closed {
                        diag.error(
                            location,
                            format!(
                                "string \"{quoted} is not closed: a double-quoted string \
                                 must end on the line it starts"
                            ),
                        );
                    }
                    push(tokens, TokenKind::Quoted, quoted);
                }
                _ if is_comment_start(c) => return,
                _ => {}
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        push(tokens, TokenKind::Word, word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> (Vec<(TokenKind, String, usize)>, Diagnostics) {
        let mut diag = Diagnostics::default();
        let tokens = tokenize(text, Path::new("t.conf"), &mut diag)
            .into_iter()
            .map(|t| (t.kind, t.text, t.location.line))
            .collect();
        (tokens, diag)
    }

    fn texts(text: &str) -> Vec<String> {
        lex(text).0.into_iter().map(|(_, t, _)| t).collect()
    }

    #[test]
    fn words_and_braces_become_tokens_with_their_line() {
        let (tokens, diag) = lex("vrrp_instance VI_1 {\n  priority 100\n}\n");
        assert_eq!(
            tokens,
            vec![
                (TokenKind::Word, "vrrp_instance".into(), 1),
                (TokenKind::Word, "VI_1".into(), 1),
                (TokenKind::Open, "{".into(), 1),
                (TokenKind::Word, "priority".into(), 2),
                (TokenKind::Word, "100".into(), 2),
                (TokenKind::Close, "}".into(), 3),
            ]
        );
        assert!(diag.errors.is_empty() && diag.warnings.is_empty());
    }

    #[test]
    fn braces_split_words_they_touch() {
        assert_eq!(
            texts("track_script {chk}"),
            ["track_script", "{", "chk", "}"]
        );
    }

    #[test]
    fn hash_and_bang_start_comments_anywhere_on_a_line() {
        assert_eq!(
            texts("# whole line\npriority 100 ! trailing\n! x\n"),
            ["priority", "100"]
        );
    }

    #[test]
    fn comment_character_glued_to_a_word_cuts_it_and_warns() {
        let (tokens, diag) = lex("notify_master s3cret!!\n");
        assert_eq!(tokens.last().unwrap().1, "s3cret");
        assert_eq!(diag.warnings.len(), 1);
        assert!(diag.warnings[0].message.contains("`s3cret`"));
        assert_eq!(diag.warnings[0].location.line, 1);
    }

    #[test]
    fn a_password_cut_by_a_comment_character_is_not_quoted_in_the_warning() {
        for text in [
            "auth_pass s3cret!!\n",
            "authentication { auth_pass s3cret#x }\n",
        ] {
            let (tokens, diag) = lex(text);
            assert!(tokens.iter().any(|t| t.1 == "s3cret"), "{text}");
            assert_eq!(diag.warnings.len(), 1, "{text}");
            let message = &diag.warnings[0].message;
            assert!(!message.contains("s3cret"), "{message}");
            assert!(message.contains("auth_pass"), "{message}");
        }
    }

    #[test]
    fn comment_after_whitespace_does_not_warn() {
        let (_, diag) = lex("priority 100 # the usual\n");
        assert!(diag.warnings.is_empty());
    }

    #[test]
    fn quotes_keep_spaces_and_comment_characters() {
        let (tokens, diag) = lex("notify_master \"/bin/notify.sh MASTER #1 !\"\n");
        assert_eq!(
            tokens[1],
            (TokenKind::Quoted, "/bin/notify.sh MASTER #1 !".into(), 1)
        );
        assert!(diag.warnings.is_empty());
    }

    #[test]
    fn quoted_empty_string_is_a_token() {
        assert_eq!(texts("x \"\""), ["x", ""]);
    }

    #[test]
    fn unterminated_quote_is_an_error_at_its_line() {
        let (tokens, diag) = lex("\nscript \"/bin/true\n");
        assert_eq!(tokens[1].1, "/bin/true");
        assert_eq!(diag.errors.len(), 1);
        assert_eq!(diag.errors[0].location.line, 2);
    }

    #[test]
    fn carriage_returns_are_whitespace() {
        assert_eq!(
            texts("priority 100\r\nstate MASTER\r\n"),
            ["priority", "100", "state", "MASTER"]
        );
    }
}
