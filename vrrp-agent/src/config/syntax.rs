//! Groups tokens into keepalived statements: `keyword args... [{ statements... }]`.
//!
//! keepalived is line oriented: a statement's arguments run to the end of its line, or to a
//! `{` or `}` on that line, so `track_script { chk_nginx }` is a block holding one statement.
//! A block's `{` may also start the next line.

use super::lexer::{Token, TokenKind};
use super::model::Location;
use super::report::Diagnostics;

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
    let mut parser = Parser { tokens, next: 0 };
    parser.block(None, diag)
}

struct Parser<'a> {
    tokens: &'a [Token],
    next: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    /// Statements up to the `}` closing the block opened at `opened`, or to the end of the
    /// input at the top level (`opened` is None).
    fn block(&mut self, opened: Option<&Location>, diag: &mut Diagnostics) -> Vec<Statement> {
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
    fn stray_closing_brace_is_reported() {
        let (stmts, diag) = parse("priority 100\n}\nstate MASTER\n");
        assert_eq!(stmts.len(), 2);
        assert_eq!(diag.errors[0].location.line, 2);
    }
}
