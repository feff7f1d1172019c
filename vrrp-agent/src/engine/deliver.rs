//! What the receive paths hand the driver: accepted adverts (with their kernel arrival
//! times) go to the node core as typed inputs, once, here; ARP naming a master's address
//! from another station is a sign of split brain; the per-reason counters are logged at a
//! rate limit.

use std::net::IpAddr;
use std::time::Duration;

use vrrp_ebpf::abi::{Event, Reason};

use super::runtime::Runtime;
use super::{Engine, MISMATCH_LOG_NS, REJECT_LOG};
use crate::filter::Counters;
use crate::io::iface;
use crate::io::rawsock::{monotonic_ns, realtime_ns};
use crate::proto::node::NodeInput;
use crate::proto::router::StateName;
use crate::receive::{AdvertIn, ArpIn, Received};

impl Engine {
    /// An event from a receive path, converted once into its typed form.
    pub(super) async fn deliver(&mut self, ev: &Event, now: u64) {
        match Received::try_from(ev) {
            Ok(Received::Advert(a)) => self.deliver_advert(&a, now).await,
            Ok(Received::Arp(a)) => self.deliver_arp(&a, now).await,
            Ok(Received::MasterDown(m)) => self.kernel_master_down(&m, now).await,
            // Only a program from another build could send one.
            Err(e) => tracing::debug!(ifindex = ev.ifindex, "ignored: {e}"),
        }
    }

    async fn deliver_advert(&mut self, ev: &AdvertIn, now: u64) {
        let Some(&i) = self.by_key.get(&(ev.ifindex, ev.vrid, ev.family as u8)) else {
            return;
        };
        let src = ev.src;
        let rt = &mut self.rts[i];
        if Some(src) == rt.primary {
            return; // our own advert looped back
        }
        // auth_hmac: XDP judged the trailer's shape and age; the HMAC and the sequence are
        // checked here, before the node core sees anything of the advert.
        if let Err(r) = rt
            .hmac
            .check_event(rt.cfg.auth_hmac.as_ref(), &ev.raw, src, realtime_ns())
        {
            if let Some((_, path)) = self.paths.iter_mut().find(|(x, _)| *x == ev.ifindex) {
                path.recount(ev.vrid, r.reason());
            }
            return;
        }
        rt.stats.adverts_received += 1;
        if ev.priority > 0 {
            rt.stats.master_heard = Some((src, ev.priority));
        }
        warn_if_peer_differs(rt, ev, src, now);
        if let Some(prev) = rt.stats.last_rx_ts {
            if ev.ts_ns > prev {
                if let Ok(mut h) = self.hist.lock() {
                    h.observe(&rt.cfg.name, (ev.ts_ns - prev) as f64 / 1e9);
                }
            }
        }
        rt.stats.last_rx_ts = Some(ev.ts_ns);
        // How close did this advert come to the Master_Down deadline? The early warning of
        // a master that is late (or a backup that is busy).
        if let Some(deadline) = self.node.router(i).master_down_at() {
            if ev.priority > 0 {
                let margin = (deadline as f64 - ev.ts_ns as f64) / 1e6;
                rt.stats.margin_ms = Some(margin);
                rt.stats.min_margin_ms = Some(
                    rt.stats
                        .min_margin_ms
                        .map_or(margin, |m: f64| m.min(margin)),
                );
            }
        }
        let input = NodeInput::Advert {
            instance: i,
            ts_ns: ev.ts_ns,
            src,
            priority: ev.priority,
            interval_cs: ev.interval_cs,
        };
        self.feed(input, now).await;
    }

    async fn deliver_arp(&mut self, ev: &ArpIn, now: u64) {
        let sender = IpAddr::V4(ev.sender);
        let Some(i) = (0..self.rts.len()).find(|&i| {
            let rt = &self.rts[i];
            self.node.router(i).state() == StateName::Master
                && rt.ifindex == ev.ifindex
                && rt.cfg.virtual_addresses.iter().any(|v| v.addr == sender)
        }) else {
            return;
        };
        let ours = self.edges.mac_of(self.rts[i].tx_ifindex);
        if ours == Some(ev.mac) {
            return;
        }
        let mac = crate::io::vmac::fmt_mac(ev.mac);
        let seen = format!("ARP for {sender} from {mac}");
        self.feed(NodeInput::ForeignArp { instance: i, seen }, now)
            .await;
    }

    /// A receive path returned an error (on the raw-socket path, ENETDOWN when the link
    /// drops): log it at a rate limit and go on; link loss itself arrives through
    /// rtnetlink and faults the instances. A short pause keeps a persistent error from
    /// spinning the loop.
    pub(super) async fn receive_failed(&mut self, err: &anyhow::Error) {
        let now = monotonic_ns();
        if self.recv_error_logged_at == 0
            || now > self.recv_error_logged_at + REJECT_LOG.as_nanos() as u64
        {
            self.recv_error_logged_at = now;
            tracing::warn!(error = format!("{err:#}"), "receive path error; continuing");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    pub(super) fn refresh_counters(&mut self) {
        for (ifx, path) in &self.paths {
            if let Ok(now) = path.counters() {
                let last = self.counters.entry(*ifx).or_default();
                log_rejections(*ifx, last, &now);
                *last = now;
            }
        }
    }
}

/// keepalived logs a peer whose advert carries another address list or interval than
/// ours: it is how a misconfigured pair is found. Rate-limited per instance.
fn warn_if_peer_differs(rt: &mut Runtime, ev: &AdvertIn, src: IpAddr, now: u64) {
    if ev.priority == 0 {
        return;
    }
    let mut diffs = Vec::new();
    let ours = rt.cfg.advert_int_cs;
    if ev.interval_cs != ours {
        diffs.push(format!("interval {} cs (ours {ours} cs)", ev.interval_cs));
    }
    let theirs = &ev.addrs;
    let mine: Vec<IpAddr> = rt.cfg.virtual_addresses.iter().map(|v| v.addr).collect();
    if ev.addr_count as usize != mine.len() || theirs.iter().any(|a| !mine.contains(a)) {
        let list = |v: &[IpAddr]| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        diffs.push(format!(
            "addresses [{}] (ours [{}])",
            list(theirs),
            list(&mine)
        ));
    }
    if diffs.is_empty() {
        return;
    }
    if rt.stats.mismatch_logged_at != 0 && now < rt.stats.mismatch_logged_at + MISMATCH_LOG_NS {
        return;
    }
    rt.stats.mismatch_logged_at = now;
    tracing::warn!(
        instance = rt.label(),
        peer = %src,
        "peer advertises a different configuration: {}; check both routers' files",
        diffs.join(", ")
    );
}

/// Log what the receive checks rejected since the last report, per VRID and reason.
fn log_rejections(ifindex: u32, last: &Counters, now: &Counters) {
    for vrid in 0..=255u8 {
        let parts: Vec<String> = Reason::ALL
            .iter()
            .filter(|r| r.is_rejection())
            .filter_map(|&r| {
                let d = now.get(vrid, r).saturating_sub(last.get(vrid, r));
                (d > 0).then(|| format!("{}={d}", r.name()))
            })
            .collect();
        if !parts.is_empty() {
            tracing::warn!(
                iface = iface::name_of(ifindex),
                vrid,
                "rejected adverts since the last report: {}",
                parts.join(" ")
            );
        }
    }
}
