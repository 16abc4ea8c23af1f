//! Linux hosts in network namespaces, for end-to-end tests of rvs with real
//! kernels on the other side of its AF_PACKET ports.
//!
//! A [`Lab`] owns what it creates: namespaces (each holding the host side
//! of a veth pair, named `eth0`), the switch-side veth ends in the root
//! namespace, and helper processes. Dropping it kills the processes and
//! deletes the namespaces and links, so a failing test leaves nothing
//! behind. Names carry the test process id and a per-test letter so tests
//! running in parallel never collide.
//!
//! Tests call [`Lab::new`] first: it returns None (and the test returns,
//! printing why) where namespaces cannot be made (not root, no `ip`), so
//! the suite still passes on a developer's laptop; CI runs as root.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One host: a namespace with `eth0`, and the switch-side interface.
#[derive(Clone, Debug)]
pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// The veth end in the root namespace (give it to rvs).
    pub port_if: String,
    /// The host's IPv4 address (without prefix), if it has one.
    pub ip: String,
    /// The host's MAC (of `eth0`).
    pub mac: String,
}

/// Namespaces, links and processes of one test.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    procs: Vec<Child>,
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed.
#[track_caller]
pub fn must(args: &[&str]) -> String {
    let o = run(Command::new(args[0]).args(&args[1..]));
    assert!(
        o.status.success(),
        "{args:?} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Lab {
    /// A lab for test `letter` (one lowercase letter per test), or None
    /// when this process may not create namespaces.
    pub fn new(letter: char) -> Option<Lab> {
        let prefix = format!("rv{}{letter}", std::process::id() % 100_000);
        let probe = format!("{prefix}probe");
        let ok = Command::new("ip")
            .args(["netns", "add", &probe])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipping: cannot create network namespaces (needs root and iproute2)");
            return None;
        }
        let _ = Command::new("ip").args(["netns", "del", &probe]).status();
        for tool in ["ping", "python3"] {
            if Command::new(tool).arg("-V").output().is_err() {
                eprintln!("skipping: {tool} is not installed");
                return None;
            }
        }
        Some(Lab {
            prefix,
            namespaces: Vec::new(),
            links: Vec::new(),
            procs: Vec::new(),
        })
    }

    /// Host `n` with address `cidr` (like "10.250.1.1/24"; empty: no
    /// address): a namespace with `eth0` up, IPv6 off (no background
    /// chatter in the counters) and TSO/GSO off (so no frame exceeds the
    /// MTU; transmit checksum offload stays on, rvs completes checksums).
    pub fn host(&mut self, n: u32, cidr: &str) -> Host {
        let ns = format!("{}h{n}", self.prefix);
        let port_if = format!("{}p{n}", self.prefix);
        must(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        must(&[
            "ip", "link", "add", &port_if, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        self.links.push(port_if.clone());
        // No IPv6 on the switch side either: it would send its own
        // router solicitations into the switch.
        let _ = run(Command::new("sysctl")
            .args(["-qw", &format!("net.ipv6.conf.{port_if}.disable_ipv6=1")]));
        must(&["ip", "link", "set", &port_if, "up"]);
        self.exec(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        self.exec(
            &ns,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        );
        self.exec(&ns, &["ip", "link", "set", "lo", "up"]);
        self.exec(&ns, &["ip", "link", "set", "eth0", "up"]);
        self.offloads(&ns, false);
        if !cidr.is_empty() {
            self.exec(&ns, &["ip", "addr", "add", cidr, "dev", "eth0"]);
        }
        let mac = self
            .exec(&ns, &["cat", "/sys/class/net/eth0/address"])
            .trim()
            .to_string();
        Host {
            ns,
            port_if,
            ip: cidr.split('/').next().unwrap_or("").to_string(),
            mac,
        }
    }

    /// A bare namespace `<prefix><name>` (for a switch or a VTEP).
    pub fn netns(&mut self, name: &str) -> String {
        let ns = format!("{}{name}", self.prefix);
        must(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        self.exec(&ns, &["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// A veth pair between two namespaces, both ends up, offloads of
    /// segmentation off.
    pub fn veth(&mut self, ns_a: &str, if_a: &str, ns_b: &str, if_b: &str) {
        must(&[
            "ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b,
            "netns", ns_b,
        ]);
        for (ns, i) in [(ns_a, if_a), (ns_b, if_b)] {
            self.exec(ns, &["ip", "link", "set", i, "up"]);
            let _ = self.try_exec(ns, &["ethtool", "-K", i, "tso", "off", "gso", "off"]);
        }
    }

    /// Moves host `h`'s switch-side interface into namespace `ns` (for a
    /// switch that runs in a namespace).
    pub fn move_port(&self, h: &Host, ns: &str) {
        must(&["ip", "link", "set", &h.port_if, "netns", ns]);
        self.exec(ns, &["ip", "link", "set", &h.port_if, "up"]);
    }

    /// Turns TSO and GSO on or off on the host's `eth0` (needs ethtool;
    /// without it the kernel defaults stay and a note is printed).
    pub fn offloads(&self, ns: &str, on: bool) {
        let v = if on { "on" } else { "off" };
        let o = run(Command::new("ip").args([
            "netns", "exec", ns, "ethtool", "-K", "eth0", "tso", v, "gso", v,
        ]));
        if !o.status.success() {
            eprintln!(
                "note: ethtool -K failed in {ns}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }

    /// Runs a command in namespace `ns`; it must succeed.
    #[track_caller]
    pub fn exec(&self, ns: &str, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        must(&full)
    }

    /// Runs a command in namespace `ns` and returns its output, whatever
    /// its status.
    pub fn try_exec(&self, ns: &str, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Starts a long-running command in `ns` (killed when the lab drops).
    pub fn spawn(&mut self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        self.procs.push(child);
        self.procs.len() - 1
    }

    /// Waits (10 s at most) until a TCP socket listens on `port` in
    /// namespace `ns` (a server just spawned there; a fixed sleep lost
    /// the race on a loaded machine and the client was refused).
    #[track_caller]
    pub fn wait_listening(&self, ns: &str, port: u16) {
        let filter = format!("sport = :{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let o = self.try_exec(ns, &["ss", "-Hltn", &filter]);
            if o.status.success() && !o.stdout.trim_ascii().is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing listens on TCP port {port} in {ns} after 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT to spawned process `i` (a capture that should stop
    /// and write what it has; `timeout` passes the signal on).
    pub fn interrupt(&self, i: usize) {
        let pid = self.procs[i].id().to_string();
        let _ = run(Command::new("kill").args(["-INT", &pid]));
    }

    /// Waits (up to `timeout`) for spawned process `i` to finish and
    /// returns its output.
    pub fn wait(&mut self, i: usize, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        loop {
            let c = &mut self.procs[i];
            if c.try_wait().expect("try_wait").is_some() {
                let mut out = String::new();
                let mut err = String::new();
                use std::io::Read;
                if let Some(mut s) = c.stdout.take() {
                    let _ = s.read_to_string(&mut out);
                }
                if let Some(mut s) = c.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                let status = c.wait().expect("wait");
                return Output {
                    status,
                    stdout: out.into_bytes(),
                    stderr: err.into_bytes(),
                };
            }
            assert!(
                Instant::now() < deadline,
                "process {i} still running after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ping -c COUNT` from `from` to `ip`; true when every echo came back.
    pub fn ping(&self, from: &Host, ip: &str, count: u32) -> bool {
        let c = count.to_string();
        let o = self.try_exec(&from.ns, &["ping", "-c", &c, "-i", "0.2", "-W", "1", ip]);
        o.status.success()
    }

    /// Pings until one echo comes back (ARP and learning settle), up to
    /// `timeout`.
    pub fn ping_until(&self, from: &Host, ip: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.ping(from, ip, 1) {
                return true;
            }
        }
        false
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        // Deleting a namespace deletes its veth ends, and with them their
        // peers; this catches a link whose namespace was never made.
        for l in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
    }
}
