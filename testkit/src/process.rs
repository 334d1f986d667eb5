//! A real `gridwall-server serve` process for fault tests (kill -9, damaged stores, full disks):
//! started on a free port, waited for, killed.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `serve` process.
#[derive(Debug)]
pub struct ServerProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub port: u16,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

fn command(bin: &Path, data: &Path, args: &[&str], port: u16) -> Command {
    let mut c = Command::new(bin);
    c.args(["serve", "--scene"])
        .arg(crate::paths::helsinki())
        .arg("--data")
        .arg(data)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(args);
    c
}

impl ServerProcess {
    /// Starts `bin serve` on the shipped scene with its store in `data` (and `args`), and waits
    /// until it answers.
    pub fn spawn(bin: &Path, data: &Path, args: &[&str]) -> Self {
        Self::spawn_on(bin, data, args, free_port())
    }

    /// [`ServerProcess::spawn`] on a given port (a restart where the clients expect it).
    pub fn spawn_on(bin: &Path, data: &Path, args: &[&str], port: u16) -> Self {
        let mut child = command(bin, data, args, port).stderr(Stdio::null()).spawn().expect("the server starts");
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited: {status}");
            }
            assert!(Instant::now() < end, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, base: format!("http://127.0.0.1:{port}"), port }
    }

    /// Starts `bin serve` expecting it to refuse: its exit status and what it said.
    pub fn refused(bin: &Path, data: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
        let mut child = command(bin, data, args, free_port())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("the server starts");
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("its status") {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err).expect("stderr");
                return (status, err);
            }
            if Instant::now() > end {
                let _ = child.kill();
                panic!("the server did not refuse to start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }

    /// The process's resident memory (kB), from /proc.
    pub fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
