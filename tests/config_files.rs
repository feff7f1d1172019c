//! The configuration readers: keepalived.conf and native TOML into one validated model.
//!
//! The example files in `configs/` are the ones the network tests run, so they are checked
//! here first; then each default, each keyword, includes and comments, as values in the
//! model. What the agent says about a file (errors and warnings with their file and line)
//! is data, in `tests/config_cases/`, read by one test below (see docs/config.md). None of
//! this needs keepalived installed (checking the `.conf` examples with `keepalived -t` is
//! done by hand, see configs/README.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_agent::config::model::{
    ChecksumForm, Config, ConfigError, Email, Family, Garp, InitialState, Instance, Location,
    SmtpServer, TrackFile, TrackFileInit, TrackFileRef, TrackInterface, Version, VirtualAddress,
    Warning,
};
use vrrp_agent::config::{check_str, load, load_str, Loaded};
use vrrpx_tests::{scratch, workspace};

// ---------------------------------------------------------------------------------------
// Helpers

fn conf(text: &str) -> Result<Loaded, Vec<ConfigError>> {
    load_str(text, Path::new("test.conf"))
}

fn native(text: &str) -> Result<Loaded, Vec<ConfigError>> {
    load_str(text, Path::new("test.toml"))
}

fn show<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn ok(result: Result<Loaded, Vec<ConfigError>>) -> Loaded {
    result.unwrap_or_else(|errors| panic!("unexpected errors:\n{}", show(&errors)))
}

fn errors(result: Result<Loaded, Vec<ConfigError>>) -> Vec<ConfigError> {
    match result {
        Ok(loaded) => panic!("expected errors, got {:#?}", loaded.config),
        Err(errors) => errors,
    }
}

/// A keepalived.conf holding one valid instance, with `extra` lines inside it.
fn one_instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n\
         \x20   interface eth0\n\
         \x20   virtual_router_id 51\n\
         \x20   virtual_ipaddress {{\n\
         \x20       10.0.0.100/24\n\
         \x20   }}\n\
         {extra}\n\
         }}\n"
    )
}

/// `global_defs { GLOBALS }` (one setting a line) before [`one_instance`].
fn with_globals(globals: &str) -> String {
    top_then_instance(&format!("global_defs {{\n{globals}\n}}\n"), "")
}

/// `script_block`, one `vrrp_script` block, tracked by [`one_instance`].
fn with_tracked_script(script_block: &str) -> Loaded {
    let name = script_block.split_whitespace().nth(1).unwrap();
    ok(conf(&top_then_instance(
        script_block,
        &format!("track_script {{\n {name}\n}}"),
    )))
}

/// The top-level blocks `top`, then [`one_instance`] with `extra`.
fn top_then_instance(top: &str, extra: &str) -> String {
    format!("{top}{}", one_instance(extra))
}

/// [`one_instance`] with `authentication { auth_type PASS  auth_pass PASS }` from line 7
/// (auth_pass on line 9), after the lines in `before`.
fn with_password(before: &str, pass: &str) -> Loaded {
    ok(conf(&one_instance(&format!(
        "{before}authentication {{\n auth_type PASS\n auth_pass {pass}\n}}"
    ))))
}

fn instance_of(text: &str) -> Instance {
    ok(conf(text)).config.instances.remove(0)
}

/// The one error of a result, which must have exactly one.
fn single_error(result: Result<Loaded, Vec<ConfigError>>) -> ConfigError {
    let errors = errors(result);
    assert_eq!(
        errors.len(),
        1,
        "expected one error, got:\n{}",
        show(&errors)
    );
    errors.into_iter().next().unwrap()
}

/// The warnings besides the one any file with a script gets on a machine without the user
/// keepalived_script and without `script_user`: scripts then run as root.
fn besides_script_user(warnings: &[Warning]) -> Vec<&Warning> {
    warnings
        .iter()
        .filter(|w| !w.message.contains("no `script_user`"))
        .collect()
}

fn warning_containing<'a>(warnings: &'a [Warning], needle: &str) -> &'a Warning {
    warnings
        .iter()
        .find(|w| w.message.contains(needle))
        .unwrap_or_else(|| panic!("no warning containing {needle:?} in:\n{}", show(warnings)))
}

/// The instance [`one_instance`] with `extra` loads to, which must come with a warning
/// containing `needle`.
fn warned_instance(extra: &str, needle: &str) -> Instance {
    let mut loaded = ok(conf(&one_instance(extra)));
    warning_containing(&loaded.warnings, needle);
    loaded.config.instances.remove(0)
}

fn at(file: impl Into<PathBuf>, line: usize) -> Location {
    Location {
        file: file.into(),
        line,
    }
}

fn configs() -> PathBuf {
    workspace().join("configs")
}

// ---------------------------------------------------------------------------------------
// Diagnostics as data: tests/config_cases/

/// The warning every file with a script gets on a machine without the user
/// keepalived_script and without `script_user` (scripts then run as root): left out of the
/// cases, which must read the same on any machine.
const HOST_DEPENDENT: &str = "no `script_user`";

/// What the agent says about one case file, as `check` prints it: every error and warning
/// with its `file:line` (relative to `dir`), in file order, errors first on a line, then
/// whether the configuration loads and with which instances.
fn render_case(path: &Path, dir: &Path) -> String {
    let checked = vrrp_agent::config::check(path);
    let mut messages: Vec<(&Location, String)> = checked
        .errors
        .iter()
        .map(|e| (&e.location, e.to_string()))
        .chain(
            checked
                .warnings
                .iter()
                .filter(|w| !w.message.contains(HOST_DEPENDENT))
                .map(|w| (&w.location, w.to_string())),
        )
        .collect();
    messages.sort_by(|a, b| (&a.0.file, a.0.line).cmp(&(&b.0.file, b.0.line)));
    let prefix = format!("{}/", dir.display());
    let mut out = String::new();
    for (_, message) in messages {
        out += &message.replace(&prefix, "");
        out.push('\n');
    }
    out += &match &checked.config {
        Some(config) => {
            let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
            format!("=> loaded: {}\n", names.join(", "))
        }
        None => "=> refused\n".to_string(),
    };
    out
}

/// Each `tests/config_cases/NAME.conf` (or `.toml`) must make the agent say exactly what
/// `NAME.expected` holds. `VRRPX_UPDATE_CASES=1` rewrites the expected files from what it
/// says now; review the diff before committing it.
#[test]
fn each_config_case_says_exactly_what_its_expected_file_holds() {
    let dir = workspace().join("tests/config_cases");
    let update = std::env::var_os("VRRPX_UPDATE_CASES").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "conf" || e == "toml"))
        .collect();
    cases.sort();
    let mut stems: Vec<PathBuf> = cases.iter().map(|p| p.with_extension("")).collect();
    stems.sort();
    stems.dedup();
    assert_eq!(stems.len(), cases.len(), "two cases share a name");
    let mut failures = Vec::new();
    for case in &cases {
        let got = render_case(case, &dir);
        let expected_path = case.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                case.display()
            ));
        }
    }
    // An expected file whose case was removed or renamed checks nothing.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected")
            && !stems.contains(&path.with_extension(""))
        {
            failures.push(format!("{} has no case file", path.display()));
        }
    }
    assert!(
        cases.len() >= 40,
        "only {} cases in {}",
        cases.len(),
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ (VRRPX_UPDATE_CASES=1 rewrites them):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The example files

const SCENARIOS: &[&str] = &[
    "pair-master",
    "pair-backup",
    "nopreempt-a",
    "nopreempt-b",
    "dual-master-a",
    "dual-master-b",
    "ipv6-a",
    "ipv6-b",
];

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(configs())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf" || e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_scenario_has_an_example_in_both_syntaxes() {
    for scenario in SCENARIOS {
        for ext in ["conf", "toml"] {
            let path = configs().join(format!("{scenario}.{ext}"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
}

#[test]
fn every_example_file_loads_without_errors() {
    let files = example_files();
    assert!(files.len() >= 2 * SCENARIOS.len());
    for path in files {
        let loaded = load(&path).unwrap_or_else(|errors| {
            panic!("{} does not load:\n{}", path.display(), show(&errors))
        });
        assert!(!loaded.config.instances.is_empty(), "{}", path.display());
        // Only the reference carries keywords keepalived -t demands and vrrpx ignores.
        let allowed = ["enable_script_security", "script_user"];
        let unexpected: Vec<&Warning> = loaded
            .warnings
            .iter()
            .filter(|w| !allowed.iter().any(|a| w.message.contains(a)))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{} warns:\n{}",
            path.display(),
            show(&unexpected)
        );
        for instance in &loaded.config.instances {
            let lines = loaded.locations.instance(&instance.name).unwrap();
            assert_eq!(lines.block.file, path, "locations name the real file");
        }
    }
}

#[test]
fn each_conf_example_means_the_same_as_its_toml_twin() {
    let mut pairs = 0;
    for path in example_files() {
        if path.extension().unwrap() != "conf" {
            continue;
        }
        let twin = path.with_extension("toml");
        let from_conf = load(&path).unwrap().config;
        let from_toml = load(&twin)
            .unwrap_or_else(|e| panic!("{}: {}", twin.display(), show(&e)))
            .config;
        assert_eq!(
            from_conf,
            from_toml,
            "{} and {} differ",
            path.display(),
            twin.display()
        );
        pairs += 1;
    }
    assert!(pairs > SCENARIOS.len() / 2);
}

#[test]
fn pair_examples_are_a_vrrpv3_master_and_backup_at_100_ms_on_10_9_0_100() {
    let master = load(&configs().join("pair-master.conf")).unwrap().config;
    let backup = load(&configs().join("pair-backup.conf")).unwrap().config;
    let (m, b) = (&master.instances[0], &backup.instances[0]);
    assert_eq!((m.version, m.advert_int_cs, m.vrid), (Version::V3, 10, 51));
    assert_eq!((b.version, b.advert_int_cs, b.vrid), (Version::V3, 10, 51));
    assert!(m.priority > b.priority);
    assert_eq!(m.initial_state, InitialState::Master);
    assert_eq!(b.initial_state, InitialState::Backup);
    assert_eq!(m.interface, "eth0");
    assert_eq!(
        m.virtual_addresses[0].addr,
        "10.9.0.100".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(master.router_id.as_deref(), Some("r1"));
    assert_eq!(backup.router_id.as_deref(), Some("r2"));
}

#[test]
fn nopreempt_examples_both_start_as_backup_without_preemption() {
    for name in ["nopreempt-a.conf", "nopreempt-b.toml"] {
        let i = &load(&configs().join(name)).unwrap().config.instances[0];
        assert!(!i.preempt, "{name}");
        assert_eq!(i.initial_state, InitialState::Backup, "{name}");
    }
}

#[test]
fn dual_master_examples_swap_priorities_of_two_vrids_on_one_interface() {
    let a = load(&configs().join("dual-master-a.conf")).unwrap().config;
    let b = load(&configs().join("dual-master-b.conf")).unwrap().config;
    let prio = |c: &Config, vrid| {
        c.instances
            .iter()
            .find(|i| i.vrid == vrid)
            .unwrap()
            .priority
    };
    assert!(prio(&a, 51) > prio(&b, 51));
    assert!(prio(&b, 52) > prio(&a, 52));
    assert!(a.instances.iter().all(|i| i.interface == "eth0"));
}

#[test]
fn ipv6_examples_are_vrrpv3_on_fd00_9_100() {
    for name in ["ipv6-a.conf", "ipv6-b.toml"] {
        let i = &load(&configs().join(name)).unwrap().config.instances[0];
        assert_eq!((i.family, i.version), (Family::V6, Version::V3), "{name}");
        assert_eq!(i.virtual_addresses[0].addr.to_string(), "fd00:9::100");
        assert_eq!(i.virtual_addresses[0].prefix_len, 64);
    }
}

// ---------------------------------------------------------------------------------------
// Defaults

#[test]
fn keepalived_conf_defaults_match_keepalived() {
    let loaded = ok(conf(&one_instance("")));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
    let i = &loaded.config.instances[0];
    assert_eq!(i.version, Version::V2);
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int_cs, 100);
    assert!(i.preempt);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.garp, Garp::default());
    assert_eq!(i.garp.master_delay, Duration::from_secs(5));
    assert_eq!(i.garp.master_repeat, 5);
    assert_eq!(i.garp.master_refresh, None);
    assert!(i.accept);
    assert_eq!(i.checksum, ChecksumForm::Pseudo);
    assert_eq!(i.initial_state, InitialState::Backup);
    assert!(!i.use_vmac);
    assert_eq!(i.auth_pass, None);
    assert_eq!(i.family, Family::V4);
    assert_eq!(loaded.config.router_id, None);
}

#[test]
fn native_format_defaults_to_vrrpv3_and_one_second_adverts() {
    let loaded = ok(native(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\n\
         virtual_addresses = [\"10.0.0.100/24\"]\n",
    ));
    let i = &loaded.config.instances[0];
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.advert_int_cs, 100);
    assert_eq!(i.priority, 100);
    assert!(i.preempt && i.accept);
    assert_eq!(i.checksum, ChecksumForm::Pseudo);
    assert_eq!(i.initial_state, InitialState::Backup);
}

#[test]
fn global_vrrp_version_3_makes_instances_vrrpv3() {
    let text = with_globals(" vrrp_version 3");
    assert_eq!(instance_of(&text).version, Version::V3);
}

#[test]
fn instance_version_overrides_the_global_default_either_way() {
    assert_eq!(instance_of(&one_instance("version 3")).version, Version::V3);
    let text = top_then_instance("global_defs {\n vrrp_version 3\n}\n", "vrrp_version 2");
    assert_eq!(instance_of(&text).version, Version::V2);
}

#[test]
fn ipv6_instance_runs_vrrpv3_under_keepalived_default_version_2() {
    let loaded = ok(conf(
        "vrrp_instance V6 {\n interface eth0\n virtual_router_id 5\n \
         virtual_ipaddress {\n fd00::1/64\n }\n}\n",
    ));
    let i = &loaded.config.instances[0];
    assert_eq!((i.family, i.version), (Family::V6, Version::V3));
    assert!(loaded.warnings.is_empty());
}

#[test]
fn explicit_version_2_on_an_ipv6_instance_warns_and_runs_vrrpv3() {
    let loaded = ok(conf(
        "vrrp_instance V6 {\n interface eth0\n virtual_router_id 5\n version 2\n \
         virtual_ipaddress {\n fd00::1\n }\n}\n",
    ));
    assert_eq!(loaded.config.instances[0].version, Version::V3);
    assert_eq!(
        loaded.config.instances[0].virtual_addresses[0].prefix_len,
        128
    );
    assert_eq!(
        warning_containing(&loaded.warnings, "IPv4 only").location,
        at("test.conf", 4)
    );
}

#[test]
fn address_without_a_prefix_is_a_host_address() {
    let i = instance_of(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
         virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    assert_eq!(i.virtual_addresses[0].prefix_len, 32);
}

#[test]
fn vrrp_script_defaults_are_one_second_interval_weight_0_rise_and_fall_1() {
    let loaded = with_tracked_script("vrrp_script chk {\n script /bin/true\n}\n");
    let s = &loaded.config.scripts[0];
    assert_eq!(s.script, "/bin/true");
    assert_eq!(s.interval, Duration::from_secs(1));
    assert_eq!(
        s.timeout, s.interval,
        "no timeout means the interval, as in keepalived"
    );
    assert_eq!((s.weight, s.rise, s.fall), (0, 1, 1));
}

// ---------------------------------------------------------------------------------------
// Keywords

#[test]
fn every_instance_keyword_reaches_the_model() {
    let text = "\
global_defs {
    router_id lb1
}
vrrp_script chk_a {
    script \"/usr/bin/pidof nginx\"
    interval 2
    timeout 3
    weight -20
    rise 2
    fall 4
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 2
    preempt_delay 2
    authentication {
        auth_type PASS
        auth_pass pw
    }
    virtual_ipaddress {
        10.0.0.100/24
        10.0.0.101/24 dev eth1 label eth1:vip
    }
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
        10.0.0.3
    }
    track_interface {
        eth1
        eth2 weight -10
    }
    track_script {
        chk_a
        chk_a weight 5
    }
    notify_master \"/etc/n.sh master now\"
    notify_backup /etc/backup.sh
    notify_fault /etc/fault.sh
    notify_stop /etc/stop.sh
    notify /etc/any.sh
    garp_master_delay 2
    garp_master_repeat 3
    garp_master_refresh 60
    use_vmac
    no_accept
    vrrpx_checksum plain
}
";
    let loaded = ok(conf(text));
    let c = &loaded.config;
    assert_eq!(c.router_id.as_deref(), Some("lb1"));
    let s = &c.scripts[0];
    assert_eq!(s.script, "/usr/bin/pidof nginx");
    assert_eq!(
        (s.interval, s.timeout),
        (Duration::from_secs(2), Duration::from_secs(3))
    );
    assert_eq!((s.weight, s.rise, s.fall), (-20, 2, 4));
    let i = &c.instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(
        (i.interface.as_str(), i.vrid, i.priority),
        ("eth0", 51, 150)
    );
    assert_eq!(i.preempt_delay, Duration::from_secs(2));
    assert_eq!(i.advert_int_cs, 200);
    assert_eq!(i.auth_pass, Some(*b"pw\0\0\0\0\0\0"));
    assert_eq!(
        i.virtual_addresses,
        vec![
            VirtualAddress {
                addr: "10.0.0.100".parse().unwrap(),
                prefix_len: 24,
                dev: None,
                label: None
            },
            VirtualAddress {
                addr: "10.0.0.101".parse().unwrap(),
                prefix_len: 24,
                dev: Some("eth1".into()),
                label: Some("eth1:vip".into())
            },
        ]
    );
    assert_eq!(i.unicast_src, Some("10.0.0.1".parse().unwrap()));
    assert_eq!(i.unicast_peers.len(), 2);
    assert_eq!(i.track_interfaces[0].name, "eth1");
    assert_eq!(i.track_interfaces[0].weight, 0);
    assert_eq!(i.track_interfaces[1].weight, -10);
    assert_eq!(i.track_scripts[0].weight, None);
    assert_eq!(i.track_scripts[1].weight, Some(5));
    assert_eq!(i.notify.master.as_deref(), Some("/etc/n.sh master now"));
    assert_eq!(i.notify.backup.as_deref(), Some("/etc/backup.sh"));
    assert_eq!(i.notify.fault.as_deref(), Some("/etc/fault.sh"));
    assert_eq!(i.notify.stop.as_deref(), Some("/etc/stop.sh"));
    assert_eq!(i.notify.any.as_deref(), Some("/etc/any.sh"));
    assert_eq!(
        i.garp,
        Garp {
            master_delay: Duration::from_secs(2),
            master_repeat: 3,
            master_refresh: Some(Duration::from_secs(60)),
        }
    );
    assert!(i.use_vmac);
    assert!(!i.accept);
    assert_eq!(i.checksum, ChecksumForm::Plain);
    assert_eq!(
        loaded.locations.instance("VI_1").unwrap().block,
        at("test.conf", 12)
    );
    let warnings = besides_script_user(&loaded.warnings);
    assert!(warnings.is_empty(), "{}", show(&warnings));
}

#[test]
fn state_master_is_kept_as_the_initial_hint_only() {
    let i = instance_of(&one_instance("state MASTER\npriority 100"));
    assert_eq!((i.initial_state, i.priority), (InitialState::Master, 100));
}

#[test]
fn settings_keepalived_reads_its_own_way_warn_and_load_as_keepalived_loads_them() {
    // Each: the instance's lines, the warning they give, what the instance then holds.
    let loads = warned_instance;
    // state MASTER without a priority makes the address owner.
    assert_eq!(loads("state MASTER", "priority 255").priority, 255);
    // nopreempt with state MASTER is dropped; the address owner always preempts.
    let master = "state MASTER\npriority 150\nnopreempt";
    assert!(loads(master, "nopreempt does not work").preempt);
    assert!(loads("priority 255\nnopreempt", "always preempts").preempt);
    // use_vmac with a custom name still uses a VMAC.
    assert!(loads("use_vmac vrrp.51", "vrrp.51").use_vmac);
    // advert_int in VRRPv3 rounds to centiseconds.
    let v3 = loads("version 3\nadvert_int 0.015", "rounded to 0.02");
    assert_eq!(v3.advert_int_cs, 2);
    // `#` glued to a word starts a comment too.
    let glued = loads("priority 120#primary", "`#` directly after `120`");
    assert_eq!(glued.priority, 120);
    // Conditional configuration lines (`@r1 ...`) are not applied.
    assert_eq!(
        loads("@r1 priority 150", "conditional configuration").priority,
        100
    );
}

#[test]
fn nopreempt_and_no_accept_turn_their_mode_off_and_preempt_and_accept_back_on() {
    assert!(!instance_of(&one_instance("nopreempt")).preempt);
    assert!(instance_of(&one_instance("preempt")).preempt);
    assert!(!instance_of(&one_instance("no_accept")).accept);
    assert!(instance_of(&one_instance("no_accept\naccept")).accept);
}

#[test]
fn preempt_delay_takes_fractional_seconds_up_to_1000() {
    let i = instance_of(&one_instance("preempt_delay 2.5"));
    assert_eq!(i.preempt_delay, Duration::from_millis(2500));
    let e = single_error(conf(&one_instance("preempt_delay 1001")));
    assert!(e.message.contains("0..1000"), "{e}");
}

#[test]
fn vrrpx_checksum_selects_the_v3_ipv4_checksum_form() {
    assert_eq!(
        instance_of(&one_instance("vrrpx_checksum plain")).checksum,
        ChecksumForm::Plain
    );
    assert_eq!(
        instance_of(&one_instance("vrrpx_checksum pseudo")).checksum,
        ChecksumForm::Pseudo
    );
    let e = single_error(conf(&one_instance("vrrpx_checksum rfc")));
    assert!(
        e.message.contains("pseudo") && e.message.contains("plain"),
        "{e}"
    );
}

#[test]
fn auth_pass_is_padded_truncated_cut_at_a_comment_or_ignored_as_keepalived_does() {
    // (what the case shows, lines before `authentication`, `auth_pass` as written, the
    // eight bytes sent, the warning it gives: on the auth_pass line, 9)
    let cases = [
        (
            "zero-padded to eight bytes",
            "",
            "abc",
            Some(*b"abc\0\0\0\0\0"),
            None,
        ),
        (
            "longer than eight: truncated",
            "",
            "123456789012",
            Some(*b"12345678"),
            Some("first 8"),
        ),
        (
            "VRRPv3 has no authentication",
            "version 3\n",
            "x",
            None,
            Some("no authentication"),
        ),
        (
            "`!` glued to an unquoted value starts a comment",
            "",
            "s3cret!!",
            Some(*b"s3cret\0\0"),
            Some("starts a comment"),
        ),
        (
            "comment characters inside double quotes are kept",
            "",
            "\"s3cret!!\"",
            Some(*b"s3cret!!"),
            None,
        ),
    ];
    for (case, before, written, sent, warning) in cases {
        let loaded = with_password(before, written);
        assert_eq!(loaded.config.instances[0].auth_pass, sent, "{case}");
        match warning {
            Some(w) => {
                let w = warning_containing(&loaded.warnings, w);
                assert_eq!(w.location, at("test.conf", 9), "{case}");
            }
            None => assert!(
                loaded.warnings.is_empty(),
                "{case}: {}",
                show(&loaded.warnings)
            ),
        }
    }
}

#[test]
fn unsupported_virtual_ipaddress_options_warn_and_keep_the_address() {
    let loaded = ok(conf(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n \
         10.0.0.1/24 brd 10.0.0.255 dev eth0 scope global label eth0:1\n }\n}\n",
    ));
    let vip = &loaded.config.instances[0].virtual_addresses[0];
    assert_eq!(
        (vip.dev.as_deref(), vip.label.as_deref()),
        (Some("eth0"), Some("eth0:1"))
    );
    assert_eq!(warning_containing(&loaded.warnings, "brd").location.line, 5);
    warning_containing(&loaded.warnings, "scope global");
}

#[test]
fn mcast_src_ip_sets_the_advert_source_like_unicast_src_ip() {
    let i = instance_of(&one_instance("mcast_src_ip 10.0.0.9"));
    assert_eq!(i.unicast_src, Some("10.0.0.9".parse().unwrap()));
}

#[test]
fn a_word_after_an_unquoted_notify_script_is_the_user_it_runs_as_as_in_keepalived() {
    let loaded = ok(conf(&one_instance("notify_master /etc/master.sh nobody")));
    let notify = &loaded.config.instances[0].notify;
    assert_eq!(notify.master.as_deref(), Some("/etc/master.sh"));
    let run_as = notify.run_as.master.as_ref().unwrap();
    assert_eq!((run_as.user.as_str(), run_as.uid), ("nobody", 65534));
    // Arguments meant for the script name no user, so the mistake is an error at its line.
    let e = single_error(conf(&one_instance("notify_master /etc/master.sh arg1")));
    assert!(e.message.contains("no user `arg1`"), "{e}");
    assert_eq!(e.location.line, 7);
}

#[test]
fn garp_master_refresh_0_means_off() {
    assert_eq!(
        instance_of(&one_instance("garp_master_refresh 0"))
            .garp
            .master_refresh,
        None
    );
}

#[test]
fn repeated_keyword_keeps_the_last_value_and_warns() {
    let loaded = ok(conf(&one_instance("priority 110\npriority 120")));
    assert_eq!(loaded.config.instances[0].priority, 120);
    assert_eq!(
        warning_containing(&loaded.warnings, "set again")
            .location
            .line,
        8
    );
}

// ---------------------------------------------------------------------------------------
// Sync groups

fn two_instances_and(group: &str) -> String {
    format!(
        "vrrp_instance A {{\n interface eth0\n virtual_router_id 1\n \
         virtual_ipaddress {{\n 10.0.0.1\n }}\n}}\n\
         vrrp_instance B {{\n interface eth0\n virtual_router_id 2\n \
         virtual_ipaddress {{\n 10.0.0.2\n }}\n}}\n{group}"
    )
}

#[test]
fn the_same_settings_written_on_other_lines_load_into_an_equal_model() {
    // A reload compares the old and new model with `==`: moving lines must not look like
    // a change, so where things were written is kept beside the model.
    let text = format!(
        "vrrp_script chk {{\n script /bin/true\n}}\n{}",
        two_instances_and("vrrp_sync_group G {\n group { A B }\n}\n").replacen(
            " interface eth0\n",
            " interface eth0\n track_script {\n chk\n }\n",
            1
        )
    );
    let moved = format!(
        "# moved about\n\n{}",
        text.replace(
            " interface eth0\n virtual_router_id 2\n",
            " virtual_router_id 2\n\n interface eth0\n"
        )
    );
    let (a, b) = (ok(conf(&text)), ok(conf(&moved)));
    assert_eq!(a.config, b.config);
    assert_ne!(a.locations, b.locations);
    assert_eq!(a.locations.scripts["chk"], at("test.conf", 1));
    assert_eq!(b.locations.scripts["chk"], at("test.conf", 3));
    let interface = |l: &vrrp_agent::config::model::Locations| {
        l.instance("B").unwrap().interface.clone().unwrap().line
    };
    assert_eq!((interface(&a.locations), interface(&b.locations)), (15, 19));
}

#[test]
fn sync_group_lists_its_members_and_notify_scripts() {
    let loaded = ok(conf(&two_instances_and(
        "vrrp_sync_group G {\n group {\n A\n B\n }\n notify_master \"/g.sh up\"\n \
         notify /any.sh\n}\n",
    )));
    let g = &loaded.config.sync_groups[0];
    assert_eq!(g.name, "G");
    assert_eq!(g.members, ["A", "B"]);
    assert_eq!(g.notify.master.as_deref(), Some("/g.sh up"));
    assert_eq!(g.notify.any.as_deref(), Some("/any.sh"));
    assert_eq!(loaded.locations.sync_groups["G"], at("test.conf", 15));
}

#[test]
fn sync_group_members_may_share_one_line() {
    let loaded = ok(conf(&two_instances_and(
        "vrrp_sync_group G {\n group { A B }\n}\n",
    )));
    assert_eq!(loaded.config.sync_groups[0].members, ["A", "B"]);
}

#[test]
fn sync_group_member_that_does_not_exist_is_an_error() {
    let e = single_error(conf(&two_instances_and(
        "vrrp_sync_group G {\n group {\n A\n C\n }\n}\n",
    )));
    assert!(e.message.contains("no vrrp_instance named C"), "{e}");
    assert_eq!(e.location.line, 18);
}

#[test]
fn instance_in_two_sync_groups_is_an_error() {
    let e = single_error(conf(&two_instances_and(
        "vrrp_sync_group G {\n group { A B }\n}\nvrrp_sync_group H {\n group { A }\n}\n",
    )));
    assert!(e.message.contains("at most one group"), "{e}");
    assert!(
        e.message
            .contains("vrrp_instance A is already in vrrp_sync_group G"),
        "{e}"
    );
    assert_eq!(e.location.line, 19);
}

#[test]
fn weighted_tracking_in_a_sync_group_member_is_dropped_as_in_keepalived() {
    let loaded = ok(conf(&format!(
        "vrrp_script chk {{\n script /bin/true\n weight -20\n}}\n{}",
        two_instances_and("vrrp_sync_group G {\n group { A B }\n}\n")
            .replacen(" interface eth0\n", " interface eth0\n track_script {\n chk\n }\n track_interface {\n eth1\n eth2 weight 5\n }\n", 1)
    )));
    let a = &loaded.config.instances[0];
    assert!(a.track_scripts.is_empty());
    assert_eq!(a.track_interfaces.len(), 1, "the unweighted eth1 stays");
    warning_containing(&loaded.warnings, "track_script chk (weight -20) is dropped");
    warning_containing(
        &loaded.warnings,
        "track_interface eth2 (weight 5) is dropped",
    );
}

#[test]
fn sync_group_tracking_weight_keeps_weighted_tracking() {
    let loaded = ok(conf(
        &two_instances_and("vrrp_sync_group G {\n group { A B }\n sync_group_tracking_weight\n}\n")
            .replacen(
                " interface eth0\n",
                " interface eth0\n track_interface {\n eth2 weight 5\n }\n",
                1,
            ),
    ));
    assert_eq!(loaded.config.instances[0].track_interfaces[0].weight, 5);
}

// ---------------------------------------------------------------------------------------
// Advertisement intervals

#[test]
fn advert_int_0_01_is_one_centisecond_in_vrrpv3() {
    assert_eq!(
        instance_of(&one_instance("version 3\nadvert_int 0.01")).advert_int_cs,
        1
    );
}

#[test]
fn whole_second_advert_int_in_vrrpv2_counts_in_centiseconds() {
    assert_eq!(
        instance_of(&one_instance("advert_int 3")).advert_int_cs,
        300
    );
}

#[test]
fn same_vrid_on_another_family_or_interface_is_fine() {
    let v6 = one_instance("")
        .replace("VI_1", "VI_6")
        .replace("10.0.0.100/24", "fd00::100/64");
    let other_if = one_instance("")
        .replace("VI_1", "VI_X")
        .replace("interface eth0", "interface eth1");
    let loaded = ok(conf(&format!("{}{v6}{other_if}", one_instance(""))));
    assert_eq!(loaded.config.instances.len(), 3);
}

#[test]
fn advert_int_40_95_is_the_longest_vrrpv3_interval() {
    // Beyond it (and below 0.01): tests/config_cases/advert-int-outside-vrrpv3-range.conf.
    assert_eq!(
        instance_of(&one_instance("version 3\nadvert_int 40.95")).advert_int_cs,
        4095
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let errors = load(Path::new("/nonexistent/keepalived.conf")).unwrap_err();
    assert!(errors[0]
        .to_string()
        .contains("/nonexistent/keepalived.conf"));
}

// ---------------------------------------------------------------------------------------
// Comments

#[test]
fn hash_and_bang_comments_after_whitespace_are_silent() {
    let loaded = ok(conf(&top_then_instance(
        "# header\n! another\n",
        "priority 120 # the primary\nadvert_int 1 ! one second",
    )));
    assert_eq!(loaded.config.instances[0].priority, 120);
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
}

// ---------------------------------------------------------------------------------------
// include

/// The file the include tests load.
const MAIN: &str = "main.conf";

/// A fresh scratch directory `name` holding `files` (path inside it, text), written in
/// the order given.
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(name);
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    dir
}

fn instance_text(name: &str, vrid: u8) -> String {
    one_instance("")
        .replace("VI_1", name)
        .replace("virtual_router_id 51", &format!("virtual_router_id {vrid}"))
}

#[test]
fn include_with_a_glob_reads_the_matching_files_in_name_order() {
    // Written out of name order, so that reading in creation order would show.
    let dir = tree(
        "config_include_glob",
        &[
            ("conf.d/20-b.conf", &instance_text("B", 2)),
            ("conf.d/10-a.conf", &format!("\n{}", instance_text("A", 1))),
            ("conf.d/notes.txt", "not a config {"),
            (
                "keepalived.conf",
                "global_defs {\n router_id x\n}\ninclude conf.d/*.conf\n",
            ),
        ],
    );
    let loaded = ok(load(&dir.join("keepalived.conf")));
    let names: Vec<&str> = loaded
        .config
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["A", "B"]);
    assert_eq!(
        loaded.locations.instances[0].block,
        at(dir.join("conf.d/10-a.conf"), 2)
    );
    assert_eq!(
        loaded.locations.instances[1].block,
        at(dir.join("conf.d/20-b.conf"), 1)
    );
}

#[test]
fn include_paths_are_relative_to_the_including_file() {
    let dir = tree(
        "config_include_relative",
        &[
            ("sub/inner.conf", "include vips/??.conf\n"),
            ("sub/vips/v1.conf", &instance_text("V1", 1)),
            (MAIN, "include sub/inner.conf\n"),
        ],
    );
    let loaded = ok(load(&dir.join(MAIN)));
    assert_eq!(loaded.config.instances[0].name, "V1");
}

#[test]
fn include_inside_a_block_splices_its_lines_there() {
    let dir = tree(
        "config_include_in_block",
        &[
            ("vips.conf", "10.0.0.1/24\n10.0.0.2/24\n"),
            (
                MAIN,
                "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n \
                 virtual_ipaddress {\n include vips.conf\n }\n}\n",
            ),
        ],
    );
    assert_eq!(
        ok(load(&dir.join(MAIN))).config.instances[0]
            .virtual_addresses
            .len(),
        2
    );
}

#[test]
fn include_cycle_is_an_error_at_the_include_line() {
    let dir = tree(
        "config_include_cycle",
        &[
            ("a.conf", "\ninclude b.conf\n"),
            (
                "b.conf",
                &format!("{}include a.conf\n", instance_text("B", 2)),
            ),
        ],
    );
    let errors = errors(load(&dir.join("a.conf")));
    assert_eq!(errors.len(), 1, "{}", show(&errors));
    assert_eq!(errors[0].location, at(dir.join("b.conf"), 9));
    assert!(errors[0].message.contains("include cycle"), "{}", errors[0]);
}

#[test]
fn file_including_itself_is_a_cycle() {
    let dir = tree("config_include_self", &[(MAIN, "include *.conf\n")]);
    let e = single_error(load(&dir.join(MAIN)));
    assert!(e.message.contains("include cycle"), "{e}");
}

#[test]
fn include_matching_nothing_warns_like_keepalived() {
    let text = format!("include conf.d/*.conf\n{}", instance_text("A", 1));
    let main = tree("config_include_nothing", &[(MAIN, &text)]).join(MAIN);
    let loaded = ok(load(&main));
    assert_eq!(
        warning_containing(&loaded.warnings, "conf.d/*.conf").location,
        at(&main, 1)
    );
}

#[test]
fn errors_inside_an_included_file_carry_that_file_and_line() {
    let inner = instance_text("A", 1).replace(
        "    interface eth0\n",
        "    interface eth0\n    priority 999\n",
    );
    let dir = tree(
        "config_include_error",
        &[
            ("inner.conf", &inner),
            (MAIN, "! main\ninclude inner.conf\n"),
        ],
    );
    let e = single_error(load(&dir.join(MAIN)));
    assert_eq!(e.location, at(dir.join("inner.conf"), 3));
    assert!(e.message.contains("priority 999"), "{e}");
}

// ---------------------------------------------------------------------------------------
// What real users write

const NGINX_PAIR_MASTER: &str = r#"
! Configuration File for keepalived
vrrp_script chk_nginx {
    script "/usr/bin/pidof nginx"
    interval 2
    weight -20
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 101
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.1.100/24 dev eth0 label eth0:1
    }
    track_script {
        chk_nginx
    }
}
"#;

#[test]
fn classic_nginx_keepalived_pair_loads_as_written() {
    let master = ok(conf(NGINX_PAIR_MASTER));
    let warnings = besides_script_user(&master.warnings);
    assert!(warnings.is_empty(), "{}", show(&warnings));
    let backup = ok(conf(
        &NGINX_PAIR_MASTER
            .replace("state MASTER", "state BACKUP")
            .replace("priority 101", "priority 100"),
    ));
    let (m, b) = (&master.config.instances[0], &backup.config.instances[0]);
    assert_eq!((m.priority, b.priority), (101, 100));
    assert_eq!((m.version, m.advert_int_cs), (Version::V2, 100));
    assert_eq!(m.auth_pass, Some(*b"1111\0\0\0\0"));
    assert_eq!(m.virtual_addresses[0].label.as_deref(), Some("eth0:1"));
    assert_eq!(m.track_scripts[0].name, "chk_nginx");
    let s = &master.config.scripts[0];
    assert_eq!(
        (s.script.as_str(), s.interval, s.weight),
        ("/usr/bin/pidof nginx", Duration::from_secs(2), -20)
    );
}

#[test]
fn one_line_vrrp_script_ignores_the_rest_of_the_line_as_keepalived_does_and_warns() {
    // Both blocks on one line each, as a keepalived.conf written by hand may have them.
    let loaded = ok(conf(&top_then_instance(
        "vrrp_script chk_nginx { script \"/usr/bin/pidof nginx\" interval 2 weight -20 }\n",
        "track_script { chk_nginx }",
    )));
    let s = &loaded.config.scripts[0];
    assert_eq!(s.script, "/usr/bin/pidof nginx");
    // keepalived 2.2.7 reads this line the same way: interval 1, weight 0.
    assert_eq!((s.interval, s.weight), (Duration::from_secs(1), 0));
    let w = warning_containing(&loaded.warnings, "interval 2 weight -20");
    assert_eq!(w.location.line, 1);
    assert_eq!(
        loaded.config.instances[0].track_scripts[0].name,
        "chk_nginx"
    );
}

#[test]
fn unquoted_script_arguments_are_dropped_as_in_keepalived_with_advice_to_quote() {
    let loaded = with_tracked_script("vrrp_script chk {\n script /usr/bin/pidof nginx\n}\n");
    assert_eq!(loaded.config.scripts[0].script, "/usr/bin/pidof");
    let w = warning_containing(&loaded.warnings, "`nginx`");
    assert!(w.message.contains("double quotes"), "{w}");
    assert_eq!(w.location.line, 2);
}

#[test]
fn messages_come_in_file_order() {
    let checked = check_str(
        &format!(
            "{}vrrp_script unused {{\n script /bin/true\n}}\n",
            one_instance("priority 1 2#x")
        ),
        Path::new("x.conf"),
    );
    let lines: Vec<usize> = checked.warnings.iter().map(|w| w.location.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    let warnings = besides_script_user(&checked.warnings);
    assert_eq!(warnings.len(), 3, "{}", show(&warnings));
}

#[test]
fn opening_brace_on_its_own_line_is_accepted() {
    let i = instance_of("vrrp_instance A\n{\n interface eth0\n virtual_router_id 1\n virtual_ipaddress\n {\n 10.0.0.1\n }\n}\n");
    assert_eq!(i.virtual_addresses.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Native TOML

const NATIVE_ONE: &str = "\
router_id = \"lb1\"

[[instance]]
name = \"VI_1\"
interface = \"eth0\"
vrid = 51
priority = 150
advert_int = \"100ms\"
virtual_addresses = [\"10.0.0.100/24\", { addr = \"10.0.0.101/24\", dev = \"eth1\", label = \"eth1:vip\" }]
";

#[test]
fn native_instance_reads_into_the_model() {
    let loaded = ok(native(NATIVE_ONE));
    assert_eq!(loaded.config.router_id.as_deref(), Some("lb1"));
    let i = &loaded.config.instances[0];
    assert_eq!((i.vrid, i.priority, i.advert_int_cs), (51, 150, 10));
    assert_eq!(i.virtual_addresses[1].dev.as_deref(), Some("eth1"));
    assert_eq!(i.virtual_addresses[1].label.as_deref(), Some("eth1:vip"));
    assert_eq!(
        loaded.locations.instance("VI_1").unwrap().block,
        at("test.toml", 3)
    );
}

#[test]
fn native_durations_take_seconds_or_milliseconds() {
    let i = &ok(native(&NATIVE_ONE.replace("\"100ms\"", "\"1.5s\"")))
        .config
        .instances[0];
    assert_eq!(i.advert_int_cs, 150);
}

#[test]
fn native_state_and_checksum_and_tracking_read_into_the_model() {
    let text = "\
[[script]]
name = \"chk\"
command = \"/bin/true\"
interval = \"2s\"
weight = 5

[[instance]]
name = \"A\"
state = \"master\"
interface = \"eth0\"
vrid = 1
checksum = \"plain\"
preempt = false
track_scripts = [\"chk\", { name = \"chk\", weight = -3 }]
track_interfaces = [\"eth1\", { name = \"eth2\", weight = 7 }]
virtual_addresses = [\"10.0.0.1/24\"]
garp = { master_refresh = \"30s\" }
notify = { master = \"/m.sh x\", any = \"/any.sh\" }

[[instance]]
name = \"B\"
interface = \"eth0\"
vrid = 2
virtual_addresses = [\"10.0.0.2/24\"]

[[sync_group]]
name = \"G\"
members = [\"A\", \"B\"]
";
    let loaded = ok(native(text));
    let warnings = besides_script_user(&loaded.warnings);
    assert!(warnings.is_empty(), "{}", show(&warnings));
    let i = &loaded.config.instances[0];
    assert_eq!(i.initial_state, InitialState::Master);
    assert_eq!(i.checksum, ChecksumForm::Plain);
    assert!(!i.preempt);
    assert_eq!(i.track_scripts[1].weight, Some(-3));
    assert_eq!(i.track_interfaces[1].weight, 7);
    assert_eq!(i.garp.master_refresh, Some(Duration::from_secs(30)));
    assert_eq!(i.notify.master.as_deref(), Some("/m.sh x"));
    assert_eq!(loaded.config.scripts[0].interval, Duration::from_secs(2));
    // The native format keeps weighted tracking in sync groups as written.
    assert_eq!(loaded.config.sync_groups[0].members, ["A", "B"]);
    assert_eq!(loaded.locations.sync_groups["G"].line, 26);
}

#[test]
fn native_auth_pass_is_vrrpv2_pass_authentication() {
    let text = NATIVE_ONE.replace(
        "advert_int = \"100ms\"",
        "version = 2\nauth_pass = \"secret\"",
    );
    let i = &ok(native(&text)).config.instances[0];
    assert_eq!(i.version, Version::V2);
    assert_eq!(i.auth_pass, Some(*b"secret\0\0"));
}

// ---------------------------------------------------------------------------------------
// Mail, the notify FIFO, track files, init_fail and built-in checks

/// The number of the first line of `text` that is exactly `line`, to check locations
/// without counting by hand.
fn line_of(text: &str, line: &str) -> usize {
    text.lines()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no line {line:?} in the text"))
        + 1
}

const MAIL_CONF: &str = "\
global_defs {
    notification_email {
        ops@example.com
        oncall@example.com dev@example.com
    }
    notification_email_from lb1@example.com
    smtp_server mail.example.com 587
    smtp_connect_timeout 10
    notify_fifo /run/vrrpx/notify.fifo
}
";

const MAIL_TOML: &str = "\
notify_fifo = \"/run/vrrpx/notify.fifo\"

[email]
to = [\"ops@example.com\", \"oncall@example.com\", \"dev@example.com\"]
from = \"lb1@example.com\"
smtp_server = { host = \"mail.example.com\", port = 587 }
smtp_connect_timeout = \"10s\"
";

fn expected_mail() -> Email {
    Email {
        to: vec![
            "ops@example.com".into(),
            "oncall@example.com".into(),
            "dev@example.com".into(),
        ],
        from: Some("lb1@example.com".into()),
        smtp_server: Some(SmtpServer {
            host: "mail.example.com".into(),
            port: 587,
        }),
        smtp_connect_timeout: Duration::from_secs(10),
    }
}

const NATIVE_INSTANCE: &str = "\
[[instance]]
name = \"VI_1\"
interface = \"eth0\"
vrid = 51
virtual_addresses = [\"10.0.0.100/24\"]
";

#[test]
fn mail_settings_and_notify_fifo_reach_the_model_without_warnings_from_either_syntax() {
    for (syntax, result) in [
        ("global_defs", conf(&top_then_instance(MAIL_CONF, ""))),
        (
            "native [email]",
            native(&format!("{MAIL_TOML}{NATIVE_INSTANCE}")),
        ),
    ] {
        let loaded = ok(result);
        assert!(
            loaded.warnings.is_empty(),
            "{syntax}: {}",
            show(&loaded.warnings)
        );
        assert_eq!(loaded.config.email, expected_mail(), "{syntax}");
        assert_eq!(
            loaded.config.notify_fifo.as_deref(),
            Some(Path::new("/run/vrrpx/notify.fifo")),
            "{syntax}"
        );
    }
}

#[test]
fn mail_settings_default_to_smtp_port_25_a_30_second_timeout_and_no_fifo() {
    let from_conf = ok(conf(&with_globals(" smtp_server 10.0.0.25"))).config;
    let from_toml = ok(native(&format!(
        "[email]\nsmtp_server = \"10.0.0.25\"\n{NATIVE_INSTANCE}"
    )))
    .config;
    for config in [from_conf, from_toml] {
        assert_eq!(
            config.email.smtp_server,
            Some(SmtpServer {
                host: "10.0.0.25".into(),
                port: 25
            })
        );
        assert_eq!(config.email.smtp_connect_timeout, Duration::from_secs(30));
        assert!(config.email.to.is_empty() && config.email.from.is_none());
        assert_eq!(config.notify_fifo, None);
    }
    let nothing = ok(conf(&one_instance(""))).config;
    assert_eq!(nothing.email, Email::default());
    assert_eq!(nothing.email.smtp_server, None);
    assert_eq!(nothing.email.smtp_connect_timeout, Duration::from_secs(30));
}

#[test]
fn vrrp_notify_fifo_is_the_same_fifo_as_notify_fifo_and_setting_both_warns() {
    let one = ok(conf(&with_globals(" vrrp_notify_fifo /run/a.fifo")));
    assert!(one.warnings.is_empty(), "{}", show(&one.warnings));
    assert_eq!(
        one.config.notify_fifo.as_deref(),
        Some(Path::new("/run/a.fifo"))
    );
    let both = ok(conf(&with_globals(
        " notify_fifo /run/a.fifo\n vrrp_notify_fifo /run/b.fifo",
    )));
    assert_eq!(
        both.config.notify_fifo.as_deref(),
        Some(Path::new("/run/b.fifo"))
    );
    assert_eq!(
        warning_containing(&both.warnings, "replaces the FIFO set at test.conf:2").location,
        at("test.conf", 3)
    );
}

#[test]
fn notify_fifo_is_the_path_before_its_owner() {
    // The warning about the owner: tests/config_cases/notify-fifo-owner-is-ignored.conf.
    let loaded = ok(conf(&with_globals(" notify_fifo /run/a.fifo root")));
    assert_eq!(
        loaded.config.notify_fifo.as_deref(),
        Some(Path::new("/run/a.fifo"))
    );
}

#[test]
fn smtp_alert_on_instances_and_sync_groups_reaches_the_model() {
    let text = format!(
        "{MAIL_CONF}{}",
        two_instances_and("vrrp_sync_group G {\n group { A B }\n smtp_alert\n}\n")
            .replacen(" interface eth0\n", " interface eth0\n smtp_alert on\n", 1)
            .replacen(
                " virtual_router_id 2\n",
                " virtual_router_id 2\n smtp_alert false\n",
                1
            )
    );
    let loaded = ok(conf(&text));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
    let c = &loaded.config;
    assert!(c.instances[0].smtp_alert);
    assert!(!c.instances[1].smtp_alert);
    assert!(c.sync_groups[0].smtp_alert);
}

#[test]
fn native_smtp_alert_on_instances_and_sync_groups_reads_into_the_model() {
    let text = format!(
        "{MAIL_TOML}{NATIVE_INSTANCE}smtp_alert = true\n\
         [[instance]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 52\n\
         virtual_addresses = [\"10.0.0.101/24\"]\n\
         [[sync_group]]\nname = \"G\"\nmembers = [\"VI_1\", \"B\"]\nsmtp_alert = true\n"
    );
    let loaded = ok(native(&text));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
    let c = &loaded.config;
    assert!(c.instances[0].smtp_alert);
    assert!(!c.instances[1].smtp_alert, "off unless said");
    assert!(c.sync_groups[0].smtp_alert);
}

#[test]
fn smtp_alert_is_off_by_default_unless_global_smtp_alert_vrrp_or_smtp_alert_says_so() {
    let off = ok(conf(&two_instances_and(
        "vrrp_sync_group G {\n group { A B }\n}\n",
    )))
    .config;
    assert!(!off.instances[0].smtp_alert && !off.sync_groups[0].smtp_alert);

    // keepalived: smtp_alert_vrrp wins over smtp_alert, whichever comes first; an
    // instance's own setting wins over both.
    for globals in [
        "smtp_alert",
        "smtp_alert_vrrp",
        "smtp_alert false\n smtp_alert_vrrp",
        "smtp_alert_vrrp true\n smtp_alert false",
    ] {
        let text = MAIL_CONF.replace(
            " notify_fifo /run/vrrpx/notify.fifo\n",
            &format!(" {globals}\n"),
        ) + &two_instances_and("vrrp_sync_group G {\n group { A B }\n}\n").replacen(
            " virtual_router_id 2\n",
            " virtual_router_id 2\n smtp_alert no\n",
            1,
        );
        let loaded = ok(conf(&text));
        assert!(
            loaded.warnings.is_empty(),
            "{globals}: {}",
            show(&loaded.warnings)
        );
        let c = &loaded.config;
        assert!(c.instances[0].smtp_alert, "{globals}");
        assert!(!c.instances[1].smtp_alert, "{globals}");
        assert!(c.sync_groups[0].smtp_alert, "{globals}");
    }
    let vrrp_off = MAIL_CONF.replace(
        " notify_fifo /run/vrrpx/notify.fifo\n",
        " smtp_alert\n smtp_alert_vrrp off\n",
    ) + &one_instance("");
    assert!(!instance_of(&vrrp_off).smtp_alert);
}

#[test]
fn smtp_alert_without_an_smtp_server_warns_that_no_mail_is_sent() {
    let loaded = ok(conf(&one_instance("smtp_alert")));
    assert!(loaded.config.instances[0].smtp_alert);
    let w = warning_containing(&loaded.warnings, "no mail is sent");
    assert!(
        w.message
            .contains("no smtp_server and no notification_email"),
        "{w}"
    );
    assert_eq!(w.location, at("test.conf", 7));
    let loaded = ok(native(&format!(
        "[email]\nsmtp_server = \"10.0.0.25\"\n{NATIVE_INSTANCE}smtp_alert = true\n"
    )));
    let w = warning_containing(&loaded.warnings, "no mail is sent");
    assert!(w.message.contains("no notification_email"), "{w}");
    assert_eq!(w.location, at("test.toml", 8));
}

#[test]
fn vrrp_script_init_fail_reaches_the_model_in_both_syntaxes_and_is_off_by_default() {
    let from_conf = ok(conf(&top_then_instance(
        "vrrp_script a {\n script /bin/true\n init_fail\n}\n\
         vrrp_script b {\n script /bin/true\n}\n",
        "track_script {\n a\n b\n}",
    )));
    let warnings = besides_script_user(&from_conf.warnings);
    assert!(warnings.is_empty(), "{}", show(&warnings));
    let from_toml = ok(native(&format!(
        "[[script]]\nname = \"a\"\ncommand = \"/bin/true\"\ninit_fail = true\n\
         [[script]]\nname = \"b\"\ncommand = \"/bin/true\"\n\
         {NATIVE_INSTANCE}track_scripts = [\"a\", \"b\"]\n"
    )));
    for config in [from_conf.config, from_toml.config] {
        assert!(config.scripts[0].init_fail);
        assert!(!config.scripts[1].init_fail);
    }
}

#[test]
fn vrrp_script_user_and_script_user_name_who_runs_scripts() {
    let loaded = ok(conf(&top_then_instance(
        "global_defs {\n script_user root\n}\n\
         vrrp_script a {\n script /bin/true\n user nobody\n}\n\
         vrrp_script b {\n script /bin/true\n}\n",
        "track_script {\n a\n b\n}",
    )));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
    let uid = |i: usize| loaded.config.scripts[i].run_as.as_ref().map(|r| r.uid);
    assert_eq!((uid(0), uid(1)), (Some(65534), Some(0)));
    let e = single_error(conf(&top_then_instance(
        "vrrp_script a {\n script /bin/true\n user vrrpx-nobody-here\n}\n",
        "track_script {\n a\n}",
    )));
    assert_eq!(e.location, at("test.conf", 3));
    assert!(e.message.contains("no user `vrrpx-nobody-here`"), "{e}");
}

const TRACK_FILES_CONF: &str = "\
track_file maint {
    file \"/run/vrrpx/maint\"
    weight -10
    init_file 5 overwrite
}
vrrp_track_file flag {
    file /run/vrrpx/flag
    init_file
}
track_file plain {
    file /run/vrrpx/plain
    weight 0
}
";

const TRACK_FILES_TOML: &str = "\
[[track_file]]
name = \"maint\"
file = \"/run/vrrpx/maint\"
weight = -10
init_file = { value = 5, overwrite = true }

[[track_file]]
name = \"flag\"
file = \"/run/vrrpx/flag\"
init_file = 0

[[track_file]]
name = \"plain\"
file = \"/run/vrrpx/plain\"
weight = 0
";

fn expected_track_files() -> Vec<TrackFile> {
    let file = |name: &str, weight, init| TrackFile {
        name: name.into(),
        path: format!("/run/vrrpx/{name}").into(),
        weight,
        init,
    };
    vec![
        file(
            "maint",
            -10,
            Some(TrackFileInit {
                value: 5,
                overwrite: true,
            }),
        ),
        // keepalived's defaults: weight 1, and a bare init_file writes 0 if missing.
        file("flag", 1, Some(TrackFileInit::default())),
        file("plain", 0, None),
    ]
}

fn expected_track_file_refs() -> Vec<TrackFileRef> {
    vec![
        TrackFileRef {
            name: "maint".into(),
            weight: None,
        },
        TrackFileRef {
            name: "flag".into(),
            weight: Some(-254),
        },
        TrackFileRef {
            name: "plain".into(),
            weight: Some(0),
        },
    ]
}

#[test]
fn track_file_blocks_and_references_reach_the_model() {
    let loaded = ok(conf(&top_then_instance(
        TRACK_FILES_CONF,
        "track_file {\n maint\n flag weight -254\n plain weight 0\n}",
    )));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
    let config = loaded.config;
    assert_eq!(config.track_files, expected_track_files());
    assert_eq!(config.instances[0].track_files, expected_track_file_refs());
}

#[test]
fn native_track_files_read_into_the_model() {
    let loaded = ok(native(&format!(
        "{TRACK_FILES_TOML}{NATIVE_INSTANCE}track_files = [\"maint\", \
         {{ name = \"flag\", weight = -254 }}, {{ name = \"plain\", weight = 0 }}]\n"
    )));
    assert!(loaded.warnings.is_empty(), "{}", show(&loaded.warnings));
    assert_eq!(loaded.locations.track_files["flag"], at("test.toml", 7));
    let config = loaded.config;
    assert_eq!(config.track_files, expected_track_files());
    assert_eq!(config.instances[0].track_files, expected_track_file_refs());
}

#[test]
fn track_file_in_a_sync_group_member_loses_its_weight_as_in_keepalived() {
    // keepalived 2.2.7 drops a track_file weighted in the instance, and keeps one that has
    // its weight from the track_file block with weight 0 (fault while the value is not 0).
    let text = format!(
        "{TRACK_FILES_CONF}{}",
        two_instances_and("vrrp_sync_group G {\n group { A B }\n}\n").replacen(
            " interface eth0\n",
            " interface eth0\n track_file {\n maint\n flag weight 3\n plain\n }\n",
            1
        )
    );
    let loaded = ok(conf(&text));
    let refs = &loaded.config.instances[0].track_files;
    assert_eq!(
        refs,
        &[
            TrackFileRef {
                name: "maint".into(),
                weight: Some(0)
            },
            TrackFileRef {
                name: "plain".into(),
                weight: None
            },
        ]
    );
    let w = warning_containing(&loaded.warnings, "track_file flag (weight 3) is dropped");
    assert_eq!(w.location.line, line_of(&text, " flag weight 3"));
    let w = warning_containing(&loaded.warnings, "its weight -10 is ignored");
    assert_eq!(w.location.line, line_of(&text, " maint"));

    // With sync_group_tracking_weight the weights stay as written.
    let kept = ok(conf(&text.replace(
        " group { A B }\n",
        " group { A B }\n sync_group_tracking_weight\n",
    )));
    assert_eq!(kept.config.instances[0].track_files[1].weight, Some(3));
}

#[test]
fn track_interface_weight_0_means_fault_and_other_weights_are_kept_in_both_syntaxes() {
    let from_conf = instance_of(&one_instance(
        "track_interface {\n eth1\n eth2 weight 0\n eth3 weight -20\n eth4 weight 15\n}",
    ));
    let from_toml = ok(native(&format!(
        "{NATIVE_INSTANCE}track_interfaces = [\"eth1\", {{ name = \"eth2\", weight = 0 }}, \
         {{ name = \"eth3\", weight = -20 }}, {{ name = \"eth4\", weight = 15 }}]\n"
    )))
    .config
    .instances
    .remove(0);
    let expected: Vec<TrackInterface> = [("eth1", 0), ("eth2", 0), ("eth3", -20), ("eth4", 15)]
        .into_iter()
        .map(|(name, weight)| TrackInterface {
            name: name.into(),
            weight,
        })
        .collect();
    assert_eq!(from_conf.track_interfaces, expected);
    assert_eq!(from_toml.track_interfaces, expected);
}

#[test]
fn vrrpx_tcp_and_http_checks_are_kept_as_written_in_both_syntaxes() {
    let checks = [
        "vrrpx:tcp 127.0.0.1:80",
        "vrrpx:tcp [::1]:5432",
        "vrrpx:http http://127.0.0.1:8080/healthz status 204",
        "vrrpx:http http://lb.example.com/",
    ];
    let mut conf_text = String::new();
    let mut toml_text = String::new();
    for (n, check) in checks.iter().enumerate() {
        conf_text += &format!("vrrp_script c{n} {{\n script \"{check}\"\n}}\n");
        toml_text += &format!("[[script]]\nname = \"c{n}\"\ncommand = \"{check}\"\n");
    }
    let from_conf = ok(conf(&top_then_instance(
        &conf_text,
        "track_script {\n c0\n c1\n c2\n c3\n}",
    )));
    assert!(
        from_conf.warnings.is_empty(),
        "{}",
        show(&from_conf.warnings)
    );
    let from_toml = ok(native(&format!(
        "{toml_text}{NATIVE_INSTANCE}track_scripts = [\"c0\", \"c1\", \"c2\", \"c3\"]\n"
    )));
    for config in [from_conf.config, from_toml.config] {
        let scripts: Vec<&str> = config.scripts.iter().map(|s| s.script.as_str()).collect();
        assert_eq!(scripts, checks);
    }
}

#[test]
fn reference_examples_carry_every_new_setting_in_both_syntaxes() {
    for name in ["reference.conf", "reference.toml"] {
        let c = load(&configs().join(name)).unwrap().config;
        assert_eq!(c.email.to.len(), 2, "{name}");
        assert_eq!(c.email.from.as_deref(), Some("lb1@example.com"), "{name}");
        assert_eq!(
            c.email.smtp_server,
            Some(SmtpServer {
                host: "10.9.0.25".into(),
                port: 2525
            }),
            "{name}"
        );
        assert_eq!(c.email.smtp_connect_timeout, Duration::from_secs(10));
        assert_eq!(
            c.notify_fifo.as_deref(),
            Some(Path::new("/run/vrrpx/notify.fifo"))
        );
        let file = &c.track_files[0];
        assert_eq!(
            (file.name.as_str(), file.weight, file.init),
            ("maintenance", -10, Some(TrackFileInit::default())),
            "{name}"
        );
        let vi61 = &c.instances[0];
        assert!(vi61.smtp_alert && vi61.track_files[0].name == "maintenance");
        assert!(c.sync_groups[0].smtp_alert);
        assert!(c.scripts[0].init_fail);
    }
    let from_conf = load(&configs().join("reference.conf")).unwrap().config;
    let from_toml = load(&configs().join("reference.toml")).unwrap().config;
    assert_eq!(from_conf, from_toml);
}

#[test]
fn ninety_ipv6_addresses_fit_a_1500_byte_advert() {
    // One more: tests/config_cases/more-ipv6-addresses-than-fit-an-advert.conf.
    let ninety: String = (1..=90)
        .map(|i| format!("        fd00::{i:x}/64\n"))
        .collect();
    let loaded = ok(conf(&format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    \
         virtual_ipaddress {{\n{ninety}    }}\n}}\n"
    )));
    assert_eq!(loaded.config.instances[0].virtual_addresses.len(), 90);
}
