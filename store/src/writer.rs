//! Group commit: a [`Store`] on its own thread, answering each writer after its commit.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use tokio::sync::oneshot;

use gridwall_city::records::{Change, IncidentRow, Loaded, Record};

use super::{LoadFrom, Store, StoreError};

type Ack = oneshot::Sender<Result<(), Arc<StoreError>>>;

/// Work other than writes, done once the writes queued before it are committed.
enum Side {
    /// Read everything back (after a failed commit, memory is rebuilt from what is stored).
    Load(LoadFrom, mpsc::Sender<Result<Loaded, StoreError>>),
    /// Whether the store answers.
    Ping(Ack),
    /// Take over writing the city (servers on a bus).
    TakeOver(Ack),
    /// Read the changes of the shared state after a number, at most a count.
    Changes(u64, usize, oneshot::Sender<Result<Vec<Change>, StoreError>>),
}

enum Job {
    Write(Vec<Record>, Option<Ack>),
    Flush(Ack),
    /// Answered once everything queued before is committed (or failed), for a caller that is
    /// not async.
    Settle(mpsc::Sender<()>),
    After(Side),
}

/// Runs a [`Store`] on its own thread. Writes are applied in submission order; everything queued
/// when the thread wakes goes into one transaction, and each waiter is answered after the commit.
///
/// The queue is bounded by records waiting ([`MAX_WAITING`]): past it, [`StoreWriter::check_room`]
/// says "busy" so requests are refused (503) before they change anything, instead of memory
/// growing without bound while the disk is slow.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Job>,
    waiting: Arc<AtomicUsize>,
    /// The newest event seq committed: events are shown to displays only up to it.
    durable_seq: Arc<AtomicU64>,
    /// A write failed since the store was last read back: memory may hold what the store does
    /// not, until it is rebuilt from the store.
    failed: Arc<AtomicBool>,
    /// A write was refused because another server took over the city.
    superseded: Arc<AtomicBool>,
}

/// Records that may wait for the disk before new requests are refused.
pub const MAX_WAITING: usize = 1_000_000;

/// Most records committed in one transaction.
const GROUP_RECORDS: usize = 4096;

/// After a commit: its changes to the relay, its incidents to the tap.
fn hand_on(
    records: &[Record],
    relay: Option<&tokio::sync::mpsc::UnboundedSender<Change>>,
    tap: Option<&tokio::sync::mpsc::UnboundedSender<Vec<IncidentRow>>>,
) {
    if let Some(tap) = tap {
        let rows: Vec<IncidentRow> =
            records.iter().filter_map(|r| if let Record::Incident(i) = r { Some(i.clone()) } else { None }).collect();
        if !rows.is_empty() {
            let _ = tap.send(rows);
        }
    }
    if let Some(relay) = relay {
        for r in records {
            if let Record::Change(c) = r {
                let _ = relay.send((**c).clone());
            }
        }
    }
}

impl StoreWriter {
    pub fn spawn(store: impl Store) -> Self {
        Self::spawn_relaying(store, None)
    }

    /// [`StoreWriter::spawn`], handing each committed [`Change`] to `relay` (in
    /// commit order) for the other servers on the bus.
    pub fn spawn_relaying(store: impl Store, relay: Option<tokio::sync::mpsc::UnboundedSender<Change>>) -> Self {
        Self::spawn_tapped(store, relay, None)
    }

    /// [`StoreWriter::spawn_relaying`], also handing the incidents of each commit to `tap` once
    /// they are on disk (in commit order: 研判 counts what the store has).
    pub fn spawn_tapped(
        mut store: impl Store,
        relay: Option<tokio::sync::mpsc::UnboundedSender<Change>>,
        tap: Option<tokio::sync::mpsc::UnboundedSender<Vec<IncidentRow>>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let queued = waiting.clone();
        let durable_seq = Arc::new(AtomicU64::new(0));
        let durable = durable_seq.clone();
        let failed = Arc::new(AtomicBool::new(false));
        let failing = failed.clone();
        let superseded = Arc::new(AtomicBool::new(false));
        let fenced = superseded.clone();
        thread::Builder::new()
            .name("gridwall-store".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut records = Vec::new();
                    let mut acks = Vec::new();
                    let mut settled = Vec::new();
                    let mut take = |job: Job, records: &mut Vec<Record>| match job {
                        Job::Write(r, ack) => {
                            records.extend(r);
                            acks.extend(ack);
                            None
                        }
                        Job::Flush(ack) => {
                            acks.push(ack);
                            None
                        }
                        Job::Settle(done) => {
                            settled.push(done);
                            None
                        }
                        Job::After(side) => Some(side),
                    };
                    let mut side = take(first, &mut records);
                    // A load (or other side work) sees what the writes queued before it left.
                    while records.len() < GROUP_RECORDS && side.is_none() {
                        match rx.try_recv() {
                            Ok(job) => side = take(job, &mut records),
                            Err(_) => break,
                        }
                    }
                    let result = if records.is_empty() { Ok(()) } else { store.write(&records).map_err(Arc::new) };
                    queued.fetch_sub(records.len(), Ordering::Relaxed);
                    if result.is_ok()
                        && let Some(seq) = records
                            .iter()
                            .filter_map(|r| if let Record::Event { seq, .. } = r { Some(*seq) } else { None })
                            .max()
                    {
                        durable.fetch_max(seq, Ordering::Release);
                    }
                    match &result {
                        Err(e) => {
                            failing.store(true, Ordering::Release);
                            if matches!(**e, StoreError::Superseded { .. }) {
                                fenced.store(true, Ordering::Release);
                            }
                            tracing::error!("storage write failed: {e}");
                        }
                        Ok(()) => hand_on(&records, relay.as_ref(), tap.as_ref()),
                    }
                    for ack in acks {
                        let _ = ack.send(result.clone());
                    }
                    for done in settled {
                        let _ = done.send(());
                    }
                    match side {
                        Some(Side::Load(from, answer)) => {
                            let loaded = store.load(from);
                            if loaded.is_ok() {
                                failing.store(false, Ordering::Release);
                            }
                            let _ = answer.send(loaded);
                        }
                        Some(Side::Ping(ack)) => {
                            let _ = ack.send(store.ping().map_err(Arc::new));
                        }
                        Some(Side::TakeOver(ack)) => {
                            let _ = ack.send(store.take_over().map_err(Arc::new));
                        }
                        Some(Side::Changes(after, limit, answer)) => {
                            let _ = answer.send(store.changes_after(after, limit));
                        }
                        None => {}
                    }
                }
            })
            .expect("spawn the storage thread");
        Self { tx, waiting, durable_seq, failed, superseded }
    }

    /// Whether a write was refused because another server took over the city.
    pub fn superseded(&self) -> bool {
        self.superseded.load(Ordering::Acquire)
    }

    /// The refusal was noticed.
    pub fn clear_superseded(&self) {
        self.superseded.store(false, Ordering::Release);
    }

    /// Takes over writing the city (after the queued writes).
    pub async fn take_over(&self) -> Result<(), StoreError> {
        self.acked(Side::TakeOver).await
    }

    /// Whether the store answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.acked(Side::Ping).await
    }

    /// Side work answered with an [`Ack`], once the writes queued before it are committed.
    async fn acked(&self, side: impl FnOnce(Ack) -> Side) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Job::After(side(ack))).map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?.map_err(StoreError::Commit)
    }

    /// The changes of the shared state after `after`, at most `limit`.
    pub async fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let (answer, done) = oneshot::channel();
        self.tx.send(Job::After(Side::Changes(after, limit, answer))).map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?
    }

    /// Waits (blocking this thread) until everything queued so far is committed or failed.
    pub fn settle_blocking(&self) {
        let (done, rx) = mpsc::channel();
        if self.tx.send(Job::Settle(done)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// Whether a write failed since the store was last read back.
    pub fn needs_rebuild(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The newest event seq known to be on disk.
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// At start: the events restored from the store are durable.
    pub fn restored_up_to(&self, seq: u64) {
        self.durable_seq.fetch_max(seq, Ordering::Release);
    }

    /// Queues records; the answer comes once they are committed. Callers queue while holding
    /// the live state's lock, so the store sees records in the order memory made them.
    pub fn submit(&self, records: Vec<Record>) -> Result<oneshot::Receiver<Result<(), Arc<StoreError>>>, StoreError> {
        let (ack, done) = oneshot::channel();
        self.send(records, Some(ack))?;
        Ok(done)
    }

    /// Reads the store back after everything queued so far (blocking this thread).
    pub fn load_blocking(&self, from: LoadFrom) -> Result<Loaded, StoreError> {
        let (answer, rx) = mpsc::channel();
        self.tx.send(Job::After(Side::Load(from, answer))).map_err(|_| StoreError::Stopped)?;
        rx.recv().map_err(|_| StoreError::Stopped)?
    }

    /// `Err(Busy)` while more records wait for the disk than the queue may hold.
    pub fn check_room(&self) -> Result<(), StoreError> {
        let n = self.waiting.load(Ordering::Relaxed);
        if n >= MAX_WAITING { Err(StoreError::Busy(n)) } else { Ok(()) }
    }

    fn send(&self, records: Vec<Record>, ack: Option<Ack>) -> Result<(), StoreError> {
        self.waiting.fetch_add(records.len(), Ordering::Relaxed);
        self.tx.send(Job::Write(records, ack)).map_err(|_| StoreError::Stopped)
    }

    /// Queues records and waits until they are committed.
    pub async fn write(&self, records: Vec<Record>) -> Result<(), StoreError> {
        self.submit(records)?.await.map_err(|_| StoreError::Stopped)?.map_err(StoreError::Commit)
    }

    /// Queues records without waiting (the simulator's own writes). They are committed in order
    /// with everything else.
    pub fn write_later(&self, records: Vec<Record>) {
        let _ = self.send(records, None);
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Job::Flush(ack)).map_err(|_| StoreError::Stopped)?;
        done.await.map_err(|_| StoreError::Stopped)?.map_err(StoreError::Commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    #[test]
    fn the_writer_acknowledges_after_commit_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let writer = StoreWriter::spawn(SqliteStore::open(dir.path()).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            for seq in 1..=50u64 {
                writer.write_later(vec![Record::Event { seq, time_ms: 0, json: seq.to_string() }]);
            }
            writer.write(vec![Record::Event { seq: 51, time_ms: 0, json: "51".into() }]).await.unwrap();
        });
        let l = SqliteStore::open(dir.path()).unwrap().load(crate::LoadFrom::at(0, 0, 1_000)).unwrap();
        assert_eq!(l.events.len(), 51);
        assert!(l.events.windows(2).all(|w| w[0].0 + 1 == w[1].0));
    }
}
