//! What a server is to the bus: the city it serves, as the bus's background tasks need it. The
//! backend implements [`Node`]; the bus never sees the store, the live lock or the sessions.

use std::future::Future;

use gridwall_city::command::Command;
use gridwall_city::records::{Change, TrackPoint};
use tokio::sync::watch;

use crate::Answer;

/// A server of the city, seen from the bus.
pub trait Node: Send + Sync + 'static {
    /// Why the store could not do something (only shown in logs).
    type Error: std::fmt::Display + Send;

    /// Becomes `true` when the server stops.
    fn shutdown(&self) -> watch::Receiver<bool>;
    /// Whether the store found that another server has taken over writing the city (its epoch
    /// moved on): this one writes nothing more until it takes over again.
    fn superseded(&self) -> bool;
    /// The superseded state was handled (this server follows now).
    fn clear_superseded(&self);
    /// Takes over writing the city in the store (a former leader is fenced off from then on).
    fn take_over(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Reads the live state back from the store (taking over or giving up the lead).
    fn rebuild(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Makes the live state a follower's copy (`true`: it makes no events or ids) or the
    /// leader's.
    fn set_replica(&self, replica: bool);
    /// The newest change the live state includes.
    fn change_id(&self) -> u64;
    /// The stored changes after `after`, in order, at most `limit`.
    fn changes_after(&self, after: u64, limit: usize) -> impl Future<Output = Result<Vec<Change>, Self::Error>> + Send;
    /// A follower takes in a change of the leader's (the caller keeps them in order).
    fn apply_change(&self, change: &Change);
    /// Runs a command another server sent, as the city's writer, once it is committed.
    fn lead(&self, cmd: &Command) -> impl Future<Output = Answer> + Send;
    /// The `k` nearest on-duty patrols to a point, as this server sees them (the leader sees
    /// every patrol).
    fn nearest_here(&self, p: [f64; 2], k: usize) -> Vec<(u32, f64)>;
    /// Position fixes other servers took, for the live state.
    fn take_fixes(&self, points: Vec<TrackPoint>);
}
