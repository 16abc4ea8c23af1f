//! NORMAL in the running switch, without namespaces: dummy ports fed by
//! `netdev-dummy/receive`, a bridge with no flows (so it starts with
//! `priority=0,actions=normal`), three-second MAC aging.
//!
//! Plan: A (port 1) sends to unknown B: flooded to ports 2 and 3. B answers
//! from port 2: straight to port 1. A sends again: now only port 2, the
//! flood megaflow having been revalidated into a unicast one. `fdb/show`
//! lists A on 1 and B on 2. With no traffic the entries age out after
//! three seconds, megaflows are revalidated, and A to B floods again. The
//! captures are checked after a clean exit, frame by frame.

mod common;

use common::*;
use dpif_netdev::wire::build;
use std::time::{Duration, Instant};

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];

fn frame(src: [u8; 6], dst: [u8; 6], n: u16) -> Vec<u8> {
    build::udp4(src, dst, ip(1), ip(2), 1000 + n, 2000, 16)
}

#[test]
fn normal_floods_learns_goes_direct_and_ages() {
    let sb = Sandbox::new("l2-dummy");
    let body = "[[bridge]]\nname = \"br0\"\ninternal = false\nmac_aging_s = 3\n\n\
                [[bridge.port]]\nname = \"p1\"\nofport = 1\ntype = \"dummy\"\ntx_pcap = \"p1.pcap\"\n\n\
                [[bridge.port]]\nname = \"p2\"\nofport = 2\ntype = \"dummy\"\ntx_pcap = \"p2.pcap\"\n\n\
                [[bridge.port]]\nname = \"p3\"\nofport = 3\ntype = \"dummy\"\ntx_pcap = \"p3.pcap\"\n";
    let cfg = sb.config("", body);
    let mut r = Rvs::start(&sb, &cfg);
    assert!(r
        .ctl(&["dump-flows", "br0"])
        .contains("priority=0 actions=NORMAL"));

    let a1 = frame(A, B, 1);
    r.receive("p1", std::slice::from_ref(&a1));
    let b1 = frame(B, A, 2);
    r.receive("p2", std::slice::from_ref(&b1));
    let fdb = r.ctl(&["fdb/show", "br0"]);
    assert!(fdb.contains("    1     0  02:00:00:00:00:aa"), "{fdb}");
    assert!(fdb.contains("    2     0  02:00:00:00:00:bb"), "{fdb}");

    // `dump-flows` revalidates first, so the A->B flood megaflow now
    // unicasts (its mask did not change: same megaflow, new actions).
    r.ctl(&["dump-flows", "br0"]);
    let a2 = frame(A, B, 1);
    r.receive("p1", std::slice::from_ref(&a2));
    let mf = r.megaflows();
    assert!(
        mf.iter()
            .any(|l| l.contains("dst=02:00:00:00:00:bb") && l.ends_with("actions:2")),
        "{mf:#?}"
    );

    // No traffic: both MACs age out (checked every 250 ms, aging 3 s:
    // long enough that the `rvs ctl` runs between a1 and a2 never outlast
    // it on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.ctl(&["fdb/show", "br0"]).lines().count() > 1 {
        assert!(Instant::now() < deadline, "MACs did not age out");
        std::thread::sleep(Duration::from_millis(100));
    }
    r.ctl(&["dump-flows", "br0"]);
    let a3 = frame(A, B, 1);
    r.receive("p1", std::slice::from_ref(&a3));
    r.exit();

    assert_same_frames("p1", read_pcap(&sb.path("p1.pcap")), vec![b1]);
    assert_same_frames(
        "p2",
        read_pcap(&sb.path("p2.pcap")),
        vec![a1.clone(), a2, a3.clone()],
    );
    assert_same_frames("p3", read_pcap(&sb.path("p3.pcap")), vec![a1, a3]);
}
