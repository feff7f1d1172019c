//! `track_file NAME { file PATH  weight N  init_file [VALUE] [overwrite] }`: a file holding
//! a number that moves the priority of the instances that track it.

use super::super::draft::{DraftTrackFile, DraftTrackFileInit, Located};
use super::super::syntax::Statement;
use super::reader::{kw, string, Keyword, Reader};

pub const TRACK_FILE: &[Keyword<DraftTrackFile>] = &[
    string(&["file"], |d| &mut d.file, "the path of the file to read"),
    kw(&["weight"], |r, s, d| {
        r.set_weight(s, &mut d.weight, "-254..254")
    }),
    kw(&["init_file"], |r, s, d| {
        let init = init_file(r, s);
        r.set(&mut d.init, init, s);
    }),
];

/// `init_file [VALUE] [overwrite]`; what is left out stays unset for validation.
fn init_file(r: &mut Reader, s: &Statement) -> Option<Located<DraftTrackFileInit>> {
    if !r.no_block(s) {
        return None;
    }
    let mut init = DraftTrackFileInit {
        value: None,
        overwrite: false,
    };
    let mut args = s.args.iter().map(|t| t.text.as_str()).peekable();
    if let Some(value) = args.next_if(|a| *a != "overwrite") {
        match value.parse::<i64>() {
            Ok(value) => init.value = Some(value),
            Err(_) => {
                r.diag.error(
                    s.location(),
                    format!(
                        "`init_file` {value}: expected `init_file [VALUE] [overwrite]`, VALUE \
                         a whole number"
                    ),
                );
                return None;
            }
        }
    }
    if args.next_if(|a| *a == "overwrite").is_some() {
        init.overwrite = true;
    }
    if args.peek().is_some() {
        let used = s.args.len() - args.count();
        r.ignored_rest(s, used);
    }
    Some(Located::new(init, s.location()))
}
