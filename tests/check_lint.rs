//! `vrrp-agent check`'s lint layer, fed files as text and hosts as plain facts: each peer
//! mismatch on a pair of files, each host check on a made-up host, the smells, and the
//! errors vrrp_strict adds. (tests/check_host.rs runs the real command in a namespace.)

use std::path::Path;

use vrrp_agent::config::lint::host::{Host, HostAddress, HostInterface};
use vrrp_agent::config::lint::{self, Finding, Severity, Side};
use vrrp_agent::config::{check_str, Checked};

// ---------------------------------------------------------------------------------------
// Helpers

/// A keepalived.conf with one instance VI_1 (VRID 60 on eth0, 10.9.0.100/24 unless `vip`
/// says otherwise), with `extra` lines after the VRID line (line 4 on).
fn router(vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n\
         \x20   interface eth0\n\
         \x20   virtual_router_id 60\n\
         {extra}\n\
         \x20   virtual_ipaddress {{\n\
         \x20       {vip}\n\
         \x20   }}\n\
         }}\n"
    )
}

fn valid(text: &str, name: &str) -> Checked {
    let checked = check_str(text, Path::new(name));
    assert!(
        checked.errors.is_empty(),
        "{name} should validate:\n{}",
        checked
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    checked
}

fn side<'a>(checked: &'a Checked, name: &'a str) -> Side<'a> {
    Side {
        file: Path::new(name),
        config: checked.config.as_ref().unwrap(),
        lines: &checked.locations.instances,
    }
}

/// The findings of comparing `mine` (a.conf) with `theirs` (b.conf).
fn compare(mine: &str, theirs: &str) -> Vec<Finding> {
    let a = valid(mine, "a.conf");
    let b = valid(theirs, "b.conf");
    lint::peer::compare(&side(&a, "a.conf"), &side(&b, "b.conf"))
}

/// Extra lines for a router of `priority` that unicasts from `src` to `peer`.
fn unicast(priority: u8, src: &str, peer: &str) -> String {
    format!("priority {priority}\nunicast_src_ip {src}\nunicast_peer {{\n{peer}\n}}")
}

/// The findings of comparing two routers on 10.9.0.100/24 with `mine` and `theirs` as
/// their extra lines (see [`router`]).
fn compare_routers(mine: &str, theirs: &str) -> Vec<Finding> {
    compare(&router(VIP, mine), &router(VIP, theirs))
}

const VIP: &str = "10.9.0.100/24";

fn only<'a>(findings: &'a [Finding], code: &str) -> &'a Finding {
    let hits: Vec<&Finding> = findings.iter().filter(|f| f.code == code).collect();
    assert_eq!(
        hits.len(),
        1,
        "expected one {code}, got:\n{}",
        findings
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    hits[0]
}

/// The one finding `code`, which must have `severity`.
fn only_of<'a>(findings: &'a [Finding], code: &str, severity: Severity) -> &'a Finding {
    let f = only(findings, code);
    assert_eq!(f.severity, severity, "{f}");
    f
}

fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code).collect()
}

fn line_of(f: &Finding) -> (String, usize) {
    (f.location.file.display().to_string(), f.location.line)
}

fn peer_line_of(f: &Finding) -> (String, usize) {
    let p = f.peer.as_ref().expect("a peer location");
    (p.file.display().to_string(), p.line)
}

// ---------------------------------------------------------------------------------------
// Peers

#[test]
fn a_matching_master_and_backup_pair_has_no_mismatch() {
    let findings = compare_routers("priority 150", "priority 100");
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn different_versions_are_an_error_naming_both_files_and_lines() {
    let findings = compare_routers("priority 150\nversion 3", "priority 100\nversion 2");
    let f = only_of(&findings, "version-mismatch", Severity::Error);
    assert_eq!(line_of(f), ("a.conf".into(), 5));
    assert_eq!(peer_line_of(f), ("b.conf".into(), 5));
    assert_eq!(f.instance.as_deref(), Some("VI_1"));
    assert!(f.message.contains("VRRPv3") && f.message.contains("VRRPv2"));
}

#[test]
fn different_v2_intervals_break_the_election_and_v3_intervals_only_weaken_it() {
    let v2 = compare_routers("priority 150\nadvert_int 1", "priority 100\nadvert_int 2");
    let f = only_of(&v2, "advert-int-mismatch", Severity::Error);
    assert_eq!((line_of(f).1, peer_line_of(f).1), (5, 5));
    assert!(
        f.message.contains("advert_int 1 here, 2 at b.conf:5"),
        "{f}"
    );

    let v3 = compare_routers(
        "priority 150\nversion 3\nadvert_int 0.1",
        "priority 100\nversion 3\nadvert_int 0.5",
    );
    let f = only_of(&v3, "advert-int-mismatch", Severity::Warning);
    assert!(f.message.contains("0.10 here, 0.50"), "{f}");
}

#[test]
fn different_address_lists_are_an_error_listing_what_differs() {
    let findings = compare(
        &router("10.9.0.100/24\n10.9.0.101/24", "priority 150"),
        &router("10.9.0.100/24\n10.9.0.102/24", "priority 100"),
    );
    let f = only_of(&findings, "address-mismatch", Severity::Error);
    assert!(
        f.message.contains("only here: 10.9.0.101") && f.message.contains("peer: 10.9.0.102"),
        "{f}"
    );
    // The first virtual address's line, in each file.
    assert_eq!((line_of(f).1, peer_line_of(f).1), (6, 6));
}

#[test]
fn authentication_on_one_side_or_different_passwords_are_errors() {
    let auth = |pass: &str| {
        format!("priority 150\nauthentication {{\nauth_type PASS\nauth_pass {pass}\n}}")
    };
    let one_sided = compare_routers(&auth("secret"), "priority 100");
    let f = only_of(&one_sided, "auth-mismatch", Severity::Error);
    assert!(f.message.contains("this router authenticates"), "{f}");
    assert_eq!(line_of(f).1, 6, "the auth_type line");

    let differ = compare_routers(&auth("secret"), &auth("other"));
    let f = only(&differ, "auth-mismatch");
    assert!(f.message.contains("passwords differ"), "{f}");
    assert!(!f.message.contains("secret"), "never print a password: {f}");
}

#[test]
fn lower_case_auth_type_runs_without_authentication_as_in_keepalived_so_it_mismatches() {
    let lower = "priority 150\nauthentication {\nauth_type pass\nauth_pass secret\n}";
    let upper = "priority 100\nauthentication {\nauth_type PASS\nauth_pass secret\n}";
    let a = valid(&router(VIP, lower), "a.conf");
    assert_eq!(a.config.as_ref().unwrap().instances[0].auth_pass, None);
    assert!(a
        .warnings
        .iter()
        .any(|w| w.message.contains("auth_type pass") && w.location.line == 6));
    let findings = compare_routers(lower, upper);
    only(&findings, "auth-mismatch");
}

#[test]
fn checksum_forms_that_differ_are_an_error() {
    let findings = compare_routers(
        "priority 150\nversion 3\nvrrpx_checksum plain",
        "priority 100\nversion 3",
    );
    let f = only_of(&findings, "checksum-mismatch", Severity::Error);
    assert_eq!(line_of(f).1, 6);
}

#[test]
fn unicast_on_one_side_only_is_an_error() {
    let findings = compare_routers(&unicast(150, "10.9.0.1", "10.9.0.2"), "priority 100");
    let f = only_of(&findings, "unicast-asymmetric", Severity::Error);
    assert!(f.message.contains("multicasts"), "{f}");
    assert_eq!(line_of(f).1, 7, "the first unicast_peer");
}

#[test]
fn unicast_peers_that_do_not_name_each_other_are_an_error_for_each_direction() {
    let findings = compare_routers(
        &unicast(150, "10.9.0.1", "10.9.0.3"),
        &unicast(100, "10.9.0.2", "10.9.0.1"),
    );
    let f = only(&findings, "unicast-asymmetric");
    assert!(
        f.message
            .contains("unicast_src_ip 10.9.0.2 is not in this router's"),
        "{f}"
    );
    assert_eq!(
        peer_line_of(f),
        ("b.conf".into(), 5),
        "the peer's unicast_src_ip"
    );

    let symmetric = compare_routers(
        &unicast(150, "10.9.0.1", "10.9.0.2"),
        &unicast(100, "10.9.0.2", "10.9.0.1"),
    );
    assert!(symmetric.is_empty(), "{symmetric:?}");
}

#[test]
fn equal_priorities_warn_unless_both_are_nopreempt() {
    let tie = compare_routers("priority 100", "priority 100");
    assert_eq!(only(&tie, "priority-tie").severity, Severity::Warning);

    let intended = compare_routers(
        "state BACKUP\npriority 100\nnopreempt",
        "state BACKUP\npriority 100\nnopreempt",
    );
    assert!(intended.is_empty(), "{intended:?}");

    let owners = compare_routers("priority 255", "priority 255");
    assert_eq!(only(&owners, "both-owners").severity, Severity::Error);
}

#[test]
fn both_state_master_without_owning_warns_at_the_state_lines() {
    let findings = compare_routers("state MASTER\npriority 150", "state MASTER\npriority 100");
    let f = only_of(&findings, "both-state-master", Severity::Warning);
    assert_eq!((line_of(f).1, peer_line_of(f).1), (4, 4));
}

#[test]
fn instances_pair_by_vrid_and_network_even_on_differently_named_interfaces() {
    let mine = router(VIP, "priority 150\nadvert_int 1");
    let theirs = router(VIP, "priority 100\nadvert_int 3").replace("eth0", "ens3");
    let findings = compare(&mine, &theirs);
    assert_eq!(codes(&findings), ["advert-int-mismatch"]);
}

#[test]
fn an_instance_without_a_counterpart_warns_in_the_file_that_has_it() {
    let mine = router(VIP, "priority 150");
    let theirs = router("192.168.7.1/24", "priority 100")
        .replace("eth0", "ens3")
        .replace("virtual_router_id 60", "virtual_router_id 61");
    let findings = compare(&mine, &theirs);
    assert_eq!(codes(&findings), ["no-peer-instance", "no-peer-instance"]);
    assert_eq!(line_of(&findings[0]), ("a.conf".into(), 3));
    assert_eq!(line_of(&findings[1]), ("b.conf".into(), 3));
    assert!(findings.iter().all(|f| f.severity == Severity::Warning));
}

// ---------------------------------------------------------------------------------------
// The host

fn addr(text: &str) -> HostAddress {
    let (a, len) = text.split_once('/').unwrap();
    HostAddress {
        addr: a.parse().unwrap(),
        prefix_len: len.parse().unwrap(),
        virtual_by_vrrpx: false,
    }
}

fn host(interfaces: &[(&str, &[&str])]) -> Host {
    Host {
        interfaces: interfaces
            .iter()
            .map(|(name, addrs)| HostInterface {
                name: name.to_string(),
                addresses: addrs.iter().map(|a| addr(a)).collect(),
            })
            .collect(),
    }
}

fn on_host(text: &str, h: &Host) -> Vec<Finding> {
    let c = valid(text, "a.conf");
    lint::host::check(&side(&c, "a.conf"), h)
}

#[test]
fn a_host_with_the_interface_and_its_subnet_has_nothing_to_report() {
    let h = host(&[("eth0", &["10.9.0.1/24", "fe80::1/64"])]);
    let findings = on_host(&router(VIP, "priority 150"), &h);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn a_missing_interface_is_fatal_at_the_interface_line() {
    let h = host(&[("eth0", &["10.9.0.1/24"])]);
    let text = router(VIP, "priority 150").replace("eth0", "eth1");
    let findings = on_host(&text, &h);
    let f = only_of(&findings, "missing-interface", Severity::Fatal);
    assert_eq!(line_of(f), ("a.conf".into(), 2));
    assert!(
        f.message.contains("eth1") && f.message.contains("--no-host"),
        "{f}"
    );
    assert_eq!(lint::exit_status(&findings), 4);
}

#[test]
fn a_vip_equal_to_an_interface_address_is_an_error() {
    let h = host(&[("eth0", &["10.9.0.1/24"])]);
    let findings = on_host(&router("10.9.0.1/24", "priority 150"), &h);
    let f = only_of(&findings, "vip-is-interface-address", Severity::Error);
    assert_eq!(line_of(f).1, 6);
    assert_eq!(lint::exit_status(&findings), 5);
}

#[test]
fn a_vip_that_vrrpx_itself_added_is_not_the_hosts_own_address() {
    let mut h = host(&[("eth0", &["10.9.0.1/24", "10.9.0.100/24"])]);
    h.interfaces[0].addresses[1].virtual_by_vrrpx = true;
    let findings = on_host(&router(VIP, "priority 150"), &h);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn a_vip_outside_every_subnet_warns_unless_written_as_a_host_route() {
    let h = host(&[("eth0", &["10.9.0.1/24"])]);
    let outside = on_host(&router("192.168.5.10/24", "priority 150"), &h);
    let f = only_of(&outside, "vip-outside-subnets", Severity::Warning);
    assert!(f.message.contains("10.9.0.0/24"), "{f}");
    // Without a prefix keepalived means /32 too, but nothing says it was meant.
    only(
        &on_host(&router("192.168.5.10", "priority 150"), &h),
        "vip-outside-subnets",
    );
    assert!(on_host(&router("192.168.5.10/32", "priority 150"), &h).is_empty());
}

#[test]
fn an_interface_without_an_ipv4_address_cannot_source_ipv4_adverts() {
    let h = host(&[("eth0", &["fe80::1/64"])]);
    let findings = on_host(&router(VIP, "priority 150"), &h);
    assert_eq!(
        only(&findings, "no-interface-address").severity,
        Severity::Fatal
    );
}

#[test]
fn a_dev_interface_and_tracked_interfaces_must_exist_too() {
    let h = host(&[("eth0", &["10.9.0.1/24"])]);
    let text = router(
        "10.9.0.100/24 dev eth9",
        "priority 150\ntrack_interface {\neth7\n}",
    );
    let findings = on_host(&text, &h);
    assert_eq!(only(&findings, "missing-interface").location.line, 9);
    assert_eq!(
        only(&findings, "missing-track-interface").severity,
        Severity::Warning
    );
}

#[test]
fn the_host_checks_look_up_every_interface_the_file_names() {
    let c = valid(
        &router(
            "10.9.0.100/24 dev eth9",
            "priority 150\ntrack_interface {\neth7\n}",
        ),
        "a.conf",
    );
    assert_eq!(
        lint::host::interface_names(&side(&c, "a.conf")),
        ["eth0", "eth9", "eth7"]
    );
}

// ---------------------------------------------------------------------------------------
// Smells

fn smells(text: &str) -> Vec<Finding> {
    let c = valid(text, "a.conf");
    lint::smells::check(&side(&c, "a.conf"))
}

#[test]
fn vrid_51_of_every_tutorial_warns_at_its_line() {
    let text = router(VIP, "priority 150").replace("id 60", "id 51");
    let findings = smells(&text);
    let f = only(&findings, "common-vrid");
    assert_eq!((f.severity, f.location.line), (Severity::Warning, 3));
    assert!(smells(&router(VIP, "priority 150")).is_empty());
}

#[test]
fn the_same_vip_in_two_instances_is_an_error_naming_the_first() {
    let two = format!(
        "{}{}",
        router(VIP, "priority 150"),
        router(VIP, "priority 150")
            .replace("VI_1", "VI_2")
            .replace("id 60", "id 61")
    );
    let findings = smells(&two);
    let f = only_of(&findings, "duplicate-vip", Severity::Error);
    assert_eq!(f.location.line, 14);
    assert!(f.message.contains("VI_1 (a.conf:6)"), "{f}");
}

#[test]
fn double_slash_comments_and_wrong_case_keywords_and_states_warn_with_their_lines() {
    let text = format!("// the pair\n{}", router(VIP, "Priority 150\nstate Master"));
    let c = valid(&text, "a.conf");
    let says = |line: usize, needle: &str| {
        c.warnings
            .iter()
            .any(|w| w.location.line == line && w.message.contains(needle))
    };
    assert!(says(1, "comments start with `#`"), "{:?}", c.warnings);
    assert!(says(5, "write `priority`"), "{:?}", c.warnings);
    assert!(
        says(6, "starts this instance as BACKUP"),
        "{:?}",
        c.warnings
    );
    let i = &c.config.as_ref().unwrap().instances[0];
    // keepalived: an unknown state is BACKUP, and `Priority` is an unknown keyword.
    assert_eq!(
        (i.initial_state, i.priority),
        (vrrp_agent::config::model::InitialState::Backup, 100)
    );
}

#[test]
fn a_comment_after_a_value_written_with_slashes_is_named() {
    let c = valid(&router(VIP, "priority 150 // main"), "a.conf");
    assert!(c
        .warnings
        .iter()
        .any(|w| w.location.line == 4 && w.message.contains("not `//`")));
}

// ---------------------------------------------------------------------------------------
// vrrp_strict

fn strict(extra: &str) -> Checked {
    check_str(
        &format!("global_defs {{\n vrrp_strict\n}}\n{}", router(VIP, extra)),
        Path::new("s.conf"),
    )
}

fn strict_error_at(extra: &str, needle: &str) -> usize {
    let c = strict(extra);
    let e = c
        .errors
        .iter()
        .find(|e| e.message.contains(needle))
        .unwrap_or_else(|| panic!("no error containing {needle:?}: {:?}", c.errors));
    assert!(e.message.contains("vrrp_strict"), "{e}");
    e.location.line
}

#[test]
fn strict_mode_refuses_unicast_authentication_and_preempt_delay_at_their_lines() {
    assert_eq!(
        strict_error_at(
            "priority 100\nunicast_peer {\n10.9.0.2\n}",
            "unicast_peer is not allowed"
        ),
        9
    );
    assert_eq!(
        strict_error_at(
            "priority 100\nauthentication {\nauth_type PASS\nauth_pass x\n}",
            "authentication is not allowed"
        ),
        9
    );
    assert_eq!(
        strict_error_at(
            "priority 100\npreempt_delay 5",
            "preempt_delay is not allowed"
        ),
        8
    );
}

#[test]
fn strict_mode_needs_state_master_to_mean_the_address_owner() {
    assert_eq!(
        strict_error_at(
            "state MASTER\npriority 150",
            "`state MASTER` with priority 150"
        ),
        7
    );
    assert!(strict("state MASTER\npriority 255").errors.is_empty());
    assert!(strict("state BACKUP\npriority 150").errors.is_empty());
}

#[test]
fn strict_mode_refuses_accept_under_vrrpv2_and_the_first_ipv6_address_not_link_local() {
    assert_eq!(
        strict_error_at("priority 100\naccept", "`accept` with VRRPv2"),
        8
    );
    let v6 = check_str(
        "global_defs {\n vrrp_strict\n}\nvrrp_instance V6 {\n interface eth0\n \
         virtual_router_id 60\n version 3\n virtual_ipaddress {\n fd00::100/64\n }\n}\n",
        Path::new("s.conf"),
    );
    let e = v6
        .errors
        .iter()
        .find(|e| e.message.contains("link-local"))
        .expect("first IPv6 address error");
    assert_eq!(e.location.line, 9);
}

#[test]
fn strict_mode_makes_no_accept_the_default_except_for_the_owner_and_check_explains_it() {
    let c = strict("priority 100\nversion 3");
    let instance = &c.config.as_ref().unwrap().instances[0];
    assert!(instance.strict);
    assert!(!instance.accept);
    let findings = lint::smells::check(&side(&c, "s.conf"));
    let f = only(&findings, "no-accept");
    assert!(
        f.message.contains("vrrp_strict") && f.message.contains("ping or TCP"),
        "{f}"
    );

    let owner = strict("priority 255");
    assert!(owner.config.as_ref().unwrap().instances[0].accept);
    let accepting = strict("priority 100\nversion 3\naccept");
    assert!(accepting.config.as_ref().unwrap().instances[0].accept);
    assert!(lint::smells::check(&side(&accepting, "s.conf")).is_empty());
}

#[test]
fn strict_mode_can_be_set_per_instance_and_turned_off_per_instance() {
    let per_instance = check_str(
        &router(
            "10.9.0.100/24",
            "priority 100\nstrict_mode\npreempt_delay 5",
        ),
        Path::new("s.conf"),
    );
    assert!(per_instance
        .errors
        .iter()
        .any(|e| e.message.contains("preempt_delay is not allowed")));
    let off = strict("priority 100\nstrict_mode off\npreempt_delay 5");
    assert!(off.errors.is_empty(), "{:?}", off.errors);
    assert!(off.config.unwrap().instances[0].accept);
}

#[test]
fn without_strict_mode_accept_stays_keepalived_s_default() {
    let c = valid(&router(VIP, "priority 100"), "a.conf");
    let i = &c.config.as_ref().unwrap().instances[0];
    assert!(i.accept && !i.strict);
}
