//! `track_file` blocks: the file to read, its weight and `init_file`.

use std::path::PathBuf;

use super::super::draft::{DraftTrackFile, Located};
use super::super::model::{TrackFile, TrackFileInit};
use super::super::report::Diagnostics;
use super::{in_range, DEFAULT_TRACK_FILE_WEIGHT, MAX_TRACK_FILE_WEIGHT};

/// keepalived's `init_file` without a value writes 0.
const DEFAULT_INIT_FILE_VALUE: i32 = 0;

pub(super) fn track_files(drafts: Vec<&DraftTrackFile>, diag: &mut Diagnostics) -> Vec<TrackFile> {
    let mut out: Vec<TrackFile> = Vec::new();
    for d in drafts {
        let errors_before = diag.errors.len();
        let path = match &d.file {
            None => {
                diag.error(
                    &d.location,
                    format!(
                        "track_file {} has no `file`: give the path of the file to read, e.g. \
                         `file \"/run/vrrpx/{}\"`",
                        d.name, d.name
                    ),
                );
                None
            }
            Some(file) if file.value.trim().is_empty() => {
                diag.error(
                    &file.location,
                    "file is empty: give the path of the file to read",
                );
                None
            }
            Some(file) => Some(PathBuf::from(&file.value)),
        };
        let weight = d.weight.as_ref().map_or(DEFAULT_TRACK_FILE_WEIGHT, |w| {
            if in_range(
                w,
                -MAX_TRACK_FILE_WEIGHT,
                MAX_TRACK_FILE_WEIGHT,
                "track_file weight",
                diag,
            ) {
                w.value
            } else {
                DEFAULT_TRACK_FILE_WEIGHT
            }
        });
        let init = d.init.as_ref().map(|i| {
            let value = match i.value.value {
                Some(value) => {
                    let located = Located::new(value, &i.location);
                    let in_i32 = in_range(
                        &located,
                        i64::from(i32::MIN),
                        i64::from(i32::MAX),
                        "init_file value",
                        diag,
                    );
                    if in_i32 {
                        value as i32
                    } else {
                        DEFAULT_INIT_FILE_VALUE
                    }
                }
                None => DEFAULT_INIT_FILE_VALUE,
            };
            TrackFileInit {
                value,
                overwrite: i.value.overwrite,
            }
        });
        let Some(path) = path else { continue };
        if diag.errors.len() > errors_before {
            continue;
        }
        out.push(TrackFile {
            name: d.name.clone(),
            path,
            weight: weight as i32,
            init,
        });
    }
    out
}
