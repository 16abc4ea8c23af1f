//! Text and JSON of the receive queue commands (`dpif-netdev/pmd-rxq-show`,
//! `dpif-netdev/pmd-rxq-rebalance`), as OVS prints them.

use pmd::rxqs::{PmdRxqs, RxqMove};
use std::fmt::Write as _;

fn core(c: Option<usize>) -> String {
    c.map_or("?".into(), |c| c.to_string())
}

/// `pmd-rxq-show`: per PMD, its queues and their usage; with `json`, an
/// array of `{core, rxqs: [{port, queue, usage_pct}]}`.
pub fn rxq_show(pmds: &[PmdRxqs], json: bool) -> String {
    if json {
        let v: Vec<_> = pmds
            .iter()
            .map(|p| {
                serde_json::json!({
                    "core": p.core,
                    "rxqs": p.rxqs.iter().map(|q| serde_json::json!({
                        "port": q.port, "queue": q.qid, "usage_pct": q.usage_pct,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return serde_json::Value::Array(v).to_string();
    }
    let mut out = String::new();
    for p in pmds {
        let _ = writeln!(out, "pmd thread numa_id 0 core_id {}:", core(p.core));
        let _ = writeln!(out, "  isolated : false");
        for q in &p.rxqs {
            let _ = writeln!(
                out,
                "  port: {:<16} queue-id: {:>2} (enabled)   pmd usage: {:>3.0} %",
                q.port, q.qid, q.usage_pct
            );
        }
    }
    out
}

/// What a rebalance did, one line per moved queue.
pub fn moves_text(moves: &[RxqMove]) -> String {
    if moves.is_empty() {
        return "no receive queue moved (the assignment is already the best one)\n".into();
    }
    let mut out = String::new();
    for m in moves {
        let _ = writeln!(
            out,
            "port {} queue {}: core {} -> core {}",
            m.port,
            m.qid,
            core(m.from),
            core(m.to)
        );
    }
    out
}
