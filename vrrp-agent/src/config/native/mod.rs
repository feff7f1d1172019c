//! The native TOML format (described in `configs/README.md`), read into the same draft as
//! keepalived.conf so both share one validation.
//!
//! Unknown keys are errors. Durations are strings with a unit, `"100ms"` or `"1.5s"`, so a
//! bare number can never be misread as seconds or centiseconds. Type errors stop at the
//! first (that is how the toml parser works); value errors (ranges, missing keys, unknown
//! names) are collected like the keepalived reader's.

mod schema;

use std::net::IpAddr;
use std::path::Path;

use toml::Spanned;

use super::draft::{
    parse_address_with_prefix, Definition, DraftAddress, DraftConfig, DraftInstance, DraftScript,
    DraftSmtpServer, DraftSyncGroup, DraftTrack, DraftTrackFile, DraftTrackFileInit, Located,
    Micros,
};
use super::model::{ChecksumForm, InitialState, Location, Notify, UserSpec};
use super::report::Diagnostics;
use schema::*;

/// Byte offset to line number.
struct Lines {
    starts: Vec<usize>,
    file: std::path::PathBuf,
}

impl Lines {
    fn new(text: &str, file: &Path) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            starts,
            file: file.to_path_buf(),
        }
    }

    fn at(&self, offset: usize) -> Location {
        Location {
            file: self.file.clone(),
            line: self.starts.partition_point(|&start| start <= offset),
        }
    }

    fn of<T>(&self, spanned: &Spanned<T>) -> Location {
        self.at(spanned.span().start)
    }

    fn located<T: Clone>(&self, spanned: &Spanned<T>) -> Located<T> {
        Located::new(spanned.get_ref().clone(), &self.of(spanned))
    }

    /// An optional setting with where it was written.
    fn maybe<T: Clone>(&self, spanned: &Option<Spanned<T>>) -> Option<Located<T>> {
        spanned.as_ref().map(|v| self.located(v))
    }
}

/// Reads a native TOML file. A file that is not valid TOML, or has unknown keys or wrongly
/// typed values, yields no draft.
pub fn read(text: &str, file: &Path, diag: &mut Diagnostics) -> Option<DraftConfig> {
    let lines = Lines::new(text, file);
    let parsed: NativeFile = match toml::from_str(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            let location = e.span().map_or(lines.at(0), |span| lines.at(span.start));
            diag.error(&location, e.message().trim_end().to_string());
            return None;
        }
    };
    let mut reader = Reader { lines, diag };
    let email = &parsed.email;
    Some(DraftConfig {
        router_id: parsed.router_id.clone(),
        default_version: reader.lines.maybe(&parsed.version),
        instances: parsed.instance.iter().map(|i| reader.instance(i)).collect(),
        scripts: parsed.script.iter().map(|s| reader.script(s)).collect(),
        sync_groups: parsed
            .sync_group
            .iter()
            .map(|g| reader.sync_group(g))
            .collect(),
        track_files: parsed
            .track_file
            .iter()
            .map(|f| reader.track_file(f))
            .collect(),
        email_to: email.to.iter().map(|a| reader.lines.located(a)).collect(),
        email_from: reader.lines.maybe(&email.from),
        smtp_server: email.smtp_server.as_ref().map(|s| {
            let NativeSmtpServer(t) = s.get_ref();
            let server = DraftSmtpServer {
                host: t.host.clone(),
                port: t.port,
            };
            Located::new(server, &reader.lines.of(s))
        }),
        smtp_connect_timeout: reader.duration(&email.smtp_connect_timeout),
        notify_fifo: reader.lines.maybe(&parsed.notify_fifo),
        script_security: parsed
            .enable_script_security
            .as_ref()
            .filter(|on| *on.get_ref())
            .map(|on| reader.lines.located(on)),
        script_user: parsed.script_user.as_ref().map(|u| reader.user_spec(u)),
        // Each instance and group says `smtp_alert` for itself.
        smtp_alert_default: None,
        // keepalived's strict mode is a keepalived.conf setting; the native format has none.
        strict: None,
        // The command line's --realtime-priority covers the native format.
        rt_priority: None,
    })
}

struct Reader<'d> {
    lines: Lines,
    diag: &'d mut Diagnostics,
}

fn notify(n: &NativeNotify) -> Notify {
    Notify {
        master: n.master.clone(),
        backup: n.backup.clone(),
        fault: n.fault.clone(),
        stop: n.stop.clone(),
        any: n.any.clone(),
        run_as: Default::default(),
    }
}

impl Reader<'_> {
    /// `"USER"` or `"USER GROUP"`, split as keepalived splits the words of its line.
    fn user_spec(&self, spanned: &Spanned<String>) -> Located<UserSpec> {
        let mut words = spanned.get_ref().split_whitespace().map(str::to_string);
        let spec = UserSpec {
            user: words.next().unwrap_or_default(),
            group: words.next(),
        };
        Located::new(spec, &self.lines.of(spanned))
    }

    fn duration(&self, d: &Option<Spanned<NativeDuration>>) -> Option<Located<Micros>> {
        d.as_ref()
            .map(|d| Located::new(d.get_ref().0, &self.lines.of(d)))
    }

    fn ip(&mut self, text: &Spanned<String>, what: &str) -> Option<Located<IpAddr>> {
        let location = self.lines.of(text);
        match text.get_ref().parse() {
            Ok(addr) => Some(Located::new(addr, &location)),
            Err(_) => {
                self.diag.error(
                    &location,
                    format!(
                        "{what}: `{}` is not an IPv4 or IPv6 address",
                        text.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn instance(&mut self, spanned: &Spanned<NativeInstance>) -> DraftInstance {
        let i = spanned.get_ref();
        let lines = &self.lines;
        let mut d = DraftInstance {
            name: i.name.clone(),
            location: lines.of(spanned),
            interface: lines.maybe(&i.interface),
            vrid: lines.maybe(&i.vrid),
            priority: lines.maybe(&i.priority),
            advert_int: self.duration(&i.advert_int),
            version: lines.maybe(&i.version),
            state: i.state.as_ref().map(|s| {
                let state = match s.get_ref() {
                    NativeState::Master => InitialState::Master,
                    NativeState::Backup => InitialState::Backup,
                };
                Located::new(state, &lines.of(s))
            }),
            preempt: lines.maybe(&i.preempt),
            preempt_delay: self.duration(&i.preempt_delay),
            auth_type: i
                .auth_pass
                .as_ref()
                .map(|p| Located::new("PASS".to_string(), &lines.of(p))),
            auth_pass: lines.maybe(&i.auth_pass),
            notify: notify(&i.notify),
            garp_master_delay: self.duration(&i.garp.master_delay),
            garp_master_repeat: lines.maybe(&i.garp.master_repeat),
            garp_master_refresh: self.duration(&i.garp.master_refresh),
            use_vmac: i.use_vmac,
            // Not spanned in the TOML reader: the instance's table stands for them.
            accept: i.accept.map(|a| Located::new(a, &lines.of(spanned))),
            checksum: i.checksum.as_ref().map(|c| {
                let form = match c {
                    NativeChecksum::Pseudo => ChecksumForm::Pseudo,
                    NativeChecksum::Plain => ChecksumForm::Plain,
                };
                Located::new(form, &lines.of(spanned))
            }),
            ..DraftInstance::default()
        };
        for vip in &i.virtual_addresses {
            let location = self.lines.of(vip);
            let NativeAddress(t) = vip.get_ref();
            let (text, dev, label) = (&t.addr, t.dev.clone(), t.label.clone());
            match parse_address_with_prefix(text) {
                Ok((addr, prefix_len)) => d.virtual_addresses.push(Located::new(
                    DraftAddress {
                        addr,
                        prefix_len,
                        dev,
                        label,
                    },
                    &location,
                )),
                Err(message) => self
                    .diag
                    .error(&location, format!("virtual_addresses: {message}")),
            }
        }
        d.unicast_src = i
            .unicast_src
            .as_ref()
            .and_then(|s| self.ip(s, "unicast_src"));
        d.unicast_peers = i
            .unicast_peers
            .iter()
            .filter_map(|p| self.ip(p, "unicast_peers"))
            .collect();
        d.track_interfaces = i.track_interfaces.iter().map(|t| self.track(t)).collect();
        d.track_scripts = i.track_scripts.iter().map(|t| self.track(t)).collect();
        d.track_files = i.track_files.iter().map(|t| self.track(t)).collect();
        d.smtp_alert = self.lines.maybe(&i.smtp_alert);
        d
    }

    fn track(&self, t: &Spanned<NativeTrack>) -> Located<DraftTrack> {
        let NativeTrack(table) = t.get_ref();
        let track = DraftTrack {
            name: table.name.clone(),
            weight: table.weight,
        };
        Located::new(track, &self.lines.of(t))
    }

    fn script(&self, spanned: &Spanned<NativeScript>) -> DraftScript {
        let s = spanned.get_ref();
        let lines = &self.lines;
        DraftScript {
            script: lines.maybe(&s.command),
            interval: self.duration(&s.interval),
            timeout: self.duration(&s.timeout),
            weight: lines.maybe(&s.weight),
            rise: lines.maybe(&s.rise),
            fall: lines.maybe(&s.fall),
            init_fail: s.init_fail,
            user: s.user.as_ref().map(|u| self.user_spec(u)),
            ..DraftScript::named(s.name.clone(), lines.of(spanned))
        }
    }

    fn track_file(&self, spanned: &Spanned<NativeTrackFile>) -> DraftTrackFile {
        let f = spanned.get_ref();
        DraftTrackFile {
            file: self.lines.maybe(&f.file),
            weight: self.lines.maybe(&f.weight),
            init: f.init_file.as_ref().map(|i| self.init_file(i)),
            ..DraftTrackFile::named(f.name.clone(), self.lines.of(spanned))
        }
    }

    fn init_file(&self, spanned: &Spanned<InitFile>) -> Located<DraftTrackFileInit> {
        let InitFile(init) = spanned.get_ref();
        let init = DraftTrackFileInit {
            value: init.value,
            overwrite: init.overwrite,
        };
        Located::new(init, &self.lines.of(spanned))
    }

    fn sync_group(&self, spanned: &Spanned<NativeSyncGroup>) -> DraftSyncGroup {
        let g = spanned.get_ref();
        DraftSyncGroup {
            members: g.members.iter().map(|m| self.lines.located(m)).collect(),
            notify: notify(&g.notify),
            notify_users: Default::default(),
            smtp_alert: self.lines.maybe(&g.smtp_alert),
            // The native format takes tracking weights as written.
            tracking_weight: true,
            ..DraftSyncGroup::named(g.name.clone(), self.lines.of(spanned))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        for (text, micros) in [
            ("100ms", Some(100_000)),
            ("1s", Some(1_000_000)),
            ("2.5s", Some(2_500_000)),
            ("0.5ms", Some(500)),
            ("0.0005ms", None),
            ("100", None),
            ("1m", None),
            ("ms", None),
        ] {
            assert_eq!(parse_duration(text), micros, "{text:?}");
        }
    }

    #[test]
    fn offsets_map_to_lines() {
        let lines = Lines::new("a\nbb\n\nc", Path::new("x.toml"));
        assert_eq!(lines.at(0).line, 1);
        assert_eq!(lines.at(2).line, 2);
        assert_eq!(lines.at(5).line, 3);
        assert_eq!(lines.at(6).line, 4);
    }
}
