//! A real browser for the web display's tests: Debian's chromium with software `WebGL2`
//! (`SwiftShader`), driven by playwright-core through `tools/web-test/drive.mjs` (installed by
//! `scripts/setup-debian.sh`). One [`Browser`] is one chromium; each `user` is a context of its
//! own, with its own cookies.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::paths::repo;
use crate::shots::Shot;

/// The built web display (`scripts/build-web`, which `scripts/test` runs first).
pub fn web_dist() -> std::path::PathBuf {
    let dist = repo().join("web/dist");
    assert!(
        dist.join("gridwall_bg.wasm").is_file(),
        "the web display is not built in {}: run scripts/build-web (scripts/test does)",
        dist.display()
    );
    dist
}

/// A chromium under playwright's control.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Browser {
    /// Starts chromium (what the pages log goes to this process's stderr).
    pub fn start() -> Self {
        let mut child = Command::new("node")
            .current_dir(repo().join("tools/web-test"))
            .arg("drive.mjs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs (scripts/setup-debian.sh installs it and playwright-core)");
        let input = child.stdin.take().expect("its stdin");
        let output = BufReader::new(child.stdout.take().expect("its stdout"));
        Self { child, input, output }
    }

    /// Sends one command and returns its answer; panics with the driver's error.
    pub fn call(&mut self, command: &Value) -> Value {
        self.try_call(command).unwrap_or_else(|e| panic!("{command}: {e}"))
    }

    /// Sends one command; its answer or the driver's error.
    pub fn try_call(&mut self, command: &Value) -> Result<Value, String> {
        writeln!(self.input, "{command}").map_err(|e| format!("the driver is gone: {e}"))?;
        let mut line = String::new();
        self.output.read_line(&mut line).map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&line).map_err(|e| format!("driver said {line:?}: {e}"))?;
        if answer["ok"] == true { Ok(answer) } else { Err(answer["error"].as_str().unwrap_or("?").to_owned()) }
    }

    /// Opens `url` as `user` (1280 × 720); the address the page ended on (after redirects).
    pub fn open(&mut self, user: &str, url: &str) -> String {
        let a = self.call(&json!({"op": "open", "user": user, "url": url, "width": 1280, "height": 720}));
        a["url"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until `user`'s display says it is ready; seconds waited.
    pub fn ready(&mut self, user: &str, timeout: Duration) -> f64 {
        let a = self.call(&json!({"op": "ready", "user": user, "timeout_s": timeout.as_secs()}));
        a["seconds"].as_f64().unwrap_or_default()
    }

    /// A screenshot of `user`'s page.
    pub fn shot(&mut self, user: &str, path: &Path) -> Shot {
        self.call(&json!({"op": "shot", "user": user, "path": path}));
        Shot::read(path)
    }

    /// A click as a hand gives it: move, wait, press, wait, release.
    pub fn click(&mut self, user: &str, (x, y): (f32, f32)) {
        self.call(&json!({"op": "click", "user": user, "x": x, "y": y, "hold_ms": 600}));
    }

    /// A key press on whatever has the focus (playwright's key names: `Escape`, `Enter`, `/`).
    pub fn press(&mut self, user: &str, key: &str) {
        self.call(&json!({"op": "press", "user": user, "key": key, "hold_ms": 600}));
    }

    /// Text typed into whatever has the focus (an input method's commit, for CJK).
    pub fn type_text(&mut self, user: &str, text: &str) {
        self.call(&json!({"op": "type", "user": user, "text": text}));
    }

    /// The text of an element of the page and whether it is shown (`None`: no such element).
    pub fn text(&mut self, user: &str, selector: &str) -> (Option<String>, bool) {
        let a = self.call(&json!({"op": "text", "user": user, "selector": selector}));
        (a["text"].as_str().map(str::to_owned), a["visible"] == true)
    }

    /// `user`'s cookies, as the browser holds them.
    pub fn cookies(&mut self, user: &str) -> Vec<Value> {
        self.call(&json!({"op": "cookies", "user": user}))["cookies"].as_array().cloned().unwrap_or_default()
    }

    /// The status of each response `user`'s page got for a URL ending in `suffix`.
    pub fn responses(&mut self, user: &str, suffix: &str) -> Vec<u16> {
        let a = self.call(&json!({"op": "responses", "user": user}));
        a["responses"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|r| r["url"].as_str().is_some_and(|u| u.ends_with(suffix)))
                    .filter_map(|r| r["status"].as_u64().and_then(|s| u16::try_from(s).ok()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Frames the page presented over `seconds`: (count, mean ms, 95th percentile ms).
    pub fn frames(&mut self, user: &str, seconds: u32) -> (u64, f64, f64) {
        let a = self.call(&json!({"op": "frames", "user": user, "seconds": seconds}));
        (a["frames"].as_u64().unwrap_or(0), a["mean_ms"].as_f64().unwrap_or(0.0), a["p95_ms"].as_f64().unwrap_or(0.0))
    }

    /// Closes `user`'s pages (the drawing they cost stops).
    pub fn close(&mut self, user: &str) {
        self.call(&json!({"op": "close_user", "user": user}));
    }

    /// Takes screenshots of `user`'s page until `seen` says yes about one (it is returned), or
    /// `timeout` passes (`Err` with the last).
    pub fn until(
        &mut self,
        user: &str,
        path: &Path,
        timeout: Duration,
        mut seen: impl FnMut(&Shot) -> bool,
    ) -> Result<Shot, Shot> {
        let end = Instant::now() + timeout;
        loop {
            let shot = self.shot(user, path);
            if seen(&shot) {
                return Ok(shot);
            }
            if Instant::now() > end {
                return Err(shot);
            }
            std::thread::sleep(Duration::from_millis(700));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "{}", json!({"op": "quit"}));
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
