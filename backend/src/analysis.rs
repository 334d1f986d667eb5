//! 研判 and 预警 at run time: the engine of `gridwall-analysis` fed with every committed
//! incident (the store writer's tap), rebuilt from the store at a start, and every few seconds
//! asked what changed among the warnings, which are committed before they exist anywhere
//! else: the store, then memory, then every display (with the next tick).
//!
//! It runs where the city is written (one server, or a bus's leader); the indicators and the
//! warning lists are read from the store and answer on every server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gridwall_analysis::daily;
use gridwall_analysis::units::Units;
use gridwall_analysis::warn::AckError;
use gridwall_analysis::{Config, Engine};
use gridwall_city::access::Caller;
use gridwall_city::records::{IncidentRow, Record};
use gridwall_protocol::IncidentCategory;
use gridwall_protocol::api::analysis::{HotspotAnswer, Warning};
use gridwall_store::history::analysis::{MAX_RECENT, MAX_WARNINGS};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{Backend, CommitError};

const DAY_MS: i64 = 86_400_000;

/// The analysis of one city.
#[derive(Debug)]
pub struct Analysis {
    engine: Mutex<Engine>,
    /// Rebuilt from the store and taking committed incidents.
    ready: AtomicBool,
    /// Committed warning changes for the next tick's displays.
    pending: Mutex<Vec<Warning>>,
    /// The committed incidents, until the loop takes them.
    tap: Mutex<Option<UnboundedReceiver<Vec<IncidentRow>>>>,
    pub config: Config,
    /// The grid units (the indicators roll the store's cell rows up them).
    pub units: Arc<Units>,
    /// The hot spot layers computed today (operators' day), per category asked: nightly work,
    /// done at the first request of a day.
    hotspots: Mutex<(i64, Vec<(Option<IncidentCategory>, Arc<HotspotAnswer>)>)>,
    /// One change of the warnings at a time, from its proposal to its commit (an evaluation
    /// and a 确认 of the same warning would otherwise each write the copy they started from).
    committing: tokio::sync::Mutex<()>,
}

/// Why a warning was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AckFailure {
    #[error(transparent)]
    NotOpen(#[from] AckError),
    #[error(
        "the analysis runs on the server that writes the city, once it has read the store: ask that server, or try again shortly"
    )]
    NotReady,
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Analysis {
    pub(crate) fn new(
        units: Arc<Units>,
        config: Config,
        utc_offset_ms: i64,
        tap: Option<UnboundedReceiver<Vec<IncidentRow>>>,
    ) -> Self {
        Self {
            engine: Mutex::new(Engine::new(units.clone(), config.clone(), utc_offset_ms)),
            units,
            ready: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
            hotspots: Mutex::new((i64::MIN, Vec::new())),
            committing: tokio::sync::Mutex::new(()),
            tap: Mutex::new(tap),
            config,
        }
    }

    /// The engine, locked (never together with the live state's lock).
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().expect("analysis")
    }

    /// Whether the engine has read the store and follows the commits (on the city's writer).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The committed changes not yet handed to the displays.
    pub(crate) fn take_pending(&self) -> Vec<Warning> {
        std::mem::take(&mut *self.pending.lock().expect("pending"))
    }

    /// The emerging hot spot layer of the days before `now_ms`'s day (computed once a day per
    /// category).
    pub fn hotspots(&self, category: Option<IncidentCategory>, now_ms: i64) -> Arc<HotspotAnswer> {
        let today = (now_ms + self.engine().utc_offset()).div_euclid(DAY_MS);
        {
            let cache = self.hotspots.lock().expect("hotspots");
            if cache.0 == today
                && let Some((_, a)) = cache.1.iter().find(|(c, _)| *c == category)
            {
                return a.clone();
            }
        }
        let answer = Arc::new(self.engine().hotspots(category, now_ms));
        let mut cache = self.hotspots.lock().expect("hotspots");
        if cache.0 != today {
            *cache = (today, Vec::new());
        }
        cache.1.push((category, answer.clone()));
        answer
    }

    fn committed(&self, changes: Vec<Warning>) {
        self.engine().apply(&changes);
        self.pending.lock().expect("pending").extend(changes);
    }
}

impl Backend {
    /// Rebuilds the engine from the store, then takes every commit's incidents and evaluates
    /// the warnings every `every_s` of the city's clock, until shut down.
    pub(crate) async fn analysis_loop(self: Arc<Self>) {
        let Some(mut tap) = self.analysis.tap.lock().expect("tap").take() else { return };
        let mut shutdown = self.shutdown.clone();
        // A store that does not answer at start is asked again (the commits wait in the tap).
        let mut wait = Duration::from_secs(1);
        while let Err(e) = self.rebuild_analysis().await {
            tracing::error!("研判: the store could not be read ({e}); trying again in {} s", wait.as_secs());
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            wait = (wait * 2).min(Duration::from_mins(1));
        }
        let rate = self.live().clock.speed().max(0.001);
        let every = Duration::from_secs_f64((self.analysis.config.every_s / rate).clamp(0.05, 3600.0));
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_replica = self.live().is_replica();
        loop {
            tokio::select! {
                rows = tap.recv() => {
                    let Some(rows) = rows else { return };
                    let mut engine = self.analysis.engine();
                    for r in &rows {
                        engine.take(r);
                    }
                }
                _ = interval.tick() => {
                    // A follower that became the city's leader was not fed the commits: it
                    // reads them from the store before it decides anything.
                    let replica = self.live().is_replica();
                    if was_replica
                        && !replica
                        && let Err(e) = self.rebuild_analysis().await
                    {
                        tracing::error!("研判: taking over, the store could not be read: {e}");
                        continue;
                    }
                    was_replica = replica;
                    if replica {
                        self.follow_warnings().await;
                    } else {
                        self.evaluate().await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// A fresh engine from the store: the recent incidents and the open warnings.
    async fn rebuild_analysis(self: &Arc<Self>) -> Result<(), gridwall_store::history::HistoryError> {
        self.analysis.ready.store(false, Ordering::Release);
        let now = self.live().now_ms();
        let days = self.analysis.engine().memory_days();
        let since = now - days * DAY_MS;
        let history_from = now - self.analysis.config.history_days.max(days) * DAY_MS;
        let units = self.analysis.units.clone();
        let utc_offset_ms = self.live().utc_offset_ms;
        let (rows, day_rows, open, max) = self
            .read(move |s| {
                let rows = s.recent_incidents(since)?;
                // Older incidents as counts per day (up to the oldest read one by one, when
                // their number cut those short).
                let until =
                    if rows.len() >= MAX_RECENT { rows.first().map_or(since, |r| r.case.created_ms) } else { since };
                let mut day_rows = Vec::new();
                s.day_counts(history_from, until, utc_offset_ms, |day, grid, category, source, n| {
                    day_rows.extend(daily::row_of(&units, grid, category, source, n).map(|r| (day, r)));
                })?;
                Ok((rows, day_rows, s.warnings(true, 0, MAX_WARNINGS)?, s.max_warning_id()?))
            })
            .await?;
        let started = std::time::Instant::now();
        let (n, n_days) = (rows.len(), day_rows.len());
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let a = &me.analysis;
            let mut engine = Engine::new(a.units.clone(), a.config.clone(), utc_offset_ms);
            engine.rebuild_days(day_rows);
            engine.rebuild(rows);
            engine.restore(open, max);
            *a.engine() = engine;
        })
        .await;
        tracing::info!(
            incidents = n,
            day_counts = n_days,
            seconds = started.elapsed().as_secs_f64(),
            "研判: rebuilt from the store"
        );
        self.analysis.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// A follower's displays see the leader's warnings: the open ones as the store has them,
    /// and those that closed since.
    async fn follow_warnings(self: &Arc<Self>) {
        let known: Vec<u64> = self.analysis.engine().open_warnings().iter().map(|w| w.id).collect();
        let read = self
            .read(move |s| {
                let open = s.warnings(true, 0, MAX_WARNINGS)?;
                let mut closed = Vec::new();
                for id in known.iter().filter(|id| !open.iter().any(|w| w.id == **id)) {
                    closed.extend(s.warning(*id)?);
                }
                Ok((open, closed))
            })
            .await;
        let Ok((open, closed)) = read else { return };
        let before = self.analysis.engine().open_warnings();
        let changed: Vec<Warning> = open
            .into_iter()
            .filter(|w| !before.contains(w))
            .chain(closed.into_iter().filter(|w| !w.is_open()))
            .collect();
        if !changed.is_empty() {
            self.analysis.committed(changed);
        }
    }

    /// One evaluation: the proposed changes committed, then applied and handed on.
    async fn evaluate(self: &Arc<Self>) {
        let _one = self.analysis.committing.lock().await;
        let now = self.live().now_ms();
        let me = self.clone();
        let changes = tokio::task::spawn_blocking(move || me.analysis.engine().evaluate(now)).await.unwrap_or_default();
        if changes.is_empty() {
            return;
        }
        let records = changes.iter().map(|w| Record::Warning(Box::new(w.clone()))).collect();
        match self.store.write(records).await {
            Ok(()) => {
                for w in &changes {
                    tracing::info!(
                        id = w.id,
                        level = w.level.key(),
                        closed = w.closed_ms.is_some(),
                        "预警: {}",
                        w.sentence
                    );
                }
                self.analysis.committed(changes);
            }
            Err(e) => {
                self.analysis.engine().uncommitted();
                tracing::warn!("预警: {} changes not committed, proposed again next time: {e}", changes.len());
            }
        }
    }

    /// Whether this server's analysis answers: it has read the store and this server writes the
    /// city (a follower on a bus is not fed the commits; the leader answers).
    pub fn analysis_here(&self) -> bool {
        self.analysis.is_ready() && !self.live().is_replica()
    }

    /// 确认: a commander acknowledges an open warning (audited with the warning, committed, then
    /// on every display).
    pub async fn ack_warning(&self, id: u64, caller: &Caller) -> Result<Warning, AckFailure> {
        if !self.analysis_here() {
            return Err(AckFailure::NotReady);
        }
        let who = caller.actor("");
        let _one = self.analysis.committing.lock().await;
        // One lock at a time (the engine's, then the live state's): never both.
        let now = self.live().now_ms();
        let warning = self.analysis.engine().ack(id, &who, now)?;
        let audit = self.live().audit(caller, "ack_warning", format!("warning {id}"), "ok");
        self.store.write(vec![Record::Warning(Box::new(warning.clone())), audit]).await.map_err(CommitError::from)?;
        self.analysis.committed(vec![warning.clone()]);
        Ok(warning)
    }
}
