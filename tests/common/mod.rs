//! Shared harness for the end-to-end tests of `rvs run` / `rvs ctl`.
//!
//! [`Sandbox`] is a private temporary directory (removed on drop) that
//! holds a test's config, captures and control socket. [`Rvs`] is a running
//! `rvs run` child process: it is killed and reaped on drop, so a failing
//! test leaves no process behind, and its stderr goes to a file in the
//! sandbox (no pipe to fill up). Declare the `Sandbox` before the `Rvs` so
//! that the process dies before its directory is removed.
//!
//! Frames are built with `dpif_netdev::wire::build`; every helper here
//! panics with a message saying what went wrong, and every wait has a
//! deadline.

#![allow(dead_code)]

pub mod netns;

use dpif_netdev::extract::extract;
use dpif_netdev::key::FlowKey;
use dpif_netdev::packet::Packet;
use dpif_netdev::wire::build::{self, reference_checksum};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const RVS: &str = env!("CARGO_BIN_EXE_rvs");

/// A private temporary directory, removed (with everything in it) on drop.
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    /// `$TMPDIR/rvs-e2e-<pid>-<name>`, emptied first.
    pub fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("rvs-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create sandbox");
        Sandbox { dir }
    }

    /// A path inside the sandbox.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The control socket path used by [`Sandbox::config`].
    pub fn socket(&self) -> PathBuf {
        self.path("rvs.ctl")
    }

    /// Writes `text` to `name` in the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// Writes a config: a `[control]` section with this sandbox's socket,
    /// `[pmd] cores = [0]` (plus `pmd_extra` lines), then `body` (bridges).
    pub fn config(&self, pmd_extra: &str, body: &str) -> PathBuf {
        let text = format!(
            "[control]\nsocket = \"{}\"\n\n[pmd]\ncores = [0]\n{pmd_extra}\n\n{body}",
            self.socket().display()
        );
        self.write("rvs.toml", &text)
    }

    /// Writes `frames` as a classic Ethernet pcap file `name`.
    pub fn write_pcap(&self, name: &str, frames: &[Vec<u8>]) -> PathBuf {
        let p = self.path(name);
        write_pcap(&p, frames);
        p
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `frames` to a classic Ethernet pcap file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let f = std::fs::File::create(path).expect("create pcap");
    let header = PcapHeader {
        datalink: pcap_file::DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(f, header).expect("pcap header");
    for (i, fr) in frames.iter().enumerate() {
        let ts = Duration::from_micros(i as u64);
        w.write_packet(&PcapPacket::new(ts, fr.len() as u32, fr))
            .expect("write pcap packet");
    }
}

/// Every frame of a pcap file.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut r =
        pcap_file::pcap::PcapReader::new(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    while let Some(pkt) = r.next_packet() {
        out.push(
            pkt.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .data
                .into_owned(),
        );
    }
    out
}

/// `frames` sorted, to compare captures as multisets (the switch keeps
/// order within a flow, but packets of a flow that missed may leave after
/// later hits of other flows).
pub fn sorted(mut frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames.sort();
    frames
}

/// Asserts that `got` holds exactly the frames of `want`, each as many
/// times (order ignored), with a readable diff of the counts.
#[track_caller]
pub fn assert_same_frames(what: &str, got: Vec<Vec<u8>>, want: Vec<Vec<u8>>) {
    let (g, w) = (sorted(got), sorted(want));
    if g != w {
        let missing = w.iter().filter(|f| !g.contains(f)).count();
        let extra = g.iter().filter(|f| !w.contains(f)).count();
        panic!(
            "{what}: got {} frames, want {} ({missing} expected frames absent, {extra} unexpected)\n\
             first got:  {}\nfirst want: {}",
            g.len(),
            w.len(),
            g.first().map(|f| hex(f)).unwrap_or_default(),
            w.first().map(|f| hex(f)).unwrap_or_default(),
        );
    }
}

/// Lower-case hex of a frame, as `netdev-dummy/receive` takes it.
pub fn hex(frame: &[u8]) -> String {
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

/// The flow key of a frame, and the parsed packet (offsets).
pub fn key_of(frame: &[u8]) -> (FlowKey, Packet) {
    let mut p = Packet::from_bytes(frame);
    let mut k = FlowKey::ZERO;
    extract(&mut p, &mut k);
    (k, p)
}

/// Checks, by recomputation with the reference checksum, the IPv4 header
/// checksum and the TCP/UDP checksum (over the pseudo-header) of an IPv4
/// frame (VLAN tags allowed).
#[track_caller]
pub fn assert_ipv4_checksums(frame: &[u8]) {
    let (k, p) = key_of(frame);
    assert_eq!(k.eth_type, 0x0800, "not IPv4: {}", hex(frame));
    let l3 = p.md.l3_ofs as usize;
    let ihl = usize::from(frame[l3] & 0x0f) * 4;
    assert_eq!(
        reference_checksum(&[&frame[l3..l3 + ihl]]),
        0,
        "IPv4 header checksum: {}",
        hex(frame)
    );
    let total = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
    let l4 = &frame[l3 + ihl..l3 + total];
    let proto = frame[l3 + 9];
    if proto == 6 || proto == 17 {
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&frame[l3 + 12..l3 + 20]);
        pseudo.extend_from_slice(&[0, proto]);
        pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        assert_eq!(
            reference_checksum(&[&pseudo, l4]),
            0,
            "L4 (proto {proto}) checksum: {}",
            hex(frame)
        );
    }
}

/// A MAC address `02:00:00:00:00:<n>`.
pub fn mac(n: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, n]
}

/// `10.0.0.<n>`.
pub fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

/// A UDP frame 10.0.0.1:sport → 10.0.0.<dst>:dport from mac 1 to mac 2,
/// with `len` payload bytes.
pub fn udp(dst: u8, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    build::udp4(mac(1), mac(2), ip(1), ip(dst), sport, dport, len)
}

/// A TCP frame 10.0.0.1:sport → 10.0.0.<dst>:dport from mac 1 to mac 2.
pub fn tcp(dst: u8, sport: u16, dport: u16, len: usize) -> Vec<u8> {
    build::tcp4(mac(1), mac(2), ip(1), ip(dst), sport, dport, 0x18, len)
}

/// A running `rvs run`. Killed (and reaped) on drop if still running.
pub struct Rvs {
    child: Option<Child>,
    /// Where its stderr goes.
    pub stderr_path: PathBuf,
    /// Its control socket.
    pub socket: PathBuf,
    status: Option<ExitStatus>,
}

impl Rvs {
    /// Starts `rvs run --config CONFIG [--exit-on-eof]`; does not wait for
    /// anything.
    pub fn spawn(sb: &Sandbox, config: &Path, exit_on_eof: bool) -> Rvs {
        let stderr_path = sb.path("rvs.stderr");
        let err = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut cmd = Command::new(RVS);
        cmd.arg("run").arg("--config").arg(config);
        if exit_on_eof {
            cmd.arg("--exit-on-eof");
        }
        let child = cmd
            .current_dir(&sb.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn rvs run");
        Rvs {
            child: Some(child),
            stderr_path,
            socket: sb.socket(),
            status: None,
        }
    }

    /// Starts `rvs run` inside network namespace `ns` (through `ip netns
    /// exec`, which execs rvs in place: the child is rvs itself) and waits
    /// until it answers. Its control socket is in the sandbox as usual.
    pub fn start_in(sb: &Sandbox, config: &Path, ns: &str) -> Rvs {
        let stderr_path = sb.path("rvs.stderr");
        let err = std::fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, RVS, "run", "--config"])
            .arg(config)
            .current_dir(&sb.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn rvs run in a namespace");
        let mut r = Rvs {
            child: Some(child),
            stderr_path,
            socket: sb.socket(),
            status: None,
        };
        r.wait_ready();
        r
    }

    /// Starts `rvs run` and waits (up to 5 s) until it answers on its
    /// control socket.
    pub fn start(sb: &Sandbox, config: &Path) -> Rvs {
        let mut r = Rvs::spawn(sb, config, false);
        r.wait_ready();
        r
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until the switch answers `list-commands` (5 s at most).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.socket.exists() && self.ctl_raw(&["list-commands"]).status.success() {
                return;
            }
            if let Some(st) = self.try_wait() {
                panic!("rvs exited ({st}) before it was ready:\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "rvs not ready within 5 s:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(c) = self.child.as_mut() {
                self.status = c.try_wait().expect("try_wait");
            }
        }
        self.status
    }

    /// Waits for the process to exit by itself (panics after `timeout`;
    /// the drop guard then kills it).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "rvs did not exit within {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `rvs ctl exit`, then waits (5 s) for a clean exit 0.
    pub fn exit(&mut self) {
        self.ctl(&["exit"]);
        let st = self.wait_exit(Duration::from_secs(5));
        assert_eq!(st.code(), Some(0), "rvs exit status:\n{}", self.stderr());
    }

    /// Runs `rvs ctl --socket SOCKET ARGS...` and returns its output.
    pub fn ctl_raw(&self, args: &[&str]) -> Output {
        ctl_at(&self.socket, args)
    }

    /// `rvs ctl ARGS...`, which must succeed; returns its stdout.
    #[track_caller]
    pub fn ctl(&self, args: &[&str]) -> String {
        let o = self.ctl_raw(args);
        assert!(
            o.status.success(),
            "rvs ctl {args:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).expect("utf-8 output")
    }

    /// `rvs ctl ARGS...`, which must fail with exit 2; returns its stderr.
    #[track_caller]
    pub fn ctl_err(&self, args: &[&str]) -> String {
        let o = self.ctl_raw(args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "rvs ctl {args:?} should fail with 2; stdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stderr).expect("utf-8 error")
    }

    /// `netdev-dummy/receive PORT HEX...` (returns once processed).
    #[track_caller]
    pub fn receive(&self, port: &str, frames: &[Vec<u8>]) {
        let hexes: Vec<String> = frames.iter().map(|f| hex(f)).collect();
        let mut args = vec!["netdev-dummy/receive", port];
        args.extend(hexes.iter().map(String::as_str));
        self.ctl(&args);
    }

    /// `dpctl/dump-flows` lines (the megaflows, without the per-PMD
    /// headers).
    pub fn megaflows(&self) -> Vec<String> {
        self.ctl(&["dpctl/dump-flows"])
            .lines()
            .filter(|l| !l.starts_with("flow-dump from"))
            .map(str::to_string)
            .collect()
    }

    /// `dump-flows BR` lines.
    pub fn rules(&self, br: &str) -> Vec<String> {
        self.ctl(&["dump-flows", br])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `n_packets` of the one rule of `br` whose line contains `needle`.
    #[track_caller]
    pub fn rule_packets(&self, br: &str, needle: &str) -> u64 {
        let rules = self.rules(br);
        let hits: Vec<_> = rules.iter().filter(|l| l.contains(needle)).collect();
        assert_eq!(hits.len(), 1, "rules containing {needle:?}: {rules:#?}");
        field_u64(hits[0], "n_packets=")
    }

    /// `(rx, tx)` packet counters of OpenFlow port `ofport` of `br`, from
    /// `dump-ports --json`.
    #[track_caller]
    pub fn port_counts(&self, br: &str, ofport: u64) -> (u64, u64) {
        let out = self.ctl(&["--json", "dump-ports", br]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("dump-ports json");
        let p = v
            .as_array()
            .expect("array")
            .iter()
            .find(|p| p["port"] == ofport)
            .unwrap_or_else(|| panic!("no port {ofport} in {out}"));
        (
            p["rx_packets"].as_u64().unwrap(),
            p["tx_packets"].as_u64().unwrap(),
        )
    }
}

impl Drop for Rvs {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.status.is_none() && matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// `rvs ctl --socket SOCKET ARGS...` (ARGS may start with `--json`).
pub fn ctl_at(socket: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(RVS);
    cmd.arg("ctl").arg("--socket").arg(socket);
    let mut rest = args;
    if rest.first() == Some(&"--json") {
        cmd.arg("--json");
        rest = &rest[1..];
    }
    cmd.args(rest)
        .stdin(Stdio::null())
        .output()
        .expect("run rvs ctl")
}

/// The unsigned number right after `label` in `line` (`n_packets=12,`).
#[track_caller]
pub fn field_u64(line: &str, label: &str) -> u64 {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"))
        + label.len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|e| panic!("{label:?} in {line:?}: {e}"))
}

/// Runs `rvs run --config CONFIG` expecting it to fail at startup: waits
/// (5 s at most) and returns (exit code, stderr).
pub fn run_failing(sb: &Sandbox, config: &Path) -> (Option<i32>, String) {
    let mut r = Rvs::spawn(sb, config, false);
    let st = r.wait_exit(Duration::from_secs(5));
    (st.code(), r.stderr())
}
