//! The last step of a shutdown: closing the kernel objects the engine holds.
//!
//! Two kinds of close wait for an RCU grace period before they return: an AF_PACKET
//! socket's (the kernel's packet_release calls synchronize_net) and an XDP link's
//! detach (the driver waits for programs still running on other CPUs). Measured here,
//! each took 12-16 ms; one after another they were most of SIGTERM-to-exit. Closed on
//! threads of their own, the waits overlap and the exit costs about one grace period.
//! Nothing is skipped: every object is closed before the process exits.

use super::Engine;

impl Engine {
    /// Close everything the engine holds, the slow closes in parallel.
    pub(super) fn close(mut self) {
        let paths = std::mem::take(&mut self.paths);
        let announcers = self.edges.take_announcers();
        std::thread::scope(|s| {
            for (_, path) in paths {
                s.spawn(move || drop(path));
            }
            for announcer in announcers {
                s.spawn(move || drop(announcer));
            }
            // The rest (advert sockets, netlink, maps) closes without waiting, here.
            drop(self);
        });
    }
}
