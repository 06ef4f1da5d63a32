//! `sockstack bench tun`: bulk TCP throughput between the Linux kernel and
//! a sockstack stack on a TUN device, both directions, beside kernel to
//! kernel over a veth pair, all in network namespaces this command creates
//! and deletes. Needs root, iproute2, curl and socat.

use crate::netns::Netns;
use std::io;
use std::time::Duration;

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

pub fn run(json: bool, bytes: u64) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or_else(|| io::Error::other("executable path is not UTF-8"))?;

    // sockstack on tun0 (192.0.2.2), the kernel at 192.0.2.1; with the
    // device's offloads and without.
    let mut rows = Vec::new();
    for offload in [true, false] {
        let mut ns = Netns::new(if offload { "tun" } else { "tunplain" })?;
        let mut argv = vec![exe, "serve", "--tun", "tun0", "--addr", "192.0.2.2/24", "--kernel-addr", "192.0.2.1/24"];
        if !offload {
            argv.push("--no-offload");
        }
        ns.spawn(&argv)?;
        ns.wait_for(&["curl", "-sf", "-m", "2", "-o", "/dev/null", "http://192.0.2.2/"])?;
        // kernel → sockstack: into the discard service.
        let k2s = ns.time(&format!("socat -u -b 1048576 OPEN:/dev/zero,readbytes={bytes} TCP:192.0.2.2:9"))?;
        // sockstack → kernel: an HTTP body.
        let s2k = ns.time(&format!("curl -sf -o /dev/null http://192.0.2.2/bytes/{bytes}"))?;
        let how = if offload { "tun, offload" } else { "tun, no offload" };
        rows.push((format!("kernel -> sockstack ({how})"), gbps(bytes, k2s)));
        rows.push((format!("sockstack -> kernel ({how})"), gbps(bytes, s2k)));
    }

    // kernel → kernel over a veth pair between two namespaces.
    let mut a = Netns::new("va")?;
    let b = Netns::new("vb")?;
    a.run(&["ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", &b.name])?;
    a.run(&["ip", "addr", "add", "198.51.100.1/24", "dev", "veth0"])?;
    a.run(&["ip", "link", "set", "veth0", "up"])?;
    b.run(&["ip", "addr", "add", "198.51.100.2/24", "dev", "veth1"])?;
    b.run(&["ip", "link", "set", "veth1", "up"])?;
    let mut b = b;
    b.spawn(&["socat", "-u", "-b", "1048576", "TCP-LISTEN:5001,reuseaddr", "OPEN:/dev/null"])?;
    std::thread::sleep(Duration::from_millis(300));
    let k2k = a.time(&format!("socat -u -b 1048576 OPEN:/dev/zero,readbytes={bytes} TCP:198.51.100.2:5001"))?;
    a.children.clear();
    drop(a);
    drop(b);

    rows.push(("kernel -> kernel (veth)".to_string(), gbps(bytes, k2k)));
    if json {
        for (name, v) in &rows {
            println!(
                "{{\"workload\": \"bulk\", \"system\": \"{name}\", \"bytes\": {bytes}, \"value\": {v:.3}, \"unit\": \"Gbit/s\"}}"
            );
        }
        return Ok(());
    }
    println!("bulk TCP, {} MiB each, MTU 1500, wall clock in one run", bytes >> 20);
    let veth = rows[rows.len() - 1].1;
    for (name, v) in &rows {
        println!("{name:<40} {v:>8.3} Gbit/s   {:>6.2}x of veth", v / veth);
    }
    Ok(())
}
