//! Real VRRP peers (Debian's keepalived, FRR's vrrpd) started inside lab hosts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::netns::Lab;

/// One VRRP instance as a real peer runs it: a keepalived `vrrp_instance`, or a vrrpd
/// virtual router (which has no name and no authentication, and IPv4 addresses only).
pub struct PeerInstance<'a> {
    /// keepalived's instance name.
    pub name: &'a str,
    pub interface: &'a str,
    pub vrid: u8,
    pub priority: u8,
    /// Seconds; fractions are allowed with version 3 (vrrpd is given milliseconds).
    pub advert_int: f64,
    pub version: u8,
    /// CIDR; for vrrpd the address goes on the macvlan with its prefix, in vrrpd.conf
    /// without.
    pub vips: &'a [&'a str],
    /// v2 PASS authentication (keepalived).
    pub auth_pass: Option<&'a str>,
}

impl<'a> PeerInstance<'a> {
    /// VRRPv3 at 100 ms on eth0 without authentication, as the interop labs run it.
    pub fn v3(name: &'a str, vrid: u8, priority: u8, vips: &'a [&'a str]) -> PeerInstance<'a> {
        PeerInstance {
            name,
            interface: "eth0",
            vrid,
            priority,
            advert_int: 0.1,
            version: 3,
            vips,
            auth_pass: None,
        }
    }

    /// The advert interval as vrrpd's `advertisement-interval` takes it.
    fn advert_ms(&self) -> u32 {
        (self.advert_int * 1000.0).round() as u32
    }

    fn block(&self) -> String {
        let mut s = format!(
            "vrrp_instance {} {{\n  state BACKUP\n  interface {}\n  virtual_router_id {}\n  \
             priority {}\n  advert_int {}\n  version {}\n",
            self.name, self.interface, self.vrid, self.priority, self.advert_int, self.version
        );
        if let Some(p) = self.auth_pass {
            s += &format!("  authentication {{\n    auth_type PASS\n    auth_pass {p}\n  }}\n");
        }
        s += "  virtual_ipaddress {\n";
        for v in self.vips {
            s += &format!("    {v}\n");
        }
        s += "  }\n}\n";
        s
    }
}

/// A keepalived.conf with these instances.
pub fn keepalived_config(router_id: &str, instances: &[PeerInstance]) -> String {
    let mut s = format!("global_defs {{\n  router_id {router_id}\n}}\n");
    for i in instances {
        s += &i.block();
    }
    s
}

/// Start keepalived (VRRP only, foreground, console log) in host `h` with `conf`.
/// Files go to `dir`; returns the lab's process index.
pub fn start_keepalived(lab: &mut Lab, h: &str, conf: &str, dir: &Path) -> Result<usize> {
    let base: PathBuf = dir.join(format!("keepalived-{h}"));
    let conf_path = base.with_extension("conf");
    std::fs::write(&conf_path, conf)?;
    let pid = base.with_extension("pid");
    let vpid = base.with_extension("vrrp.pid");
    let argv = [
        "keepalived",
        "-n",
        "-l",
        "-D",
        "-P",
        "-f",
        conf_path.to_str().unwrap(),
        "-p",
        pid.to_str().unwrap(),
        "-r",
        vpid.to_str().unwrap(),
        "--no-syslog",
    ];
    lab.spawn(
        h,
        &argv,
        &base.with_extension("log"),
        &base.with_extension("err"),
    )
}

/// keepalived's console log (`-l`: stdout and stderr) of its latest run in host `h`.
pub fn keepalived_log(dir: &Path, h: &str) -> String {
    ["log", "err"]
        .iter()
        .map(|ext| {
            std::fs::read_to_string(dir.join(format!("keepalived-{h}.{ext}"))).unwrap_or_default()
        })
        .collect()
}

/// A vrrpd.conf with these routers.
pub fn frr_vrrpd_config(routers: &[PeerInstance]) -> String {
    let mut s = String::new();
    for r in routers {
        let v = r.vrid;
        s += &format!(
            "interface {}\n vrrp {v} version {}\n vrrp {v} priority {}\n \
             vrrp {v} advertisement-interval {}\n",
            r.interface,
            r.version,
            r.priority,
            r.advert_ms()
        );
        for a in r.vips {
            s += &format!(" vrrp {v} ip {}\n", a.split('/').next().unwrap());
        }
        s += "!\n";
    }
    s
}

/// FRR (zebra + vrrpd) running in one lab host, both in the foreground under the lab, so
/// they are killed with it. Files (configs, pid files, vty sockets, logs) live in `dir`.
pub struct Frr {
    pub host: String,
    pub dir: PathBuf,
    pub zebra: usize,
    pub vrrpd: Option<usize>,
    starts: usize,
}

/// Start FRR in host `h` for `routers`: the macvlans vrrpd needs (`vrrp4-<ifindex>-<vrid>`,
/// bridge mode, virtual MAC, VIPs on them, `arp_ignore=1`/`arp_announce=2` so the parent
/// does not answer ARP for them), then zebra, then vrrpd. Files go to `dir/frr-<h>`.
pub fn start_frr(lab: &mut Lab, h: &str, routers: &[PeerInstance], dir: &Path) -> Result<Frr> {
    use std::os::unix::fs::PermissionsExt;

    let fdir = dir.join(format!("frr-{h}"));
    let _ = std::fs::remove_dir_all(&fdir);
    std::fs::create_dir_all(&fdir)?;
    // The daemons run as user frr: they must write their sockets, pid files and logs here.
    std::fs::set_permissions(&fdir, std::fs::Permissions::from_mode(0o777))?;
    lab.exec(
        h,
        &[
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
        ],
    )?;
    for r in routers {
        let out = lab.exec(
            h,
            &["cat", &format!("/sys/class/net/{}/ifindex", r.interface)],
        )?;
        let ifx = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mv = format!("vrrp4-{ifx}-{}", r.vrid);
        let mac = format!("00:00:5e:00:01:{:02x}", r.vrid);
        lab.exec(
            h,
            &[
                "ip",
                "link",
                "add",
                &mv,
                "link",
                r.interface,
                "type",
                "macvlan",
                "mode",
                "bridge",
            ],
        )?;
        lab.exec(h, &["ip", "link", "set", &mv, "address", &mac])?;
        for a in r.vips {
            lab.exec(h, &["ip", "addr", "add", a, "dev", &mv])?;
        }
        lab.exec(h, &["ip", "link", "set", &mv, "up"])?;
    }
    let zconf = fdir.join("zebra.conf");
    std::fs::write(&zconf, format!("hostname {h}-zebra\n"))?;
    std::fs::set_permissions(&zconf, std::fs::Permissions::from_mode(0o644))?;
    let mut frr = Frr {
        host: h.to_string(),
        dir: fdir,
        zebra: 0,
        vrrpd: None,
        starts: 0,
    };
    frr.zebra = frr.spawn(lab, "zebra", &zconf)?;
    // vrrpd connects to zebra's socket: wait until it exists.
    let api = frr.dir.join("zserv.api");
    if !crate::netns::wait_for(Duration::from_secs(10), || api.exists()) {
        bail!("zebra in {h} did not create {}", api.display());
    }
    frr.start_vrrpd(lab, routers)?;
    Ok(frr)
}

impl Frr {
    fn spawn(&mut self, lab: &mut Lab, daemon: &str, conf: &Path) -> Result<usize> {
        self.starts += 1;
        let d = |f: &str| self.dir.join(f).to_str().unwrap().to_string();
        let ns = lab.ns(&self.host);
        let bin = format!("/usr/lib/frr/{daemon}");
        let pid = d(&format!("{daemon}.pid"));
        let log = format!("file:{}", d(&format!("{daemon}-{}.log", self.starts)));
        let (api, vty) = (d("zserv.api"), d(""));
        let argv = [
            bin.as_str(),
            "-N",
            &ns,
            "-u",
            "frr",
            "-g",
            "frr",
            "-P",
            "0",
            "-z",
            &api,
            "--vty_socket",
            &vty,
            "-f",
            conf.to_str().unwrap(),
            "-i",
            &pid,
            "--log",
            &log,
        ];
        let base = self.dir.join(format!("{daemon}-{}", self.starts));
        lab.spawn(
            &self.host,
            &argv,
            &base.with_extension("out"),
            &base.with_extension("err"),
        )
    }

    /// (Re)start vrrpd with a config for `routers` (the macvlans must already exist).
    pub fn start_vrrpd(&mut self, lab: &mut Lab, routers: &[PeerInstance]) -> Result<()> {
        if self.vrrpd.is_some() {
            bail!("vrrpd already runs in {}", self.host);
        }
        let conf = self.dir.join(format!("vrrpd-{}.conf", self.starts + 1));
        std::fs::write(&conf, frr_vrrpd_config(routers))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644))?;
        }
        self.vrrpd = Some(self.spawn(lab, "vrrpd", &conf)?);
        Ok(())
    }

    /// Stop vrrpd with SIGTERM (a master sends a priority-0 advert); SIGKILL after 5 s.
    pub fn stop_vrrpd(&mut self, lab: &mut Lab) -> Result<()> {
        if let Some(idx) = self.vrrpd.take() {
            if !lab.stop(idx, libc::SIGTERM, Duration::from_secs(5))? {
                lab.stop(idx, libc::SIGKILL, Duration::from_secs(2))?;
            }
        }
        Ok(())
    }

    /// `show vrrp json`, parsed.
    pub fn show_vrrp(&self, lab: &Lab) -> Result<serde_json::Value> {
        let out = lab.exec(
            &self.host,
            &[
                "vtysh",
                "--vty_socket",
                self.dir.to_str().unwrap(),
                "-c",
                "show vrrp json",
            ],
        )?;
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "parsing `show vrrp json`: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The IPv4 half of virtual router `vrid` in `show vrrp json` (status, stats, ...).
    pub fn router_v4(&self, lab: &Lab, vrid: u8) -> Option<serde_json::Value> {
        let all = self.show_vrrp(lab).ok()?;
        all.as_array()?
            .iter()
            .find(|r| r["vrid"] == u64::from(vrid))
            .map(|r| r["v4"].clone())
    }

    /// The IPv4 status of virtual router `vrid` ("Initialize", "Backup", "Master"), or
    /// `None` when vrrpd does not answer.
    pub fn status_v4(&self, lab: &Lab, vrid: u8) -> Option<String> {
        self.router_v4(lab, vrid)?["status"]
            .as_str()
            .map(str::to_string)
    }

    /// vrrpd's log files so far, for assertion messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for p in names {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if n.starts_with("vrrpd-") && n.ends_with(".log") {
                s += &format!(
                    "--- {n}\n{}",
                    std::fs::read_to_string(&p).unwrap_or_default()
                );
            }
        }
        s
    }
}
