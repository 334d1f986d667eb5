//! The backend's own tasks: the tick that hands every display what changed (and, once a second,
//! escalates overdue incidents and logs the KPIs; once a history window, writes a keyframe), and
//! the simulator that runs while this server leads the city.

use std::sync::Arc;
use std::time::Duration;

use gridwall_bus::{Bus, Role};
use gridwall_protocol::Kpis;
use gridwall_store::history::{holds_incidents, window_of};
use tokio::task::JoinHandle;

use crate::{Backend, SimulateConfig};

/// Runs the simulator while this server leads the city, and stops it when it no longer does.
pub(crate) async fn simulate_while_leading(backend: Arc<Backend>, bus: Arc<Bus>, sim: SimulateConfig) {
    let mut role = bus.role.subscribe();
    let mut running: Option<JoinHandle<()>> = None;
    loop {
        let leads = *role.borrow_and_update() == Role::Leader;
        match (leads, &running) {
            (true, None) => match crate::simulate::run(backend.clone(), &sim) {
                Ok(f) => running = Some(tokio::spawn(f)),
                Err(e) => tracing::error!("the simulator cannot start: {e}"),
            },
            (false, Some(task)) => {
                task.abort();
                running = None;
            }
            _ => {}
        }
        if role.changed().await.is_err() {
            break;
        }
    }
    if let Some(task) = running {
        task.abort();
    }
}

/// How long the ticks held the live state's lock (waiting for it included), told every
/// [`LockTimes::EVERY`] at debug level (`RUST_LOG=gridwall_backend=debug`): what a tick costs
/// the requests and reports that wait on the same lock.
#[derive(Debug, Default)]
struct LockTimes {
    us: Vec<u32>,
    since: Option<std::time::Instant>,
}

impl LockTimes {
    const EVERY: Duration = Duration::from_secs(10);

    fn note(&mut self, d: Duration) {
        self.us.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() >= Self::EVERY {
            self.us.sort_unstable();
            let at = |q: f64| f64::from(self.us[((self.us.len() - 1) as f64 * q) as usize]) / 1000.0;
            tracing::debug!(
                ticks = self.us.len(),
                p50_ms = at(0.5),
                p99_ms = at(0.99),
                max_ms = at(1.0),
                "tick: time under the live lock"
            );
            self.us.clear();
            self.since = Some(std::time::Instant::now());
        }
    }
}

/// Every tick: collect what changed and hand it to all sessions; once a second, escalate
/// overdue incidents and refresh the KPIs (logging them when they changed); once a history
/// window, write a keyframe. Between ticks, with [`Backend::flush`], what commits change goes
/// out as it happens: woken by a commit, the loop gathers for the flush window (a burst of
/// reports becomes one batch) and hands the moves and events to the sessions then.
pub(crate) async fn tick_loop(backend: Arc<Backend>) {
    let hz = u64::from(backend.tick_hz);
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / hz as f64));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    let mut last_kpis: Option<Kpis> = None;
    let mut last_keyframe = i64::MIN;
    let mut held = LockTimes::default();
    // When the changes gathered since the last push go out (none gathering).
    let mut push_at: Option<tokio::time::Instant> = None;
    loop {
        let flush = tokio::select! {
            biased;
            _ = interval.tick() => false,
            () = tokio::time::sleep_until(push_at.unwrap_or_else(tokio::time::Instant::now)), if push_at.is_some() => {
                push_at = None;
                true
            }
            // Not before the first tick: it writes the first keyframe, where replay can start.
            () = backend.changed.notified(), if backend.flush.is_some() && n > 0 && push_at.is_none() => {
                push_at = Some(tokio::time::Instant::now() + backend.flush.unwrap_or_default());
                continue;
            }
        };
        if !flush {
            n += 1;
        }
        // A failed write without a request to notice: rebuild once the store answers again.
        if !flush
            && n.is_multiple_of(hz)
            && backend.store.needs_rebuild()
            && !backend.recovering.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let b = backend.clone();
            tokio::spawn(async move {
                let _ = b.recover().await;
                b.recovering.store(false, std::sync::atomic::Ordering::Release);
            });
        }
        let batch = {
            let locked = std::time::Instant::now();
            let mut live = backend.live();
            // Escalation, the KPI log and keyframes are the city writer's (on a bus: the
            // leader's; a follower's copy is a replica).
            let writes = !live.is_replica();
            let mut records = Vec::new();
            let mut kpis = None;
            if !flush && (n.is_multiple_of(hz) || n == 1) {
                if writes {
                    records = live.escalate();
                }
                let now = live.kpis();
                if last_kpis != Some(now) {
                    last_kpis = Some(now);
                    kpis = Some(now);
                    if !live.warming_up && writes {
                        records.push(live.kpi_record(&now));
                    }
                }
            }
            // While the simulator writes the past, its own keyframes describe it.
            let window = window_of(live.now_ms());
            if !flush && window > last_keyframe && !live.warming_up && writes {
                // The first keyframe holds the incidents too: replay can start from it.
                let first = last_keyframe == i64::MIN;
                last_keyframe = window;
                records.push(live.keyframe(first || holds_incidents(window)));
                records.push(live.kpi_record(&live.kpis()));
            }
            if !records.is_empty() {
                let records = backend.share(&mut live, records);
                backend.store.write_later(records);
            }
            live.set_durable(backend.store.durable_seq());
            let mut batch = live.tick();
            batch.flush = flush;
            batch.kpis = kpis;
            batch.warnings = backend.analysis.take_pending();
            drop(live);
            if !flush {
                held.note(locked.elapsed());
            }
            batch
        };
        if flush
            && batch.moved.is_empty()
            && batch.changed.is_empty()
            && batch.events.is_empty()
            && batch.warnings.is_empty()
        {
            continue;
        }
        let _ = backend.ticks.send(Arc::new(batch));
    }
}
