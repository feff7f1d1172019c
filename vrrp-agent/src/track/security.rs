//! Script security as keepalived has it: a program that runs with root's powers — as uid 0
//! or gid 0, or a set-user-ID / set-group-ID root file — must be one that only root can
//! change. Otherwise whoever can write the file, or rename things in any directory above
//! it, chooses what root runs at the next state change.
//!
//! The rule, for the path as written and again for the path it resolves to (symbolic links
//! followed), looking at every component from `/` down without following links:
//!
//! - every component is owned by root;
//! - a directory without the sticky bit, and the file itself, is neither writable by a
//!   group other than root's (gid 0) nor by everyone;
//! - every component but the last is a directory (or a link to one), and the last is a
//!   regular file (or a link to one).
//!
//! A sticky directory such as `/tmp` may be world-writable: there only an entry's owner can
//! rename or remove it, and the owner must be root anyway.
//!
//! With `enable_script_security` an unsafe script is refused at load; without it, it is
//! run and warned about once. Programs run as another user are not checked (that user
//! can only do what it could do anyway), as in keepalived.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::model::RunAs;

use super::program::SCRIPT_PATH;

/// Why a script is unsafe: the component at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsafe {
    pub component: PathBuf,
    pub reason: String,
}

impl fmt::Display for Unsafe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.component.display(), self.reason)
    }
}

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;
const S_IWGRP: u32 = 0o020;
const S_IWOTH: u32 = 0o002;
const S_IXUSR: u32 = 0o100;
const S_IXGRP: u32 = 0o010;

/// The file `program` (a script's first word) names, as the child's exec will find it: a
/// name without `/` is looked up in [`SCRIPT_PATH`]; a relative path is taken from `/`,
/// the child's working directory. `None` when there is no such file (the run reports it).
pub fn locate(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = Path::new("/").join(program);
        return path.symlink_metadata().is_ok().then_some(path);
    }
    SCRIPT_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

/// Whether running `program` as `run_as` runs it with root's powers.
pub fn runs_as_root(program: &Path, run_as: &RunAs) -> bool {
    if run_as.uid == 0 || run_as.gid == 0 || run_as.groups.contains(&0) {
        return true;
    }
    let Ok(meta) = program.metadata() else {
        return false;
    };
    let mode = meta.mode();
    (meta.uid() == 0 && mode & S_ISUID != 0 && mode & S_IXUSR != 0)
        || (meta.gid() == 0 && mode & S_ISGID != 0 && mode & S_IXGRP != 0)
}

/// Checks `program` (absolute, from [`locate`]) for `run_as`; `Ok` when it does not run
/// with root's powers or when only root can change it.
pub fn check(program: &Path, run_as: &RunAs) -> Result<(), Unsafe> {
    if !runs_as_root(program, run_as) {
        return Ok(());
    }
    only_root_can_change(program)?;
    match program.canonicalize() {
        Ok(real) if real != program => only_root_can_change(&real),
        Ok(_) => Ok(()),
        Err(e) => Err(Unsafe {
            component: program.to_path_buf(),
            reason: format!("cannot be resolved: {e}"),
        }),
    }
}

/// Walks `path` from `/` down, without following links, applying the rule above.
pub fn only_root_can_change(path: &Path) -> Result<(), Unsafe> {
    let components: Vec<&Path> = path.ancestors().collect();
    for (depth, component) in components.iter().rev().enumerate() {
        let last = depth + 1 == components.len();
        let fail = |reason: String| Unsafe {
            component: component.to_path_buf(),
            reason,
        };
        let meta = component
            .symlink_metadata()
            .map_err(|e| fail(format!("cannot be examined: {e}")))?;
        let kind = meta.file_type();
        let mode = meta.mode();
        if meta.uid() != 0 {
            return Err(fail(format!("is owned by uid {}, not by root", meta.uid())));
        }
        if kind.is_symlink() {
            // A link's own mode means nothing; its directory (checked above) decides who
            // may replace it, and the resolved path is walked separately.
            continue;
        }
        if !last && !kind.is_dir() {
            return Err(fail("is not a directory".into()));
        }
        if last && !kind.is_file() {
            return Err(fail("is not a regular file".into()));
        }
        let guarded = kind.is_dir() && mode & S_ISVTX != 0;
        if guarded {
            continue;
        }
        if mode & S_IWOTH != 0 {
            return Err(fail("is writable by everyone".into()));
        }
        if meta.gid() != 0 && mode & S_IWGRP != 0 {
            return Err(fail(format!("is writable by group {}", meta.gid())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn root() -> RunAs {
        RunAs {
            user: "root".into(),
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            home: "/root".into(),
        }
    }

    fn nobody() -> RunAs {
        RunAs {
            user: "nobody".into(),
            uid: 65534,
            gid: 65534,
            groups: Vec::new(),
            home: "/nonexistent".into(),
        }
    }

    struct Scratch(PathBuf);

    impl Scratch {
        /// The scratch directory of a test that needs root (to own and chown files);
        /// `None` when not root, and the test checks nothing.
        fn as_root(name: &str) -> Option<Scratch> {
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() == 0 };
            root.then(|| Scratch::new(name))
        }

        /// A root-owned 0755 directory under /tmp (sticky), so only what the test changes
        /// is unsafe.
        fn new(name: &str) -> Scratch {
            let dir = Path::new("/tmp").join(format!("vrrpx-sec-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755)).unwrap();
            Scratch(dir)
        }

        fn script(&self, rel: &str, mode: u32) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
            std::fs::set_permissions(&path, PermissionsExt::from_mode(mode)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn system_programs_are_safe() {
        for program in ["pidof", "true", "sh"] {
            let path = locate(program).unwrap_or_else(|| panic!("{program} not in PATH"));
            assert_eq!(check(&path, &root()), Ok(()), "{}", path.display());
        }
    }

    #[test]
    fn a_world_writable_script_run_as_root_is_unsafe() {
        let Some(dir) = Scratch::as_root("file") else {
            return;
        };
        let script = dir.script("chk.sh", 0o757);
        let e = check(&script, &root()).unwrap_err();
        assert_eq!(e.component, script);
        assert_eq!(e.reason, "is writable by everyone");
    }

    #[test]
    fn a_script_in_a_world_writable_directory_is_unsafe_even_if_the_file_is_not() {
        let Some(dir) = Scratch::as_root("dir") else {
            return;
        };
        let open = dir.0.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, PermissionsExt::from_mode(0o777)).unwrap();
        let script = dir.script("open/chk.sh", 0o755);
        let e = check(&script, &root()).unwrap_err();
        assert_eq!(e.component, open);
        // With the sticky bit, only root (the owner) can replace the script there.
        std::fs::set_permissions(&open, PermissionsExt::from_mode(0o1777)).unwrap();
        assert_eq!(check(&script, &root()), Ok(()));
    }

    #[test]
    fn a_script_owned_by_another_user_is_unsafe() {
        let Some(dir) = Scratch::as_root("owner") else {
            return;
        };
        let script = dir.script("chk.sh", 0o755);
        std::os::unix::fs::chown(&script, Some(65534), None).unwrap();
        let e = check(&script, &root()).unwrap_err();
        assert_eq!(e.reason, "is owned by uid 65534, not by root");
    }

    #[test]
    fn a_safe_link_to_an_unsafe_file_is_unsafe() {
        let Some(dir) = Scratch::as_root("link") else {
            return;
        };
        let target = dir.script("real.sh", 0o777);
        let link = dir.0.join("chk.sh");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = check(&link, &root()).unwrap_err();
        assert_eq!(e.component, target);
    }

    #[test]
    fn scripts_run_as_another_user_are_not_checked() {
        let Some(dir) = Scratch::as_root("other") else {
            return;
        };
        let script = dir.script("chk.sh", 0o777);
        assert_eq!(check(&script, &nobody()), Ok(()));
    }

    #[test]
    fn bare_names_are_found_in_the_fixed_path_and_relative_paths_from_the_root() {
        assert!(locate("sh").unwrap().is_absolute());
        assert_eq!(locate("vrrpx-no-such-program"), None);
        assert_eq!(locate("bin/sh"), Some(PathBuf::from("/bin/sh")));
    }
}
