//! `/metrics`: the status snapshot and the advert inter-arrival histograms in the
//! Prometheus text exposition format 0.0.4, over a minimal HTTP/1.1 server; optionally
//! also the families of the keepalived exporter dashboards are written for.
//!
//! - [`histogram`]: the inter-arrival histograms the engine feeds;
//! - [`exposition`]: the text format (families, samples, escaping);
//! - [`render`]: vrrpx's own families; [`compat`]: the keepalived exporter's;
//! - [`server`]: the HTTP server, with its connection limit and timeouts.

pub mod compat;
pub mod exposition;
pub mod histogram;
pub mod render;
pub mod server;

#[cfg(test)]
mod fixtures;

pub use compat::{render_keepalived_exporter, Compat, TransitionTally};
pub use exposition::{escape_label_value, sample_names};
pub use histogram::{Histogram, Histograms, INTERARRIVAL_BUCKETS};
pub use render::render_prometheus;
pub use server::{serve_metrics, Limits, MetricsServer, CONTENT_TYPE};
