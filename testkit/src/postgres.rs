//! A real PostgreSQL 15 server with PostGIS for tests and benchmarks: a fresh cluster in a
//! temporary folder on a free port, started with Debian's binaries (`scripts/setup-debian.sh`
//! installs them), stopped and removed when dropped. Nothing assumes a server is running.
//!
//! PostgreSQL refuses to run as root; as root the binaries run as the `postgres` user that
//! Debian's package creates, in a folder handed to it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where Debian puts PostgreSQL 15's server binaries.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server of one test.
#[derive(Debug)]
pub struct TempPostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    running: bool,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

fn as_root() -> bool {
    // The owner of /proc/self is the effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A server binary, run as `postgres` when we are root.
fn tool(name: &str) -> Command {
    let path = Path::new(BIN).join(name);
    assert!(
        path.exists(),
        "{} is missing: PostgreSQL 15 with PostGIS is needed (scripts/setup-debian.sh installs postgresql-15-postgis-3)",
        path.display()
    );
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TempPostgres {
    /// Creates a cluster (user `gridwall`, trust on loopback), starts it and creates the
    /// database `gridwall` with PostGIS.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("gridwall-pg").tempdir().expect("a temporary folder");
        if as_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(dir.path());
                    c
                },
                "chown the cluster folder",
            );
        }
        let mut init = tool("initdb");
        init.arg("-D").arg(dir.path().join("data")).args([
            "-A",
            "trust",
            "-U",
            "gridwall",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]);
        run(init, "initdb");
        let mut pg = Self { dir, port: free_port(), running: false };
        pg.start_again();
        pg.psql("postgres", "CREATE DATABASE gridwall");
        pg.psql("gridwall", "CREATE EXTENSION postgis");
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The cluster's data folder (its `postmaster.pid` names the server's process).
    pub fn data_dir(&self) -> PathBuf {
        self.data()
    }

    /// Starts the server (again, after [`TempPostgres::stop`]) on the same port and data.
    pub fn start_again(&mut self) {
        let mut c = tool("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on -c synchronous_commit=on",
                self.port,
                self.dir.path().display()
            ))
            .args(["-w", "-t", "60", "start"]);
        run(c, "pg_ctl start");
        self.running = true;
        let end = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < end, "PostgreSQL did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: like a crash, connections cut).
    pub fn stop(&mut self) {
        let mut c = tool("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        run(c, "pg_ctl stop");
        self.running = false;
    }

    /// `postgres://gridwall@127.0.0.1:PORT/gridwall`.
    pub fn url(&self) -> String {
        format!("postgres://gridwall@127.0.0.1:{}/gridwall", self.port)
    }

    /// Runs SQL with psql (as the test's administrator); its output, unaligned, tuples only.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "gridwall"])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .output()
            .expect("psql runs (apt package postgresql-client-15)");
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if self.running {
            let mut c = tool("pg_ctl");
            c.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
            let _ = c.output();
        }
    }
}
