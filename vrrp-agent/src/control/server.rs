//! The control socket server and the event bus behind its event stream. The protocol is
//! described in the [module above](super).

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::status::Status;

/// How many events a subscriber may fall behind before it is told it lost some.
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// A request line longer than this closes the connection (requests are a few bytes).
const MAX_REQUEST: usize = 64 * 1024;

/// How long a reload may take in the engine before the client is told it did not answer.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Events

/// Numbers and fans out the engine's events. The engine calls [`publish`](Self::publish);
/// each control connection that asked for `events` holds a [`Subscription`]. Cloning gives
/// another handle to the same bus.
#[derive(Clone, Debug)]
pub struct EventBus {
    /// The next sequence number. Held while sending, so channel order is sequence order
    /// even if several threads publish.
    next_seq: Arc<Mutex<u64>>,
    tx: broadcast::Sender<(u64, Arc<str>)>,
}

impl EventBus {
    /// A bus on which a subscriber may fall `capacity` events behind before losing some.
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus {
            next_seq: Arc::new(Mutex::new(1)),
            tx,
        }
    }

    /// Numbers the event (the first is 1), serializes it once for every subscriber and
    /// returns its sequence number. An object gets a `seq` field added; anything else is
    /// wrapped as `{"seq":N,"event":...}`. Never blocks; without subscribers the event is
    /// numbered and dropped.
    pub fn publish(&self, event: Value) -> u64 {
        let mut next = self.next_seq.lock().unwrap_or_else(|e| e.into_inner());
        let seq = *next;
        *next += 1;
        let mut fields = Map::new();
        fields.insert("seq".into(), seq.into());
        match event {
            Value::Object(map) => fields.extend(map.into_iter().filter(|(k, _)| k != "seq")),
            other => {
                fields.insert("event".into(), other);
            }
        }
        let line: Arc<str> = Value::Object(fields).to_string().into();
        // An error only means nobody is subscribed.
        let _ = self.tx.send((seq, line));
        seq
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        // Under the lock, so `next_seq` is exactly the first event this receiver gets.
        let next = self.next_seq.lock().unwrap_or_else(|e| e.into_inner());
        Subscription {
            rx: self.tx.subscribe(),
            next_seq: *next,
            pending: None,
        }
    }

    /// How many subscriptions are open.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl Default for EventBus {
    fn default() -> EventBus {
        EventBus::new(DEFAULT_EVENT_CAPACITY)
    }
}

/// What a subscriber receives next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One event: its number and its JSON line (`{"seq":N,...}`, no newline).
    Event { seq: u64, line: Arc<str> },
    /// Events `from..from + count` were dropped because this subscriber fell behind.
    Lost { from: u64, count: u64 },
}

impl Delivery {
    /// The JSON line sent on the control socket (no newline).
    pub fn to_line(&self) -> String {
        match self {
            Delivery::Event { line, .. } => line.to_string(),
            Delivery::Lost { from, count } => json!({"seq": from, "lost": count}).to_string(),
        }
    }
}

/// One subscriber's view of the [`EventBus`]: events in sequence order, with every gap
/// reported as [`Delivery::Lost`].
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<(u64, Arc<str>)>,
    /// The sequence number expected next.
    next_seq: u64,
    /// An event held back while the gap before it is reported.
    pending: Option<(u64, Arc<str>)>,
}

impl Subscription {
    /// The sequence number of the next event (or of the first lost one).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next delivery; `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Delivery> {
        let (seq, line) = match self.pending.take() {
            Some(held) => held,
            None => match self.rx.recv().await {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(count)) => {
                    let from = self.next_seq;
                    self.next_seq += count;
                    return Some(Delivery::Lost { from, count });
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        };
        // The channel delivers a contiguous run, so this only guards the promise that no
        // gap goes unreported.
        if seq > self.next_seq {
            let from = self.next_seq;
            self.next_seq = seq;
            self.pending = Some((seq, line));
            return Some(Delivery::Lost {
                from,
                count: seq - from,
            });
        }
        self.next_seq = seq + 1;
        Some(Delivery::Event { seq, line })
    }
}

// ---------------------------------------------------------------------------------------
// Server

/// What the engine gives the control socket.
#[derive(Clone, Debug)]
pub struct Handles {
    /// The snapshot the engine rewrites after each change.
    pub status: watch::Receiver<Status>,
    pub events: EventBus,
    /// Where `reload` requests go; `None` until the engine takes reloads.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
}

/// What the control socket asks of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineCommand {
    Reload,
    /// Maintenance: hand the master role over and stay out of it (`soft`: only lower the
    /// priority to 1); `instances` empty means every instance.
    Drain {
        instances: Vec<String>,
        soft: bool,
    },
    Undrain {
        instances: Vec<String>,
    },
}

impl EngineCommand {
    /// The request's name, as the client wrote it.
    pub fn name(&self) -> &'static str {
        match self {
            EngineCommand::Reload => "reload",
            EngineCommand::Drain { .. } => "drain",
            EngineCommand::Undrain { .. } => "undrain",
        }
    }
}

/// A request from the control socket. The engine acts and answers on `reply`: `Ok(())`
/// or the reason it refused (`Err` text is shown to the user as is).
#[derive(Debug)]
pub struct ReloadRequest {
    pub command: EngineCommand,
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// The listening control socket. Dropping it (or the future of [`run`](Self::run))
/// removes the socket file and closes every connection.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file we made, so drop never removes one a successor bound meanwhile.
    inode: (u64, u64),
    handles: Handles,
}

impl ControlServer {
    /// Binds the socket at `path`: creates its directory with mode 0700 if missing,
    /// replaces a stale socket left by a dead daemon, and makes the socket 0600. Refuses
    /// when another process is listening there or the path is not a socket. Must be
    /// called inside a tokio runtime.
    pub fn bind(path: &Path, handles: Handles) -> Result<ControlServer> {
        prepare(path)?;
        let listener = UnixListener::bind(path)
            .with_context(|| format!("control socket {}: bind", path.display()))?;
        // The directory (0700) is what keeps others out between bind and this chmod.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("control socket {}: chmod 0600", path.display()))?;
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("control socket {}", path.display()))?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
            inode: (meta.dev(), meta.ino()),
            handles,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves connections until the future is dropped.
    pub async fn run(self) {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let handles = self.handles.clone();
                        conns.spawn(async move {
                            if let Err(e) = serve(stream, handles).await {
                                tracing::debug!("control connection: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of descriptors, most likely: back off instead of spinning.
                        tracing::warn!(socket = %self.path.display(), "control accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.inode {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Creates the socket's directory (0700) if missing and clears a stale socket.
fn prepare(path: &Path) -> Result<()> {
    let shown = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::run_dir::ensure_private_dir(dir)
            .with_context(|| format!("control socket directory {}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!("control socket {shown}: another daemon is listening there");
            }
            std::fs::remove_file(path)
                .with_context(|| format!("control socket {shown}: removing the stale socket"))
        }
        Ok(_) => bail!("control socket {shown}: exists and is not a socket"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("control socket {shown}")),
    }
}

/// Root, or the user the daemon runs as.
fn peer_allowed(stream: &UnixStream) -> Result<(), String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("peer credentials: {e}"))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if cred.uid() == 0 || cred.uid() == me {
        Ok(())
    } else {
        Err(format!("permission denied for uid {}", cred.uid()))
    }
}

fn error_line(msg: &str) -> String {
    json!({"ok": false, "error": msg}).to_string()
}

async fn write_line(wr: &mut OwnedWriteHalf, line: &str) -> io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    wr.write_all(&buf).await
}

/// The next request line; `None` at end of stream.
async fn read_request(rd: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *rd)
        .take(MAX_REQUEST as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_REQUEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request line too long",
        ));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request is not UTF-8"))
}

enum Command {
    Status,
    Engine(EngineCommand),
    Events,
}

fn parse_command(line: &str) -> Result<Command, String> {
    let req: Value = serde_json::from_str(line).map_err(|e| format!("bad request: {e}"))?;
    let instances = || -> Result<Vec<String>, String> {
        match req.get("instances") {
            None => Ok(Vec::new()),
            Some(Value::Array(v)) => v
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| "bad request: instance names are strings".to_string())
                })
                .collect(),
            Some(_) => Err("bad request: \"instances\" is a list of names".into()),
        }
    };
    match req.get("cmd").and_then(Value::as_str) {
        Some("status") => Ok(Command::Status),
        Some("reload") => Ok(Command::Engine(EngineCommand::Reload)),
        Some("drain") => Ok(Command::Engine(EngineCommand::Drain {
            instances: instances()?,
            soft: req.get("soft").and_then(Value::as_bool).unwrap_or(false),
        })),
        Some("undrain") => Ok(Command::Engine(EngineCommand::Undrain {
            instances: instances()?,
        })),
        Some("events") => Ok(Command::Events),
        Some(other) => Err(format!(
            "unknown command {other:?} (expected status, reload, drain, undrain or events)"
        )),
        None => Err("bad request: expected {\"cmd\":\"...\"}".into()),
    }
}

async fn serve(stream: UnixStream, handles: Handles) -> io::Result<()> {
    let allowed = peer_allowed(&stream);
    let (rd, mut wr) = stream.into_split();
    if let Err(msg) = allowed {
        return write_line(&mut wr, &error_line(&msg)).await;
    }
    let mut rd = BufReader::new(rd);
    while let Some(line) = read_request(&mut rd).await? {
        if line.trim().is_empty() {
            continue;
        }
        let answer = match parse_command(&line) {
            Ok(Command::Status) => {
                let snapshot = handles.status.borrow().clone();
                serde_json::to_string(&snapshot).unwrap_or_else(|e| error_line(&e.to_string()))
            }
            Ok(Command::Engine(c)) => ask_engine(handles.reload.as_ref(), c).await,
            Ok(Command::Events) => return stream_events(rd, wr, &handles.events).await,
            Err(msg) => error_line(&msg),
        };
        write_line(&mut wr, &answer).await?;
    }
    Ok(())
}

async fn ask_engine(
    engine: Option<&mpsc::Sender<ReloadRequest>>,
    command: EngineCommand,
) -> String {
    let Some(engine) = engine else {
        return error_line(&format!("{} is not available", command.name()));
    };
    let (reply, answer) = oneshot::channel();
    if engine.send(ReloadRequest { command, reply }).await.is_err() {
        return error_line("the engine is not running");
    }
    match tokio::time::timeout(RELOAD_TIMEOUT, answer).await {
        Ok(Ok(Ok(()))) => json!({"ok": true}).to_string(),
        Ok(Ok(Err(msg))) => error_line(&msg),
        Ok(Err(_)) => error_line("the engine dropped the reload request"),
        Err(_) => error_line(&format!(
            "the engine did not answer within {} s",
            RELOAD_TIMEOUT.as_secs()
        )),
    }
}

/// Acknowledges the subscription, then forwards deliveries until either side goes away.
async fn stream_events(
    mut rd: BufReader<OwnedReadHalf>,
    mut wr: OwnedWriteHalf,
    bus: &EventBus,
) -> io::Result<()> {
    let mut sub = bus.subscribe();
    let ack = json!({"ok": true, "next_seq": sub.next_seq()}).to_string();
    write_line(&mut wr, &ack).await?;
    let mut scratch = [0u8; 256];
    loop {
        tokio::select! {
            delivery = sub.recv() => match delivery {
                Some(d) => write_line(&mut wr, &d.to_line()).await?,
                None => return Ok(()),
            },
            // The client sends nothing more; a read returning 0 means it hung up, so the
            // subscription ends now rather than at the next event.
            n = rd.read(&mut scratch) => if n? == 0 {
                return Ok(());
            },
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
