//! The control channel: `rvs ctl COMMAND [ARGS...]` talking to a running
//! `rvs run` over a local unix socket (OVS's unixctl, `ovs-appctl`).
//!
//! # Protocol
//!
//! One request per connection. The client connects, writes one JSON line
//!
//! ```text
//! {"command": "dpctl/dump-flows", "args": ["-m"], "json": false}
//! ```
//!
//! and reads one JSON line back, either `{"ok": true, "output": "..."}` or
//! `{"ok": false, "error": "..."}`. With `"json": true` the command is asked
//! for JSON instead of text; the output is still a string (holding JSON).
//! `args` and `json` may be left out (empty, false).
//!
//! # Server
//!
//! [`CtlServer::serve`] accepts connections and handles them one at a time,
//! in order, on the serving thread: a slow client delays the next, and a
//! request never runs concurrently with another, so command handlers need
//! not coordinate with each other. Each connection has a read and a write
//! timeout ([`IO_TIMEOUT`]) and a request may be at most [`MAX_REQUEST`]
//! bytes; a bad request (too large, not JSON, not a request) gets an error
//! reply, a handler that panics gets an error reply, and the server goes on.
//! The socket file is made mode 0600 (only the owner may connect) and is
//! removed when the server stops.
//!
//! # Commands
//!
//! [`Commands`] is the registry: each command is registered, next to the
//! code it inspects, with its usage, one line of help and its argument
//! count; [`Commands::dispatch`] checks the name and the argument count and
//! runs it. `list-commands` and `help` are built in.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Largest request the server reads, in bytes (1 MiB).
pub const MAX_REQUEST: usize = 1 << 20;

/// Read and write timeout of the server on one connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the client waits for a reply (a command may take a while, e.g.
/// dumping a large flow table).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the idle accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// One control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtlRequest {
    /// Command name, OVS style (`dpctl/dump-flows`).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whether the caller wants JSON output rather than text.
    #[serde(default)]
    pub json: bool,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlReply {
    /// The command's output (text, or JSON when asked for).
    Ok(String),
    /// Why the command failed.
    Err(String),
}

/// The reply as it travels.
#[derive(Serialize, Deserialize)]
struct WireReply {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<&CtlReply> for WireReply {
    fn from(r: &CtlReply) -> Self {
        match r {
            CtlReply::Ok(s) => WireReply {
                ok: true,
                output: Some(s.clone()),
                error: None,
            },
            CtlReply::Err(s) => WireReply {
                ok: false,
                output: None,
                error: Some(s.clone()),
            },
        }
    }
}

/// What the server calls for each request.
pub type Handler = Arc<dyn Fn(&CtlRequest) -> CtlReply + Send + Sync>;

/// A registered command's body: gets the arguments and the `json` flag.
pub type CommandFn = Box<dyn Fn(&[String], bool) -> Result<String, String> + Send + Sync>;

/// Why the control channel failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A live server already listens on the socket.
    #[error("another rvs is running on {}", path.display())]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket path exists and is not a socket; it is left alone.
    #[error("{} exists and is not a socket", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Binding or preparing the socket failed.
    #[error("cannot listen on {}: {}", path.display(), os_message(source))]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The client could not reach a server.
    #[error(
        "cannot connect to {}: {} (is rvs running? use --socket or RVS_CTL)",
        path.display(),
        os_message(source)
    )]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The connection failed mid-request.
    #[error("{}: {}", path.display(), os_message(source))]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The server's reply was not a valid reply.
    #[error("{}: bad reply from server: {message}", path.display())]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// An OS error's text without Rust's " (os error N)" suffix.
fn os_message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// A bound control socket, ready to [`serve`](CtlServer::serve).
///
/// Dropping it (or returning from `serve`) removes the socket file, unless
/// the file has since been replaced by someone else's.
#[derive(Debug)]
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
    /// (device, inode) of the socket file we created.
    id: (u64, u64),
}

impl CtlServer {
    /// Listens on `path`, mode 0600.
    ///
    /// A socket file left by a server that is gone is replaced; if a server
    /// answers on it, this fails with [`CtlError::AlreadyRunning`]. A path
    /// that exists and is not a socket is never removed.
    pub fn bind(path: &Path) -> Result<CtlServer, CtlError> {
        let bind_err = |source| CtlError::Bind {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) => {
                if !meta.file_type().is_socket() {
                    return Err(CtlError::NotASocket {
                        path: path.to_path_buf(),
                    });
                }
                if UnixStream::connect(path).is_ok() {
                    return Err(CtlError::AlreadyRunning {
                        path: path.to_path_buf(),
                    });
                }
                // Stale: nobody listens.
                std::fs::remove_file(path).map_err(bind_err)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(bind_err(e)),
        }
        let listener = UnixListener::bind(path).map_err(bind_err)?;
        // Under the usual umask (022) the socket is not connectable by
        // others even before this: connecting needs write permission.
        let prepared = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| listener.set_nonblocking(true))
            .and_then(|()| std::fs::symlink_metadata(path));
        match prepared {
            Ok(meta) => Ok(CtlServer {
                listener,
                path: path.to_path_buf(),
                id: (meta.dev(), meta.ino()),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(path);
                Err(bind_err(e))
            }
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers requests with `handler`, one at a time, until `stop` is set
    /// (checked at least every 20 ms while idle), then removes the socket
    /// file.
    pub fn serve(self, handler: Handler, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Acquire) {
            match self.listener.accept() {
                Ok((stream, _)) => serve_one(stream, &handler),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Out of file descriptors and the like: wait, try again.
                Err(_) => std::thread::sleep(ACCEPT_POLL),
            }
        }
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        // Only remove the file if it is still the one we bound.
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.id {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Reads one request from `stream`, answers it. Never panics on bad input;
/// I/O errors (the client went away) just end the connection.
fn serve_one(stream: UnixStream, handler: &Handler) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)));
    if setup.is_err() {
        return;
    }
    let reply = match read_request(&stream) {
        Ok(req) => match catch_unwind(AssertUnwindSafe(|| handler(&req))) {
            Ok(reply) => reply,
            Err(_) => CtlReply::Err(format!(
                "\"{}\": command failed (internal error)",
                req.command
            )),
        },
        Err(msg) => CtlReply::Err(msg),
    };
    let _ = write_line(&stream, &WireReply::from(&reply));
}

/// One request line, or the error message to answer with.
fn read_request(stream: &UnixStream) -> Result<CtlRequest, String> {
    let mut line = Vec::new();
    let limit = MAX_REQUEST as u64 + 1;
    match BufReader::new(stream.take(limit)).read_until(b'\n', &mut line) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return Err("timed out reading the request".to_string());
        }
        Err(e) => return Err(format!("cannot read the request: {}", os_message(&e))),
    }
    if line.len() > MAX_REQUEST {
        return Err(format!("request too large (limit {MAX_REQUEST} bytes)"));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    serde_json::from_slice(&line).map_err(|e| format!("malformed request: {e}"))
}

fn write_line<T: Serialize>(mut stream: &UnixStream, v: &T) -> io::Result<()> {
    let mut buf = serde_json::to_vec(v).map_err(io::Error::other)?;
    buf.push(b'\n');
    stream.write_all(&buf)?;
    stream.flush()
}

/// Sends `req` to the server on `socket` and returns its reply.
pub fn call(socket: &Path, req: &CtlRequest) -> Result<CtlReply, CtlError> {
    let io_err = |source| CtlError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let stream = UnixStream::connect(socket).map_err(|source| CtlError::Connect {
        path: socket.to_path_buf(),
        source,
    })?;
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
        .map_err(io_err)?;
    write_line(&stream, req).map_err(io_err)?;
    let mut line = Vec::new();
    BufReader::new(&stream)
        .read_until(b'\n', &mut line)
        .map_err(io_err)?;
    let protocol = |message: String| CtlError::Protocol {
        path: socket.to_path_buf(),
        message,
    };
    if line.is_empty() {
        return Err(protocol("connection closed without a reply".to_string()));
    }
    let wire: WireReply = serde_json::from_slice(&line).map_err(|e| protocol(e.to_string()))?;
    match wire {
        WireReply {
            ok: true,
            output: Some(s),
            error: None,
        } => Ok(CtlReply::Ok(s)),
        WireReply {
            ok: false,
            output: None,
            error: Some(s),
        } => Ok(CtlReply::Err(s)),
        _ => Err(protocol("neither an output nor an error".to_string())),
    }
}

/// One registered command.
struct Command {
    usage: &'static str,
    help: &'static str,
    min_args: usize,
    max_args: usize,
    f: CommandFn,
}

/// The registry of control commands (OVS's `unixctl_command_register`).
///
/// Built in: `list-commands` (every command with its usage) and
/// `help [COMMAND]` (the same with the help lines, or one command's).
pub struct Commands {
    cmds: BTreeMap<&'static str, Command>,
}

impl Default for Commands {
    fn default() -> Self {
        Self::new()
    }
}

impl Commands {
    /// A registry holding only the built-in commands.
    pub fn new() -> Commands {
        let mut c = Commands {
            cmds: BTreeMap::new(),
        };
        // Placeholders: the built-ins need the registry itself, so
        // `dispatch` answers them; these entries give their usage, help and
        // argument counts.
        let builtin: fn() -> CommandFn = || Box::new(|_, _| Err("built-in".to_string()));
        c.register(
            "list-commands",
            "",
            "list the available commands (e.g. rvs ctl list-commands)",
            0,
            0,
            builtin(),
        );
        c.register(
            "help",
            "[COMMAND]",
            "describe the commands or one of them (e.g. rvs ctl help dpctl/dump-flows)",
            0,
            1,
            builtin(),
        );
        c
    }

    /// Registers command `name`: `usage` shows its arguments (`[-m] [DP]`),
    /// `help` is one line saying what it does with an example, and it takes
    /// `min_args..=max_args` arguments (`usize::MAX`: no limit). `f` gets the
    /// arguments and whether JSON output was asked for.
    ///
    /// # Panics
    ///
    /// If `name` is already registered, or `min_args > max_args`: both are
    /// programming errors.
    pub fn register(
        &mut self,
        name: &'static str,
        usage: &'static str,
        help: &'static str,
        min_args: usize,
        max_args: usize,
        f: CommandFn,
    ) {
        assert!(min_args <= max_args, "{name}: min_args > max_args");
        let prev = self.cmds.insert(
            name,
            Command {
                usage,
                help,
                min_args,
                max_args,
                f,
            },
        );
        assert!(prev.is_none(), "control command {name} registered twice");
    }

    /// Runs the command `req` names, after checking its argument count.
    pub fn dispatch(&self, req: &CtlRequest) -> CtlReply {
        let name = req.command.as_str();
        let Some(cmd) = self.cmds.get(name) else {
            return CtlReply::Err(format!("\"{name}\": unknown command; use list-commands"));
        };
        let n = req.args.len();
        if n < cmd.min_args || n > cmd.max_args {
            let (bound, count) = if n < cmd.min_args {
                ("requires at least", cmd.min_args)
            } else {
                ("takes at most", cmd.max_args)
            };
            let plural = if count == 1 { "" } else { "s" };
            return CtlReply::Err(format!(
                "\"{name}\" command {bound} {count} argument{plural}\nusage: {}",
                usage_line(name, cmd)
            ));
        }
        let res = match name {
            "list-commands" => Ok(self.list(req.json, false)),
            "help" => match req.args.first() {
                None => Ok(self.list(req.json, true)),
                Some(topic) => self.help_one(topic, req.json),
            },
            _ => (cmd.f)(&req.args, req.json),
        };
        match res {
            Ok(s) => CtlReply::Ok(s),
            Err(s) => CtlReply::Err(s),
        }
    }

    /// The registry as a server [`Handler`].
    pub fn into_handler(self) -> Handler {
        Arc::new(move |req| self.dispatch(req))
    }

    fn list(&self, json: bool, with_help: bool) -> String {
        if json {
            let v: Vec<_> = self
                .cmds
                .iter()
                .map(
                    |(name, c)| serde_json::json!({"name": name, "usage": c.usage, "help": c.help}),
                )
                .collect();
            return serde_json::Value::Array(v).to_string();
        }
        let width = self.cmds.keys().map(|n| n.len()).max().unwrap_or(0);
        let mut out = String::from("The available commands are:\n");
        for (name, c) in &self.cmds {
            let _ = writeln!(out, "  {name:<width$}  {}", c.usage);
            if with_help {
                let _ = writeln!(out, "  {:<width$}    {}", "", c.help);
            }
        }
        out
    }

    fn help_one(&self, topic: &str, json: bool) -> Result<String, String> {
        let Some(c) = self.cmds.get(topic) else {
            return Err(format!("\"{topic}\": unknown command; use list-commands"));
        };
        Ok(if json {
            serde_json::json!({"name": topic, "usage": c.usage, "help": c.help}).to_string()
        } else {
            format!("usage: {}\n{}\n", usage_line(topic, c), c.help)
        })
    }
}

fn usage_line(name: &str, c: &Command) -> String {
    if c.usage.is_empty() {
        name.to_string()
    } else {
        format!("{name} {}", c.usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::JoinHandle;

    fn req(command: &str, args: &[&str]) -> CtlRequest {
        CtlRequest {
            command: command.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            json: false,
        }
    }

    fn commands() -> Commands {
        let mut c = Commands::new();
        c.register(
            "test/echo",
            "ARG...",
            "print the arguments (e.g. rvs ctl test/echo a b)",
            1,
            usize::MAX,
            Box::new(|args, json| {
                Ok(if json {
                    serde_json::to_string(args).unwrap()
                } else {
                    args.join(" ")
                })
            }),
        );
        c.register(
            "test/fail",
            "",
            "always fails",
            0,
            0,
            Box::new(|_, _| Err("it failed".to_string())),
        );
        c.register(
            "test/panic",
            "",
            "panics",
            0,
            0,
            Box::new(|_, _| panic!("boom")),
        );
        c
    }

    struct Running {
        path: PathBuf,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
        _dir: tempfile::TempDir,
    }

    impl Running {
        fn start() -> Running {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("rvs.ctl");
            let server = CtlServer::bind(&path).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let handler = commands().into_handler();
            let s = stop.clone();
            let thread = std::thread::spawn(move || server.serve(handler, s));
            Running {
                path,
                stop,
                thread: Some(thread),
                _dir: dir,
            }
        }

        fn stop(&mut self) {
            self.stop.store(true, Ordering::Release);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
        }

        /// Sends `raw` bytes and returns the raw reply line.
        fn raw(&self, raw: &[u8]) -> String {
            let mut s = UnixStream::connect(&self.path).unwrap();
            s.write_all(raw).unwrap();
            let mut out = String::new();
            BufReader::new(&s).read_line(&mut out).unwrap();
            out
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stop();
        }
    }

    #[test]
    fn round_trip() {
        let r = Running::start();
        assert_eq!(
            call(&r.path, &req("test/echo", &["a", "-b", "c d"])).unwrap(),
            CtlReply::Ok("a -b c d".to_string())
        );
        let mut j = req("test/echo", &["x"]);
        j.json = true;
        assert_eq!(
            call(&r.path, &j).unwrap(),
            CtlReply::Ok("[\"x\"]".to_string())
        );
        assert_eq!(
            call(&r.path, &req("test/fail", &[])).unwrap(),
            CtlReply::Err("it failed".to_string())
        );
    }

    #[test]
    fn unknown_command() {
        let r = Running::start();
        assert_eq!(
            call(&r.path, &req("foo", &[])).unwrap(),
            CtlReply::Err("\"foo\": unknown command; use list-commands".to_string())
        );
    }

    #[test]
    fn wrong_argument_count() {
        let r = Running::start();
        assert_eq!(
            call(&r.path, &req("test/echo", &[])).unwrap(),
            CtlReply::Err(
                "\"test/echo\" command requires at least 1 argument\nusage: test/echo ARG..."
                    .to_string()
            )
        );
        assert_eq!(
            call(&r.path, &req("test/fail", &["x", "y"])).unwrap(),
            CtlReply::Err(
                "\"test/fail\" command takes at most 0 arguments\nusage: test/fail".to_string()
            )
        );
    }

    #[test]
    fn list_commands_and_help() {
        let c = commands();
        let CtlReply::Ok(list) = c.dispatch(&req("list-commands", &[])) else {
            panic!()
        };
        assert!(list.starts_with("The available commands are:\n"), "{list}");
        for name in ["help", "list-commands", "test/echo", "test/fail"] {
            assert!(
                list.lines().any(|l| l.trim_start().starts_with(name)),
                "{name} in {list}"
            );
        }
        assert!(list.contains("test/echo      ARG..."), "{list}");

        let CtlReply::Ok(help) = c.dispatch(&req("help", &[])) else {
            panic!()
        };
        assert!(help.contains("print the arguments (e.g. rvs ctl test/echo a b)"));

        assert_eq!(
            c.dispatch(&req("help", &["test/echo"])),
            CtlReply::Ok(
                "usage: test/echo ARG...\nprint the arguments (e.g. rvs ctl test/echo a b)\n"
                    .to_string()
            )
        );
        assert!(matches!(
            c.dispatch(&req("help", &["nope"])),
            CtlReply::Err(_)
        ));

        let mut j = req("list-commands", &[]);
        j.json = true;
        let CtlReply::Ok(js) = c.dispatch(&j) else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_str(&js).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 5);
        assert_eq!(v[0]["name"], "help");
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_registration_panics() {
        let mut c = Commands::new();
        c.register(
            "list-commands",
            "",
            "",
            0,
            0,
            Box::new(|_, _| Ok(String::new())),
        );
    }

    #[test]
    fn malformed_requests_get_error_replies() {
        let r = Running::start();
        for raw in [
            &b"not json\n"[..],
            b"{\"command\": 5}\n",
            b"{\"args\": []}\n",
            b"{\"command\": \"x\", \"bogus\": 1}\n",
            b"\xff\xfe\n",
            b"\n",
        ] {
            let line = r.raw(raw);
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["ok"], false, "{line}");
            assert!(
                v["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("malformed request:"),
                "{line}"
            );
        }
        // A request without a newline, ended by the client closing its side.
        let mut s = UnixStream::connect(&r.path).unwrap();
        s.write_all(br#"{"command": "test/echo", "args": ["z"]}"#)
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "{\"ok\":true,\"output\":\"z\"}\n");
        // The server still works.
        assert!(matches!(
            call(&r.path, &req("test/echo", &["ok"])),
            Ok(CtlReply::Ok(_))
        ));
    }

    #[test]
    fn oversized_request_gets_error_reply() {
        let r = Running::start();
        let mut s = UnixStream::connect(&r.path).unwrap();
        let big = vec![b'x'; MAX_REQUEST + 10];
        // The server stops reading at the limit; the rest may not be taken.
        let writer = {
            let mut s = s.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = s.write_all(&big);
            })
        };
        let mut out = String::new();
        BufReader::new(&mut s).read_line(&mut out).unwrap();
        assert!(out.contains("request too large"), "{out}");
        drop(s);
        writer.join().unwrap();
        assert!(matches!(
            call(&r.path, &req("test/echo", &["ok"])),
            Ok(CtlReply::Ok(_))
        ));
    }

    #[test]
    fn panicking_handler_gets_error_reply() {
        let r = Running::start();
        let reply = call(&r.path, &req("test/panic", &[])).unwrap();
        assert!(
            matches!(reply, CtlReply::Err(ref e) if e.contains("internal error")),
            "{reply:?}"
        );
        assert!(matches!(
            call(&r.path, &req("test/echo", &["ok"])),
            Ok(CtlReply::Ok(_))
        ));
    }

    #[test]
    fn socket_is_mode_0600() {
        let r = Running::start();
        let mode = std::fs::metadata(&r.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rvs.ctl");
        // A socket file nobody listens on: bind, then drop the listener
        // without removing the file.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = CtlServer::bind(&path).unwrap();
        assert_eq!(server.path(), path);
        drop(server);
        assert!(!path.exists());
    }

    #[test]
    fn second_server_on_live_socket_is_refused() {
        let r = Running::start();
        let e = CtlServer::bind(&r.path).unwrap_err();
        assert!(matches!(e, CtlError::AlreadyRunning { .. }));
        assert_eq!(
            e.to_string(),
            format!("another rvs is running on {}", r.path.display())
        );
        // The first still answers.
        assert!(matches!(
            call(&r.path, &req("test/echo", &["ok"])),
            Ok(CtlReply::Ok(_))
        ));
    }

    #[test]
    fn non_socket_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rvs.ctl");
        std::fs::write(&path, "precious").unwrap();
        assert!(matches!(
            CtlServer::bind(&path),
            Err(CtlError::NotASocket { .. })
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[test]
    fn server_stops_and_removes_socket() {
        let mut r = Running::start();
        assert!(r.path.exists());
        r.stop();
        assert!(!r.path.exists());
        let e = call(&r.path, &req("list-commands", &[])).unwrap_err();
        assert!(matches!(e, CtlError::Connect { .. }));
    }

    #[test]
    fn connect_error_message() {
        let e = call(Path::new("rvs-test-missing.ctl"), &req("x", &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot connect to rvs-test-missing.ctl: No such file or directory \
             (is rvs running? use --socket or RVS_CTL)"
        );
    }

    #[test]
    fn wire_format() {
        let r = Running::start();
        let line = r.raw(b"{\"command\": \"test/echo\", \"args\": [\"hi\"], \"json\": false}\n");
        assert_eq!(line, "{\"ok\":true,\"output\":\"hi\"}\n");
        let line = r.raw(b"{\"command\": \"nope\"}\n");
        assert_eq!(
            line,
            "{\"ok\":false,\"error\":\"\\\"nope\\\": unknown command; use list-commands\"}\n"
        );
    }
}
