//! The driver's side of the node core: inputs go in through [`Engine::feed`] (recorded
//! when `--record` is on), and every output comes back out as an effect on the edges:
//! adverts, addresses, announcements, the transition's log line, event, notify programs,
//! FIFO line and mail.

use serde_json::json;

use super::Engine;
use crate::io::rawsock::realtime_ns;
use crate::notify::commands_for;
use std::net::IpAddr;

use super::adverts::advert_for;
use super::runtime::Runtime;
use super::timings::{Step, TakeoverClock};
use crate::io::advert_socket::Outgoing;
use crate::proto::auth_hmac::Binding;
use crate::proto::node::{NodeInput, NodeOutput};
use crate::proto::router::{Action, StateName};

impl Engine {
    /// Feed the node core one input and carry out what it decides.
    pub(super) async fn feed(&mut self, input: NodeInput, now: u64) {
        self.feed_all(vec![input], now).await;
    }

    /// Feed the node core several inputs at once (shutdown stops every instance) and
    /// carry out what they decide, the slow steps last (RFC 5798 §6.4.2 / §6.4.3: the
    /// advert first, then the addresses and announcements):
    /// 1. every advert due, one `sendmmsg` per socket;
    /// 2. addresses and announcements, in the order decided;
    /// 3. the receive policy rewrite (once), transitions' logs and notifications, the
    ///    status snapshot (once).
    pub(super) async fn feed_all(&mut self, inputs: Vec<NodeInput>, now: u64) {
        // A timer input acts on the earliest deadline: how late the decision came after
        // it is the first part of a takeover's time.
        let deadline = inputs
            .iter()
            .any(|i| matches!(i, NodeInput::Timer))
            .then(|| self.node.next_deadline())
            .flatten();
        let outputs = self.decide(inputs, now);
        let mut clock = TakeoverClock::new(now, deadline);
        let adverts: Vec<(usize, u8)> = outputs
            .iter()
            .filter_map(|o| match o {
                NodeOutput::Act {
                    instance,
                    action: Action::SendAdvert { priority },
                } => Some((*instance, *priority)),
                _ => None,
            })
            .collect();
        if !adverts.is_empty() {
            self.send_adverts(&adverts);
            clock.mark(adverts.iter().map(|(i, _)| *i), Step::Advert);
        }
        let mut transitions = Vec::new();
        for o in outputs {
            match o {
                NodeOutput::Act {
                    action: Action::SendAdvert { .. },
                    ..
                } => {}
                NodeOutput::Act {
                    instance,
                    action: action @ Action::Transition { .. },
                } => transitions.push((instance, action)),
                NodeOutput::Act { instance, action } => {
                    let step = match action {
                        Action::AddAddresses | Action::RemoveAddresses => Some(Step::Addresses),
                        Action::Announce { .. } => Some(Step::Announce),
                        _ => None,
                    };
                    self.act(instance, action, now).await;
                    if let Some(step) = step {
                        clock.mark([instance], step);
                    }
                }
                NodeOutput::SplitBrain { instance, seen } => {
                    self.report_split_brain(instance, &seen)
                }
                NodeOutput::GroupMoved { instance, to } => self.notify_group(instance, to),
            }
        }
        if transitions.is_empty() {
            return;
        }
        // Entering or leaving Master changes what the filter refuses (no_accept). Not for
        // stopped instances: at shutdown the rewrite would detach XDP here, before the
        // other closes and behind no one (close.rs); a reload re-syncs the paths itself.
        let policy: Vec<usize> = transitions
            .iter()
            .map(|(i, _)| *i)
            .filter(|&i| !self.rts[i].cfg.accept && !self.rts[i].stopped)
            .collect();
        if !policy.is_empty() {
            self.sync_paths();
            clock.mark(policy, Step::Policy);
        }
        for (i, action) in transitions {
            if let Action::Transition { from, to, .. } = action {
                clock.report(&self.rts[i].label(), self.rts[i].cfg.vrid, i, from, to);
            }
            self.act(i, action, now).await;
        }
        self.publish_status();
    }

    /// Run the inputs through the node core and collect what it decides. After each
    /// input our side goes into the receive paths, and whether a path now times
    /// Master_Down goes back in as a further input (docs/kernel-state.md).
    fn decide(&mut self, inputs: Vec<NodeInput>, now: u64) -> Vec<NodeOutput> {
        let mut queue = std::collections::VecDeque::from(inputs);
        let mut swept = false;
        let mut outputs = Vec::new();
        while let Some(input) = queue.pop_front() {
            // A new priority, or the kernel no longer timing Master_Down, can put a
            // Backup's own deadline back in force: bring it up to what the paths absorbed
            // first, or a master that kept speaking would look silent since its last
            // reported advert.
            let ends_following = matches!(
                input,
                NodeInput::Priority { .. } | NodeInput::KernelTimed { .. }
            );
            if ends_following && !swept {
                swept = true;
                let heard = self.absorbed_inputs();
                if !heard.is_empty() {
                    queue.push_front(input);
                    for h in heard.into_iter().rev() {
                        queue.push_front(h);
                    }
                    continue;
                }
            }
            if let Some(rec) = &mut self.recorder {
                rec.record(&input, now);
            }
            outputs.extend(self.node.handle(input, now));
            queue.extend(self.sync_receive_state());
        }
        outputs
    }

    /// Send the adverts `(instance, priority)` decided in one wake-up: prebuilt bytes
    /// (signed afresh with `auth_hmac`), one `sendmmsg` per socket. Nothing here moves a
    /// deadline: each instance's cadence is the state machine's.
    fn send_adverts(&mut self, adverts: &[(usize, u8)]) {
        // First every instance's messages, prebuilt in its cache or signed now...
        let mut queued: Vec<Queued> = Vec::with_capacity(adverts.len());
        let mut queued_once = vec![false; self.rts.len()];
        for &(i, priority) in adverts {
            let rt = &mut self.rts[i];
            let Some(src) = rt.primary else {
                continue; // no source address: nothing can be sent
            };
            let own = match rt.cfg.auth_hmac.is_some() {
                true => Some(signed_adverts(rt, priority, src)),
                false => {
                    // The cache holds one priority: when an instance sends twice in one
                    // wake-up (a new priority, then resigning), the earlier advert keeps a
                    // copy of its bytes before the cache is rebuilt for the later one.
                    if std::mem::replace(&mut queued_once[i], true) {
                        let current = rt.adverts.current().to_vec();
                        if let Some(earlier) = queued
                            .iter_mut()
                            .find(|q| q.instance == i && q.own.is_none())
                        {
                            earlier.own = Some(current);
                        }
                    }
                    rt.adverts
                        .messages(&rt.cfg, priority, src, &rt.destinations);
                    None
                }
            };
            queued.push(Queued {
                socket: (rt.tx_ifindex, src),
                instance: i,
                own,
            });
        }
        // ...then one batch per socket, in the order decided.
        let mut sockets: Vec<(u32, IpAddr)> = queued.iter().map(|q| q.socket).collect();
        sockets.sort();
        sockets.dedup();
        for key in sockets {
            let mut owners = Vec::new();
            let mut batch = Vec::new();
            for q in queued.iter().filter(|q| q.socket == key) {
                let rt = &self.rts[q.instance];
                for (dst, msg) in q.own.as_deref().unwrap_or(rt.adverts.current()) {
                    owners.push(q.instance);
                    batch.push(Outgoing {
                        msg,
                        dst: *dst,
                        // keepalived's unicast_ttl applies to unicast peers only; the
                        // group always gets 255 (RFC 5798 §5.1.1.3).
                        ttl: rt.cfg.unicast_ttl.filter(|_| !dst.is_multicast()),
                    });
                }
            }
            let failed = match self.edges.advert_socket(key.0, key.1) {
                Some(socket) => socket.send_batch(&batch),
                None => (0..batch.len())
                    .map(|k| (k, anyhow::anyhow!("no advert socket from {}", key.1)))
                    .collect(),
            };
            drop(batch);
            for (k, &i) in owners.iter().enumerate() {
                match failed.iter().find(|(f, _)| *f == k) {
                    None => self.rts[i].stats.adverts_sent += 1,
                    Some((_, e)) => {
                        let rt = &self.rts[i];
                        tracing::warn!(
                            instance = rt.label(),
                            error = format!("{e:#}"),
                            "advert not sent"
                        )
                    }
                }
            }
        }
    }

    fn report_split_brain(&self, i: usize, seen: &str) {
        let rt = &self.rts[i];
        tracing::warn!(
            instance = rt.label(),
            "split brain: we are master and saw {seen}"
        );
        self.events.publish(json!({
            "type": "split_brain",
            "instance": rt.cfg.name,
            "interface": rt.cfg.interface,
            "vrid": rt.cfg.vrid,
            "seen": seen,
        }));
    }

    /// Run the group's notify scripts when a member moved the group on its own.
    fn notify_group(&mut self, i: usize, to: StateName) {
        let name = &self.rts[i].cfg.name;
        let Some(g) = self
            .config
            .sync_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == name))
        else {
            return;
        };
        let prio = self.node.router(i).priority();
        let cmds = commands_for(&g.notify, "GROUP", &g.name, to, prio);
        let (name, mail) = (g.name.clone(), g.smtp_alert);
        self.notifier.queue(&format!("group:{name}"), cmds);
        self.notify_extras("GROUP", &name, to, prio, mail);
    }

    /// The notify FIFO line and, with `smtp_alert`, a mail; the mail goes out on its own
    /// task so a slow relay never holds up the engine.
    fn notify_extras(&self, kind: &str, name: &str, to: StateName, prio: u8, mail: bool) {
        if let Some(fifo) = &self.config.notify_fifo {
            crate::notify::write_fifo(fifo, &crate::notify::fifo_line(kind, name, to, prio));
        }
        let email = &self.config.email;
        let Some(server) = email.smtp_server.clone() else {
            return;
        };
        if !mail || email.to.is_empty() {
            return;
        }
        let router_id = self
            .config
            .router_id
            .clone()
            .unwrap_or_else(|| "vrrpx".to_string());
        let alert = crate::notify::alert_for(&router_id, kind, name, to);
        let from = email
            .from
            .clone()
            .unwrap_or_else(|| format!("vrrpx@{router_id}"));
        let to_list = email.to.clone();
        let timeout = email.smtp_connect_timeout;
        tokio::spawn(async move {
            let addr = match tokio::net::lookup_host((server.host.as_str(), server.port)).await {
                Ok(mut a) => a.next(),
                Err(_) => None,
            };
            let Some(addr) = addr else {
                tracing::warn!(
                    server = server.host.as_str(),
                    "smtp_alert: cannot resolve the SMTP server"
                );
                return;
            };
            let settings = crate::notify::mail::MailSettings {
                server: addr,
                connect_timeout: timeout,
                from,
                to: to_list,
                router_id,
            };
            if let Err(e) = crate::notify::mail::send(&settings, &alert).await {
                tracing::warn!(error = format!("{e:#}"), "smtp_alert: mail not sent");
            }
        });
    }

    /// Carry out one action of instance `i`'s state machine on the edges.
    pub(super) async fn act(&mut self, i: usize, a: Action, now: u64) {
        {
            let rt = &mut self.rts[i];
            match a {
                // Sent by `feed_all`, batched with the other adverts due.
                Action::SendAdvert { .. } => {}
                Action::AddAddresses => {
                    for v in &rt.cfg.virtual_addresses {
                        match self.edges.add_address(rt.tx_ifindex, v).await {
                            Ok(Some(idx)) => {
                                if !rt.added.iter().any(|(i, a)| *i == idx && a == v) {
                                    rt.added.push((idx, v.clone()));
                                }
                            }
                            Ok(None) => tracing::warn!(
                                instance = rt.label(),
                                addr = %v.addr,
                                "virtual address already present and not added by vrrpx; leaving it as it is (it will not be removed)"
                            ),
                            Err(e) => {
                                tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot add virtual address")
                            }
                        }
                    }
                }
                Action::RemoveAddresses => {
                    // Only what we added: an address an administrator put there stays.
                    for (idx, v) in std::mem::take(&mut rt.added) {
                        if let Err(e) = self.edges.remove_address(idx, &v).await {
                            tracing::error!(instance = rt.label(), addr = %v.addr, error = format!("{e:#}"), "cannot remove virtual address");
                        }
                    }
                }
                Action::Announce { count } => {
                    for v in &rt.cfg.virtual_addresses {
                        for _ in 0..count {
                            if let Err(e) = self.edges.announce(rt.tx_ifindex, v.addr) {
                                tracing::warn!(instance = rt.label(), addr = %v.addr, error = %e, "announcement not sent");
                                break;
                            }
                        }
                    }
                }
                Action::Transition { from, to, cause } => {
                    // The master heard: the one we now follow, or, leaving Backup, the one
                    // that went silent (a Master leaving its role heard no master).
                    let router = self.node.router(i);
                    let lost = rt.stats.master_heard.filter(|_| from == StateName::Backup);
                    let master = match router.current_master.or(lost) {
                        Some((a, p)) => format!("{a} priority {p}"),
                        None => "none heard".to_string(),
                    };
                    tracing::info!(
                        instance = rt.cfg.name.as_str(),
                        iface = rt.cfg.interface.as_str(),
                        vrid = rt.cfg.vrid,
                        from = %from,
                        to = %to,
                        cause = ?cause,
                        priority = router.priority(),
                        master = master.as_str(),
                        "state change"
                    );
                    let at_unix = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    rt.stats.transitions += 1;
                    rt.stats.last_transition = Some(crate::status::Transition {
                        from,
                        to,
                        cause,
                        at_unix,
                        at_mono_ns: now,
                    });
                    self.events.publish(json!({
                        "type": "transition",
                        "instance": rt.cfg.name,
                        "interface": rt.cfg.interface,
                        "vrid": rt.cfg.vrid,
                        "from": from,
                        "to": to,
                        "cause": cause,
                        "priority": router.priority(),
                        "at_unix": at_unix,
                    }));
                    let cmds = commands_for(
                        &rt.cfg.notify,
                        "INSTANCE",
                        &rt.cfg.name,
                        to,
                        router.priority(),
                    );
                    let owner = rt.cfg.name.clone();
                    self.notifier.queue(&owner, cmds);
                    let prio = router.priority();
                    let mail = rt.cfg.smtp_alert;
                    self.notify_extras("INSTANCE", &owner, to, prio, mail);
                }
                Action::ReplySuppressed => {
                    rt.stats.replies_suppressed += 1;
                    tracing::debug!(
                        instance = rt.cfg.name.as_str(),
                        "reply to a lower priority advert rate-limited"
                    );
                }
            }
        }
    }
}

/// One instance's adverts of a wake-up: its prebuilt cache, or messages of its own.
struct Queued {
    socket: (u32, IpAddr),
    instance: usize,
    /// `auth_hmac` messages signed now, or a copy when the cache holds another priority.
    own: Option<Vec<(IpAddr, Vec<u8>)>>,
}

/// `auth_hmac` adverts carry a timestamp and a sequence number: signed every time, one
/// signature for every copy (the HMAC leaves the destination out).
fn signed_adverts(rt: &mut Runtime, priority: u8, src: IpAddr) -> Vec<(IpAddr, Vec<u8>)> {
    let Some(cfg) = &rt.cfg.auth_hmac else {
        return Vec::new();
    };
    let advert = advert_for(&rt.cfg, priority);
    let body = advert.body();
    let b = Binding {
        version: body[0] >> 4,
        vrid: rt.cfg.vrid,
        src,
    };
    let trailer = rt.hmac.signer.sign(cfg, &b, &body, realtime_ns());
    rt.destinations
        .iter()
        .map(|&d| {
            let m = advert.seal(body.clone(), src, d, rt.cfg.checksum, trailer.as_ref());
            (d, m)
        })
        .collect()
}
