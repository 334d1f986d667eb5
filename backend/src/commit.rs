//! The commit path of the backend: an operation on the live state, its records queued to the
//! store under the same lock, the answer once they are on disk (and, on a bus, the leader's
//! change once it reached this server); a rebuild from the store after a failed write; commands
//! run here or by the leader; fixes in and out.

use std::time::Duration;

use gridwall_bus::Role;
use gridwall_city::access::Caller;
use gridwall_city::command::{Command, Done};
use gridwall_city::ingest::Position;
use gridwall_city::records::{Change, Record, TrackPoint};
use gridwall_city::state::{EVENT_LOG, Live, Refusal};
use gridwall_city::world::World;
use gridwall_store::StoreError;

use crate::{Backend, BackendError, CommitError};

impl Backend {
    /// Applies an operation and commits what it produced before returning: `Ok` means it is on
    /// disk (and, through the next tick, on every display: events are shown once durable).
    ///
    /// The records are queued while the state is still locked, so the store sees them in the
    /// order memory made them. When the commit fails, memory is rebuilt from the store: nothing
    /// stays in memory that the store does not have.
    pub async fn commit(&self, op: impl FnOnce(&mut Live) -> Result<Vec<Record>, Refusal>) -> Result<u64, CommitError> {
        // Refused before anything changes when the disk cannot keep up, or while memory may
        // hold a failed write and the store does not answer to rebuild it.
        self.store.check_room()?;
        self.recover().await?;
        let (done, change) = {
            let mut live = self.live();
            let records = op(&mut live)?;
            let records = self.share(&mut live, records);
            (self.store.submit(records)?, live.change_id())
        };
        // Moves are shown at once; events once on disk (the second call).
        self.changed.notify_one();
        match done.await {
            Ok(Ok(())) => {
                self.changed.notify_one();
                Ok(change)
            }
            Ok(Err(e)) => {
                // Rebuilt now if the store answers (a full disk), else before the next write.
                let _ = self.recover().await;
                Err(CommitError::Store(StoreError::Commit(e)))
            }
            Err(_) => Err(CommitError::Store(StoreError::Stopped)),
        }
    }

    /// After a failed write memory may hold what the store does not have: once the store answers
    /// again, the state is rebuilt from it. `Err` while it does not answer (writes are refused
    /// then). The check runs without the state's lock: a database that is away blocks nobody.
    pub(crate) async fn recover(&self) -> Result<(), StoreError> {
        if !self.store.needs_rebuild() {
            return Ok(());
        }
        self.store.ping().await?;
        let _one = self.rebuilding.lock().await;
        if self.store.needs_rebuild() {
            self.rebuild_from_store("a write failed")?;
        }
        Ok(())
    }

    /// Applies `op` and queues its records without waiting for the disk (the simulator, the
    /// tick's escalations, audit notes of refusals), in the same order as memory.
    pub fn record_later(&self, op: impl FnOnce(&mut Live) -> Vec<Record>) {
        let mut live = self.live();
        let records = op(&mut live);
        if !records.is_empty() {
            let records = self.share(&mut live, records);
            self.store.write_later(records);
        }
        drop(live);
        self.changed.notify_one();
    }

    /// On a bus, as leader: numbers what `records` change in the shared state as the next
    /// change and adds it to them (the store writes it to the outbox in the same transaction).
    pub(crate) fn share(&self, live: &mut Live, mut records: Vec<Record>) -> Vec<Record> {
        if self.bus.is_some()
            && !live.is_replica()
            && let Some(c) = Change::of(live.change_id() + 1, &records)
        {
            live.set_change_id(c.id);
            records.push(Record::Change(Box::new(c)));
        }
        records
    }

    /// Runs a client's command: here when this server writes the city, else by the leader
    /// (over the bus; answered once the change has reached this server). The audit trail of
    /// this server notes it as `caller`'s, with the target `target` names.
    pub async fn run_command(
        &self,
        cmd: Command,
        caller: &Caller,
        target: impl FnOnce(&Done) -> String,
    ) -> Result<Done, CommitError> {
        let (name, area) = (cmd.name(), self.area());
        match &self.bus {
            Some(bus) if bus.role() != Role::Leader => {
                let done = bus.ask_leader(&cmd).await??;
                self.await_change(done.change).await;
                let target = target(&done);
                self.record_later(|live| vec![live.audit(caller, &name, target, "ok")]);
                Ok(done)
            }
            _ => {
                let mut done = Done::default();
                done.change = self
                    .commit(|live| {
                        let (mut records, made) = cmd.run(live, area)?;
                        done.incident = made;
                        records.push(live.audit(caller, &name, target(&done), "ok"));
                        Ok(records)
                    })
                    .await?;
                Ok(done)
            }
        }
    }

    /// Waits (at most five seconds) until this server has taken in change `id`.
    async fn await_change(&self, id: u64) {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.live().change_id() < id && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Validated position reports: applied, committed and, on a bus, published for the other
    /// servers' displays.
    pub async fn ingest(&self, positions: &[Position<'_>]) -> Result<(), CommitError> {
        let mut fixes = Vec::new();
        self.commit(|live| {
            let records = live.ingest(positions)?;
            fixes = self.fixes_to_publish(&records);
            Ok(records)
        })
        .await?;
        self.publish(&fixes).await;
        Ok(())
    }

    /// On a bus: the position fixes among `records`, which the other servers' displays want
    /// (none without a bus).
    pub(crate) fn fixes_to_publish(&self, records: &[Record]) -> Vec<TrackPoint> {
        if self.bus.is_none() {
            return Vec::new();
        }
        records.iter().find_map(|r| if let Record::Track(p) = r { Some(p.clone()) } else { None }).unwrap_or_default()
    }

    /// Publishes fixes this server took for the other servers (on a bus; after their commit).
    pub(crate) async fn publish(&self, fixes: &[TrackPoint]) {
        if let Some(bus) = &self.bus
            && !fixes.is_empty()
        {
            bus.publish_fixes(fixes).await;
        }
    }

    /// The `k` nearest on-duty patrols to a point: here, or (a follower does not see every
    /// patrol) from the leader.
    pub async fn nearest(&self, p: [f64; 2], k: usize) -> Result<Vec<(u32, f64)>, CommitError> {
        match &self.bus {
            Some(bus) if bus.role() != Role::Leader => Ok(bus.ask_nearest(p, k).await?),
            _ => Ok(self.live().world.nearest_on_duty(p, k)),
        }
    }

    /// After a failed commit: the state again as the store has it (what was committed before,
    /// and by the writes queued before the reload). The lock is held throughout, so nothing
    /// changes in between; a rare and slow path (the world is loaded again).
    pub(crate) fn rebuild_from_store(&self, why: &str) -> Result<(), StoreError> {
        let mut live = self.live();
        let from = gridwall_store::LoadFrom::at(live.clock.now_ms(), live.utc_offset_ms, EVENT_LOG);
        let rebuilt = self.store.load_blocking(from).map_err(BackendError::from).and_then(|loaded| {
            let world = World::load(&self.scene_dir, self.limits.clone())?;
            Ok(Live::restore(world, loaded, live.clock, live.utc_offset_ms)?)
        });
        match rebuilt {
            Ok(mut fresh) => {
                fresh.clock_tolerance_ms = live.clock_tolerance_ms;
                fresh.retention_ms = live.retention_ms;
                fresh.set_replica(live.is_replica());
                self.store.restored_up_to(fresh.last_seq());
                fresh.track_durability();
                // Events committed but not yet handed to the displays still go out.
                fresh.replay_after(live.ticked_seq());
                *live = fresh;
                tracing::warn!("{why}: the live state was rebuilt from the store");
                Ok(())
            }
            Err(BackendError::Store(e)) => {
                tracing::error!("{why}, and the live state could not be rebuilt from the store: {e}");
                Err(e)
            }
            Err(e) => {
                tracing::error!("{why}, and the live state could not be rebuilt from the store: {e}");
                Err(StoreError::Stopped)
            }
        }
    }
}
