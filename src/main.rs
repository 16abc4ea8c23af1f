//! `rvs`: the command-line entry point.
//!
//! `rvs run` runs the switch from a TOML config; `rvs ctl` talks to a
//! running one (OVS's `ovs-appctl` and `ovs-ofctl` commands); `rvs replay`
//! runs the fast path alone over a capture with datapath flows you give it
//! (the userspace cousin of `ovs-dpctl add-flow`).

mod bridge;
mod commands;
mod config;
mod ctl;
mod dpdk_port;

mod port_commands;
mod replay;
mod run;
mod rxq_commands;
mod tlv_commands;
mod tnl_commands;
mod tunnels;

/// mimalloc as the process's allocator. The slow path allocates per new
/// flow (the megaflow, its actions, translation scratch): with glibc's
/// malloc, `malloc`, `_int_malloc` and `malloc_consolidate` were 13% of
/// the upcall handler's samples while setting up 100,000 flows (`perf`,
/// flow-setup-100k). The fast path does not allocate in steady state
/// (recycled packets and shells), so this is about flow setup.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rvs", version, about = "A userspace poll-mode virtual switch")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the switch described by a TOML config, in the foreground, until
    /// SIGINT/SIGTERM or `rvs ctl exit`. Logs go to stderr (`RUST_LOG`).
    ///
    /// Example: rvs run --config examples/rvs.toml --exit-on-eof
    Run {
        /// The config file.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Exit (0) once every non-looping pcap rx port has been read to
        /// the end and every packet, upcalls included, has been sent.
        #[arg(long)]
        exit_on_eof: bool,
    },
    /// Run packets from a pcap file through the fast path (key extraction,
    /// EMC, megaflow classifier, datapath actions) with datapath flows
    /// written as `ovs-appctl dpctl/dump-flows` prints them, and write what
    /// each port sends to OUT_DIR/port-N.pcap.
    ///
    /// Example: rvs replay --flows examples/p2p.dpflows --pcap examples/p2p.pcap --out-dir /tmp/rvs-out
    Replay {
        /// File of datapath flows, one per line (`KEY, actions:ACTIONS`);
        /// `#` starts a comment.
        #[arg(long)]
        flows: PathBuf,
        /// Input capture (pcap).
        #[arg(long)]
        pcap: PathBuf,
        /// Datapath port the packets arrive on.
        #[arg(long, default_value_t = 1)]
        in_port: u32,
        /// Directory for the per-port output captures (created if missing).
        #[arg(long, default_value = "rvs-out")]
        out_dir: PathBuf,
        /// Times to replay the capture (stats accumulate; output is written
        /// on every pass).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// EMC inverse insertion probability (1 = always, 0 = never).
        #[arg(long, default_value_t = 100)]
        emc_insert_inv_prob: u32,
    },
    /// Send a command to a running rvs over its control socket and print
    /// the answer (OVS's `ovs-appctl`). Exits 2 if the command fails or rvs
    /// cannot be reached.
    ///
    /// Example: rvs ctl dpctl/dump-flows; rvs ctl list-commands
    Ctl {
        /// Control socket; default: $RVS_CTL, else rvs.ctl in the current
        /// directory.
        #[arg(long, short = 't', visible_alias = "target")]
        socket: Option<PathBuf>,
        /// Ask for JSON output instead of text.
        #[arg(long)]
        json: bool,
        /// The command (`rvs ctl list-commands` shows them all).
        command: String,
        /// The command's arguments; everything after the command goes to
        /// it, `-` options included.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `rvs ctl`: one request, its output on stdout (exit 0) or its error on
/// stderr (exit 2, as `ovs-appctl`).
fn run_ctl(socket: Option<PathBuf>, json: bool, command: String, args: Vec<String>) -> ExitCode {
    let socket = socket
        .or_else(|| std::env::var_os("RVS_CTL").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_SOCKET));
    let req = ctl::CtlRequest {
        command,
        args,
        json,
    };
    match ctl::call(&socket, &req) {
        Ok(ctl::CtlReply::Ok(out)) => {
            // Written, not printed: `print!` panics when stdout is closed
            // early (`rvs ctl dpctl/dump-flows | head`). A reader that
            // stopped reading is not an error of ours; other write errors
            // are reported.
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let nl = if !out.is_empty() && !out.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            match write!(stdout, "{out}{nl}").and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rvs ctl: writing the reply: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(ctl::CtlReply::Err(msg)) => {
            eprintln!("{}", msg.trim_end());
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("rvs ctl: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run {
            config,
            exit_on_eof,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_writer(std::io::stderr)
                .init();
            return match run::run(&config, exit_on_eof) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rvs: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Cmd::Ctl {
            socket,
            json,
            command,
            args,
        } => return run_ctl(socket, json, command, args),
        Cmd::Replay {
            flows,
            pcap,
            in_port,
            out_dir,
            repeat,
            emc_insert_inv_prob,
        } => replay::run(&replay::Options {
            flows,
            pcap,
            in_port,
            out_dir,
            repeat,
            emc_insert_inv_prob,
        }),
    };
    match res {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rvs: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctl(argv: &[&str]) -> (Option<PathBuf>, bool, String, Vec<String>) {
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.cmd {
            Cmd::Ctl {
                socket,
                json,
                command,
                args,
            } => (socket, json, command, args),
            _ => panic!("not ctl"),
        }
    }

    #[test]
    fn ctl_arguments() {
        let (socket, json, command, args) = ctl(&["rvs", "ctl", "list-commands"]);
        assert_eq!(
            (socket, json, command.as_str()),
            (None, false, "list-commands")
        );
        assert!(args.is_empty());

        // Options before the command are rvs ctl's; everything after it,
        // dashes included, is the command's.
        let (socket, json, command, args) = ctl(&[
            "rvs",
            "ctl",
            "--json",
            "-t",
            "/run/x.ctl",
            "dpctl/dump-flows",
            "-m",
            "--json",
            "br0",
        ]);
        assert_eq!(socket.as_deref(), Some(std::path::Path::new("/run/x.ctl")));
        assert!(json);
        assert_eq!(command, "dpctl/dump-flows");
        assert_eq!(args, ["-m", "--json", "br0"]);

        let (socket, ..) = ctl(&["rvs", "ctl", "--target", "a.ctl", "help"]);
        assert_eq!(socket.as_deref(), Some(std::path::Path::new("a.ctl")));

        assert!(Cli::try_parse_from(["rvs", "ctl"]).is_err());
    }
}
