//! The edge of the host checks: reads the interfaces a configuration names, and their
//! addresses, from the kernel (rtnetlink, in the caller's network namespace) into the plain
//! [`Host`] the pure checks take.

use anyhow::Result;

use super::host::{Host, HostAddress, HostInterface};
use crate::io::netlink::Netlink;

/// The interfaces among `names` that exist here, each with its addresses. Needs a tokio
/// runtime (the netlink connection runs on it).
pub async fn gather(names: &[String]) -> Result<Host> {
    let netlink = Netlink::connect()?;
    let mut host = Host::default();
    for name in names {
        let Some(link) = netlink.link_by_name(name).await? else {
            continue;
        };
        let addresses = netlink
            .addresses(Some(link.ifindex))
            .await?
            .into_iter()
            .map(|a| HostAddress {
                addr: a.addr,
                prefix_len: a.prefix_len,
                virtual_by_vrrpx: a.is_ours(),
            })
            .collect();
        host.interfaces.push(HostInterface {
            name: name.clone(),
            addresses,
        });
    }
    Ok(host)
}
