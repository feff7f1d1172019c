//! The engine's side effects, gathered behind one type: advert sockets, virtual addresses
//! over rtnetlink, gratuitous ARP / unsolicited NA.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use anyhow::{anyhow, Context, Result};

use crate::config::model::VirtualAddress;
use crate::io::advert_socket::AdvertSocket;
use crate::io::arp::GarpSender;
use crate::io::iface;
use crate::io::netlink::{Link, Netlink, Sources};
use crate::io::vip::Vips;
use crate::io::vmac::{set_parent_arp_sysctls, vmac_mac, Vmacs};

pub struct Edges {
    nl: Netlink,
    vips: Vips,
    /// One advert socket per (interface, source address): instances sharing an interface
    /// but not a source (a `unicast_src_ip` beside multicast instances) each send from
    /// their own address, which their v3 checksum covers.
    sockets: HashMap<(u32, IpAddr), AdvertSocket>,
    announcers: HashMap<u32, GarpSender>,
    sources: HashMap<u32, Sources>,
    /// What this turn of the engine's loop already read from the kernel. One pass over 255
    /// instances on one interface used to dump its 256 addresses 255 times (300 ms in
    /// which no advert left); now each link and address list is read once per turn.
    read_this_turn: TurnReads,
    vmacs: Vmacs,
    /// Names of the macvlans this run created, removed on exit.
    created_vmacs: Vec<String>,
}

impl Edges {
    pub async fn open() -> Result<Edges> {
        let nl = Netlink::connect().context("rtnetlink")?;
        let vips = Vips::new(&nl);
        let vmacs = Vmacs::new(&nl);
        Ok(Edges {
            nl,
            vips,
            vmacs,
            created_vmacs: Vec::new(),
            sockets: HashMap::new(),
            announcers: HashMap::new(),
            sources: HashMap::new(),
            read_this_turn: TurnReads::default(),
        })
    }

    /// A new turn of the engine's loop: what the kernel says may have changed since.
    pub fn new_turn(&mut self) {
        self.read_this_turn = TurnReads::default();
    }

    /// Remove addresses a previous run of ours left behind (it crashed or was killed).
    pub async fn cleanup_leftovers(&mut self) {
        match self.vips.remove_all_ours().await {
            Ok(gone) => {
                for a in gone {
                    tracing::warn!(
                        iface = iface::name_of(a.ifindex),
                        addr = %a.addr,
                        "removed a virtual address left behind by an earlier run"
                    );
                }
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "could not look for leftover addresses"
            ),
        }
    }

    /// The link called `name`, if there is one.
    /// Read at most once per turn (see `new_turn`).
    pub async fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        if let Some(l) = self.read_this_turn.links.get(name) {
            return Ok(l.clone());
        }
        let l = self.nl.link_by_name(name).await?;
        self.read_this_turn
            .links
            .insert(name.to_string(), l.clone());
        Ok(l)
    }

    /// Re-read an interface's MAC and addresses (they changed, or may have), at most once
    /// per turn (see `new_turn`).
    pub async fn refresh_sources(&mut self, ifindex: u32) -> Result<&Sources> {
        if self.read_this_turn.sources.insert(ifindex) {
            self.sources.remove(&ifindex);
        }
        self.sources(ifindex).await
    }

    /// Forget everything opened on an interface that went away.
    pub fn forget_interface(&mut self, ifindex: u32) {
        self.sources.remove(&ifindex);
        self.read_this_turn = TurnReads::default();
        self.announcers.remove(&ifindex);
        self.sockets.retain(|(i, _), _| *i != ifindex);
    }

    /// Close the advert sockets no instance sends from any more (a source that changed).
    pub fn retain_sockets(&mut self, used: &[(u32, IpAddr)]) {
        self.sockets.retain(|k, _| used.contains(k));
    }

    async fn sources(&mut self, ifindex: u32) -> Result<&Sources> {
        if !self.sources.contains_key(&ifindex) {
            let s = self.nl.sources(ifindex).await?;
            self.sources.insert(ifindex, s);
        }
        Ok(&self.sources[&ifindex])
    }

    pub async fn open_advert_socket(&mut self, ifindex: u32, src: IpAddr) -> Result<()> {
        // Learn the interface's MAC and link-local now: announcements need them later.
        self.sources(ifindex).await?;
        let key = (ifindex, src);
        if let Entry::Vacant(e) = self.sockets.entry(key) {
            let s = AdvertSocket::open(ifindex, src, false)
                .with_context(|| format!("advert socket on {}", iface::name_of(ifindex)))?;
            e.insert(s);
        }
        if let Entry::Vacant(e) = self.announcers.entry(ifindex) {
            e.insert(GarpSender::open(ifindex)?);
        }
        Ok(())
    }

    /// The announcement senders, to close apart (see `close.rs`).
    pub fn take_announcers(&mut self) -> Vec<GarpSender> {
        self.announcers.drain().map(|(_, a)| a).collect()
    }

    /// The advert socket sending from `src` on `ifindex`, for batches.
    pub fn advert_socket(&self, ifindex: u32, src: IpAddr) -> Option<&AdvertSocket> {
        self.sockets.get(&(ifindex, src))
    }

    fn target_ifindex(ifindex: u32, v: &VirtualAddress) -> Result<u32> {
        match &v.dev {
            Some(dev) => iface::index_of(dev),
            None => Ok(ifindex),
        }
    }

    /// `use_vmac`: a macvlan `vrrp.<vrid>` on `parent` with the virtual MAC
    /// 00:00:5e:00:01:<vrid> (RFC 5798 §7.3), from which adverts and gratuitous ARPs go out
    /// and on which the addresses live, so clients' caches never need to change on
    /// failover. Returns its ifindex.
    pub async fn ensure_vmac(&mut self, parent: u32, vrid: u8, src: IpAddr) -> Result<u32> {
        let mac = vmac_mac(vrid, false);
        let name = self.vmacs.pick_name(parent, vrid, mac).await?;
        let idx = self
            .vmacs
            .ensure(parent, &name, mac)
            .await
            .with_context(|| format!("use_vmac: creating {name} on {}", iface::name_of(parent)))?;
        if !self.created_vmacs.contains(&name) {
            self.created_vmacs.push(name.clone());
        }
        // Only the macvlan may answer ARP for the addresses it holds.
        if let Err(e) = set_parent_arp_sysctls(parent) {
            tracing::warn!(
                iface = iface::name_of(parent),
                error = format!("{e:#}"),
                "could not set arp_ignore/arp_announce"
            );
        }
        let parent_sources = self.sources(parent).await?.clone();
        self.sources.insert(
            idx,
            Sources {
                mac: Some(mac),
                primary_v4: parent_sources.primary_v4,
                link_local_v6: None,
            },
        );
        if let Entry::Vacant(e) = self.sockets.entry((idx, src)) {
            e.insert(
                AdvertSocket::open(idx, src, false)
                    .with_context(|| format!("advert socket on {name}"))?,
            );
        }
        if let Entry::Vacant(e) = self.announcers.entry(idx) {
            e.insert(GarpSender::open(idx)?);
        }
        tracing::info!(
            vmac = name.as_str(),
            parent = iface::name_of(parent),
            "virtual MAC interface ready"
        );
        Ok(idx)
    }

    /// Remove the macvlans this run created.
    pub async fn remove_vmacs(&mut self) {
        for name in std::mem::take(&mut self.created_vmacs) {
            if let Err(e) = self.vmacs.delete(&name).await {
                tracing::warn!(
                    vmac = name.as_str(),
                    error = format!("{e:#}"),
                    "could not remove virtual MAC interface"
                );
            }
        }
    }

    /// Add a virtual address; `Some(ifindex)` where it was added, `None` when it was
    /// already there (someone else's: never ours to remove).
    pub async fn add_address(&mut self, ifindex: u32, v: &VirtualAddress) -> Result<Option<u32>> {
        let idx = Self::target_ifindex(ifindex, v)?;
        let added = self
            .vips
            .add(idx, v.addr, v.prefix_len, v.label.as_deref())
            .await?;
        if added {
            return Ok(Some(idx));
        }
        // Already there: ours if it carries our tag (put there by this run before).
        let present = self.vips.list(idx).await?;
        let ours = present
            .iter()
            .any(|a| a.addr == v.addr && a.prefix_len == v.prefix_len && a.is_ours());
        Ok(ours.then_some(idx))
    }

    /// Remove a virtual address we added on `ifindex` (the interface it went on).
    pub async fn remove_address(&mut self, ifindex: u32, v: &VirtualAddress) -> Result<()> {
        self.vips
            .remove(ifindex, v.addr, v.prefix_len)
            .await
            .map(|_| ())
    }

    /// The MAC we send from on `ifindex` (the vmac's virtual MAC, or the interface's).
    pub fn mac_of(&self, ifindex: u32) -> Option<[u8; 6]> {
        self.sources.get(&ifindex).and_then(|s| s.mac)
    }

    /// One gratuitous ARP (IPv4) or unsolicited NA (IPv6) for `addr`.
    pub fn announce(&self, ifindex: u32, addr: IpAddr) -> Result<()> {
        let s = self
            .sources
            .get(&ifindex)
            .ok_or_else(|| anyhow!("interface {ifindex} sources unknown"))?;
        let mac = s
            .mac
            .ok_or_else(|| anyhow!("no MAC on {}", iface::name_of(ifindex)))?;
        let sender = self
            .announcers
            .get(&ifindex)
            .ok_or_else(|| anyhow!("no announcer"))?;
        match addr {
            IpAddr::V4(a) => sender.send_garp(a, mac),
            IpAddr::V6(a) => {
                let ll = s
                    .link_local_v6
                    .ok_or_else(|| anyhow!("no link-local address for the NA"))?;
                sender.send_na(a, mac, ll)
            }
        }
    }
}

/// Links (by name) and interfaces' addresses (by ifindex) read in the current turn.
#[derive(Default)]
struct TurnReads {
    links: HashMap<String, Option<Link>>,
    sources: HashSet<u32>,
}
