//! The I/O edges the VRRP engine drives, each checked by its effect on real kernels in lab
//! namespaces: VIPs over rtnetlink (idempotent, precise, marked for crash clean-up),
//! gratuitous ARP and unsolicited NA moving a neighbour entry on another host, adverts
//! leaving with TTL 255 from the right source, and vmac interfaces. Needs root.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use vrrp_agent::io::advert_socket::{AdvertSocket, Outgoing, VRRP_GROUP_V4, VRRP_GROUP_V6};
use vrrp_agent::io::arp::GarpSender;
use vrrp_agent::io::iface::index_of;
use vrrp_agent::io::netlink::{IfAddr, Netlink, Sources};
use vrrp_agent::io::vip::{Vips, VIP_PROTO};
use vrrp_agent::io::vmac::{fmt_mac, set_parent_arp_sysctls, vmac_mac, Vmacs};
use vrrpx_tests::frames::{Advert, Csum};
use vrrpx_tests::inject::in_netns;
use vrrpx_tests::is_root;
use vrrpx_tests::netns::{wait_for, Lab};

/// How long any single step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(10);

fn lab(prefix: &str) -> Lab {
    assert!(
        is_root(),
        "io_edges tests need root (namespaces, raw sockets)"
    );
    Lab::new(prefix).unwrap()
}

/// A lab of host a alone, with `addrs` on eth0.
fn lab_a(prefix: &str, addrs: &[&str]) -> Lab {
    let mut lab = lab(prefix);
    lab.host("a", "eth0", addrs).unwrap();
    lab
}

/// A lab of hosts a and b on one bridge, each with one address on eth0.
fn lab_ab(prefix: &str, a: &str, b: &str) -> Lab {
    let mut lab = lab(prefix);
    lab.host("a", "eth0", &[a]).unwrap();
    lab.host("b", "eth0", &[b]).unwrap();
    lab
}

/// Run an async body on a fresh single-thread runtime inside namespace `ns`, bounded.
fn in_ns_async<T, F, Fut>(ns: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    in_netns(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async { tokio::time::timeout(STEP, f()).await })
            .context("timed out")?
    })
}

/// [`in_ns_async`] in host a, the body given eth0's index there.
fn in_a_eth0<T, F, Fut>(lab: &Lab, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(u32) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    in_ns_async(&lab.ns("a"), || async { f(index_of("eth0")?).await })
}

fn stdout(lab: &Lab, h: &str, argv: &[&str]) -> String {
    String::from_utf8_lossy(&lab.exec(h, argv).unwrap().stdout).into_owned()
}

/// `ip -o addr show dev eth0` lines mentioning `addr/len` exactly.
fn addr_lines(lab: &Lab, h: &str, dev: &str, cidr: &str) -> Vec<String> {
    stdout(lab, h, &["ip", "-o", "addr", "show", "dev", dev])
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == cidr))
        .map(str::to_string)
        .collect()
}

fn mac_of(lab: &Lab, h: &str, dev: &str) -> String {
    stdout(lab, h, &["cat", &format!("/sys/class/net/{dev}/address")])
        .trim()
        .to_string()
}

fn sources(lab: &Lab, h: &str) -> Sources {
    in_ns_async(&lab.ns(h), || async {
        Netlink::connect()?.sources(index_of("eth0")?).await
    })
    .unwrap()
}

#[test]
fn vip_add_is_visible_with_its_label_and_a_second_add_is_a_no_op() {
    let lab = lab_a("vxt-io-add-", &["10.77.1.1/24"]);
    let (first, second, listed) = in_a_eth0(&lab, |eth0| async move {
        let vips = Vips::connect()?;
        let vip = "10.77.1.100".parse()?;
        let first = vips.add(eth0, vip, 24, Some("eth0:vip")).await?;
        let second = vips.add(eth0, vip, 24, Some("eth0:vip")).await?;
        Ok((first, second, vips.list(eth0).await?))
    })
    .unwrap();
    assert!(first, "the first add reports a new address");
    assert!(!second, "the second add reports it was already there");
    let lines = addr_lines(&lab, "a", "eth0", "10.77.1.100/24");
    assert_eq!(lines.len(), 1, "exactly one 10.77.1.100/24: {lines:?}");
    assert!(
        lines[0].contains("eth0:vip"),
        "the label shows in ip addr: {}",
        lines[0]
    );
    let ours: Vec<&IfAddr> = listed.iter().filter(|a| a.is_ours()).collect();
    assert_eq!(ours.len(), 1, "only the VIP is ours: {listed:?}");
    assert_eq!(ours[0].addr, "10.77.1.100".parse::<IpAddr>().unwrap());
    assert_eq!(ours[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(ours[0].proto, VIP_PROTO);
    let primary = listed.iter().find(|a| a.addr.to_string() == "10.77.1.1");
    assert_eq!(primary.map(|a| a.label.clone()), Some(None), "{listed:?}");
}

#[test]
fn vip_remove_takes_only_the_named_address_and_removing_it_again_is_fine() {
    let lab = lab_a("vxt-io-rm-", &["10.77.2.1/24"]);
    let results = in_a_eth0(&lab, |eth0| async move {
        let vips = Vips::connect()?;
        let (v100, v101) = ("10.77.2.100".parse()?, "10.77.2.101".parse()?);
        vips.add(eth0, v100, 24, None).await?;
        vips.add(eth0, v101, 32, None).await?;
        Ok([
            vips.remove(eth0, v100, 24).await?,
            vips.remove(eth0, v100, 24).await?,
            // Same address, other prefix length: not the one named, so untouched.
            vips.remove(eth0, v101, 24).await?,
        ])
    })
    .unwrap();
    assert_eq!(results, [true, false, false]);
    assert!(addr_lines(&lab, "a", "eth0", "10.77.2.100/24").is_empty());
    assert_eq!(addr_lines(&lab, "a", "eth0", "10.77.2.101/32").len(), 1);
    assert_eq!(addr_lines(&lab, "a", "eth0", "10.77.2.1/24").len(), 1);
}

#[test]
fn removing_a_vip_that_is_primary_of_its_subnet_keeps_the_other_vips_of_that_subnet() {
    let lab = lab_a("vxt-io-promo-", &["10.77.3.1/24"]);
    in_a_eth0(&lab, |eth0| async move {
        let vips = Vips::connect()?;
        // 10.88.0.100 is the first address of its subnet, so the kernel makes it primary
        // and 10.88.0.101 its secondary.
        vips.add(eth0, "10.88.0.100".parse()?, 24, None).await?;
        vips.add(eth0, "10.88.0.101".parse()?, 24, None).await?;
        vips.remove(eth0, "10.88.0.100".parse()?, 24).await?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        addr_lines(&lab, "a", "eth0", "10.88.0.101/24").len(),
        1,
        "the secondary VIP was promoted, not removed with the primary"
    );
}

#[test]
fn ipv6_vip_is_usable_at_once_while_dad_holds_other_addresses_tentative() {
    let lab = lab_a("vxt-io-v6-", &[]);
    // The lab turns DAD off; turn it on for eth0 so NODAD is what makes the difference.
    lab.exec("a", &["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1"])
        .unwrap();
    lab.exec(
        "a",
        &["sysctl", "-qw", "net.ipv6.conf.eth0.dad_transmits=3"],
    )
    .unwrap();
    lab.exec("a", &["ip", "addr", "add", "fd77:4::1/64", "dev", "eth0"])
        .unwrap();
    in_ns_async(&lab.ns("a"), || async {
        let vips = Vips::connect()?;
        vips.add(index_of("eth0")?, "fd78::100".parse()?, 64, None)
            .await?;
        Ok(())
    })
    .unwrap();
    let control = addr_lines(&lab, "a", "eth0", "fd77:4::1/64");
    assert!(
        control.len() == 1 && control[0].contains("tentative"),
        "DAD is active on eth0 (control address): {control:?}"
    );
    let vip = addr_lines(&lab, "a", "eth0", "fd78::100/64");
    assert!(
        vip.len() == 1 && !vip[0].contains("tentative"),
        "the VIP skips DAD: {vip:?}"
    );
    let routes = stdout(&lab, "a", &["ip", "-6", "route", "show", "dev", "eth0"]);
    assert!(
        routes.lines().any(|l| l.starts_with("fd78::/64")),
        "the VIP keeps its prefix route: {routes}"
    );
}

#[test]
fn crash_cleanup_finds_and_removes_only_our_addresses_on_every_interface() {
    let lab = lab_a("vxt-io-clean-", &["10.77.5.1/24", "fd77:5::1/64"]);
    lab.exec(
        "a",
        &[
            "ip", "link", "add", "x0", "type", "veth", "peer", "name", "x1",
        ],
    )
    .unwrap();
    lab.exec("a", &["ip", "link", "set", "x0", "up"]).unwrap();
    // An administrator's addresses, in the same subnets as ours.
    for (a, dev) in [
        ("10.77.5.50/24", "eth0"),
        ("fd77:5::50/64", "eth0"),
        ("10.77.6.50/24", "x0"),
    ] {
        lab.exec("a", &["ip", "addr", "add", a, "dev", dev])
            .unwrap();
    }
    // A first run adds VIPs and "crashes" (its runtime and connection just go away).
    in_ns_async(&lab.ns("a"), || async {
        let vips = Vips::connect()?;
        let (eth0, x0) = (index_of("eth0")?, index_of("x0")?);
        vips.add(eth0, "10.77.5.100".parse()?, 24, Some("eth0:vi"))
            .await?;
        vips.add(eth0, "fd77:5::100".parse()?, 64, None).await?;
        vips.add(x0, "10.77.6.100".parse()?, 24, None).await?;
        Ok(())
    })
    .unwrap();
    // The next run cleans up.
    let (found, removed, left) = in_ns_async(&lab.ns("a"), || async {
        let vips = Vips::connect()?;
        let found = vips.list_ours(None).await?;
        let removed = vips.remove_all_ours().await?;
        Ok((found, removed, vips.list_ours(None).await?))
    })
    .unwrap();
    let mut names: Vec<String> = found
        .iter()
        .map(|a| format!("{}/{}", a.addr, a.prefix_len))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["10.77.5.100/24", "10.77.6.100/24", "fd77:5::100/64"],
        "{found:?}"
    );
    assert_eq!(removed.len(), 3);
    assert!(left.is_empty(), "{left:?}");
    for (cidr, dev) in [
        ("10.77.5.1/24", "eth0"),
        ("10.77.5.50/24", "eth0"),
        ("fd77:5::1/64", "eth0"),
        ("fd77:5::50/64", "eth0"),
        ("10.77.6.50/24", "x0"),
    ] {
        assert_eq!(addr_lines(&lab, "a", dev, cidr).len(), 1, "{cidr} stays");
    }
    for (cidr, dev) in [
        ("10.77.5.100/24", "eth0"),
        ("fd77:5::100/64", "eth0"),
        ("10.77.6.100/24", "x0"),
    ] {
        assert!(
            addr_lines(&lab, "a", dev, cidr).is_empty(),
            "{cidr} is gone"
        );
    }
}

/// B's neighbour entry for `ip`, as `ip neigh` prints it.
fn neigh(lab: &Lab, h: &str, ip: &str) -> String {
    stdout(lab, h, &["ip", "neigh", "show", ip, "dev", "eth0"])
        .trim()
        .to_string()
}

/// Make host `h` believe `ip` is at another MAC (a stale entry, as an old master leaves).
fn stale_neighbour(lab: &Lab, h: &str, ip: &str) {
    let argv = ["ip", "neigh", "replace", ip, "lladdr", "02:00:00:00:00:99"];
    lab.exec(h, &[&argv[..], &["dev", "eth0", "nud", "stale"]].concat())
        .unwrap();
}

#[test]
fn gratuitous_arp_from_a_moves_the_vip_in_b_neighbour_table_to_a_mac() {
    let lab = lab_ab("vxt-io-garp-", "10.77.7.1/24", "10.77.7.2/24");
    // B believes the VIP is elsewhere (the old master).
    stale_neighbour(&lab, "b", "10.77.7.100");
    let a_mac = sources(&lab, "a").mac.expect("eth0 has a MAC");
    assert_eq!(fmt_mac(a_mac), mac_of(&lab, "a", "eth0"));
    in_netns(&lab.ns("a"), move || {
        GarpSender::open(index_of("eth0")?)?.send_garp(Ipv4Addr::new(10, 77, 7, 100), a_mac)
    })
    .unwrap();
    let moved = wait_for(Duration::from_secs(3), || {
        neigh(&lab, "b", "10.77.7.100").contains(&fmt_mac(a_mac))
    });
    assert!(
        moved,
        "B still has {:?}, expected A's {}",
        neigh(&lab, "b", "10.77.7.100"),
        fmt_mac(a_mac)
    );
}

#[test]
fn unsolicited_na_from_a_moves_the_ipv6_vip_in_b_neighbour_table_to_a_mac() {
    let lab = lab_ab("vxt-io-na-", "fd77:8::1/64", "fd77:8::2/64");
    stale_neighbour(&lab, "b", "fd77:8::100");
    let s = sources(&lab, "a");
    let (mac, ll) = (
        s.mac.unwrap(),
        s.link_local_v6.expect("a link-local on eth0"),
    );
    in_netns(&lab.ns("a"), move || {
        GarpSender::open(index_of("eth0")?)?.send_na("fd77:8::100".parse()?, mac, ll)
    })
    .unwrap();
    let moved = wait_for(Duration::from_secs(3), || {
        neigh(&lab, "b", "fd77:8::100").contains(&fmt_mac(mac))
    });
    let entry = neigh(&lab, "b", "fd77:8::100");
    assert!(
        moved,
        "B still has {entry:?}, expected A's {}",
        fmt_mac(mac)
    );
    assert!(entry.contains("router"), "R=1 marks A as a router: {entry}");
}

/// An AF_PACKET socket on one interface that hands back every frame it sees.
struct Observer {
    fd: OwnedFd,
}

impl Observer {
    fn open(ifname: &str) -> Result<Observer> {
        let ifindex = index_of(ifname)?;
        let eth_p_all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; checked below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(eth_p_all)) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("AF_PACKET socket");
        }
        // SAFETY: freshly created descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: zeroed sockaddr_ll is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = eth_p_all;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is valid and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context("bind");
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: tv is a live timeval and its size is passed.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        Ok(Observer { fd })
    }

    /// The next frame, or `None` after 100 ms of silence.
    fn next(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        // SAFETY: buf is live and its length is passed.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        (n > 0).then(|| {
            buf.truncate(n as usize);
            buf
        })
    }
}

/// Wait up to `limit` on `fd` being readable.
fn readable(fd: i32, limit: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, limit.as_millis() as i32) > 0 }
}

/// What B saw of A's adverts: VRRP frames on the wire, and what B's own advert socket
/// received (source, destination, hop limit, payload).
struct Seen {
    frames: Vec<Vec<u8>>,
    received: Vec<(IpAddr, IpAddr, u8, Vec<u8>)>,
}

/// In B, watch eth0 and an advert socket (receiving) until `want` VRRP frames and
/// `want` socket reads have arrived or 5 s pass. Signals `ready` once both are open.
fn watch_adverts(
    lab: &Lab,
    b_src: IpAddr,
    want: usize,
) -> (mpsc::Receiver<()>, std::thread::JoinHandle<Result<Seen>>) {
    let (tx, rx) = mpsc::channel();
    let ns = lab.ns("b");
    let handle = std::thread::spawn(move || {
        in_netns(&ns, move || {
            let obs = Observer::open("eth0")?;
            let sock = AdvertSocket::open(index_of("eth0")?, b_src, true)?;
            tx.send(()).ok();
            let mut seen = Seen {
                frames: Vec::new(),
                received: Vec::new(),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && seen.frames.len() < want {
                if let Some(f) = obs.next() {
                    let vrrp = match u16::from_be_bytes([f[12], f[13]]) {
                        0x0800 => f.get(23) == Some(&112),
                        0x86dd => f.get(20) == Some(&112),
                        _ => false,
                    };
                    if vrrp {
                        seen.frames.push(f);
                    }
                }
            }
            let mut buf = [0u8; 2048];
            while Instant::now() < deadline && seen.received.len() < want {
                if !readable(sock.as_raw_fd(), Duration::from_millis(100)) {
                    continue;
                }
                let r = sock.recv(&mut buf)?;
                let payload = buf[r.payload.clone()].to_vec();
                seen.received.push((r.src, r.dst, r.hop_limit, payload));
            }
            Ok(seen)
        })
    });
    (rx, handle)
}

fn v3_message(src: IpAddr, dst: IpAddr, vip: IpAddr) -> Vec<u8> {
    let mut a = if src.is_ipv4() {
        Advert::v3_ipv4()
    } else {
        Advert::v3_ipv6()
    };
    a.src = src;
    a.dst = dst;
    a.addrs = vec![vip];
    a.csum = Csum::Pseudo;
    a.vrrp_bytes()
}

#[test]
fn ipv4_adverts_leave_with_ttl_255_from_the_primary_address_to_the_group_and_to_a_peer() {
    let mut lab = lab_a("vxt-io-adv4-", &["10.77.9.1/24", "10.77.9.7/24"]);
    lab.host("b", "eth0", &["10.77.9.2/24"]).unwrap();
    // A VIP on A must not be taken as the source.
    in_ns_async(&lab.ns("a"), || async {
        Vips::connect()?
            .add(index_of("eth0")?, "10.99.0.100".parse()?, 24, None)
            .await?;
        Ok(())
    })
    .unwrap();
    let s = sources(&lab, "a");
    let src = IpAddr::V4(s.primary_v4.expect("a primary IPv4 address"));
    assert_eq!(src, "10.77.9.1".parse::<IpAddr>().unwrap());
    let a_mac = s.mac.unwrap();
    let peer: IpAddr = "10.77.9.2".parse().unwrap();
    let vip: IpAddr = "10.77.9.100".parse().unwrap();
    let to_group = v3_message(src, VRRP_GROUP_V4.into(), vip);
    let to_peer = v3_message(src, peer, vip);

    let (ready, watcher) = watch_adverts(&lab, "10.77.9.2".parse().unwrap(), 2);
    ready.recv_timeout(STEP).expect("B's observer is ready");
    let (g, p) = (to_group.clone(), to_peer.clone());
    in_netns(&lab.ns("a"), move || {
        let sock = AdvertSocket::open(index_of("eth0")?, src, false)?;
        sock.send(&g, VRRP_GROUP_V4.into())?;
        sock.send(&p, peer)
    })
    .unwrap();
    let seen = watcher.join().unwrap().unwrap();

    assert_eq!(seen.frames.len(), 2, "B saw both adverts on the wire");
    let group_mac = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
    let b_mac = mac_bytes(&mac_of(&lab, "b", "eth0"));
    for (f, dst_mac, dst, msg) in [
        (&seen.frames[0], group_mac, VRRP_GROUP_V4, &to_group),
        (
            &seen.frames[1],
            b_mac,
            Ipv4Addr::new(10, 77, 9, 2),
            &to_peer,
        ),
    ] {
        assert_eq!(f[0..6], dst_mac, "to the group MAC, then to B's MAC");
        assert_eq!(&f[6..12], &a_mac, "from A's MAC");
        let ip = &f[14..];
        assert_eq!(ip[0], 0x45, "IPv4 without options");
        assert_eq!(ip[1], 0xc0, "network-control TOS");
        assert_eq!(ip[8], 255, "TTL 255");
        assert_eq!(ip[9], 112, "protocol VRRP");
        assert_eq!(
            &ip[12..16],
            &[10, 77, 9, 1],
            "source is A's primary address"
        );
        assert_eq!(&ip[16..20], &dst.octets());
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(&ip[20..total], msg.as_slice(), "payload as handed in");
    }
    assert_eq!(seen.received.len(), 2, "B's advert socket read both");
    assert_eq!(seen.received[0], (src, VRRP_GROUP_V4.into(), 255, to_group));
    assert_eq!(seen.received[1], (src, peer, 255, to_peer));
}

#[test]
fn a_batch_leaves_in_order_with_each_messages_ttl_and_a_refused_message_is_reported_by_index() {
    let mut lab = lab_a("vxt-io-batch-", &["10.77.8.1/24"]);
    lab.host("b", "eth0", &["10.77.8.2/24"]).unwrap();
    let src: IpAddr = "10.77.8.1".parse().unwrap();
    let peer: IpAddr = "10.77.8.2".parse().unwrap();
    let vip: IpAddr = "10.77.8.100".parse().unwrap();
    let to_group = v3_message(src, VRRP_GROUP_V4.into(), vip);
    let to_peer = v3_message(src, peer, vip);

    let (ready, watcher) = watch_adverts(&lab, peer, 3);
    ready.recv_timeout(STEP).expect("B's observer is ready");
    let (g, p) = (to_group.clone(), to_peer.clone());
    let failed = in_netns(&lab.ns("a"), move || {
        let sock = AdvertSocket::open(index_of("eth0")?, src, false)?;
        let batch = [
            Outgoing {
                msg: &g,
                dst: VRRP_GROUP_V4.into(),
                ttl: None,
            },
            Outgoing {
                msg: &p,
                dst: peer,
                ttl: Some(64),
            },
            // An IPv6 destination on an IPv4 socket: refused, the rest still go.
            Outgoing {
                msg: &p,
                dst: VRRP_GROUP_V6.into(),
                ttl: None,
            },
            Outgoing {
                msg: &p,
                dst: peer,
                ttl: None,
            },
        ];
        Ok(sock
            .send_batch(&batch)
            .into_iter()
            .map(|(k, e)| (k, format!("{e:#}")))
            .collect::<Vec<_>>())
    })
    .unwrap();
    let seen = watcher.join().unwrap().unwrap();

    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0].0, 2,
        "the refused message by its index: {failed:?}"
    );
    assert!(failed[0].1.contains("ff02::12"), "{}", failed[0].1);
    assert_eq!(seen.frames.len(), 3, "B saw the three others on the wire");
    for (f, dst, ttl, msg) in [
        (&seen.frames[0], VRRP_GROUP_V4, 255, &to_group),
        (&seen.frames[1], Ipv4Addr::new(10, 77, 8, 2), 64, &to_peer),
        (&seen.frames[2], Ipv4Addr::new(10, 77, 8, 2), 255, &to_peer),
    ] {
        let ip = &f[14..];
        assert_eq!(ip[8], ttl, "TTL as given for this message");
        assert_eq!(
            &ip[12..16],
            &[10, 77, 8, 1],
            "from A's address (IP_PKTINFO)"
        );
        assert_eq!(&ip[16..20], &dst.octets());
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(&ip[20..total], msg.as_slice(), "payload as handed in");
    }
}

#[test]
fn ipv6_adverts_leave_with_hop_limit_255_from_the_link_local_address_to_ff02_12() {
    let lab = lab_ab("vxt-io-adv6-", "fd77:a::1/64", "fd77:a::2/64");
    let s = sources(&lab, "a");
    let ll: Ipv6Addr = s.link_local_v6.expect("A has a link-local address");
    let b_ll = sources(&lab, "b").link_local_v6.unwrap();
    let msg = v3_message(
        ll.into(),
        VRRP_GROUP_V6.into(),
        "fd77:a::100".parse().unwrap(),
    );

    let (ready, watcher) = watch_adverts(&lab, b_ll.into(), 1);
    ready.recv_timeout(STEP).expect("B's observer is ready");
    let m = msg.clone();
    in_netns(&lab.ns("a"), move || {
        AdvertSocket::open(index_of("eth0")?, ll.into(), false)?.send(&m, VRRP_GROUP_V6.into())
    })
    .unwrap();
    let seen = watcher.join().unwrap().unwrap();

    assert_eq!(seen.frames.len(), 1, "B saw the advert on the wire");
    let f = &seen.frames[0];
    assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 0x12]);
    assert_eq!(&f[6..12], &s.mac.unwrap());
    let ip = &f[14..];
    assert_eq!(ip[0] >> 4, 6);
    assert_eq!(
        ((ip[0] & 0x0f) << 4) | (ip[1] >> 4),
        0xc0,
        "network-control class"
    );
    assert_eq!(ip[6], 112, "next header VRRP");
    assert_eq!(ip[7], 255, "hop limit 255");
    assert_eq!(&ip[8..24], &ll.octets(), "source is A's link-local");
    assert_eq!(&ip[24..40], &VRRP_GROUP_V6.octets());
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    assert_eq!(&ip[40..40 + plen], msg.as_slice());
    assert_eq!(
        seen.received,
        [(ll.into(), VRRP_GROUP_V6.into(), 255, msg)],
        "B's advert socket read it with hop limit and destination"
    );
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// `ip -d -o link show NAME` in host `h`, or `None` when there is no such link.
fn link_line(lab: &Lab, h: &str, name: &str) -> Option<String> {
    let out = lab
        .command(h, &["ip", "-d", "-o", "link", "show", name])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn vmac_is_created_up_with_the_virtual_mac_reused_when_asked_again_then_deleted() {
    let lab = lab_a("vxt-io-vmac-", &["10.77.11.1/24"]);
    let (idx1, idx2, idx6) = in_a_eth0(&lab, |eth0| async move {
        let vmacs = Vmacs::connect()?;
        let i1 = vmacs.ensure(eth0, "vrrp.51", vmac_mac(51, false)).await?;
        let i2 = vmacs.ensure(eth0, "vrrp.51", vmac_mac(51, false)).await?;
        let i6 = vmacs.ensure(eth0, "vrrp6.51", vmac_mac(51, true)).await?;
        set_parent_arp_sysctls(eth0)?;
        Ok((i1, i2, i6))
    })
    .unwrap();
    assert_eq!(idx1, idx2, "the second ensure reuses the interface");
    assert_ne!(idx1, idx6);
    for (name, mac) in [
        ("vrrp.51", "00:00:5e:00:01:33"),
        ("vrrp6.51", "00:00:5e:00:02:33"),
    ] {
        let l = link_line(&lab, "a", name).unwrap_or_else(|| panic!("{name} exists"));
        assert!(l.contains(&format!("{name}@eth0:")), "{l}");
        assert!(l.contains(&format!("link/ether {mac}")), "{l}");
        assert!(l.contains("macvlan mode bridge"), "{l}");
        assert!(l.contains(",UP"), "administratively up: {l}");
        assert!(l.contains("addrgenmode none"), "no shared link-local: {l}");
        let v6 = stdout(&lab, "a", &["ip", "-6", "-o", "addr", "show", "dev", name]);
        assert!(v6.trim().is_empty(), "{name} has no IPv6 address: {v6}");
    }
    for (key, want) in [("arp_ignore", "1"), ("arp_announce", "2")] {
        let v = stdout(
            &lab,
            "a",
            &["sysctl", "-n", &format!("net.ipv4.conf.eth0.{key}")],
        );
        assert_eq!(v.trim(), want, "{key} on the parent");
    }

    let (wrong, not_macvlan, deleted) = in_a_eth0(&lab, |eth0| async move {
        let vmacs = Vmacs::connect()?;
        let wrong = vmacs
            .ensure(eth0, "vrrp.51", vmac_mac(52, false))
            .await
            .map(|_| ());
        let not_macvlan = vmacs.delete("eth0").await.map(|_| ());
        let deleted = [
            vmacs.delete("vrrp.51").await?,
            vmacs.delete("vrrp.51").await?,
            vmacs.delete("vrrp6.51").await?,
        ];
        Ok((wrong, not_macvlan, deleted))
    })
    .unwrap();
    let e = format!(
        "{:#}",
        wrong.expect_err("a vmac with another MAC is refused")
    );
    assert!(
        e.contains("vrrp.51") && e.contains("00:00:5e:00:01:33"),
        "{e}"
    );
    let e = format!("{:#}", not_macvlan.expect_err("eth0 is not ours to delete"));
    assert!(e.contains("eth0") && e.contains("not a macvlan"), "{e}");
    assert_eq!(deleted, [true, false, true]);
    assert!(link_line(&lab, "a", "vrrp.51").is_none());
    assert!(link_line(&lab, "a", "vrrp6.51").is_none());
    assert!(link_line(&lab, "a", "eth0").is_some());
}

#[test]
fn vip_add_on_a_missing_interface_names_it_in_the_error() {
    let lab = lab_a("vxt-io-err-", &[]);
    let err = in_ns_async(&lab.ns("a"), || async {
        let r = Vips::connect()?
            .add(9999, "10.77.12.1".parse()?, 24, None)
            .await;
        match r {
            Ok(_) => bail!("added to a missing interface"),
            Err(e) => Ok(format!("{e:#}")),
        }
    })
    .unwrap();
    assert!(
        err.contains("10.77.12.1/24") && err.contains("9999"),
        "{err}"
    );
}

/// Open B's advert sockets (IPv4 and IPv6, not receiving) when `hold`, then count the
/// ICMP protocol-unreachable frames B sends while A sends it one unicast advert. Also
/// returns B's multicast memberships on eth0 while the sockets were open.
fn unreachables_from_b(lab: &Lab, hold: bool) -> (usize, String) {
    let (tx, rx) = mpsc::channel();
    let ns = lab.ns("b");
    let ll = sources(lab, "b").link_local_v6.unwrap();
    let watcher = std::thread::spawn(move || {
        in_netns(&ns, move || {
            let eth0 = index_of("eth0")?;
            let _sockets = if hold {
                Some((
                    AdvertSocket::open(eth0, "10.77.13.2".parse()?, false)?,
                    AdvertSocket::open(eth0, ll.into(), false)?,
                ))
            } else {
                None
            };
            let obs = Observer::open("eth0")?;
            tx.send(()).ok();
            let mut unreachables = 0;
            let deadline = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < deadline {
                if let Some(f) = obs.next() {
                    let icmp = f.len() >= 36 && f[12..14] == [0x08, 0x00] && f[23] == 1;
                    if icmp && f[26..30] == [10, 77, 13, 2] && f[34] == 3 && f[35] == 2 {
                        unreachables += 1;
                    }
                }
            }
            Ok(unreachables)
        })
    });
    rx.recv_timeout(STEP).expect("B is ready");
    let src: IpAddr = "10.77.13.1".parse().unwrap();
    let peer: IpAddr = "10.77.13.2".parse().unwrap();
    let msg = v3_message(src, peer, "10.77.13.100".parse().unwrap());
    in_netns(&lab.ns("a"), move || {
        AdvertSocket::open(index_of("eth0")?, src, false)?.send(&msg, peer)
    })
    .unwrap();
    let maddr = stdout(lab, "b", &["ip", "maddr", "show", "dev", "eth0"]);
    (watcher.join().unwrap().unwrap(), maddr)
}

#[test]
fn an_open_advert_socket_joins_the_groups_and_silences_protocol_unreachable_for_unicast_adverts() {
    let lab = lab_ab("vxt-io-icmp-", "10.77.13.1/24", "10.77.13.2/24");
    let (with_socket, maddr) = unreachables_from_b(&lab, true);
    assert_eq!(with_socket, 0, "no ICMP while the socket is open");
    assert!(maddr.contains("224.0.0.18"), "joined 224.0.0.18: {maddr}");
    assert!(maddr.contains("ff02::12"), "joined ff02::12: {maddr}");
    let (without, maddr) = unreachables_from_b(&lab, false);
    assert!(
        without >= 1,
        "control: without the socket B answers with ICMP"
    );
    assert!(!maddr.contains("224.0.0.18"), "left the group: {maddr}");
}
