//! One receive path for the rest of the agent: XDP when it can be loaded, otherwise the
//! raw socket. Both produce the same events and the same counters.

use anyhow::Result;
use vrrp_ebpf::abi::{Event, Reason};

use crate::filter::{Counters, PolicyTable};
use crate::io::rawsock::RawFilter;
use crate::io::xdp::{ModeChoice, XdpFilter};

pub struct PathOptions {
    /// Never try XDP.
    pub no_xdp: bool,
    pub xdp_mode: ModeChoice,
}

pub enum ReceivePath {
    Xdp(XdpFilter),
    Raw(RawFilter),
}

impl ReceivePath {
    /// Open the best path available on `ifindex`, logging which one is live and why.
    pub fn open(
        iface: &str,
        ifindex: u32,
        policy: &PolicyTable,
        opts: &PathOptions,
    ) -> Result<ReceivePath> {
        if !opts.no_xdp {
            match XdpFilter::attach(ifindex, policy, opts.xdp_mode) {
                Ok(f) => {
                    tracing::info!(
                        iface,
                        path = "xdp",
                        mode = f.mode(),
                        "receive path: XDP filter attached"
                    );
                    return Ok(ReceivePath::Xdp(f));
                }
                Err(e) => {
                    tracing::warn!(
                        iface,
                        error = format!("{e:#}"),
                        "XDP unavailable; falling back to the raw-socket path"
                    );
                }
            }
        }
        let raw = RawFilter::open(ifindex, policy)?;
        tracing::info!(
            iface,
            path = "raw-socket",
            "receive path: raw socket with userspace checks"
        );
        Ok(ReceivePath::Raw(raw))
    }

    /// "xdp (driver)", "xdp (generic)" or "raw-socket".
    pub fn describe(&self) -> String {
        match self {
            ReceivePath::Xdp(f) => format!("xdp ({})", f.mode()),
            ReceivePath::Raw(_) => "raw-socket".to_string(),
        }
    }

    pub fn set_policy(&mut self, policy: &PolicyTable) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => f.set_policy(policy),
            ReceivePath::Raw(f) => {
                f.set_policy(policy);
                Ok(())
            }
        }
    }

    pub fn counters(&self) -> Result<Counters> {
        match self {
            ReceivePath::Xdp(f) => f.counters(),
            ReceivePath::Raw(f) => Ok(f.counters()),
        }
    }

    /// Move one advert of `vrid` the path counted as accepted to `reason`: the agent
    /// refused it after the filter passed it (an `auth_hmac` check XDP cannot make).
    pub fn recount(&mut self, vrid: u8, reason: Reason) {
        match self {
            ReceivePath::Xdp(f) => f.recount(vrid, reason),
            ReceivePath::Raw(f) => f.recount(vrid, reason),
        }
    }

    /// Wait for at least one event and append everything available to `out`.
    pub async fn recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => f.recv(out).await,
            ReceivePath::Raw(f) => f.recv(out).await,
        }
    }

    /// Wait for events and return them as one batch (for callers that poll several paths).
    pub async fn next_batch(&mut self) -> Result<Vec<Event>> {
        let mut v = Vec::new();
        self.recv(&mut v).await?;
        Ok(v)
    }

    /// Append whatever is already queued, without waiting.
    pub fn try_recv(&mut self, out: &mut Vec<Event>) -> Result<()> {
        match self {
            ReceivePath::Xdp(f) => {
                f.try_recv(out);
                Ok(())
            }
            ReceivePath::Raw(f) => f.try_recv(out),
        }
    }
}
