//! The engine following the host: it resolves each instance's interface, source address
//! and sockets (waiting for whatever is missing instead of failing), hears links and
//! addresses change through rtnetlink, and tells each state machine what that means
//! through [`health::reconcile`](super::health::reconcile).

use std::net::IpAddr;

use super::health::{self, LinkHealth};
use super::Engine;
use crate::config::model::Family;
use crate::io::host_events::HostEvent;
use crate::io::netlink::IfAddr;
use crate::proto::router::{Action, StateName};

impl Engine {
    /// Find instance `i`'s interface, source address and sockets. Whatever is missing is
    /// recorded in its health (and retried later); nothing here is fatal.
    pub(super) async fn resolve(&mut self, i: usize) {
        let name = self.rts[i].cfg.interface.clone();
        let link = match self.edges.link_by_name(&name).await {
            Ok(l) => l,
            Err(e) => {
                // Netlink itself failed: keep what we knew and try again later.
                tracing::warn!(
                    instance = self.rts[i].label(),
                    error = format!("{e:#}"),
                    "cannot look up the interface"
                );
                return;
            }
        };
        let Some(link) = link else {
            if self.rts[i].ifindex != 0 {
                let old = self.rts[i].ifindex;
                self.interface_gone(old);
            }
            self.rts[i].health.link = LinkHealth::Missing;
            return;
        };
        if self.rts[i].ifindex != link.ifindex && self.rts[i].ifindex != 0 {
            // The interface was deleted and made anew under the same name.
            let old = self.rts[i].ifindex;
            self.interface_gone(old);
        }
        let rt = &mut self.rts[i];
        rt.ifindex = link.ifindex;
        rt.health.link = if link.usable() {
            LinkHealth::Up
        } else {
            LinkHealth::Down
        };
        self.refresh_source(i).await;
        self.setup_sockets(i).await;
    }

    /// Pick the advert source again (an address was added or removed on the interface).
    pub(super) async fn refresh_source(&mut self, i: usize) {
        let ifindex = self.rts[i].ifindex;
        if ifindex == 0 {
            return;
        }
        let picked = match self.rts[i].cfg.unicast_src {
            Some(a) => Some(a),
            None => {
                let family = self.rts[i].cfg.family;
                match self.edges.refresh_sources(ifindex).await {
                    Ok(s) => match family {
                        Family::V4 => s.primary_v4.map(IpAddr::V4),
                        Family::V6 => s.link_local_v6.map(IpAddr::V6),
                    },
                    Err(e) => {
                        tracing::warn!(
                            instance = self.rts[i].label(),
                            error = format!("{e:#}"),
                            "cannot read the interface's addresses"
                        );
                        return;
                    }
                }
            }
        };
        let rt = &mut self.rts[i];
        if picked != rt.primary {
            match (rt.primary, picked) {
                (Some(old), Some(new)) => tracing::warn!(
                    instance = rt.label(),
                    "advert source changed from {old} to {new}: the interface was re-addressed"
                ),
                (None, Some(new)) => {
                    tracing::info!(instance = rt.label(), source = %new, "advert source address")
                }
                (Some(old), None) => tracing::warn!(
                    instance = rt.label(),
                    "advert source {old} is gone and the interface has no other usable address"
                ),
                (None, None) => {}
            }
            rt.primary = picked;
            if let Some(p) = picked {
                rt.router.set_primary(p);
            }
            // A new source needs its own socket.
            rt.health.setup = false;
        }
        rt.health.source = rt.primary.is_some();
        if !rt.health.source && rt.cfg.family == Family::V6 {
            tracing::debug!(
                instance = rt.label(),
                "no usable IPv6 link-local yet (absent or tentative)"
            );
        }
    }

    /// The advert socket for (sending interface, source), and the vmac with `use_vmac`.
    async fn setup_sockets(&mut self, i: usize) {
        let rt = &self.rts[i];
        let (Some(src), true) = (rt.primary, rt.ifindex != 0) else {
            return;
        };
        let (ifindex, vrid, family, use_vmac) =
            (rt.ifindex, rt.cfg.vrid, rt.cfg.family, rt.cfg.use_vmac);
        let result = async {
            self.edges.open_advert_socket(ifindex, src).await?;
            match (use_vmac, family) {
                (true, Family::V4) => self.edges.ensure_vmac(ifindex, vrid, src).await,
                _ => Ok(ifindex),
            }
        }
        .await;
        let rt = &mut self.rts[i];
        match result {
            Ok(tx) => {
                rt.tx_ifindex = tx;
                rt.health.setup = true;
                rt.setup_error = None;
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if rt.setup_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(
                        instance = rt.label(),
                        error = msg.as_str(),
                        "cannot set up sending; retrying"
                    );
                }
                rt.setup_error = Some(msg);
                rt.health.setup = false;
            }
        }
    }

    /// An interface disappeared: what was opened on it is gone with it.
    fn interface_gone(&mut self, ifindex: u32) {
        self.edges.forget_interface(ifindex);
        self.paths.retain(|(ifx, _)| *ifx != ifindex);
        for rt in self.rts.iter_mut().filter(|r| r.ifindex == ifindex) {
            rt.ifindex = 0;
            rt.health.link = LinkHealth::Missing;
            rt.health.setup = false;
            // The kernel removed the addresses with the interface.
            rt.added.clear();
        }
    }

    /// Tell instance `i` (and its sync group) what its health now means.
    pub(super) async fn reconcile(&mut self, i: usize, now: u64) {
        let rt = &self.rts[i];
        let group_faulted = self.peers[i]
            .iter()
            .any(|&j| self.rts[j].health.fault().is_some());
        let input = health::reconcile(
            rt.router.state(),
            &rt.health,
            group_faulted,
            rt.stopped,
            rt.fault_cause(),
        );
        if let Some(input) = input {
            if let Some(cause) = rt.health.fault() {
                tracing::warn!(
                    instance = rt.label(),
                    cause = ?cause,
                    reasons = rt.priority_reasons.join("; "),
                    error = rt.setup_error.as_deref().unwrap_or(""),
                    "cannot run; FAULT until the cause clears"
                );
            }
            self.step(i, input, now).await;
        }
    }

    /// Reconcile every instance (after a change that may touch several).
    pub(super) async fn reconcile_all(&mut self, now: u64) {
        for i in 0..self.rts.len() {
            self.reconcile(i, now).await;
        }
    }

    /// Bring instances whose interface, address or set-up is missing up to date, and
    /// re-read every instance's link now and then in case a netlink message was lost.
    pub(super) async fn resync(&mut self, everything: bool, now: u64) {
        let before: Vec<u32> = self.rts.iter().map(|r| r.ifindex).collect();
        for i in 0..self.rts.len() {
            let h = self.rts[i].health;
            let incomplete =
                h.link == LinkHealth::Missing || !h.source || !h.setup || self.rts[i].ifindex == 0;
            if (everything || incomplete) && !self.rts[i].stopped {
                self.resolve(i).await;
            }
        }
        self.after_resolve(&before);
        self.reconcile_all(now).await;
    }

    /// After interfaces were (re)resolved: rebuild the look-ups and receive paths.
    pub(super) fn after_resolve(&mut self, before: &[u32]) {
        let after: Vec<u32> = self.rts.iter().map(|r| r.ifindex).collect();
        if before != after.as_slice() {
            self.reindex();
        }
        let used: Vec<(u32, IpAddr)> = self
            .rts
            .iter()
            .filter_map(|r| r.primary.map(|p| (r.tx_ifindex, p)))
            .collect();
        let mut used = used;
        // The socket on the parent stays open for vmac instances (it joins the group).
        used.extend(
            self.rts
                .iter()
                .filter_map(|r| r.primary.map(|p| (r.ifindex, p))),
        );
        self.edges.retain_sockets(&used);
        self.sync_paths();
    }

    /// What the kernel said changed.
    pub(super) async fn on_host_event(&mut self, ev: HostEvent, now: u64) {
        let before: Vec<u32> = self.rts.iter().map(|r| r.ifindex).collect();
        match ev {
            HostEvent::Link(l) => {
                for i in 0..self.rts.len() {
                    let rt = &self.rts[i];
                    if rt.cfg.interface != l.name && rt.ifindex != l.ifindex {
                        continue;
                    }
                    if rt.ifindex != l.ifindex || rt.cfg.interface != l.name || !rt.health.setup {
                        // New, renamed or re-created: look it up from scratch.
                        self.resolve(i).await;
                        continue;
                    }
                    let up = l.usable();
                    let was = self.rts[i].health.link;
                    let now_link = if up { LinkHealth::Up } else { LinkHealth::Down };
                    if was != now_link {
                        if up {
                            tracing::info!(instance = self.rts[i].label(), "interface link is up");
                        } else {
                            tracing::warn!(
                                instance = self.rts[i].label(),
                                "interface link is down"
                            );
                        }
                        self.rts[i].health.link = now_link;
                    }
                }
            }
            HostEvent::LinkGone { ifindex, name } => {
                if self.rts.iter().any(|r| r.ifindex == ifindex) {
                    tracing::warn!(iface = name.as_str(), "interface removed");
                    self.interface_gone(ifindex);
                }
            }
            HostEvent::AddressRemoved(a) => {
                self.address_removed(&a, now).await;
                if !a.is_ours() {
                    self.address_changed(a.ifindex).await;
                }
            }
            HostEvent::AddressAdded(a) => {
                if !a.is_ours() {
                    self.address_changed(a.ifindex).await;
                }
            }
        }
        self.after_resolve(&before);
        self.reconcile_all(now).await;
    }

    /// A non-VIP address changed on `ifindex`: the advert source may have.
    async fn address_changed(&mut self, ifindex: u32) {
        for i in 0..self.rts.len() {
            if self.rts[i].ifindex == ifindex && !self.rts[i].stopped {
                self.refresh_source(i).await;
                if !self.rts[i].health.setup {
                    self.setup_sockets(i).await;
                }
            }
        }
    }

    /// One of a master's virtual addresses was removed by someone else (an operator,
    /// `netplan apply`): put it back at once and re-announce it, so the address lives on
    /// exactly one router, this one, which is the one the election chose.
    async fn address_removed(&mut self, a: &IfAddr, now: u64) {
        for i in 0..self.rts.len() {
            let rt = &mut self.rts[i];
            let Some(pos) = rt.added.iter().position(|(idx, v)| {
                *idx == a.ifindex && v.addr == a.addr && v.prefix_len == a.prefix_len
            }) else {
                continue;
            };
            rt.added.remove(pos);
            if rt.router.state() != StateName::Master || rt.stopped {
                continue;
            }
            tracing::warn!(
                instance = rt.label(),
                addr = %a.addr,
                "virtual address {}/{} was removed by someone else while MASTER; restoring it (this router holds the role)",
                a.addr,
                a.prefix_len
            );
            self.apply(
                i,
                vec![Action::AddAddresses, Action::Announce { count: 1 }],
                now,
            )
            .await;
        }
    }
}
