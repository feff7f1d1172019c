//! Reading a whole per-CPU array of counters in one `BPF_MAP_LOOKUP_BATCH` (kernel 5.6+)
//! instead of one `BPF_MAP_LOOKUP_ELEM` per entry. The counter map has 256 VRIDs × 18
//! slots: 4608 system calls took about 3 ms every 5 s, long enough to make an advert due
//! meanwhile late by as much (seen as `slow loop turn wake="counters"`). The callers fall
//! back to the per-entry read when the kernel refuses the batch.

use std::os::fd::{AsFd, AsRawFd};

use aya::maps::MapData;

/// `BPF_MAP_LOOKUP_BATCH` (uapi `linux/bpf.h`, `enum bpf_cmd`).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Entries `0..entries` of the per-CPU array of `u64` behind `map`, each summed over the
/// possible CPUs. An error (an old kernel, a short read) leaves the choice to the caller.
pub fn sum_per_cpu_u64(map: &MapData, entries: usize) -> std::io::Result<Vec<u64>> {
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
    let fd = map.fd().as_fd().as_raw_fd();
    let mut keys = vec![0u32; entries];
    // Per-CPU values come as one 8-byte slot per possible CPU, per entry.
    let mut values = vec![0u64; entries * cpus];
    let mut sums = vec![0u64; entries];
    let mut seen = 0usize;
    let (mut resume_at, mut next) = (0u32, 0u32);
    let mut first = true;
    while seen < entries {
        let mut attr = BatchAttr {
            in_batch: if first {
                0
            } else {
                &resume_at as *const u32 as u64
            },
            out_batch: &mut next as *mut u32 as u64,
            keys: keys[seen..].as_mut_ptr() as u64,
            values: values[seen * cpus..].as_mut_ptr() as u64,
            count: (entries - seen) as u32,
            map_fd: fd as u32,
            ..BatchAttr::default()
        };
        // SAFETY: attr points at live buffers of `count` keys and `count * cpus` values
        // (the kernel writes no more) and at the two u32 batch cursors; the size given
        // is that of the struct, whose trailing bpf_attr fields the kernel reads as zero.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_LOOKUP_BATCH,
                &mut attr as *mut BatchAttr,
                std::mem::size_of::<BatchAttr>(),
            )
        };
        let got = attr.count as usize;
        for k in seen..seen + got {
            let key = keys[k] as usize;
            if key < entries {
                sums[key] = values[k * cpus..(k + 1) * cpus].iter().sum();
            }
        }
        seen += got;
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            // ENOENT: the end of the map, with the last entries in this call.
            if err.raw_os_error() == Some(libc::ENOENT) {
                break;
            }
            return Err(err);
        }
        if got == 0 {
            break;
        }
        resume_at = next;
        first = false;
    }
    if seen != entries {
        return Err(std::io::Error::other(format!(
            "batch read {seen} of {entries} entries"
        )));
    }
    Ok(sums)
}
