//! A real `gridwall-server serve` process for fault tests (kill -9, damaged stores, full disks):
//! started on a free port, waited for, killed.

use std::io::{BufRead as _, BufReader};
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

/// The port in the server's "listening on http://127.0.0.1:PORT (…)" line.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on http://").nth(1)?;
    rest.split([' ', '/']).next()?.rsplit(':').next()?.parse().ok()
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
    ///
    /// The server binds port 0 and its port is read from what it says ("listening on
    /// http://…"): a port picked free beforehand could be taken meanwhile by another test's
    /// server or socket, and the first request would reach the wrong process.
    pub fn spawn(bin: &Path, data: &Path, args: &[&str]) -> Self {
        let mut child = command(bin, data, args, 0).stderr(Stdio::piped()).spawn().expect("the server starts");
        let stderr = child.stderr.take().expect("its stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Its log is read to the end (a full pipe would stall the server), the port sent once.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                }
            }
        });
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(port) = rx.recv_timeout(Duration::from_millis(50)) {
                return Self { child, base: format!("http://127.0.0.1:{port}"), port };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited: {status}");
            }
            assert!(Instant::now() < end, "the server did not start");
        }
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

#[cfg(test)]
mod tests {
    use super::listening_port;

    #[test]
    fn the_port_is_read_from_what_the_server_says() {
        let line = "gridwall-server: listening on http://127.0.0.1:40123 (scene scenes/helsinki, data /tmp/x)";
        assert_eq!(listening_port(line), Some(40123));
        assert_eq!(listening_port("gridwall-server: shutting down"), None);
    }
}
