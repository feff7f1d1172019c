//! The last step of a shutdown: closing the kernel objects the engine holds.
//!
//! Two kinds of close wait for an RCU grace period before they return: an AF_PACKET
//! socket's (the kernel's packet_release calls synchronize_net) and an XDP link's
//! detach (the driver waits for programs still running on other CPUs). Measured here,
//! each took 12-16 ms, and they ran one after the other behind a fixed 10 ms sleep.
//!
//! The sleep was there for the XDP detach, which holds the kernel's RTNL lock: a backup on
//! the same host (a lab, a benchmark) that heard our priority-0 advert needs that lock for
//! its address add, so detaching at once delayed its takeover by up to 35 ms (measured).
//! Now the announcement sockets close first, on threads of their own (their grace periods
//! overlap, and they take no RTNL): that wait replaces the sleep, with the backups' Skew_Time
//! (under one advert interval, RFC 5798 §6.1) inside it at 10 ms adverts. The detach
//! follows, the receive paths of several interfaces in parallel. The XDP detach is not
//! moved before the priority-0 adverts: on a real NIC a native-mode detach can reset the
//! queues, which must not happen while we still hold the addresses.

use super::Engine;

impl Engine {
    /// Close everything the engine holds, after the shutdown's adverts and address
    /// removal: announcement sockets, then the receive paths, then the rest.
    pub(super) fn close(mut self) {
        let announcers = self.edges.take_announcers();
        in_parallel(announcers);
        let paths: Vec<_> = std::mem::take(&mut self.paths)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        in_parallel(paths);
        // The rest (advert sockets, netlink, maps) closes without waiting.
        drop(self);
    }
}

/// Drop every item on a thread of its own and wait for all of them.
fn in_parallel<T: Send>(items: Vec<T>) {
    std::thread::scope(|s| {
        for item in items {
            s.spawn(move || drop(item));
        }
    });
}
