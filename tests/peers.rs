//! Real VRRP peers (Debian's keepalived) started inside lab hosts.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::netns::Lab;

/// One keepalived VRRP instance.
pub struct KeepalivedInstance<'a> {
    pub name: &'a str,
    pub interface: &'a str,
    pub vrid: u8,
    pub priority: u8,
    /// Seconds; fractions are allowed with version 3.
    pub advert_int: f64,
    pub version: u8,
    pub vips: &'a [&'a str],
    /// v2 PASS authentication.
    pub auth_pass: Option<&'a str>,
}

impl KeepalivedInstance<'_> {
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
pub fn keepalived_config(router_id: &str, instances: &[KeepalivedInstance]) -> String {
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
