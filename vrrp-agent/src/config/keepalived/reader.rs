//! What every block of the keepalived reader shares: the keyword table type, the dispatch
//! that looks a statement up in it, and the readers of keepalived's value shapes (a word, a
//! number, `<TIMER>` seconds, `<BOOL>`, a flag, `USER [GROUP]`), each with keepalived's
//! quirks and their warnings.

use std::net::IpAddr;

use super::super::draft::{parse_decimal_seconds, Definition, Located, Micros};
use super::super::lexer::{is_secret_keyword, Token};
use super::super::model::UserSpec;
use super::super::report::Diagnostics;
use super::super::syntax::Statement;
use super::{hint, is_keyword};

/// One keyword of a block: the names it is written as and what reads it into `T`.
pub struct Keyword<T: 'static> {
    pub names: &'static [&'static str],
    pub read: Read<T>,
}

/// How a keyword's statement is read into `T`: by a function of its own, or as one value
/// of a common shape into the slot `field` picks (`expected` says what the value must
/// be, in the error when it is not).
pub enum Read<T: 'static> {
    /// A reader of its own: blocks, flags, lists, keepalived's quirks.
    With(fn(&mut Reader, &Statement, &mut T)),
    /// `KEYWORD WORD`.
    Word(fn(&mut T) -> &mut Option<Located<String>>, &'static str),
    /// `KEYWORD N`.
    Int(fn(&mut T) -> &mut Option<Located<i64>>, &'static str),
    /// `KEYWORD SECONDS`, fractions allowed.
    Seconds(fn(&mut T) -> &mut Option<Located<Micros>>, &'static str),
}

/// A table entry read by a function: `kw(&["state"], state)`.
pub const fn kw<T>(
    names: &'static [&'static str],
    read: fn(&mut Reader, &Statement, &mut T),
) -> Keyword<T> {
    Keyword {
        names,
        read: Read::With(read),
    }
}

/// Declares the constructor of the table entries that read one value of a common shape
/// into the slot `field` picks.
macro_rules! value_keyword {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $value:ty) => {
        $(#[$doc])*
        pub const fn $name<T>(
            names: &'static [&'static str],
            field: fn(&mut T) -> &mut Option<Located<$value>>,
            expected: &'static str,
        ) -> Keyword<T> {
            Keyword {
                names,
                read: Read::$variant(field, expected),
            }
        }
    };
}

value_keyword!(
    /// A word: `string(&["interface"], |d| &mut d.interface, "an interface name")`.
    string,
    Word,
    String
);
value_keyword!(
    /// A whole number: `int(&["priority"], |d| &mut d.priority, "1..255")`.
    int,
    Int,
    i64
);
value_keyword!(
    /// Seconds: `seconds(&["advert_int"], |d| &mut d.advert_int, "seconds")`.
    seconds,
    Seconds,
    Micros
);

/// Whether `table` has a keyword written `word`.
pub fn knows<T>(table: &[Keyword<T>], word: &str) -> bool {
    table.iter().any(|k| k.names.contains(&word))
}

pub struct Reader<'d> {
    pub diag: &'d mut Diagnostics,
    /// `smtp_alert_vrrp` was read: a later global `smtp_alert` does not change the default.
    pub smtp_alert_vrrp_set: bool,
}

impl Reader<'_> {
    /// Reads each statement of a block with `table`; what it does not list is reported.
    pub fn keywords<T>(&mut self, block: &[Statement], table: &[Keyword<T>], target: &mut T) {
        for s in block {
            match table.iter().find(|k| k.names.contains(&s.name())) {
                Some(keyword) => match keyword.read {
                    Read::With(read) => read(self, s, target),
                    Read::Word(field, expected) => self.set_string(s, field(target), expected),
                    Read::Int(field, expected) => self.set_int(s, field(target), expected),
                    Read::Seconds(field, expected) => self.set_seconds(s, field(target), expected),
                },
                None => self.unsupported(s),
            }
        }
    }

    /// A keyword or block vrrpx does not act on: one warning, naming it, and its block is
    /// skipped whole.
    pub fn unsupported(&mut self, stmt: &Statement) {
        let keyword = stmt.name();
        let message = if keyword.starts_with('@') {
            format!(
                "conditional configuration (`{keyword} ...`) is not supported; the line is \
                 ignored"
            )
        } else if keyword.starts_with('$') {
            format!("parameter definitions (`{keyword}`) are not supported; ignored")
        } else {
            let what = if stmt.block.is_some() {
                "block is not supported by vrrpx and is skipped"
            } else {
                "is not supported by vrrpx and is ignored"
            };
            let lower = keyword.to_ascii_lowercase();
            match hint(keyword) {
                Some(hint) => format!("`{keyword}` {what}: {hint}"),
                // keepalived's keywords are case-sensitive: `Priority` is unknown there too.
                None if lower != keyword && is_keyword(&lower) => format!(
                    "`{keyword}` {what}: keywords are lower case (keepalived does not know \
                     `{keyword}` either); write `{lower}`"
                ),
                None => format!("`{keyword}` {what}"),
            }
        };
        self.diag.warn(stmt.location(), message);
    }

    /// The statements of a block keyword; an error when the block is missing.
    pub fn block<'s>(&mut self, stmt: &'s Statement, expected: &str) -> &'s [Statement] {
        match &stmt.block {
            Some(block) => block,
            None => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}` needs a block: {expected}", stmt.name()),
                );
                &[]
            }
        }
    }

    /// A block keyword that also names what it defines: `vrrp_instance NAME { ... }`.
    pub fn named_block<'s>(&mut self, stmt: &'s Statement) -> Option<(String, &'s [Statement])> {
        let keyword = stmt.name();
        let Some(name) = stmt.args.first() else {
            self.diag.error(
                stmt.location(),
                format!("`{keyword}` needs a name: `{keyword} NAME {{ ... }}`"),
            );
            return None;
        };
        if stmt.args.len() > 1 {
            self.ignored_rest(stmt, 1);
        }
        let block = self.block(stmt, &format!("`{keyword} {} {{ ... }}`", name.text));
        Some((name.text.clone(), block))
    }

    /// `KEYWORD NAME { ... }`: a new `T` named NAME, its block read with `table`.
    pub fn definition<T: Definition>(
        &mut self,
        stmt: &Statement,
        table: &[Keyword<T>],
    ) -> Option<T> {
        let (name, block) = self.named_block(stmt)?;
        let mut d = T::named(name, stmt.location().clone());
        self.keywords(block, table, &mut d);
        Some(d)
    }

    /// The words of a block that lists names, several to a line if need be, as keepalived
    /// allows: `group { VI_1 VI_2 }`.
    pub fn words(&mut self, stmt: &Statement, expected: &str) -> Vec<Located<String>> {
        let mut words = Vec::new();
        for line in self.block(stmt, expected) {
            if !self.no_block(line) {
                continue;
            }
            for token in std::iter::once(&line.keyword).chain(&line.args) {
                words.push(Located::new(token.text.clone(), &token.location));
            }
        }
        words
    }

    pub fn ignored_rest(&mut self, stmt: &Statement, used: usize) {
        if is_secret_keyword(stmt.name()) {
            // What follows a password may be the rest of it: never quoted.
            self.diag.warn(
                stmt.location(),
                format!(
                    "`{}` takes its value up to the first blank; the rest of the line is \
                     ignored, as keepalived does (quote the password if it has blanks)",
                    stmt.name()
                ),
            );
            return;
        }
        let rest = &stmt.args[used..];
        let advice = if rest[0].text.starts_with("//") || rest[0].text.starts_with("/*") {
            "; keepalived.conf comments start with `#` or `!`, not `//`"
        } else if is_keyword(&rest[0].text) {
            "; put each keyword on its own line"
        } else if stmt.name() == "script" {
            "; to pass arguments, put the whole command in double quotes"
        } else {
            ""
        };
        self.diag.warn(
            stmt.location(),
            format!(
                "`{}` ignores the rest of its line (`{}`), as keepalived does{advice}",
                stmt.name(),
                join(rest)
            ),
        );
    }

    /// Errors when a value keyword was given a block.
    pub fn no_block(&mut self, stmt: &Statement) -> bool {
        if stmt.block.is_some() {
            self.diag.error(
                stmt.location(),
                format!("`{}` takes a value, not a {{ }} block", stmt.name()),
            );
            return false;
        }
        true
    }

    /// The one value of a `keyword VALUE` statement.
    pub fn value<'s>(&mut self, stmt: &'s Statement, expected: &str) -> Option<&'s str> {
        if !self.no_block(stmt) {
            return None;
        }
        let Some(value) = stmt.args.first() else {
            self.diag.error(
                stmt.location(),
                format!("`{}` needs a value: {expected}", stmt.name()),
            );
            return None;
        };
        if stmt.args.len() > 1 {
            self.ignored_rest(stmt, 1);
        }
        Some(&value.text)
    }

    /// A keyword that stands alone: `nopreempt`.
    pub fn flag(&mut self, stmt: &Statement) {
        if self.no_block(stmt) && !stmt.args.is_empty() {
            self.ignored_rest(stmt, 0);
        }
    }

    /// keepalived's `<BOOL>` that may be left out: `smtp_alert` alone means true, or
    /// `true|on|yes` / `false|off|no`.
    pub fn bool_flag(&mut self, stmt: &Statement) -> Option<Located<bool>> {
        if !self.no_block(stmt) {
            return None;
        }
        let value = match stmt.args.first().map(|t| t.text.as_str()) {
            None => true,
            Some("true" | "on" | "yes") => true,
            Some("false" | "off" | "no") => false,
            Some(other) => {
                self.diag.error(
                    stmt.location(),
                    format!(
                        "`{}` {other}: expected nothing (on), or true|on|yes or false|off|no",
                        stmt.name()
                    ),
                );
                return None;
            }
        };
        if stmt.args.len() > 1 {
            self.ignored_rest(stmt, 1);
        }
        Some(Located::new(value, stmt.location()))
    }

    /// A value read with `parse`, which returns None for text that is not one; the error
    /// then says what was `expected`.
    fn parsed<T>(
        &mut self,
        stmt: &Statement,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<Located<T>> {
        let text = self.value(stmt, expected)?;
        match parse(text) {
            Some(value) => Some(Located::new(value, stmt.location())),
            None => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}` {text}: expected {expected}", stmt.name()),
                );
                None
            }
        }
    }

    pub fn int(&mut self, stmt: &Statement, expected: &str) -> Option<Located<i64>> {
        self.parsed(stmt, expected, |text| text.parse().ok())
    }

    pub fn seconds(&mut self, stmt: &Statement, expected: &str) -> Option<Located<Micros>> {
        self.parsed(stmt, expected, parse_decimal_seconds)
    }

    pub fn ip(&mut self, stmt: &Statement, text: &str) -> Option<IpAddr> {
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.diag.error(
                    stmt.location(),
                    format!("`{}`: `{text}` is not an IPv4 or IPv6 address", stmt.name()),
                );
                None
            }
        }
    }

    /// Stores a single-valued setting; keepalived keeps the last one written, and a
    /// repeated keyword is usually a merge mistake worth a warning.
    pub fn set<T>(
        &mut self,
        slot: &mut Option<Located<T>>,
        value: Option<Located<T>>,
        stmt: &Statement,
    ) {
        let Some(value) = value else { return };
        if let Some(earlier) = slot {
            self.diag.warn(
                &value.location,
                format!(
                    "`{}` is set again; this value replaces the one at {}",
                    stmt.name(),
                    earlier.location
                ),
            );
        }
        *slot = Some(value);
    }

    /// `KEYWORD WORD`: a name, a path, a command.
    pub fn set_string(
        &mut self,
        s: &Statement,
        slot: &mut Option<Located<String>>,
        expected: &str,
    ) {
        let value = self
            .value(s, expected)
            .map(|v| Located::new(v.to_string(), s.location()));
        self.set(slot, value, s);
    }

    /// `KEYWORD N`.
    pub fn set_int(&mut self, s: &Statement, slot: &mut Option<Located<i64>>, expected: &str) {
        let value = self.int(s, expected);
        self.set(slot, value, s);
    }

    /// `KEYWORD SECONDS`, fractions allowed.
    pub fn set_seconds(
        &mut self,
        s: &Statement,
        slot: &mut Option<Located<Micros>>,
        expected: &str,
    ) {
        let value = self.seconds(s, expected);
        self.set(slot, value, s);
    }

    /// `KEYWORD [<BOOL>]`.
    pub fn set_bool(&mut self, s: &Statement, slot: &mut Option<Located<bool>>) {
        let value = self.bool_flag(s);
        self.set(slot, value, s);
    }

    /// A flag that means `value`: `nopreempt` is `preempt` false.
    pub fn set_flag(&mut self, s: &Statement, slot: &mut Option<Located<bool>>, value: bool) {
        self.flag(s);
        self.set(slot, Some(Located::new(value, s.location())), s);
    }

    /// `weight N [reverse]` of a vrrp_script or track_file; `range` is said when N is not a
    /// number.
    pub fn set_weight(&mut self, s: &Statement, slot: &mut Option<Located<i64>>, range: &str) {
        let expected = format!("a whole number {range}");
        let weight = if s.args.len() > 1 && s.args[1].text == "reverse" {
            self.diag.warn(
                s.location(),
                "weight: `reverse` is not supported and is ignored",
            );
            let weight = s.args[0].text.parse().ok();
            if weight.is_none() {
                self.diag
                    .error(s.location(), format!("weight: expected {expected}"));
            }
            weight.map(|w| Located::new(w, s.location()))
        } else {
            self.int(s, &expected)
        };
        self.set(slot, weight, s);
    }

    /// `KEYWORD ... USER [GROUP]`, the user at `args[first]`; words after GROUP are
    /// ignored with a warning.
    pub fn user_spec(&mut self, s: &Statement, first: usize) -> Option<Located<UserSpec>> {
        if !self.no_block(s) {
            return None;
        }
        let Some(user) = s.args.get(first) else {
            self.diag.error(
                s.location(),
                format!("`{}` needs a user name: `USER [GROUP]`", s.name()),
            );
            return None;
        };
        if s.args.len() > first + 2 {
            self.ignored_rest(s, first + 2);
        }
        let spec = UserSpec {
            user: user.text.clone(),
            group: s.args.get(first + 1).map(|g| g.text.clone()),
        };
        Some(Located::new(spec, s.location()))
    }

    /// `user USER [GROUP]`, `script_user USER [GROUP]`.
    pub fn set_user(&mut self, s: &Statement, slot: &mut Option<Located<UserSpec>>) {
        let user = self.user_spec(s, 0);
        self.set(slot, user, s);
    }
}

pub fn join(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
