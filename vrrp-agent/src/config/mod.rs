//! Configuration: keepalived.conf syntax and native TOML, both into one validated model.
pub mod model;
