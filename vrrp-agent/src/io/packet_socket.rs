//! The one AF_PACKET socket wrapper (packet(7)): the raw-socket receive path reads whole
//! Ethernet frames through it, the GARP / NA sender writes them. Everything `unsafe` about
//! packet sockets (socket, bind, setsockopt, sendto on a `sockaddr_ll`) is here.

use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{bail, Context, Result};

use super::iface::name_of;

/// Every protocol, as packet(7) spells it (`ETH_P_ALL`).
const ETH_P_ALL: u16 = 0x0003;

/// An AF_PACKET `SOCK_RAW` socket (non-blocking, close-on-exec) on one interface.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// A socket that receives every frame on `ifindex` (bound with `ETH_P_ALL`).
    pub fn receive_all(ifindex: u32) -> Result<PacketSocket> {
        let s = Self::open(ifindex, ETH_P_ALL, "receive")?;
        // SAFETY: sockaddr_ll is plain data; zero is a valid initial value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll and its size is passed.
        let rc = unsafe {
            libc::bind(
                s.fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("{}: binding the AF_PACKET socket", name_of(ifindex)));
        }
        Ok(s)
    }

    /// A send-only socket for `ifindex`: protocol 0, so the kernel queues nothing on it.
    pub fn send_only(ifindex: u32) -> Result<PacketSocket> {
        Self::open(ifindex, 0, "send")
    }

    fn open(ifindex: u32, protocol: u16, what: &str) -> Result<PacketSocket> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol.to_be() as i32,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| {
                format!(
                    "{}: AF_PACKET socket to {what} (needs CAP_NET_RAW)",
                    name_of(ifindex)
                )
            });
        }
        // SAFETY: raw is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(PacketSocket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Set an integer socket option; `name` is for the error.
    pub fn set_option(&self, level: i32, option: i32, value: i32, name: &str) -> Result<()> {
        // SAFETY: value is a live i32 and the length passed matches it.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                option,
                &value as *const i32 as *const libc::c_void,
                size_of::<i32>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("{}: {name}", name_of(self.ifindex)));
        }
        Ok(())
    }

    /// Send one complete Ethernet frame (destination MAC first, EtherType at 12).
    pub fn send_frame(&self, frame: &[u8]) -> Result<()> {
        if frame.len() < 14 {
            bail!("a frame of {} bytes has no Ethernet header", frame.len());
        }
        // SAFETY: sockaddr_ll is plain data; zero is a valid initial value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        // The EtherType in network order, as the kernel sets skb->protocol from it.
        sll.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: frame and sll are live for the call and their lengths are passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("sending on {}", name_of(self.ifindex)));
        }
        Ok(())
    }

    /// The descriptor, for an async reactor.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_shorter_than_an_ethernet_header_is_refused_before_any_send() {
        // Needs CAP_NET_RAW (the tests run as root); loopback (ifindex 1) always exists.
        let s = PacketSocket::send_only(1).expect("AF_PACKET socket");
        let err = s.send_frame(&[0u8; 13]).unwrap_err();
        assert!(format!("{err}").contains("13 bytes"), "{err}");
    }
}
