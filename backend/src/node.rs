//! The backend as the bus sees it ([`gridwall_bus::Node`]): what the lease, the change follower,
//! the leader's answering and the position subscriptions ask of this server.

use gridwall_bus::{Answer, Node};
use gridwall_city::command::{Command, Done};
use gridwall_city::records::{Change, Record, TrackPoint};
use gridwall_city::state::Refusal;
use gridwall_store::StoreError;
use tokio::sync::watch;

use crate::{Backend, CommitError};

impl Node for Backend {
    type Error = StoreError;

    fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    fn superseded(&self) -> bool {
        self.store.superseded()
    }

    fn clear_superseded(&self) {
        self.store.clear_superseded();
    }

    async fn take_over(&self) -> Result<(), StoreError> {
        self.store.take_over().await
    }

    async fn rebuild(&self) -> Result<(), StoreError> {
        let _one = self.rebuilding.lock().await;
        self.rebuild_from_store("taking over or giving up the lead")
    }

    fn set_replica(&self, replica: bool) {
        self.live().set_replica(replica);
    }

    fn change_id(&self) -> u64 {
        self.live().change_id()
    }

    async fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.store.changes_after(after, limit).await
    }

    fn apply_change(&self, change: &Change) {
        let mut live = self.live();
        if let Err(e) = live.apply_change(change) {
            tracing::error!("change {} of the leader cannot be applied: {e}", change.id);
        }
        drop(live);
        self.changed.notify_one();
    }

    async fn lead(&self, cmd: &Command) -> Answer {
        let (mut incident, area) = (None, self.area());
        let committed = self
            .commit(|live| {
                if live.is_replica() {
                    return Err(Refusal::conflict("leader", "this server no longer leads the city: try again"));
                }
                let (records, made) = cmd.run(live, area)?;
                incident = made;
                Ok(records)
            })
            .await;
        match committed {
            Ok(change) => Answer::Done(Done { incident, change }),
            Err(CommitError::Refused(r)) => Answer::Refused(r),
            Err(e) => Answer::Failed { message: e.to_string() },
        }
    }

    fn nearest_here(&self, p: [f64; 2], k: usize) -> Vec<(u32, f64)> {
        self.live().world.nearest_on_duty(p, k)
    }

    /// Fixes other servers took (from the bus): into the live state; as leader, the events they
    /// make (a patrol leaving its cell) are stored and shared.
    fn take_fixes(&self, mut points: Vec<TrackPoint>) {
        // A peer checked them; a message on the bus is still held to the city's area.
        points.retain(|p| self.in_area([p.x, p.y]));
        let mut live = self.live();
        let records: Vec<Record> =
            live.ingest_points(points).into_iter().filter(|r| !matches!(r, Record::Track(_))).collect();
        if !records.is_empty() {
            let records = self.share(&mut live, records);
            self.store.write_later(records);
        }
        drop(live);
        self.changed.notify_one();
    }
}
