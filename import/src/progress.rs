//! Progress reporting for long operations (import, bake, synthesis).
//!
//! On a terminal each phase gets an indicatif bar; everywhere (CI logs, pipes) each phase also
//! ends with one plain line naming it, its count and its time, so progress is never invisible.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where phases report to.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    /// Bars on stderr (when it is a terminal) plus a summary line per phase.
    pub fn stderr() -> Self {
        Self { quiet: false }
    }

    /// Reports nothing (tests, library use).
    pub fn hidden() -> Self {
        Self { quiet: true }
    }

    fn phase(self, name: &str, len: u64, template: &str) -> Phase {
        let bar = if self.quiet {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        };
        bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar.set_prefix(name.to_owned());
        Phase { bar, name: name.to_owned(), start: Instant::now(), quiet: self.quiet }
    }

    /// A phase measured in bytes of input.
    pub fn bytes(self, name: &str, len: u64) -> Phase {
        self.phase(name, len, "{prefix:>22} [{bar:30}] {bytes}/{total_bytes} ({eta})")
    }

    /// A phase measured in items.
    pub fn count(self, name: &str, len: u64) -> Phase {
        self.phase(name, len, "{prefix:>22} [{bar:30}] {pos}/{len} ({eta})")
    }

    /// Prints one line unless hidden.
    pub fn note(self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}

/// One running phase.
#[derive(Debug)]
pub struct Phase {
    bar: ProgressBar,
    name: String,
    start: Instant,
    quiet: bool,
}

impl Phase {
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Ends the bar and prints the phase summary line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        if !self.quiet {
            eprintln!("{:>22}: {} in {:.2} s", self.name, self.bar.position(), self.start.elapsed().as_secs_f64());
        }
    }
}
