//! Collects every error and warning a reader finds, so one run reports them all instead of
//! stopping at the first.

use super::model::{ConfigError, Location, Warning};

#[derive(Debug, Default)]
pub struct Diagnostics {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<Warning>,
}

impl Diagnostics {
    pub fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.errors.push(ConfigError {
            location: location.clone(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, location: &Location, message: impl Into<String>) {
        self.warnings.push(Warning {
            location: location.clone(),
            message: message.into(),
        });
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}
