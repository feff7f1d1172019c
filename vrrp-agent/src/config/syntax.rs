//! Groups tokens into keepalived statements: `keyword args... [{ statements... }]`.
//!
//! keepalived is line oriented: a statement's arguments run to the end of its line, or to a
//! `{` or `}` on that line, so `track_script { chk_nginx }` is a block holding one statement.
//! A block's `{` may also start the next line.
//!
//! Blocks nest at most [`MAX_BLOCK_DEPTH`] deep: the reader recurses once per level, and a
//! crafted file of a hundred thousand `{` must be an error, not a stack overflow.

use super::lexer::{Token, TokenKind};
use super::model::Location;
use super::report::Diagnostics;

/// The deepest block nesting accepted. keepalived.conf needs four levels at most
/// (`vrrp_instance { virtual_ipaddress { ... } }` is two).
pub const MAX_BLOCK_DEPTH: usize = 32;

#[derive(Clone, Debug)]
pub struct Statement {
    pub keyword: Token,
    pub args: Vec<Token>,
    pub block: Option<Vec<Statement>>,
}

impl Statement {
    pub fn location(&self) -> &Location {
        &self.keyword.location
    }

    pub fn name(&self) -> &str {
        &self.keyword.text
    }
}

/// Builds the statement tree; brace mismatches are reported and recovered from.
pub fn statements(tokens: &[Token], diag: &mut Diagnostics) -> Vec<Statement> {
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    parser.block(None, diag)
}

struct Parser<'a> {
    tokens: &'a [Token],
    next: usize,
    /// Blocks open around the current position.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    /// Statements up to the `}` closing the block opened at `opened`, or to the end of the
    /// input at the top level (`opened` is None).
    fn block(&mut self, opened: Option<&Location>, diag: &mut Diagnostics) -> Vec<Statement> {
        if opened.is_some() && self.depth == MAX_BLOCK_DEPTH {
            if let Some(at) = opened {
                diag.error(
                    at,
                    format!(
                        "blocks nest more than {MAX_BLOCK_DEPTH} deep here; this block is \
                         skipped"
                    ),
                );
            }
            self.skip_block();
            return Vec::new();
        }
        self.depth += usize::from(opened.is_some());
        let out = self.statements(opened, diag);
        self.depth -= usize::from(opened.is_some());
        out
    }

    /// Moves past the `}` that closes a block whose `{` was just read, without recursing.
    fn skip_block(&mut self) {
        let mut open = 1usize;
        while let Some(kind) = self.peek().map(|t| t.kind) {
            self.next += 1;
            match kind {
                TokenKind::Open => open += 1,
                TokenKind::Close => {
                    open -= 1;
                    if open == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn statements(&mut self, opened: Option<&Location>, diag: &mut Diagnostics) -> Vec<Statement> {
        let mut out = Vec::new();
        loop {
            let Some(token) = self.peek().cloned() else {
                if let Some(at) = opened {
                    diag.error(at, "this `{` is never closed: a `}` is missing");
                }
                return out;
            };
            self.next += 1;
            match token.kind {
                TokenKind::Close => {
                    if opened.is_some() {
                        return out;
                    }
                    diag.error(&token.location, "`}` without a matching `{`");
                }
                TokenKind::Open => {
                    diag.error(
                        &token.location,
                        "`{` without a keyword before it; the block is skipped",
                    );
                    self.block(Some(&token.location), diag);
                }
                TokenKind::Word | TokenKind::Quoted => {
                    let mut args = Vec::new();
                    while let Some(arg) = self.peek() {
                        if !(arg.is_value() && arg.same_line(&token)) {
                            break;
                        }
                        args.push(arg.clone());
                        self.next += 1;
                    }
                    let block = match self.peek() {
                        Some(open) if open.kind == TokenKind::Open => {
                            let at = open.location.clone();
                            self.next += 1;
                            Some(self.block(Some(&at), diag))
                        }
                        _ => None,
                    };
                    out.push(Statement {
                        keyword: token,
                        args,
                        block,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::tokenize;
    use std::path::Path;

    fn parse(text: &str) -> (Vec<Statement>, Diagnostics) {
        let mut diag = Diagnostics::default();
        let tokens = tokenize(text, Path::new("t.conf"), &mut diag);
        (statements(&tokens, &mut diag), diag)
    }

    #[test]
    fn arguments_end_at_the_end_of_the_line() {
        let (stmts, _) = parse("priority 100\nstate MASTER\n");
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].args[0].text, "100");
        assert_eq!(stmts[1].location().line, 2);
    }

    #[test]
    fn one_line_block_holds_its_statement() {
        let (stmts, diag) = parse("track_script { chk_nginx weight 5 }\n");
        assert!(diag.errors.is_empty());
        let inner = stmts[0].block.as_ref().unwrap();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].name(), "chk_nginx");
        assert_eq!(inner[0].args.len(), 2);
    }

    #[test]
    fn opening_brace_may_start_the_next_line() {
        let (stmts, diag) = parse("vrrp_instance VI_1\n{\n  priority 100\n}\n");
        assert!(diag.errors.is_empty());
        assert_eq!(stmts.len(), 1);
        assert_eq!(stmts[0].block.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn unclosed_block_is_reported_where_it_opens() {
        let (_, diag) = parse("\nvrrp_instance VI_1 {\n priority 100\n");
        assert_eq!(diag.errors.len(), 1);
        assert_eq!(diag.errors[0].location.line, 2);
    }

    #[test]
    fn blocks_nested_too_deep_are_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        let text = format!("{}\n{}\nafter 1\n", "a {".repeat(depth), "}".repeat(depth));
        let (stmts, diag) = parse(&text);
        assert_eq!(diag.errors.len(), 1, "{:?}", diag.errors);
        assert!(diag.errors[0].message.contains("more than 32 deep"));
        // What follows the skipped block is read as usual.
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[1].name(), "after");
    }

    #[test]
    fn blocks_up_to_the_limit_are_read() {
        let text = format!(
            "{}\n{}\n",
            "a {".repeat(MAX_BLOCK_DEPTH),
            "}".repeat(MAX_BLOCK_DEPTH)
        );
        let (stmts, diag) = parse(&text);
        assert!(diag.errors.is_empty(), "{:?}", diag.errors);
        let mut level = &stmts;
        for _ in 1..MAX_BLOCK_DEPTH {
            level = level[0].block.as_ref().unwrap();
        }
        assert_eq!(level[0].block.as_ref().unwrap().len(), 0);
    }

    #[test]
    fn stray_closing_brace_is_reported() {
        let (stmts, diag) = parse("priority 100\n}\nstate MASTER\n");
        assert_eq!(stmts.len(), 2);
        assert_eq!(diag.errors[0].location.line, 2);
    }
}
