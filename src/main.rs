//! `rvs`: the command-line entry point.
//!
//! Today rvs can run its fast path over a capture with datapath flows you
//! give it (`rvs replay`, the userspace cousin of `ovs-dpctl add-flow` plus
//! `netdev-dummy/receive`). The full switch (`rvs run`, `rvs ctl`) builds
//! on the same library.

mod pcap;
mod replay;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
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
