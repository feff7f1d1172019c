//! The Debian package `cargo xtask deb` writes to target/debian/ (`cargo xtask test` builds
//! it before the tests run): what it holds, what its maintainer scripts do on a systemd
//! host, and an install into a scratch root followed by a purge that leaves nothing.
//!
//! Nothing here installs onto this machine: dpkg works on a scratch root with its own
//! database (`--root`), its scripts run unchrooted with `DPKG_ROOT` set (they touch only
//! paths under it), and the systemd host the scripts are shown is a tmpfs on /run in a
//! private mount namespace with a recording `systemctl` first on PATH.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vrrpx_tests::netns::{wait_for, Lab};
use vrrpx_tests::{is_root, scratch, workspace};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

fn arch() -> String {
    stdout(Command::new("dpkg").arg("--print-architecture"))
        .trim()
        .to_string()
}

/// The package for this version, as `cargo xtask deb` names it.
fn package() -> PathBuf {
    assert!(
        is_root(),
        "the package tests need root (dpkg --root); run `cargo xtask test`"
    );
    let dir = workspace().join("target/debian");
    let prefix = format!("vrrpx_{VERSION}-");
    let suffix = format!("_{}.deb", arch());
    std::fs::read_dir(&dir)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(&suffix)
        })
        .unwrap_or_else(|| {
            panic!(
                "no {prefix}*{suffix} in {}: run `cargo xtask deb`",
                dir.display()
            )
        })
}

/// The package's paths as `dpkg-deb -c` lists them, without the leading `./`, with the
/// mode string of each (`-rwxr-xr-x`, `drwxr-xr-x`).
fn listing(deb: &Path) -> Vec<(String, String)> {
    stdout(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let path = fields.get(5)?.strip_prefix("./")?.trim_end_matches('/');
            (!path.is_empty()).then(|| (path.to_string(), fields[0].to_string()))
        })
        .collect()
}

fn gunzip(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..2], b"\x1f\x8b", "{} is gzip'd", path.display());
    stdout(Command::new("gzip").arg("-dc").arg(path))
}

fn extract(deb: &Path, name: &str) -> PathBuf {
    let dir = scratch(name);
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir.join("root")));
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(dir.join("control")));
    dir
}

#[test]
fn package_holds_the_agent_unit_default_file_man_pages_and_completions() {
    let deb = package();
    let control = |field: &str| {
        stdout(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(field))
            .trim()
            .to_string()
    };
    assert_eq!(control("Package"), "vrrpx");
    assert_eq!(control("Architecture"), arch());
    let version = control("Version");
    assert!(version.starts_with(&format!("{VERSION}-")), "{version}");
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("vrrpx_{version}_{}.deb", arch())
    );

    let list = listing(&deb);
    let mode = |p: &str| {
        list.iter()
            .find(|(path, _)| path == p)
            .map(|(_, m)| m.as_str())
            .unwrap_or_else(|| panic!("{p} not in the package: {list:?}"))
    };
    assert_eq!(mode("usr/sbin/vrrp-agent"), "-rwxr-xr-x");
    for file in [
        "lib/systemd/system/vrrpx.service",
        "etc/default/vrrpx",
        "usr/share/man/man8/vrrp-agent.8.gz",
        "usr/share/man/man8/vrrp-agent-run.8.gz",
        "usr/share/man/man8/vrrp-agent-check.8.gz",
        "usr/share/man/man8/vrrp-agent-monitor.8.gz",
        "usr/share/man/man5/vrrpx.conf.5.gz",
        "usr/share/bash-completion/completions/vrrp-agent",
        "usr/share/zsh/vendor-completions/_vrrp-agent",
        "usr/share/fish/vendor_completions.d/vrrp-agent.fish",
        "usr/share/doc/vrrpx/changelog.Debian.gz",
        "usr/share/doc/vrrpx/copyright",
    ] {
        assert_eq!(mode(file), "-rw-r--r--", "{file}");
    }
    // The hidden packaging subcommands make no pages of their own.
    assert!(
        !list
            .iter()
            .any(|(p, _)| p.contains("generate-man") || p.contains("completions.8")),
        "{list:?}"
    );

    let dir = extract(&deb, "deb-contents");
    let root = dir.join("root");
    let at = |p: &str| root.join(p);

    // The agent carries the XDP object the repository built, so it needs nothing else.
    let object = std::fs::read(workspace().join("target/bpfel-unknown-none/release/vrrp-ebpf"))
        .expect("the XDP object (cargo xtask build-ebpf)");
    assert_eq!(&object[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([object[18], object[19]]), 247, "EM_BPF");
    let agent = std::fs::read(at("usr/sbin/vrrp-agent")).unwrap();
    assert!(
        agent.windows(object.len()).any(|w| w == object),
        "the packaged agent embeds the XDP object"
    );
    let v = stdout(Command::new(at("usr/sbin/vrrp-agent")).arg("--version"));
    assert_eq!(v.trim(), format!("vrrp-agent {VERSION}"));

    // The unit reads the file /etc/default/vrrpx names, keepalived's by default, and never
    // runs beside keepalived.
    let unit = std::fs::read_to_string(at("lib/systemd/system/vrrpx.service")).unwrap();
    for line in [
        "Conflicts=keepalived.service",
        "Type=notify",
        "Environment=VRRPX_CONFIG=/etc/keepalived/keepalived.conf",
        "EnvironmentFile=-/etc/default/vrrpx",
        "ExecStartPre=/usr/sbin/vrrp-agent check -f ${VRRPX_CONFIG}",
        "ExecStart=/usr/sbin/vrrp-agent run -f ${VRRPX_CONFIG} $VRRPX_OPTS",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "unit lacks {line}:\n{unit}"
        );
    }
    verify_unit(&root);
    let default = std::fs::read_to_string(at("etc/default/vrrpx")).unwrap();
    assert!(default
        .lines()
        .any(|l| l == "VRRPX_CONFIG=/etc/keepalived/keepalived.conf"));
    let conffiles = std::fs::read_to_string(dir.join("control/conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/default/vrrpx");

    // Man pages: compressed, with a NAME line whatis can index, and rendering.
    for (page, name) in [
        ("usr/share/man/man8/vrrp-agent.8.gz", "vrrp-agent - "),
        (
            "usr/share/man/man8/vrrp-agent-run.8.gz",
            "vrrp-agent-run - ",
        ),
        ("usr/share/man/man5/vrrpx.conf.5.gz", "vrrpx.conf - "),
    ] {
        gunzip(&at(page));
        let whatis = stdout(Command::new("lexgrog").arg(at(page)));
        assert!(whatis.contains(name), "{page}: {whatis}");
    }
    let render = |page: &str| {
        stdout(
            Command::new("man")
                .env("MANWIDTH", "100")
                .env("MAN_KEEP_FORMATTING", "")
                .args(["--no-hyphenation", "--no-justification", "-l"])
                .arg(at(page)),
        )
    };
    let agent_page = render("usr/share/man/man8/vrrp-agent.8.gz");
    for text in [
        "vrrp-agent-monitor(8)",
        "/etc/default/vrrpx",
        "vrrpx.conf(5)",
    ] {
        assert!(
            agent_page.contains(text),
            "vrrp-agent(8) lacks {text}:\n{agent_page}"
        );
    }
    let conf_page = render("usr/share/man/man5/vrrpx.conf.5.gz");
    for text in [
        "KEYWORDS",
        "virtual_router_id",
        "advert_int",
        "vrrpx:http",
        "VRRPX_CONFIG",
    ] {
        assert!(
            conf_page.contains(text),
            "vrrpx.conf(5) lacks {text}:\n{conf_page}"
        );
    }

    // Completions know the subcommands, and the bash one parses.
    let bash = at("usr/share/bash-completion/completions/vrrp-agent");
    run(Command::new("bash").arg("-n").arg(&bash));
    let bash = std::fs::read_to_string(bash).unwrap();
    assert!(
        bash.contains("monitor") && bash.contains("--xdp-mode"),
        "{bash}"
    );
    assert!(
        !bash.contains("generate-man"),
        "hidden subcommands stay hidden"
    );
    let zsh = std::fs::read_to_string(at("usr/share/zsh/vendor-completions/_vrrp-agent")).unwrap();
    assert!(zsh.starts_with("#compdef vrrp-agent"), "{zsh}");
    let fish =
        std::fs::read_to_string(at("usr/share/fish/vendor_completions.d/vrrp-agent.fish")).unwrap();
    assert!(fish.contains("complete -c vrrp-agent") && fish.contains("monitor"));

    let changelog = gunzip(&at("usr/share/doc/vrrpx/changelog.Debian.gz"));
    assert!(
        changelog.starts_with(&format!("vrrpx ({version}) ")),
        "the changelog's first entry is this version: {changelog}"
    );
    let copyright = std::fs::read_to_string(at("usr/share/doc/vrrpx/copyright")).unwrap();
    assert!(
        copyright.contains("License: MIT OR Apache-2.0"),
        "{copyright}"
    );
}

/// `systemd-analyze verify` on the packaged unit, as on a host with the package installed:
/// a private mount namespace shows the package's /usr/sbin in place of this host's.
fn verify_unit(root: &Path) {
    let script = format!(
        "mount --bind {sbin} /usr/sbin && exec systemd-analyze verify --man=no {unit}",
        sbin = root.join("usr/sbin").display(),
        unit = root.join("lib/systemd/system/vrrpx.service").display()
    );
    let out = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(script));
    let complaints = String::from_utf8_lossy(&out.stderr);
    assert!(
        complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}

/// Every path under `root`, relative to it.
fn tree(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn dpkg(root: &Path, args: &[&str]) -> Output {
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        // The scratch root has no shell to chroot into; the scripts honour DPKG_ROOT.
        .arg("--force-script-chrootless")
        // Nor a libc6 entry in its database.
        .arg("--force-depends")
        .args(args))
}

fn status(root: &Path) -> String {
    let out = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f=${Status}", "vrrpx"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", "vrrpx"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn install_into_a_scratch_root_then_purge_leaves_nothing() {
    let deb = package();
    let host_before = host_status();
    let root = scratch("deb-install").join("root");
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).unwrap();
    }
    std::fs::write(admin.join("status"), "").unwrap();
    let empty = tree(&root);

    dpkg(&root, &["--install", deb.to_str().unwrap()]);
    assert_eq!(status(&root), "install ok installed");
    let files: Vec<String> = listing(&deb).into_iter().map(|(p, _)| p).collect();
    for f in &files {
        assert!(root.join(f).exists(), "{f} installed");
    }
    // The installed agent runs from the scratch root, away from the repository's target/.
    let agent = root.join("usr/sbin/vrrp-agent");
    let check = stdout(
        Command::new(&agent)
            .args(["check", "-f"])
            .arg(workspace().join("configs/pair-master.conf")),
    );
    assert!(check.contains("valid (1 instance(s)"), "{check}");

    // What `systemctl enable vrrpx` would have made on a real host.
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/vrrpx.service",
        wants.join("vrrpx.service"),
    )
    .unwrap();
    let made_by_test: BTreeSet<String> = ["etc/systemd", "etc/systemd/system"]
        .into_iter()
        .map(String::from)
        .collect();

    // Remove keeps the conffile (Debian's rule), and nothing else of the package.
    dpkg(&root, &["--remove", "vrrpx"]);
    assert_eq!(status(&root), "deinstall ok config-files");
    assert!(root.join("etc/default/vrrpx").exists());
    assert!(!agent.exists() && !root.join("lib/systemd/system/vrrpx.service").exists());

    dpkg(&root, &["--purge", "vrrpx"]);
    assert_eq!(status(&root), "", "purged packages leave the status file");
    let left: BTreeSet<String> = tree(&root)
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/dpkg") && !made_by_test.contains(p))
        .collect();
    let expected: BTreeSet<String> = empty
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/dpkg"))
        .chain(["etc".to_string()])
        .collect();
    assert_eq!(
        left, expected,
        "after the purge only the test's own directories remain (no file of the package, \
         no enable link)"
    );
    for f in &files {
        assert!(
            !root.join(f).exists() || made_by_test.contains(f) || f == "etc",
            "{f} left after purge"
        );
    }
    assert!(!admin.join("info/vrrpx.list").exists());
    assert_eq!(
        host_status(),
        host_before,
        "the host's own dpkg database is untouched"
    );
}

/// A `systemctl` that records its arguments and answers `is-active`/`is-enabled` for the
/// units named in FAKE_ACTIVE and FAKE_ENABLED.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$SYSTEMCTL_LOG"
unit=""
for a in "$@"; do case "$a" in *.service) unit="$a" ;; esac; done
case "$*" in
    *is-active*) case " $FAKE_ACTIVE " in *" $unit "*) exit 0 ;; esac; exit 3 ;;
    *is-enabled*) case " $FAKE_ENABLED " in *" $unit "*) exit 0 ;; esac; exit 1 ;;
esac
exit 0
"#;

struct Scripts {
    dir: PathBuf,
}

impl Scripts {
    fn new() -> Scripts {
        let dir = extract(&package(), "deb-scripts");
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("systemctl"), FAKE_SYSTEMCTL).unwrap();
        run(Command::new("chmod").arg("755").arg(bin.join("systemctl")));
        Scripts { dir }
    }

    /// [`Scripts::run`] on a host where `unit` is both active and enabled.
    fn run_while_on(&self, script: &str, args: &[&str], unit: &str) -> (String, Vec<String>) {
        self.run(script, args, unit, unit)
    }

    /// Run one maintainer script as dpkg would on a host where systemd is PID 1; returns
    /// its output and every `systemctl` call it made.
    fn run(
        &self,
        script: &str,
        args: &[&str],
        active: &str,
        enabled: &str,
    ) -> (String, Vec<String>) {
        let log = self.dir.join("systemctl.log");
        let _ = std::fs::remove_file(&log);
        std::fs::write(&log, "").unwrap();
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec \"$@\"")
            .arg("sh")
            .arg(self.dir.join("control").join(script))
            .args(args)
            .env("PATH", path)
            .env_remove("DPKG_ROOT")
            .env("SYSTEMCTL_LOG", &log)
            .env("FAKE_ACTIVE", active)
            .env("FAKE_ENABLED", enabled));
        let calls = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        (String::from_utf8_lossy(&out.stdout).into_owned(), calls)
    }
}

fn starts_anything(calls: &[String]) -> bool {
    calls.iter().any(|c| {
        let verb = c
            .split_whitespace()
            .find(|w| !w.starts_with('-'))
            .unwrap_or("");
        matches!(
            verb,
            "start" | "restart" | "try-restart" | "reload-or-restart" | "enable"
        )
    })
}

#[test]
fn postinst_leaves_a_running_keepalived_alone_and_says_how_to_migrate() {
    let scripts = Scripts::new();
    let (out, calls) = scripts.run_while_on("postinst", &["configure", ""], "keepalived.service");
    assert!(
        calls.iter().any(|c| c.contains("daemon-reload")),
        "{calls:?}"
    );
    assert!(
        !starts_anything(&calls),
        "postinst started or enabled something: {calls:?}"
    );
    assert!(
        out.contains("systemctl disable --now keepalived && systemctl enable --now vrrpx"),
        "{out}"
    );

    // Without keepalived it still starts nothing: the operator enables vrrpx.
    let (out, calls) = scripts.run("postinst", &["configure", ""], "", "");
    assert!(!starts_anything(&calls), "{calls:?}");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn upgrade_keeps_a_running_vrrpx_and_removal_stops_it() {
    let scripts = Scripts::new();
    let (out, calls) = scripts.run_while_on("postinst", &["configure", "0.0.1-1"], "vrrpx.service");
    assert!(
        !starts_anything(&calls),
        "an upgrade does not restart (failover): {calls:?}"
    );
    assert!(out.contains("systemctl restart vrrpx"), "{out}");

    let (_, calls) = scripts.run("prerm", &["upgrade", "0.1.1-1"], "vrrpx.service", "");
    assert!(calls.is_empty(), "{calls:?}");
    let (_, calls) = scripts.run("prerm", &["remove"], "vrrpx.service", "");
    assert_eq!(calls, ["stop vrrpx.service"]);
    let (_, calls) = scripts.run("postrm", &["remove"], "", "");
    assert!(
        calls.iter().all(|c| c.contains("daemon-reload")) && !calls.is_empty(),
        "{calls:?}"
    );
}

/// The packaged agent, run from the scratch root, loads its embedded XDP object: the
/// monitor on a lab interface says the XDP path is live.
#[test]
fn packaged_agent_attaches_its_embedded_xdp_program() {
    let deb = package();
    let dir = extract(&deb, "deb-xdp");
    let agent = dir.join("root/usr/sbin/vrrp-agent");
    let mut lab = Lab::new("vxt-debx-").unwrap();
    lab.host("m", "eth0", &["10.9.7.1/24"]).unwrap();
    let log = dir.join("monitor.err");
    let idx = lab
        .spawn(
            "m",
            &[
                agent.to_str().unwrap(),
                "monitor",
                "-i",
                "eth0",
                "--json",
                "--duration",
                "1",
            ],
            &dir.join("monitor.out"),
            &log,
        )
        .unwrap();
    let exited = wait_for(std::time::Duration::from_secs(10), || lab.exited(idx));
    assert!(exited, "monitor --duration 1 exits");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("path=\"xdp\""), "the XDP path is live: {log}");
}
