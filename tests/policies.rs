//! Receive policies as an engine would install them, for the tests that run frames
//! through the classifier (the XDP verdicts, the wire vectors and the fuzz targets).

use vrrp_agent::filter::PolicyTable;
use vrrp_ebpf::abi::*;

/// A policy with one configured instance: `vrid` in `family` on interface `ifindex`.
pub fn instance(ifindex: u32, vrid: u8, family: Family, vrid_policy: VridPolicy) -> PolicyTable {
    let mut policy = PolicyTable::default();
    policy.ifaces.insert(ifindex, IfacePolicy { flags: 0 });
    policy
        .vrids
        .insert(VridKey::new(ifindex, vrid, family), vrid_policy);
    policy
}

/// The VRRPv3 instance every strict policy starts from: pseudo-header checksums
/// (RFC 5798 §5.2.8).
pub fn v3() -> VridPolicy {
    VridPolicy {
        version: 3,
        csum_form: CSUM_PSEUDO,
        ..VridPolicy::default()
    }
}

/// The instances of a strict policy on `ifindex`: VRID 51 v3 (both families), VRID 52 v2
/// with PASS "secret!!" at 1 s, VRID 53 v3 with RFC 9568 plain checksums, VRID 54 v3
/// unicast. Callers add what their frames need besides (more VRIDs, addresses, peers).
pub fn strict_instances(ifindex: u32) -> PolicyTable {
    let v3 = v3();
    let mut p = instance(ifindex, 51, Family::V4, v3);
    let mut add = |vrid, family, policy| {
        p.vrids.insert(VridKey::new(ifindex, vrid, family), policy);
    };
    add(51, Family::V6, v3);
    add(
        52,
        Family::V4,
        VridPolicy {
            version: 2,
            auth_type: AUTH_PASS,
            auth_pass: *b"secret!!",
            adver_int_s: 1,
            ..VridPolicy::default()
        },
    );
    add(
        53,
        Family::V4,
        VridPolicy {
            csum_form: CSUM_PLAIN,
            ..v3
        },
    );
    add(
        54,
        Family::V4,
        VridPolicy {
            flags: VRID_UNICAST,
            ..v3
        },
    );
    p
}
