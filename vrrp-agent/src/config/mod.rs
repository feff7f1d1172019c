//! Configuration: keepalived.conf syntax and native TOML, both into one validated model.
//!
//! A file whose name ends in `.toml` is the native format; anything else is keepalived.conf.
//! Both readers produce a [`draft`], and one validation turns it into the [`model`], so the
//! two formats cannot drift apart on what is valid.
//!
//! ```text
//! keepalived.conf --lexer--> tokens --include--> tokens --syntax--> statements --keepalived--+
//!                                                                                          draft --validate--> model::Config
//! config.toml -------------------------------------------------------------native---------+
//! ```

mod builtin;
mod draft;
mod include;
mod keepalived;
mod lexer;
pub mod lint;
pub mod model;
mod native;
mod report;
mod script_users;
mod strict;
mod syntax;
mod validate;

use std::path::Path;

use draft::{DraftConfig, ReaderDefaults};
use model::{Config, ConfigError, Location, Locations, Version, Warning};
use report::Diagnostics;

/// A configuration that passed validation, and what was worth mentioning on the way.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Warning>,
    /// Where each part of `config` was written.
    pub locations: Locations,
}

/// The full outcome of reading a configuration, for `-t`-style checks that print both
/// errors and warnings: `config` is present only when there are no errors.
#[derive(Debug)]
pub struct Checked {
    pub config: Option<Config>,
    pub warnings: Vec<Warning>,
    pub errors: Vec<ConfigError>,
    /// Where each block and instance setting was written, for [`lint`]'s messages; beside
    /// the model so that [`Config`]s compare with `==` whatever their layout.
    pub locations: Locations,
}

impl Checked {
    /// The errors, or the config with its warnings.
    pub fn into_result(self) -> Result<Loaded, Vec<ConfigError>> {
        match self.config {
            Some(config) if self.errors.is_empty() => Ok(Loaded {
                config,
                warnings: self.warnings,
                locations: self.locations,
            }),
            _ => Err(self.errors),
        }
    }
}

/// Which syntax a file is in, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Keepalived,
    Native,
}

impl Format {
    pub fn of(path: &Path) -> Format {
        if path.extension().is_some_and(|ext| ext == "toml") {
            Format::Native
        } else {
            Format::Keepalived
        }
    }
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    check(path).into_result()
}

/// Like [`load`] for text already in memory; `name` picks the format and is where messages
/// point. Relative `include`s are taken from `name`'s directory.
pub fn load_str(text: &str, name: &Path) -> Result<Loaded, Vec<ConfigError>> {
    check_str(text, name).into_result()
}

/// Reads and validates `path`, keeping warnings even when there are errors.
pub fn check(path: &Path) -> Checked {
    match include::read_regular_file(path) {
        Ok(text) => check_str(&text, path),
        Err(e) => Checked {
            config: None,
            warnings: Vec::new(),
            errors: vec![ConfigError {
                location: Location {
                    file: path.to_path_buf(),
                    line: 0,
                },
                message: format!("cannot read the configuration file: {e}"),
            }],
            locations: Locations::default(),
        },
    }
}

/// Like [`check`] for text already in memory.
pub fn check_str(text: &str, name: &Path) -> Checked {
    let mut diag = Diagnostics::default();
    let (draft, defaults) = match Format::of(name) {
        Format::Keepalived => {
            let tokens = include::tokens_with_includes(text, name, &mut diag);
            let statements = syntax::statements(&tokens, &mut diag);
            let draft = keepalived::read(&statements, &mut diag);
            // keepalived's default; IPv6 instances run v3 regardless.
            (
                Some(draft),
                ReaderDefaults {
                    version: Version::V2,
                },
            )
        }
        Format::Native => (
            native::read(text, name, &mut diag),
            ReaderDefaults {
                version: Version::V3,
            },
        ),
    };
    let locations = draft
        .as_ref()
        .map_or_else(Locations::default, DraftConfig::locations);
    let config = draft.map(|draft| validate::validate(draft, defaults, &mut diag));
    // Each stage reports in its own pass; read them in file order. The sort is stable, so
    // messages about one line keep the order they were found in.
    diag.errors.sort_by(|a, b| {
        a.location
            .file
            .cmp(&b.location.file)
            .then(a.location.line.cmp(&b.location.line))
    });
    diag.warnings.sort_by(|a, b| {
        a.location
            .file
            .cmp(&b.location.file)
            .then(a.location.line.cmp(&b.location.line))
    });
    Checked {
        config: config.filter(|_| !diag.has_errors()),
        warnings: diag.warnings,
        errors: diag.errors,
        locations,
    }
}
