//! An idle real-time driver sleeps: it wakes for a packet, a timer or a
//! user call, never to spin. Measured from the kernel's own accounting of
//! the driver threads' CPU time.

use sockstack_api::{pair, UdpSocket};
use sockstack_link::LinkConfig;
use sockstack_stack::ProcessId;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// CPU time (user + system, clock ticks) of this process's threads named
/// like the driver ("sockstack-drive", as the kernel truncates it).
fn driver_ticks() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("sockstack-drive") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command name (which is in parentheses).
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat: 12 and 13 here.
        total += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        total += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}

#[test]
fn an_idle_stack_uses_no_cpu() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("skipping: no /proc");
        return;
    }
    let (a, b) = pair("192.0.2.1/24".parse().unwrap(), "192.0.2.2/24".parse().unwrap(), LinkConfig::default()).unwrap();
    // Some sockets open, a little traffic, then silence.
    let s = UdpSocket::bind(&b.handle(ProcessId(1)), SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7)).unwrap();
    let c = UdpSocket::bind(&a.handle(ProcessId(1)), SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 0)).unwrap();
    c.send_to(b"x", SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7)).unwrap();
    let mut buf = [0u8; 8];
    s.recv_from(&mut buf).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = driver_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = driver_ticks() - before;
    // Two driver threads over 2 s: spinning would be ~400 ticks at 100 Hz.
    assert!(used <= 2, "idle drivers used {used} clock ticks in 2 s");
}
