//! Network namespaces that a benchmark creates, runs its processes in,
//! and deletes (with everything still running there) when done.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace, deleted with what runs in it on drop.
pub struct Netns {
    pub name: String,
    pub children: Vec<Child>,
}

impl Netns {
    pub fn new(tag: &str) -> io::Result<Netns> {
        let name = format!("ssb-{}-{tag}", std::process::id());
        check(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name, children: Vec::new() };
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn cmd(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    pub fn run(&self, argv: &[&str]) -> io::Result<()> {
        check(&mut self.cmd(argv))
    }

    pub fn spawn(&mut self, argv: &[&str]) -> io::Result<()> {
        let child = self.cmd(argv).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        self.children.push(child);
        Ok(())
    }

    pub fn wait_for(&self, argv: &[&str]) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.cmd(argv).output().is_ok_and(|o| o.status.success()) {
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("waiting for {argv:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Runs `script` under sh in the namespace; returns the wall time.
    pub fn time(&self, script: &str) -> io::Result<Duration> {
        let t0 = Instant::now();
        self.run(&["sh", "-c", script])?;
        Ok(t0.elapsed())
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

fn check(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl Netns {
    /// Runs `argv` in the namespace; its standard output.
    pub fn output(&self, argv: &[&str]) -> io::Result<String> {
        let out = self.cmd(argv).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!("{argv:?}: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }
}
