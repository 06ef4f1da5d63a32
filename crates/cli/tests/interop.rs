//! Interoperation with the Linux kernel's own TCP/IP stack and real tools,
//! inside network namespaces these tests create and delete.
//!
//! Needs root, /dev/net/tun, iproute2, curl, socat, python3, nftables and
//! tcpdump (`.ci/run` installs them). Without them the tests say so and
//! pass, unless SOCKSTACK_REQUIRE_NETNS=1 (set by CI) makes that a failure.
//! Addresses come from the documentation ranges and exist only inside the
//! namespaces.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[path = "interop/capture.rs"]
mod capture;

const BIN: &str = env!("CARGO_BIN_EXE_sockstack");
const MIB100: usize = 100 << 20;

/// Whether this machine can run the tests; panics instead when CI requires
/// them.
fn can_run() -> bool {
    let tools = ["ip", "curl", "socat", "python3", "nft", "tcpdump", "ping"];
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            Command::new("sh").args(["-c", &format!("command -v {t}")]).output().map_or(true, |o| !o.status.success())
        })
        .collect();
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let tun = Path::new("/dev/net/tun").exists();
    if root && tun && missing.is_empty() {
        return true;
    }
    let why = format!("root {root}, /dev/net/tun {tun}, missing tools {missing:?}");
    if std::env::var("SOCKSTACK_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        panic!("interop tests required but cannot run: {why}");
    }
    eprintln!("skipping interop test: {why}");
    false
}

/// A network namespace, deleted (with everything running in it) on drop.
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("ssk-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name, children: Vec::new() };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn cmd(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    /// Runs to completion; panics with its output if it fails.
    fn exec(&self, argv: &[&str]) -> Output {
        run(&mut self.cmd(argv))
    }

    fn spawn(&mut self, argv: &[&str], log: &Path) -> u32 {
        let log = std::fs::File::create(log).unwrap();
        let child = self.cmd(argv).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Waits until `argv` succeeds (a server coming up), at most 10 s.
    fn wait_for(&self, argv: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.cmd(argv).output().is_ok_and(|o| o.status.success()) {
            assert!(Instant::now() < deadline, "timed out waiting for {argv:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A scratch folder for one test, removed with its 100 MiB files after.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sockstack-interop-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The body `sockstack serve` returns for `/bytes/N`.
fn served_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Pseudo-random bytes (xorshift), so a misplaced block shows.
fn random_file(path: &Path, n: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64 ^ n as u64;
    let data: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    std::fs::File::create(path).unwrap().write_all(&data).unwrap();
    data
}

fn same_file(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap();
    assert_eq!(got.len(), expected.len(), "{} has the wrong length", path.display());
    if let Some(i) = got.iter().zip(expected).position(|(a, b)| a != b) {
        panic!("{}: first wrong byte at offset {i}", path.display());
    }
}

/// A namespace with `sockstack serve` on tun0: stack 192.0.2.2, kernel
/// 192.0.2.1; `extra` arguments for serve.
fn serving(scratch: &Scratch, pcap: Option<&Path>, extra: &[&str]) -> (Netns, u32) {
    let mut ns = Netns::new();
    let mut argv = vec![BIN, "serve", "--tun", "tun0", "--addr", "192.0.2.2/24", "--kernel-addr", "192.0.2.1/24"];
    argv.extend(extra);
    let pcap_s;
    if let Some(p) = pcap {
        pcap_s = p.display().to_string();
        argv.extend(["--pcap", &pcap_s]);
    }
    let log = scratch.path("serve.log");
    let pid = ns.spawn(&argv, &log);
    ns.wait_for(&["curl", "-sf", "-m", "2", "http://192.0.2.2/"]);
    (ns, pid)
}

/// Stops `serve` (process `pid`, started by [`serving`]) with SIGTERM,
/// checks it exited cleanly, and returns its log.
fn stop_serving(ns: &mut Netns, pid: u32, scratch: &Scratch) -> String {
    run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    let status = ns.children[0].wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    std::fs::read_to_string(scratch.path("serve.log")).unwrap()
}

/// The number `serve`'s log gives after the last `label`.
fn log_count(log: &str, label: &str) -> Option<u64> {
    log.rsplit_once(label)?.1.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Checks `done` every 20 ms until it holds; panics, saying `what` did not
/// happen, after 10 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kernel_tools_talk_to_sockstack_serve() {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new("serve");
    let tmp = |name: &str| scratch.path(name);
    let pcap = tmp("serve.pcap");
    let (mut ns, pid) = serving(&scratch, Some(&pcap), &[]);

    // kernel ping → sockstack (answered by the stack itself)
    let out = ns.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.2"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 received"));

    // curl: the index page, then 100 MiB sockstack → kernel, byte for byte
    let index = ns.exec(&["curl", "-sf", "-m", "10", "http://192.0.2.2/"]);
    assert!(String::from_utf8_lossy(&index.stdout).contains("<h1>sockstack</h1>"));
    let got = tmp("curl-100mib.bin");
    ns.exec(&["curl", "-sf", "-m", "120", "-o", got.to_str().unwrap(), &format!("http://192.0.2.2/bytes/{MIB100}")]);
    same_file(&got, &served_bytes(MIB100));

    // socat → TCP echo: 100 MiB kernel → sockstack and back
    let input = tmp("echo-in.bin");
    let sent = random_file(&input, MIB100);
    let echoed = tmp("echo-out.bin");
    let script = format!("socat -t 60 -b 65536 - TCP:192.0.2.2:7 < {} > {}", input.display(), echoed.display());
    ns.exec(&["sh", "-c", &script]);
    same_file(&echoed, &sent);

    // socat → TCP discard takes a stream and closes cleanly
    ns.exec(&["sh", "-c", &format!("head -c 1048576 {} | socat -t 10 - TCP:192.0.2.2:9", input.display())]);

    // UDP both ways: kernel → sockstack echo → kernel
    let udp = ns.exec(&["sh", "-c", "echo datagram-from-the-kernel | socat -t 2 - UDP:192.0.2.2:7"]);
    assert_eq!(String::from_utf8_lossy(&udp.stdout).trim(), "datagram-from-the-kernel");
    // One send of four datagrams' worth with UDP_SEGMENT: the kernel hands
    // the device one packed run, split here into the four, each echoed.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/udp_segment.py");
    let out = ns.exec(&["python3", script, "192.0.2.2", "7"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4 datagrams of 1000, in order");

    // 200 concurrent connections from the kernel, every byte checked
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/many_clients.py");
    let out = ns.exec(&["python3", script, "192.0.2.2", "7", "200", "65536"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("200 of 200"));

    // Traffic sockstack does not speak (IPv6 to the all-nodes group out of
    // tun0) is counted and dropped, and the stack carries on.
    let _ = ns.cmd(&["ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "-I", "tun0", "ff02::1"]).output();
    ns.exec(&["curl", "-sf", "-m", "5", "-o", "/dev/null", "http://192.0.2.2/"]);

    // SIGTERM: a clean exit, and a pcap that tcpdump reads
    let log = stop_serving(&mut ns, pid, &scratch);
    let runs = |what: &str| log_count(&log, what).unwrap_or(0);
    let dropped = runs("dropped non-IPv4 from the kernel: ");
    assert!(dropped >= 2, "IPv6 packets from the kernel were not counted: {log}");
    assert_eq!(runs("failed reads: "), 0, "{log}");
    assert!(runs("TCP taken whole ") > 0, "no packed TCP run came from the kernel: {log}");
    assert!(runs("UDP split ") > 0, "the UDP_SEGMENT send was not a packed run: {log}");
    let dump = run(Command::new("tcpdump").args(["-nr", pcap.to_str().unwrap()]));
    let text = String::from_utf8_lossy(&dump.stdout);
    // The longest TCP payload on the lines that `direction` picks.
    let longest = |direction: &dyn Fn(&str) -> bool| {
        text.lines()
            .filter(|l| direction(l))
            .filter_map(|l| {
                let after = l.rsplit("length ").next()?;
                after.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok()
            })
            .max()
            .unwrap_or(0)
    };
    assert!(text.contains("192.0.2.1 > 192.0.2.2: ICMP echo request"), "{}", &text[..text.len().min(500)]);
    assert!(text.contains("192.0.2.2.80 > 192.0.2.1"), "HTTP responses captured");
    // With the device's offloads on, the stack packed runs of segments into
    // TSO writes: TCP payloads past what one 1500-octet packet holds.
    let out = longest(&|l| l.contains("192.0.2.2.80 > 192.0.2.1"));
    assert!(out > 1460 * 8, "no packed run went to the kernel (longest payload {out})");
    // And the kernel's runs (the echo upload) came in whole, as one
    // segment each, their checksums left to the device.
    let into = longest(&|l| l.contains("192.0.2.1.") && l.contains(" > 192.0.2.2.7:"));
    assert!(into > 1460 * 8, "no run from the kernel was taken whole (longest payload {into})");
}

/// `serve --any-address` answers for a network the kernel routes into the
/// device, as a tun2socks stack does: ping, HTTP (1 MiB byte for byte), TCP
/// and UDP echo, each from the address asked (the kernel's sockets take
/// answers only from there); a port with no service is reset at once.
#[test]
fn serve_answers_at_any_address_routed_into_its_device() {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new("anyaddr");
    let (mut ns, pid) = serving(&scratch, None, &["--any-address"]);
    ns.exec(&["ip", "route", "add", "203.0.113.0/24", "dev", "tun0"]);
    let out = ns.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "203.0.113.200"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 received"));
    let body = scratch.path("any.bin");
    let file = body.display().to_string();
    ns.exec(&["curl", "-sf", "-m", "20", "-o", &file, "http://203.0.113.77/bytes/1048576"]);
    same_file(&body, &served_bytes(1 << 20));
    let echo = |proto: &str, to: &str| {
        let script = format!("echo hello-{to} | socat -t 2 - {proto}:{to}:7");
        String::from_utf8_lossy(&ns.exec(&["sh", "-c", &script]).stdout).into_owned()
    };
    assert_eq!(echo("TCP", "203.0.113.50"), "hello-203.0.113.50\n");
    assert_eq!(echo("UDP", "203.0.113.9"), "hello-203.0.113.9\n");
    let refused = ns.cmd(&["curl", "-s", "-m", "5", "http://203.0.113.77:8080/"]).output().unwrap();
    // Reset: curl says 7 when the RST comes before it has seen the
    // connection up, 55 or 56 when it comes while it sends or receives
    // (28 would be a timeout, 52 an empty reply: a close, not a reset).
    assert!(matches!(refused.status.code(), Some(7 | 55 | 56)), "a port with no service: {refused:?}");
    let log = stop_serving(&mut ns, pid, &scratch);
    assert!(log.contains("at any address routed into the device"), "{log}");
}

/// The device deleted under a running `serve` (`ip link del`): its reader
/// learns from the failed read, and `serve` says so and exits with an
/// error instead of serving nothing.
#[test]
fn serve_exits_when_its_tun_device_is_deleted() {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new("gone");
    let (mut ns, _pid) = serving(&scratch, None, &[]);
    ns.exec(&["ip", "link", "del", "tun0"]);
    wait_until("serve exits after its device was deleted", || ns.children[0].try_wait().unwrap().is_some());
    // Exited: `wait` returns the status at once.
    let status = ns.children[0].wait().unwrap();
    let log = std::fs::read_to_string(scratch.path("serve.log")).unwrap();
    assert!(!status.success(), "serve exited with {status}: {log}");
    assert!(log.contains("the TUN device tun0 is gone"), "{log}");
    let failed = log_count(&log, "failed reads: ").unwrap_or_else(|| panic!("no failed-read count in the log: {log}"));
    assert!(failed >= 1, "{log}");
}

/// The same in the library: once the device is deleted the reader keeps
/// the error and the interface goes down, so a send through it fails with
/// `NetworkDown` instead of vanishing.
#[test]
fn a_deleted_tun_device_takes_its_interface_down() {
    if !can_run() {
        return;
    }
    use std::net::{Ipv4Addr, SocketAddrV4};
    let ns = Netns::new();
    let tun = tun_in_namespace(&ns, "sskgone0", true, None);
    let net = tun.driver.handle(sockstack_stack::ProcessId(1));
    let udp = sockstack_api::UdpSocket::bind(&net, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 0)).unwrap();
    let kernel = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 9);
    udp.send_to(b"up", kernel).unwrap();
    assert!(tun.stats.reader_error().is_none());
    ns.exec(&["ip", "link", "del", "sskgone0"]);
    wait_until("the reader notices its device go", || tun.stats.reader_error().is_some());
    assert!(tun.stats.rx_errors.load(Ordering::Relaxed) >= 1);
    // The driver takes the interface down on the reader's word.
    wait_until("the interface goes down", || !tun.driver.with_stack(|s| s.interfaces()[0].up));
    let err = udp.send_to(b"down", kernel).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NetworkDown, "{err}");
}

/// SYN cookies against the kernel's TCP: with `--syn-backlog 0` sockstack
/// answers every SYN with a cookie (Linux's tcp_syncookies=2). The cookie
/// SYN-ACKs still offer timestamps, SACK and window scaling (the SYN's
/// options ride in their TSval); the kernel takes them (`ss` shows the
/// window scales, its ACKs carry timestamps), and 200 concurrent
/// connections echo every byte.
#[test]
fn kernel_clients_connect_through_syn_cookies_with_their_options() {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new("cookies");
    let pcap = scratch.path("cookies.pcap");
    let (mut ns, pid) = serving(&scratch, Some(&pcap), &["--syn-backlog", "0"]);
    // One connection held open while `ss` looks at it.
    ns.spawn(&["sh", "-c", "sleep 20 | socat - TCP:192.0.2.2:9"], &scratch.path("held.log"));
    ns.wait_for(&["sh", "-c", "ss -tn state established dst 192.0.2.2:9 | grep -q 192.0.2.2"]);
    let out = ns.exec(&["ss", "-tin", "state", "established", "dst", "192.0.2.2:9"]);
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(info.contains("wscale:7,"), "the kernel scales its window: {info}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/many_clients.py");
    let out = ns.exec(&["python3", script, "192.0.2.2", "7", "200", "65536"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("200 of 200"));
    let log = stop_serving(&mut ns, pid, &scratch);
    let accepted: u64 = log
        .split("syncookies sent ")
        .nth(1)
        .and_then(|t| t.split(" accepted ").nth(1))
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no SYN-cookie counts in the log: {log}"));
    assert!(accepted >= 201, "{accepted} connections came through cookies: {log}");
    // Every SYN-ACK offered the options; the kernel's ACKs of them carry
    // timestamps, which it sends only when both sides agreed on them.
    let pcap = pcap.to_str().unwrap();
    let synacks = run(Command::new("tcpdump").args(["-nn", "-r", pcap, "tcp[tcpflags] == (tcp-syn|tcp-ack)"]));
    let synacks = String::from_utf8_lossy(&synacks.stdout);
    assert!(synacks.lines().count() >= 201, "{synacks}");
    assert!(
        synacks.lines().all(|l| l.contains("sackOK") && l.contains("TS val") && l.contains("wscale 7")),
        "{synacks}"
    );
    let acks =
        run(Command::new("tcpdump").args(["-nn", "-r", pcap, "dst host 192.0.2.2 and tcp[tcpflags] == tcp-ack"]));
    let acks = String::from_utf8_lossy(&acks.stdout);
    assert!(acks.lines().count() >= 201 && acks.lines().all(|l| l.contains("TS val")), "{acks}");
}

#[test]
fn sockstack_clients_talk_to_kernel_servers() {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new("clients");
    let tmp = |name: &str| scratch.path(name);
    let mut ns = Netns::new();
    // The kernel side will be 198.51.100.1 on tun1 once sockstack creates
    // it; python binds all addresses, so it can start first.
    let www = tmp("www");
    std::fs::create_dir_all(&www).unwrap();
    let file = random_file(&www.join("file.bin"), MIB100);
    let log = tmp("python-http.log");
    let dir = www.to_str().unwrap().to_string();
    ns.spawn(&["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", &dir], &log);
    ns.wait_for(&["curl", "-sf", "-m", "2", "-o", "/dev/null", "http://127.0.0.1:8000/"]);
    // socat as an HTTP server for a second body: it sends a prepared
    // response (head and body) to every connection, whatever was asked.
    let small = random_file(&tmp("socat-body.bin"), 3 << 20);
    let response = tmp("socat-response.bin");
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", small.len()).into_bytes();
    r.extend_from_slice(&small);
    std::fs::write(&response, r).unwrap();
    // The handler reads the request head first: closing with the request
    // unread would reset the connection (as Linux does).
    let handler = tmp("socat-handler.sh");
    std::fs::write(
        &handler,
        format!(
            "while IFS= read -r line; do [ \"$(printf %s \"$line\" | tr -d '\\r')\" = \"\" ] && break; done\ncat {}\n",
            response.display()
        ),
    )
    .unwrap();
    ns.spawn(
        &["socat", "TCP-LISTEN:8001,reuseaddr,fork", &format!("EXEC:sh {}", handler.display())],
        &tmp("socat.log"),
    );
    let tun = ["--tun", "tun1", "--addr", "198.51.100.2/24", "--kernel-addr", "198.51.100.1/24"];

    // sockstack fetch ← python http.server: 100 MiB kernel → sockstack
    let got = tmp("fetched.bin");
    let mut argv = vec![BIN, "fetch"];
    argv.extend(tun);
    argv.extend(["http://198.51.100.1:8000/file.bin", "-o", got.to_str().unwrap()]);
    ns.exec(&argv);
    same_file(&got, &file);

    // sockstack fetch ← socat
    let got2 = tmp("fetched-socat.bin");
    let mut argv = vec![BIN, "fetch"];
    argv.extend(tun);
    argv.extend(["http://198.51.100.1:8001/", "-o", got2.to_str().unwrap()]);
    ns.exec(&argv);
    same_file(&got2, &small);

    // sockstack ping → kernel
    let mut argv = vec![BIN, "ping"];
    argv.extend(tun);
    argv.extend(["198.51.100.1", "-c", "3", "-i", "0.2"]);
    let out = ns.exec(&argv);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 packets transmitted, 3 received"));

    // A firewall in front of the python server that rejects with ICMP
    // port unreachable (nftables' `reject`, iptables' REJECT): sockstack's
    // connect is refused at once, as the kernel's would be, instead of
    // timing out after its SYN retransmissions (about two minutes). The
    // port has a listener, so no RST can be what refused it.
    ns.exec(&["nft", "add", "table", "inet", "fw"]);
    ns.exec(&["nft", "add chain inet fw in { type filter hook input priority 0; }"]);
    ns.exec(&["nft", "add rule inet fw in tcp dport 8000 counter reject with icmp type port-unreachable"]);
    let mut argv = vec![BIN, "fetch"];
    argv.extend(tun);
    argv.extend(["http://198.51.100.1:8000/file.bin", "-o", "/dev/null"]);
    let out = ns.cmd(&argv).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("connection refused"), "{err}");
    let rules = ns.exec(&["nft", "list", "table", "inet", "fw"]);
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(rules.contains("counter packets 1 "), "the firewall answered one SYN: {rules}");
}

#[test]
fn a_100mib_transfer_survives_3_percent_loss_on_the_kernel_side() {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new("lossy");
    let tmp = |name: &str| scratch.path(name);
    let (ns, _) = serving(&scratch, None, &[]);
    // nftables drops 3% of the packets in each direction on the kernel
    // side of the device.
    ns.exec(&["nft", "add", "table", "inet", "lossy"]);
    for (chain, hook, dir) in [("out", "output", "oifname"), ("in", "input", "iifname")] {
        ns.exec(&["nft", &format!("add chain inet lossy {chain} {{ type filter hook {hook} priority 0; }}")]);
        ns.exec(&["nft", &format!("add rule inet lossy {chain} {dir} \"tun0\" numgen random mod 100 < 3 drop")]);
    }
    let got = tmp("lossy.bin");
    ns.exec(&["curl", "-sf", "-m", "300", "-o", got.to_str().unwrap(), &format!("http://192.0.2.2/bytes/{MIB100}")]);
    same_file(&got, &served_bytes(MIB100));
    // The rules really dropped packets.
    let rules = ns.exec(&["nft", "list", "ruleset"]);
    assert!(String::from_utf8_lossy(&rules.stdout).contains("drop"));
}

/// RFC 1191 path MTU discovery against a real router: the kernel of
/// `serve`'s namespace forwards between sockstack's device (MTU 1500) and
/// a veth into a second namespace, whose router end has MTU 1280. curl
/// there downloads from sockstack; its SYN offers a 1460-octet MSS, so
/// sockstack's first full segments (DF set) are too big for the veth,
/// and the router answers them with "fragmentation needed". sockstack
/// must believe it, resend smaller and go on: a stack that ignored it
/// would see every full segment dropped, and curl time out.
#[test]
fn path_mtu_discovery_through_a_kernel_router() {
    through_a_narrow_kernel_router(1280);
}

/// A hop narrower than the path-MTU floor (400 octets, below 552): the
/// kernel router's "fragmentation needed" locks the path at 552, and
/// sockstack's segments then go without Don't Fragment for the router to
/// fragment; the client reassembles them.
#[test]
fn a_hop_below_the_path_mtu_floor_through_a_kernel_router() {
    through_a_narrow_kernel_router(400);
}

/// A 20 MiB download from sockstack through a kernel router whose hop
/// towards the client has MTU `mtu`: the router must have sent a
/// "fragmentation needed", and below the floor the client must have
/// received fragments.
fn through_a_narrow_kernel_router(mtu: u32) {
    if !can_run() {
        return;
    }
    let scratch = Scratch::new(&format!("pmtu-{mtu}"));
    let (router, _) = serving(&scratch, None, &[]);
    let client = Netns::new();
    let mtu = mtu.to_string();
    router.exec(&[
        "ip",
        "link",
        "add",
        "vr0",
        "mtu",
        &mtu,
        "type",
        "veth",
        "peer",
        "name",
        "vc0",
        "netns",
        &client.name,
    ]);
    router.exec(&["ip", "addr", "add", "198.51.100.1/24", "dev", "vr0"]);
    router.exec(&["ip", "link", "set", "vr0", "up"]);
    router.exec(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
    client.exec(&["ip", "addr", "add", "198.51.100.2/24", "dev", "vc0"]);
    client.exec(&["ip", "link", "set", "vc0", "up"]);
    client.exec(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
    // Counts the router's "fragmentation needed" messages, and the
    // fragments the client receives (before any reassembly).
    router.exec(&["nft", "add", "table", "inet", "pmtu"]);
    router.exec(&["nft", "add chain inet pmtu out { type filter hook output priority 0; }"]);
    router.exec(&["nft", "add rule inet pmtu out icmp type destination-unreachable icmp code frag-needed counter"]);
    client.exec(&["nft", "add", "table", "ip", "frags"]);
    client.exec(&["nft", "add chain ip frags pre { type filter hook prerouting priority -500; }"]);
    client.exec(&["nft", "add rule ip frags pre ip frag-off & 0x2000 != 0 counter"]);

    let got = scratch.path("pmtu.bin");
    let size = 20 << 20;
    client.exec(&["curl", "-sf", "-m", "60", "-o", got.to_str().unwrap(), &format!("http://192.0.2.2/bytes/{size}")]);
    same_file(&got, &served_bytes(size));
    let rules = router.exec(&["nft", "list", "table", "inet", "pmtu"]);
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains("counter packets") && !rules.contains("counter packets 0 "),
        "no frag-needed was sent: {rules}"
    );
    let frags = client.exec(&["nft", "list", "table", "ip", "frags"]);
    let frags = String::from_utf8_lossy(&frags.stdout);
    let fragmented = !frags.contains("counter packets 0 ");
    assert_eq!(fragmented, mtu.parse::<usize>().unwrap() < 552, "fragments seen by the client: {frags}");
}

const ZONE: &str = "$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster (
            2026112701 ; serial
            7200 3600 1209600 300 )
        IN NS  ns1
        IN MX  10 mail
ns1     IN A   192.0.2.2
www     IN A   192.0.2.80
        IN A   192.0.2.81
mail    IN A   192.0.2.25
web     IN CNAME www
big     IN TXT \"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
        IN TXT \"1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
        IN TXT \"2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
        IN TXT \"3123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
        IN TXT \"4123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
        IN TXT \"5123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789\"
";

#[test]
fn dig_queries_sockstack_dns_over_udp_and_tcp() {
    if !can_run() || Command::new("sh").args(["-c", "command -v dig"]).output().map_or(true, |o| !o.status.success()) {
        return;
    }
    let scratch = Scratch::new("dns");
    let zone = scratch.path("example.test.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let mut ns = Netns::new();
    let argv = [
        BIN,
        "serve",
        "--tun",
        "tun0",
        "--addr",
        "192.0.2.2/24",
        "--kernel-addr",
        "192.0.2.1/24",
        "--zone",
        zone.to_str().unwrap(),
    ];
    ns.spawn(&argv, &scratch.path("serve.log"));
    ns.wait_for(&["dig", "+short", "+time=1", "+tries=1", "@192.0.2.2", "ns1.example.test"]);
    let dig = |args: &[&str]| {
        String::from_utf8_lossy(&ns.exec(&[&["dig", "@192.0.2.2", "+time=2"], args].concat()).stdout).to_string()
    };

    // UDP: both A records, authoritative.
    let out = dig(&["www.example.test", "A"]);
    assert!(out.contains("status: NOERROR") && out.contains(" aa"), "{out}");
    assert!(out.contains("192.0.2.80") && out.contains("192.0.2.81"), "{out}");
    // A CNAME chased within the zone.
    let out = dig(&["+short", "web.example.test"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"www.example.test."), "{out}");
    assert!(lines.contains(&"192.0.2.80") && lines.contains(&"192.0.2.81"), "{out}");
    assert!(out.starts_with("www.example.test."), "{out}");
    // NXDOMAIN carries the SOA for negative caching.
    let out = dig(&["nope.example.test"]);
    assert!(out.contains("status: NXDOMAIN") && out.contains("SOA"), "{out}");
    // Outside the zone: REFUSED.
    let out = dig(&["example.org"]);
    assert!(out.contains("status: REFUSED"), "{out}");
    // TCP, several records.
    let out = dig(&["+tcp", "big.example.test", "TXT"]);
    assert!(out.contains("status: NOERROR") && out.matches("123456789").count() >= 6, "{out}");
    // Without EDNS the big answer is truncated over UDP.
    let out = dig(&["+noedns", "+ignore", "big.example.test", "TXT"]);
    assert!(out.contains(" tc"), "{out}");
    let out = dig(&["-x", "192.0.2.80"]);
    assert!(out.contains("status: REFUSED") || out.contains("status: NXDOMAIN"), "{out}");
}

#[test]
fn sockstack_resolver_asks_dnsmasq() {
    if !can_run()
        || Command::new("sh").args(["-c", "command -v dnsmasq"]).output().map_or(true, |o| !o.status.success())
    {
        return;
    }
    let scratch = Scratch::new("dnsmasq");
    let tun = ["--tun", "tun1", "--addr", "198.51.100.2/24", "--kernel-addr", "198.51.100.1/24"];
    // Each query in a namespace of its own, with a dnsmasq of its own on
    // the kernel side (--bind-dynamic picks the TUN address up once
    // sockstack creates the device): every `sockstack dig` creates its TUN
    // device anew, and dnsmasq stops answering on an interface deleted
    // and re-created under it a few times (seen with tcpdump: the queries
    // reach it, the TCP ones wait unaccepted).
    let mut n = 0;
    let mut dig = |args: &[&str]| {
        n += 1;
        let mut ns = Netns::new();
        ns.spawn(
            &[
                "dnsmasq",
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-dynamic",
                // Loopback as well, to see it is up before the query.
                "--listen-address=198.51.100.1,127.0.0.1",
                "--host-record=www.example.test,203.0.113.8",
                "--address=/wild.example.test/203.0.113.7",
                "--txt-record=info.example.test,hello from dnsmasq",
                "--cname=alias.example.test,www.example.test",
            ],
            &scratch.path(&format!("dnsmasq-{n}.log")),
        );
        // Answering on loopback: started, and watching for the TUN
        // address to appear (a fixed wait was sometimes too short).
        ns.wait_for(&["dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "www.example.test"]);
        let mut argv = vec![BIN, "dig"];
        argv.extend(tun);
        argv.extend(args);
        String::from_utf8_lossy(&ns.exec(&argv).stdout).to_string()
    };
    let out = dig(&["www.example.test", "@198.51.100.1"]);
    assert!(out.contains("status: NOERROR") && out.contains("203.0.113.8"), "{out}");
    let out = dig(&["anything.wild.example.test"]);
    assert!(out.contains("203.0.113.7"), "{out}");
    let out = dig(&["info.example.test", "TXT"]);
    assert!(out.contains("hello from dnsmasq"), "{out}");
    let out = dig(&["alias.example.test"]);
    assert!(out.contains("CNAME") && out.contains("203.0.113.8"), "{out}");
    let out = dig(&["--tcp", "www.example.test"]);
    assert!(out.contains("203.0.113.8"), "{out}");
}

/// The byte at stream offset `i` of direction `direction` (0: kernel to
/// sockstack, 1: sockstack to kernel), as `conversation.py` has it.
fn conversation_byte(direction: usize, i: usize) -> u8 {
    ((i * 31 + i / 257 + direction * 101) & 0xff) as u8
}

/// `conversation.py` in a namespace: the kernel's end of one connection.
struct KernelPeer {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl KernelPeer {
    fn start(ns: &Netns) -> KernelPeer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/conversation.py");
        let mut child = ns
            .cmd(&["python3", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        KernelPeer { child, stdin, stdout }
    }

    fn tell(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.stdout, &mut line).unwrap();
        assert!(!line.is_empty(), "conversation.py ended");
        line.trim().to_string()
    }

    fn ask(&mut self, cmd: &str) -> String {
        self.tell(cmd);
        self.answer()
    }

    /// The number after `word` in the answer to `cmd`; panics on any
    /// other answer.
    fn count(&mut self, cmd: &str, word: &str) -> usize {
        let a = self.ask(cmd);
        number_after(&a, word).unwrap_or_else(|| panic!("{cmd}: {a}"))
    }
}

/// The number after `word` in an answer of `conversation.py`'s.
fn number_after(answer: &str, word: &str) -> Option<usize> {
    answer.strip_prefix(word)?.trim().parse().ok()
}

impl Drop for KernelPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stack of this process on TUN device `dev` (192.0.2.2/24), the device
/// moved into `ns`, where the kernel has 192.0.2.1/24 on it: from then on
/// the device's traffic is inside the namespace.
fn tun_in_namespace(ns: &Netns, dev: &str, offload: bool, capture: Option<&Path>) -> sockstack_api::TunStack {
    tun_in_namespace_with(ns, dev, offload, capture, false)
}

/// [`tun_in_namespace`], the stack taking any address when `any_address`.
fn tun_in_namespace_with(
    ns: &Netns,
    dev: &str,
    offload: bool,
    capture: Option<&Path>,
    any_address: bool,
) -> sockstack_api::TunStack {
    let config = sockstack_api::TunConfig {
        name: dev.to_string(),
        addr: "192.0.2.2/24".parse().unwrap(),
        kernel_addr: None,
        mtu: 1500,
        offload,
        any_address,
    };
    let stack = sockstack_stack::Stack::new(sockstack_stack::StackConfig::default());
    let pcap = capture.map(|p| sockstack_link::pcap::PcapSink::create(p).unwrap());
    let tun = sockstack_api::spawn_tun(stack, &config, pcap).unwrap();
    run(Command::new("ip").args(["link", "set", dev, "netns", &ns.name]));
    ns.exec(&["ip", "addr", "add", "192.0.2.1/24", "dev", dev]);
    ns.exec(&["ip", "link", "set", dev, "up"]);
    tun
}

/// IPv4 fragmentation both ways with the kernel: UDP datagrams of every
/// size up to the largest (65,507 octets of payload) go from sockstack to
/// a kernel echo server and back, so sockstack fragments and the kernel
/// reassembles, then the kernel fragments and sockstack reassembles; each
/// comes back byte for byte. The kernel's ping of sockstack with 8,000
/// octets does the same for ICMP.
#[test]
fn udp_and_icmp_fragment_and_reassemble_with_the_kernel() {
    if !can_run() {
        return;
    }
    use std::net::{Ipv4Addr, SocketAddrV4};
    let scratch = Scratch::new("fragments");
    let mut ns = Netns::new();
    let dev = format!("sskf{}", std::process::id() % 100_000);
    let tun = tun_in_namespace(&ns, &dev, false, None);
    let echo = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)\n\
        s.bind(('192.0.2.1', 9000))\n\
        while True:\n    data, peer = s.recvfrom(65535)\n    s.sendto(data, peer)\n";
    ns.spawn(&["python3", "-c", echo], &scratch.path("echo.log"));
    let net = tun.driver.handle(sockstack_stack::ProcessId(1));
    let sock = sockstack_api::UdpSocket::bind(&net, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let server = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 9000);
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    // Sizes around every fragment boundary (1,480 octets of IP payload
    // each, 1,472 in the first after the UDP header), random ones, and
    // the largest.
    let mut sizes: Vec<usize> = vec![0, 1, 1471, 1472, 1473, 2952, 2953, 65_507];
    sizes.extend((0..60).map(|_| rng.below(65_508) as usize));
    let mut buf = vec![0u8; 65_536];
    // The echo server may not be up yet: empty datagrams until one comes
    // back, then whatever else does.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        sock.send_to(b"", server).unwrap();
        if sock.recv_from(&mut buf).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the kernel's echo server did not answer");
    }
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    while sock.recv_from(&mut buf).is_ok() {}
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for (i, &n) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..n).map(|j| conversation_byte(i % 2, j + i)).collect();
        assert_eq!(sock.send_to(&data, server).unwrap(), n);
        let (got, from) = sock.recv_from(&mut buf).unwrap_or_else(|e| panic!("datagram {i} of {n} octets: {e}"));
        assert_eq!(from, server);
        assert_eq!(got, n, "datagram {i}: {n} octets sent, {got} echoed");
        assert!(buf[..got] == data[..], "datagram {i} of {n} octets came back changed");
    }
    let out = ns.exec(&["ping", "-c", "3", "-i", "0.2", "-s", "8000", "-W", "2", "192.0.2.2"]);
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("3 packets transmitted, 3 received"), "{out}");
    drop(tun);
}

/// The core of a tun2socks stack: the kernel routes two documentation
/// networks into the device, and sockstack, taking any address, answers
/// connections, datagrams and pings sent to addresses it does not own,
/// from those addresses. Its catch-all listener learns from each
/// connection's local address where the client was going (here it says
/// so in its answer); curl fetches 4 MiB from one of them, byte for byte.
#[test]
fn the_kernel_reaches_any_address_through_a_stack_that_takes_them() {
    if !can_run() {
        return;
    }
    use sockstack_api::{TcpListener, UdpSocket};
    use std::io::Read;
    let scratch = Scratch::new("any-address");
    let ns = Netns::new();
    let dev = format!("sska{}", std::process::id() % 100_000);
    let tun = tun_in_namespace_with(&ns, &dev, true, None, true);
    ns.exec(&["ip", "route", "add", "198.51.100.0/24", "dev", &dev]);
    ns.exec(&["ip", "route", "add", "203.0.113.0/24", "dev", &dev]);
    let net = tun.driver.handle(sockstack_stack::ProcessId(1));
    // TCP: every connection is answered with the address it was made to,
    // and a `/bytes/N` request with N octets of the pattern `serve` sends.
    let listener = TcpListener::bind_any(&net, 64).unwrap();
    let server = std::thread::spawn(move || {
        let mut asked = Vec::new();
        for _ in 0..3 {
            let (mut s, _) = listener.accept().unwrap();
            let local = s.local_addr().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            let request = String::from_utf8_lossy(&request).to_string();
            let body = match request.split_whitespace().nth(1).and_then(|p| p.strip_prefix("/bytes/")) {
                Some(n) => served_bytes(n.parse().unwrap()),
                None => local.to_string().into_bytes(),
            };
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
            asked.push(local);
        }
        asked
    });
    // UDP: each datagram is answered from the address it was sent to.
    let udp = UdpSocket::bind_any(&net).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        let (n, from, to) = udp.recv_msg(&mut buf).unwrap();
        let answer = format!("{}@{to}", String::from_utf8_lossy(&buf[..n]));
        udp.send_from(answer.as_bytes(), to, from).unwrap();
    });
    let fetch = |url: &str| String::from_utf8_lossy(&ns.exec(&["curl", "-sf", "-m", "20", url]).stdout).to_string();
    assert_eq!(fetch("http://198.51.100.77:8080/"), "198.51.100.77:8080");
    assert_eq!(fetch("http://203.0.113.5/"), "203.0.113.5:80");
    let got = scratch.path("bulk.bin");
    ns.exec(&["curl", "-sf", "-m", "60", "-o", got.to_str().unwrap(), "http://198.51.100.9:9000/bytes/4194304"]);
    same_file(&got, &served_bytes(4 << 20));
    let asked = server.join().unwrap();
    assert_eq!(asked[2].to_string(), "198.51.100.9:9000");
    let udp_client = "import socket\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.settimeout(10)\n\
        s.sendto(b'ping', ('198.51.100.53', 5353))\n\
        data, peer = s.recvfrom(1500)\n\
        print(data.decode(), peer[0], peer[1])\n";
    let out = ns.exec(&["python3", "-c", udp_client]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ping@198.51.100.53:5353 198.51.100.53 5353");
    echo.join().unwrap();
    let out = ns.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "2", "203.0.113.200"]);
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("2 packets transmitted, 2 received"), "{out}");
    drop(tun);
}

/// A small xorshift, so each conversation is one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// sockstack's TCP and the kernel's, one connection each way per seed,
/// in random conversations: each end sends (up to 256 KiB at a time),
/// reads and shuts down at random, and every octet is checked where it
/// arrives; at the end both drain to end of stream, and each must have
/// received exactly what the other sent, with no reset (or one end
/// aborts, and the other must take its RST). The kernel's options (SACK,
/// timestamps, window scaling, ECN) and congestion control (Reno, BBR:
/// those a namespace may choose here) are switched per seed, so every
/// negotiation is met; its receive
/// buffer is sometimes tiny (zero windows, window probes); sockstack's
/// device has offload or not; and some seeds drop 2% of the packets each
/// way (nftables).
///
/// The sockstack end runs in this process: its TUN device is created
/// here and moved into the test's namespace, where the kernel end is.
#[test]
fn random_conversations_with_the_kernel() {
    if !can_run() {
        return;
    }
    // CONVERSATIONS=n runs more (seeds 1 to n, or from CONVERSATION_FROM
    // on); CONVERSATION=seed, one.
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let (from, n) = (var("CONVERSATION_FROM").unwrap_or(1), var("CONVERSATIONS").unwrap_or(12));
    let seeds = match var("CONVERSATION") {
        Some(one) => one..=one,
        None => from..=from + n - 1,
    };
    for seed in seeds {
        conversation(seed);
    }
}

fn conversation(seed: u64) {
    use sockstack_api::{TcpListener, TcpStream};
    use std::io::Read;
    use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let (sack, ts, ws) = (rng.below(2), rng.below(2), rng.below(2));
    let rcvbuf = if rng.below(3) == 0 { 4096 } else { 0 };
    let offload = rng.below(2) == 0;
    let lossy = seed % 3 == 0;
    let kernel_connects = rng.below(2) == 0;
    // The kernel asks for ECN on its SYNs (ECE and CWR set), which
    // sockstack, not ECN-capable, must decline; and the kernel's
    // congestion control varies how it sends.
    let ecn = rng.below(2);
    let cc = ["reno", "bbr"][rng.below(2) as usize];
    let what = format!(
        "seed {seed}: sack {sack} ts {ts} ws {ws} ecn {ecn} {cc} rcvbuf {rcvbuf} offload {offload} lossy {lossy} \
         kernel connects {kernel_connects}"
    );
    let mut ns = Netns::new();
    ns.exec(&[
        "sysctl",
        "-q",
        &format!("net.ipv4.tcp_sack={sack}"),
        &format!("net.ipv4.tcp_timestamps={ts}"),
        &format!("net.ipv4.tcp_window_scaling={ws}"),
        &format!("net.ipv4.tcp_ecn={ecn}"),
        &format!("net.ipv4.tcp_congestion_control={cc}"),
    ]);
    let dev = format!("sskc{}-{seed}", std::process::id() % 10_000);
    let scratch = Scratch::new(&format!("conversation-{seed}"));
    // CONVERSATION_KEEP=dir keeps each capture there (to read a failure's).
    let capture = match std::env::var("CONVERSATION_KEEP") {
        Ok(dir) => PathBuf::from(dir).join(format!("conversation-{seed}.pcap")),
        Err(_) => scratch.path("tun.pcap"),
    };
    let tun = tun_in_namespace(&ns, &dev, offload, Some(&capture));
    if let Ok(dir) = std::env::var("CONVERSATION_KEEP") {
        // The kernel's view too: what reached its device (before its
        // loss rule) and what it sent (after).
        let kernel = PathBuf::from(dir).join(format!("conversation-{seed}-kernel.pcap"));
        let log = scratch.path("tcpdump.log");
        ns.spawn(&["tcpdump", "-i", &dev, "-U", "-n", "-w", kernel.to_str().unwrap()], &log);
        let up = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("listening") && Instant::now() < up {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // CONVERSATION_LOSS=percent drops more (2 by default).
    let loss: u32 = std::env::var("CONVERSATION_LOSS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    if lossy {
        ns.exec(&["nft", "add", "table", "inet", "lossy"]);
        for (chain, hook, dir) in [("out", "output", "oifname"), ("in", "input", "iifname")] {
            ns.exec(&["nft", &format!("add chain inet lossy {chain} {{ type filter hook {hook} priority 0; }}")]);
            ns.exec(&[
                "nft",
                &format!("add rule inet lossy {chain} {dir} \"{dev}\" numgen random mod 100 < {loss} counter drop"),
            ]);
        }
    }
    let net = tun.driver.handle(sockstack_stack::ProcessId(1));
    let mut peer = KernelPeer::start(&ns);
    let mut ours = if kernel_connects {
        let listener = TcpListener::bind(&net, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 7000), 1).unwrap();
        assert_eq!(peer.ask(&format!("connect 192.0.2.2 7000 {rcvbuf}")), "ok", "{what}");
        listener.accept().unwrap().0
    } else {
        assert_eq!(peer.ask(&format!("listen 7000 {rcvbuf}")), "ok");
        let s = TcpStream::connect(&net, SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 7000)).unwrap();
        let accepted = peer.ask("accept");
        if accepted != "ok" {
            // What each end makes of the handshake, to read the failure.
            let sockets = ns.exec(&["ss", "-tani"]);
            let rules = ns.exec(&["nft", "list", "ruleset"]);
            panic!(
                "{what}: accept: {accepted}; sockstack: {:?} {:?}; tun {:?}\nkernel sockets:\n{}\nrules:\n{}",
                s.state(),
                s.stats(),
                tun.stats,
                String::from_utf8_lossy(&sockets.stdout),
                String::from_utf8_lossy(&rules.stdout)
            );
        }
        s
    };
    ours.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    ours.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
    // Octets each way: sent by the kernel, taken by sockstack; sent by
    // sockstack, taken by the kernel.
    let (mut k_sent, mut o_got, mut o_sent, mut k_got) = (0usize, 0usize, 0usize, 0usize);
    let (mut k_shut, mut o_shut) = (false, false);
    let mut buf = vec![0u8; 65536];
    let check = |data: &[u8], from: usize, what: &str| {
        if let Some(i) = (0..data.len()).find(|&i| data[i] != conversation_byte(0, from + i)) {
            panic!("{what}: sockstack read a wrong octet at stream offset {}", from + i);
        }
    };
    let size = |rng: &mut Rng| 1usize << rng.below(19) | rng.below(4096) as usize;
    for _ in 0..120 {
        match rng.below(9) {
            0 | 1 if !k_shut => k_sent += peer.count(&format!("send {}", size(&mut rng)), "sent"),
            2 | 3 if !o_shut => {
                let n = size(&mut rng).min(1 << 18);
                let data: Vec<u8> = (0..n).map(|i| conversation_byte(1, o_sent + i)).collect();
                match ours.write(&data) {
                    Ok(k) => o_sent += k,
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(e) => panic!("{what}: write: {e}"),
                }
            }
            4 | 5 => match peer.ask("recv").as_str() {
                "eof" => assert!(o_shut && k_got == o_sent, "{what}: the kernel saw the end after {k_got} octets"),
                a => k_got += number_after(a, "recv").unwrap_or_else(|| panic!("{what}: recv: {a}")),
            },
            6 | 7 => match ours.read(&mut buf) {
                Ok(0) => assert!(k_shut && o_got == k_sent, "{what}: end of stream after {o_got} octets"),
                Ok(n) => {
                    check(&buf[..n], o_got, &what);
                    o_got += n;
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("{what}: read: {e}"),
            },
            8 if rng.below(20) == 0 => {
                if rng.below(2) == 0 && !k_shut {
                    assert_eq!(peer.ask("shutdown"), "ok", "{what}");
                    k_shut = true;
                } else if !o_shut {
                    ours.shutdown(Shutdown::Write).unwrap();
                    o_shut = true;
                }
            }
            _ => {}
        }
    }
    // One seed in three ends abruptly: one end closes with a zero linger
    // time, so a RST goes out, and the other must take it (CLOSED, not a
    // FIN's CLOSE-WAIT or TIME-WAIT), checking what arrived before it.
    // (Once both ends have shut down, the connection is over, or all but.)
    if !(k_shut && o_shut) && rng.below(3) == 0 {
        // A RST is sent once and never again: lost, an idle peer would
        // rightly never learn of it. The loss stops first.
        if lossy {
            ns.exec(&["nft", "delete", "table", "inet", "lossy"]);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        if rng.below(2) == 0 {
            assert_eq!(peer.ask("abort"), "ok");
            let mut reset_seen = false;
            while ours.state().unwrap() != sockstack_sim::TcpState::Closed {
                assert!(
                    Instant::now() < deadline,
                    "{what}: the kernel's RST was not taken: {:?} {:?}",
                    ours.state(),
                    ours.stats()
                );
                match ours.read(&mut buf) {
                    Ok(n) => {
                        check(&buf[..n], o_got, &what);
                        o_got += n;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => reset_seen = true,
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(e) => panic!("{what}: read after the kernel's abort: {e}"),
                }
            }
            // After the kernel's FIN, what it sent before stays readable,
            // then reads say end of stream, as on Linux (a RST in
            // CLOSE-WAIT leaves EPIPE, which reads do not report).
            let after = loop {
                match ours.read(&mut buf) {
                    Ok(n @ 1..) if k_shut => {
                        check(&buf[..n], o_got, &what);
                        o_got += n;
                    }
                    other => break other.map_err(|e| e.kind()),
                }
            };
            let reset = reset_seen || after == Err(std::io::ErrorKind::ConnectionReset);
            assert!(reset || (k_shut && after == Ok(0)), "{what}: reads after the RST say {after:?}");
            eprintln!("{what}: the kernel aborted after {k_sent} octets to sockstack, {o_sent} from it");
        } else {
            let sock = sockstack_api::Socket::from(ours);
            sock.set_linger(Some(Duration::ZERO)).unwrap();
            sock.close().unwrap();
            assert_eq!(peer.ask("await_reset"), "closed", "{what}: sockstack's abort");
            eprintln!("{what}: sockstack aborted after {k_sent} octets to sockstack, {o_sent} from it");
        }
    } else {
        // The end: both shut down, both read to the end, at once (the kernel
        // in its process, sockstack here).
        if !k_shut {
            assert_eq!(peer.ask("shutdown"), "ok", "{what}");
        }
        if !o_shut {
            ours.shutdown(Shutdown::Write).unwrap();
        }
        peer.tell("drain");
        ours.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        loop {
            match ours.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    check(&buf[..n], o_got, &what);
                    o_got += n;
                }
                Err(e) => panic!("{what}: draining: {e} after {o_got} of {k_sent} octets"),
            }
        }
        let drained = peer.answer();
        assert_eq!(drained, format!("drained {o_sent}"), "{what}: the kernel read {k_got} before the end");
        assert_eq!(o_got, k_sent, "{what}: sockstack got all the kernel sent");
        let stats = ours.stats().unwrap();
        assert_eq!(peer.ask("close"), "ok");
        let dropped = if lossy {
            let rules = ns.exec(&["nft", "list", "table", "inet", "lossy"]);
            let rules = String::from_utf8_lossy(&rules.stdout).into_owned();
            rules.split("packets ").skip(1).filter_map(|t| t.split(' ').next()?.parse::<u64>().ok()).sum()
        } else {
            0
        };
        eprintln!(
            "{what}: {k_sent} octets to sockstack, {o_sent} from it; {dropped} packets dropped, sockstack sent {} again",
            stats.retransmits
        );
        drop(ours);
    }
    // The driver stops (and the device goes, its capture written) with
    // `tun`; the namespace after it. Then every segment sockstack sent
    // is checked against the rules.
    drop(tun);
    drop(ns);
    let checked = capture::check_tcp_capture(&capture, &what, offload, Some(&|i| conversation_byte(1, i)));
    assert!(checked > 0, "{what}: no segment of sockstack's in the capture");
}
