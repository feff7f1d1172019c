//! Shared between the XDP program (`src/main.rs`, built for `bpfel-unknown-none`) and the
//! agent: the kernel/user ABI and the one definition of the VRRP receive checks.
#![no_std]

pub mod abi;
pub mod checksum;
pub mod classify;
pub mod guard;
pub mod state;
pub mod wire;

#[cfg(test)]
extern crate std;
