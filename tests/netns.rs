//! A lab of network namespaces on one bridge, for tests, the demo and benchmarks.
//! Every name carries the lab's prefix; everything the lab made (namespaces, the veths in
//! them, processes it started) is removed when it is dropped, also after a failed assert,
//! and leftovers from a crashed run with the same prefix are removed before starting.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
}

/// Run a command, failing with its stderr when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args)).map(|_| ())
}

/// Remove every namespace whose name starts with `prefix`.
pub fn remove_namespaces(prefix: &str) {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) {
            // Kill whatever still runs inside first, or the namespace lingers.
            let _ = Command::new("ip")
                .args(["netns", "pids", &name])
                .output()
                .map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        let _ = Command::new("kill").args(["-9", pid]).status();
                    }
                });
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
    remove_pins(prefix);
}

/// Remove the pinned XDP links agents in namespaces starting with `prefix` left
/// (`vrrpx/netns/NAME` under each bpffs, docs/kernel-guard.md): a SIGKILLed agent's pin
/// outlives its namespace and would hold its program and maps until reboot.
pub fn remove_pins(prefix: &str) {
    for fs in vrrp_agent::io::pin::BPFFS_CANDIDATES {
        let dir = Path::new(fs).join("vrrpx/netns");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Mount a bpffs where agents under `ip netns exec` find one that outlives them (their
/// /sys is their own; docs/kernel-guard.md), as a host running such agents would.
pub fn ensure_shared_bpffs() -> Result<()> {
    let dir = vrrp_agent::io::pin::SHARED_BPFFS;
    if vrrp_agent::io::pin::existing_bpffs().is_some_and(|p| p == Path::new(dir)) {
        return Ok(());
    }
    // The agents' runtime directory is private (0700); do not create it any wider.
    vrrp_agent::run_dir::ensure_private_dir(Path::new(dir))?;
    run(Command::new("mount").args(["-t", "bpf", "-o", "mode=0700", "bpf", dir])).map(|_| ())
}

impl Lab {
    /// A new lab; `prefix` should be unique per test (e.g. "vxt-mon-"). `VRRPX_LAB_TAG`,
    /// when set, is put in front of it, so several checkouts can run their labs on one
    /// machine at the same time without removing each other's namespaces.
    pub fn new(prefix: &str) -> Result<Lab> {
        let prefix = match std::env::var("VRRPX_LAB_TAG") {
            Ok(tag) if !tag.is_empty() => format!("{tag}{prefix}"),
            _ => prefix.to_string(),
        };
        let prefix = prefix.as_str();
        remove_namespaces(prefix);
        ensure_shared_bpffs()?;
        let mut lab = Lab {
            prefix: prefix.to_string(),
            namespaces: Vec::new(),
            children: Vec::new(),
        };
        lab.add_ns("sw")?;
        lab.exec("sw", &["ip", "link", "add", "br0", "type", "bridge"])?;
        // Flood multicast to every port: there is no IGMP querier in a lab.
        lab.exec(
            "sw",
            &[
                "ip",
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        )?;
        lab.exec("sw", &["ip", "link", "set", "br0", "up"])?;
        // A switch does not run this host's firewall. With br_netfilter loaded (container
        // runtimes load it), every bridged frame went through iptables, a third of the
        // cost of sending an advert here, charged to whichever host sent it.
        for table in ["arptables", "iptables", "ip6tables"] {
            let key = format!("net.bridge.bridge-nf-call-{table}=0");
            let _ = lab.exec("sw", &["sysctl", "-qw", &key]);
        }
        Ok(lab)
    }

    /// Forward on the switch's own kernel threads. Otherwise a frame a host sends is
    /// bridged, and handed to every receiver's XDP program, in the softirq of the sending
    /// syscall, all of it counted as the sender's CPU time (a real switch does that work
    /// in another box). Each switch port gets GRO with UDP forwarding (what makes a veth
    /// take frames through NAPI) and threaded NAPI. Returns the PIDs of the threads, whose
    /// CPU is the switch's.
    pub fn switch_on_own_threads(&self) -> Result<Vec<u32>> {
        let before = napi_threads();
        let sw = self.ns("sw");
        let out = self.exec("sw", &["ip", "-o", "link", "show", "master", "br0"])?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        for port in text
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
        {
            self.exec(
                "sw",
                &[
                    "ethtool",
                    "-K",
                    port,
                    "gro",
                    "on",
                    "rx-udp-gro-forwarding",
                    "on",
                ],
            )
            .with_context(|| format!("ethtool -K {port} in {sw}"))?;
            self.exec(
                "sw",
                &[
                    "sh",
                    "-c",
                    &format!("echo 1 > /sys/class/net/{port}/threaded"),
                ],
            )?;
        }
        let threads: Vec<u32> = napi_threads()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        // Real-time, as switch hardware is never starved by the hosts' work: otherwise a
        // burst waits for the scheduler and the hosts' timing is the switch's.
        for pid in &threads {
            run(Command::new("chrt").args(["-f", "-p", "50", &pid.to_string()]))?;
        }
        Ok(threads)
    }

    /// The full namespace name of host `h`.
    pub fn ns(&self, h: &str) -> String {
        format!("{}{}", self.prefix, h)
    }

    fn add_ns(&mut self, h: &str) -> Result<()> {
        let ns = self.ns(h);
        ip(&["netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        // Addresses usable at once: no duplicate address detection delay in a lab.
        for key in [
            "net.ipv6.conf.all.accept_dad",
            "net.ipv6.conf.default.accept_dad",
        ] {
            let _ = self.exec(h, &["sysctl", "-qw", &format!("{key}=0")]);
        }
        Ok(())
    }

    /// Add host `h` with interface `ifname` on the bridge, holding `addrs` (CIDR); its
    /// switch port is `p-{h}` (see [`Lab::cut`]).
    pub fn host(&mut self, h: &str, ifname: &str, addrs: &[&str]) -> Result<()> {
        self.add_ns(h)?;
        self.plug(h, ifname, &format!("p-{h}"), addrs)
    }

    /// Give an existing host `h` a further interface `ifname` on the bridge; its switch
    /// port is `p-{h}-{ifname}` (see [`Lab::set_port`]).
    pub fn attach(&mut self, h: &str, ifname: &str, addrs: &[&str]) -> Result<()> {
        self.plug(h, ifname, &format!("p-{h}-{ifname}"), addrs)
    }

    /// A veth from `ifname` in host `h` to switch port `port`, both up, `addrs` on it.
    fn plug(&mut self, h: &str, ifname: &str, port: &str, addrs: &[&str]) -> Result<()> {
        let ns = self.ns(h);
        let sw = self.ns("sw");
        ip(&[
            "link", "add", ifname, "netns", &ns, "type", "veth", "peer", "name", port, "netns", &sw,
        ])?;
        ip(&["-n", &sw, "link", "set", port, "master", "br0"])?;
        ip(&["-n", &sw, "link", "set", port, "up"])?;
        for a in addrs {
            ip(&["-n", &ns, "addr", "add", a, "dev", ifname])?;
        }
        ip(&["-n", &ns, "link", "set", ifname, "up"])?;
        Ok(())
    }

    /// Take a switch port down (`up` false) or back up.
    pub fn set_port(&self, port: &str, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns("sw"), "link", "set", port, state])
    }

    /// Cut host `h`'s link to the bridge (the switch side goes down).
    pub fn cut(&self, h: &str) -> Result<()> {
        ip(&[
            "-n",
            &self.ns("sw"),
            "link",
            "set",
            &format!("p-{h}"),
            "down",
        ])
    }

    pub fn command(&self, h: &str, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(h)]).args(argv);
        c
    }

    /// Run `argv` in host `h` and wait for it.
    pub fn exec(&self, h: &str, argv: &[&str]) -> Result<Output> {
        run(&mut self.command(h, argv))
    }

    /// Start `argv` in host `h` with stdout and stderr going to files; it is killed when
    /// the lab is dropped. Returns the index to use with [`Lab::stop`].
    pub fn spawn(&mut self, h: &str, argv: &[&str], stdout: &Path, stderr: &Path) -> Result<usize> {
        let child = self
            .command(h, argv)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(stdout)?)
            .stderr(std::fs::File::create(stderr)?)
            .spawn()
            .with_context(|| format!("starting {argv:?} in {h}"))?;
        self.children.push((argv.join(" "), child));
        Ok(self.children.len() - 1)
    }

    pub fn pid(&self, idx: usize) -> u32 {
        self.children[idx].1.id()
    }

    /// Send `signal` to a spawned process and wait up to `timeout` for it to exit.
    pub fn stop(&mut self, idx: usize, signal: i32, timeout: Duration) -> Result<bool> {
        let (_, child) = &mut self.children[idx];
        // SAFETY: kill(2) on a pid we spawned and have not yet reaped.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(false)
    }

    /// How a spawned process ended, if it has.
    pub fn exit_status(&mut self, idx: usize) -> Option<std::process::ExitStatus> {
        self.children[idx].1.try_wait().ok().flatten()
    }

    /// Whether a spawned process has exited.
    pub fn exited(&mut self, idx: usize) -> bool {
        matches!(self.children[idx].1.try_wait(), Ok(Some(_)))
    }

    /// The MAC address of `ifname` in host `h`.
    pub fn mac(&self, h: &str, ifname: &str) -> Result<[u8; 6]> {
        let path = format!("/sys/class/net/{ifname}/address");
        let out = self.exec(h, &["cat", &path])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut mac = [0u8; 6];
        let parts: Vec<&str> = text.trim().split(':').collect();
        if parts.len() != 6 {
            bail!("{h} {ifname}: no MAC address in {text:?}");
        }
        for (i, part) in parts.iter().enumerate() {
            mac[i] = u8::from_str_radix(part, 16).with_context(|| format!("{h} {ifname}"))?;
        }
        Ok(mac)
    }

    /// The IPv4 addresses on `ifname` in host `h`.
    pub fn addrs(&self, h: &str, ifname: &str) -> Result<Vec<String>> {
        self.addrs_of(h, ifname, &["-4"])
    }

    /// The addresses of both families on `ifname` in host `h`.
    pub fn all_addrs(&self, h: &str, ifname: &str) -> Result<Vec<String>> {
        self.addrs_of(h, ifname, &[])
    }

    fn addrs_of(&self, h: &str, ifname: &str, family: &[&str]) -> Result<Vec<String>> {
        let mut argv = vec!["ip", "-o"];
        argv.extend_from_slice(family);
        argv.extend(["addr", "show", "dev", ifname]);
        let out = self.exec(h, &argv)?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                it.position(|w| w == "inet" || w == "inet6")?;
                it.next().map(|s| s.to_string())
            })
            .collect())
    }

    /// Whether host `h` holds `cidr` (either family) on `ifname`; false when the interface
    /// is missing.
    pub fn holds(&self, h: &str, ifname: &str, cidr: &str) -> bool {
        self.all_addrs(h, ifname)
            .is_ok_and(|a| a.iter().any(|x| x == cidr))
    }
}

/// `n` seconds, for test limits.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Whether `pred` holds at every check (every 100 ms) for `span`.
pub fn holds_for(span: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + span;
    while Instant::now() < end {
        if !pred() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    pred()
}

/// Poll `f` every 20 ms until it returns true or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        remove_namespaces(&self.prefix);
    }
}

/// PIDs of the kernel's threaded-NAPI workers (`napi/<device>-<id>`).
fn napi_threads() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("napi/"))
        })
        .collect()
}
