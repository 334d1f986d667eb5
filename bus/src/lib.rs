//! gridwall's bus: several server instances on one city (`serve --store postgres://… --bus
//! nats://…`), on existing engines: PostgreSQL holds the city, NATS carries what changes between
//! instances. Everything NATS is here; the city core's types (`Command`, `Change`, `TrackPoint`)
//! are what travels, and the backend takes part through the [`Node`] trait, so this crate depends
//! on the core only (not on the store or the backend).
//!
//! * **One writer.** A NATS key-value lease (bucket `gridwall_leases`, key = the city, a few
//!   seconds to live, renewed every second) names the instance that writes the city's shared
//!   state: it runs every command (registrations, incidents, workflow), the time limits and
//!   escalation, the keyframes and, with `--simulate`, the simulator. Taking the lease bumps the
//!   city's epoch in PostgreSQL, so a former leader that has not noticed yet writes nothing more
//!   (its transactions check the epoch). The others send it their clients' commands
//!   ([`Command`], request and reply on `gw.<city>.cmd`; the leader answers with an [`Answer`]).
//! * **Changes.** Each of the leader's commits that touches the shared state carries a
//!   [`Change`] (numbered without gaps), written in the same transaction to the `changes` table
//!   (the outbox) and then relayed to the JetStream stream `GW_<CITY>` with the change's number
//!   as message id (a repeat within two minutes is dropped). Every instance applies changes in
//!   order, once each; a gap (a message lost while NATS was away, a restart) is filled from the
//!   table. Displays resume by event seq on any instance: seqs are the leader's.
//! * **Positions.** Every instance takes its own devices' fixes (stored by itself, no lease
//!   needed) and publishes them on `gw.<city>.pos.<tx>.<ty>` by 250 m tile. An instance
//!   subscribes to the tiles its displays' viewports cover (and a ring around them); the leader
//!   to all of them (it needs every patrol for dispatch, nearest and keyframes). A follower asks
//!   the leader for the nearest patrols (`gw.<city>.nearest`).

mod node;
pub mod tasks;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use gridwall_city::command::{Command, Done};
use gridwall_city::records::{Change, TrackPoint};
use gridwall_city::state::Refusal;
pub use node::Node;

/// Side of a position tile (metres).
pub const TILE_M: f64 = 250.0;

/// How long a lease lives without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(4);

/// `--bus`: the NATS server and this instance's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// `nats://host:port`.
    pub url: String,
    /// This instance's name (in the lease and logs); default host name and process id.
    pub instance: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus {url}: {message}")]
    Connect { url: String, message: String },
    #[error("the bus: {0}")]
    Nats(String),
    #[error("the leader did not answer within {0:?} (none may be elected yet): try again shortly")]
    NoLeader(Duration),
    #[error("the leader could not commit it: {0}")]
    Leader(String),
}

/// What this instance is to the city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Applies the leader's changes; sends commands to it.
    Follower,
    /// Writes the city.
    Leader,
}

/// The connection to the bus and what goes over it.
#[derive(Debug)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    /// The city as a subject token.
    pub city: String,
    pub instance: String,
    pub role: watch::Sender<Role>,
    /// Displays' viewports (session → local box), for the tiles to subscribe to.
    views: Mutex<HashMap<u64, [f64; 4]>>,
    /// Told when the connection to NATS is made again (the stream's consumer is then made anew).
    pub reconnected: std::sync::Arc<tokio::sync::Notify>,
}

/// A city name as one subject token and stream name part: letters, digits, `_` and `-`.
pub fn token(city: &str) -> String {
    city.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// The tile of a local point.
pub fn tile_of(x: f64, y: f64) -> (i32, i32) {
    ((x / TILE_M).floor() as i32, (y / TILE_M).floor() as i32)
}

/// The tiles a box covers, with one ring around it (a patrol leaving the box is seen leaving).
pub fn tiles_of(b: [f64; 4]) -> impl Iterator<Item = (i32, i32)> {
    let (x0, y0) = tile_of(b[0], b[1]);
    let (x1, y1) = tile_of(b[2], b[3]);
    let (x0, y0, x1, y1) = (x0 - 1, y0 - 1, x1 + 1, y1 + 1);
    (x0..=x1).flat_map(move |x| (y0..=y1).map(move |y| (x, y)))
}

/// Position fixes on the wire: patrol u32, t i64, x f64, y f64 (little-endian), one after another.
pub fn encode_fixes(points: &[TrackPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * 28);
    for p in points {
        out.extend_from_slice(&p.patrol.to_le_bytes());
        out.extend_from_slice(&p.t_ms.to_le_bytes());
        out.extend_from_slice(&p.x.to_le_bytes());
        out.extend_from_slice(&p.y.to_le_bytes());
    }
    out
}

/// [`encode_fixes`] read back; `None` for a message that is not whole fixes of finite points.
pub fn decode_fixes(b: &[u8]) -> Option<Vec<TrackPoint>> {
    if !b.len().is_multiple_of(28) {
        return None;
    }
    b.chunks_exact(28)
        .map(|c| {
            let p = TrackPoint {
                patrol: u32::from_le_bytes(c[0..4].try_into().ok()?),
                t_ms: i64::from_le_bytes(c[4..12].try_into().ok()?),
                x: f64::from_le_bytes(c[12..20].try_into().ok()?),
                y: f64::from_le_bytes(c[20..28].try_into().ok()?),
            };
            (p.x.is_finite() && p.y.is_finite()).then_some(p)
        })
        .collect()
}

/// The leader's answer to a command sent over the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    Done(Done),
    /// Refused; nothing changed.
    Refused(Refusal),
    /// The leader could not commit it (its store is away, or it is no longer the leader).
    Failed {
        message: String,
    },
}

/// A nearest-patrols question to the leader and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearestAsk {
    pub x: f64,
    pub y: f64,
    pub k: usize,
}

impl Bus {
    /// Connects (retrying while the server starts) and makes the stream and the lease bucket.
    pub async fn connect(config: &BusConfig, city: &str) -> Result<Self, BusError> {
        let reconnected = std::sync::Arc::new(tokio::sync::Notify::new());
        let told = reconnected.clone();
        let client = async_nats::ConnectOptions::new()
            .event_callback(move |event| {
                let told = told.clone();
                async move {
                    if matches!(event, async_nats::Event::Connected) {
                        told.notify_one();
                    }
                }
            })
            .name(format!("gridwall-server {}", config.instance))
            .no_echo()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(3))
            .connect(config.url.as_str())
            .await
            .map_err(|e| BusError::Connect { url: config.url.clone(), message: e.to_string() })?;
        let js = async_nats::jetstream::new(client.clone());
        let bus = Self {
            client,
            js,
            city: token(city),
            instance: config.instance.clone(),
            role: watch::channel(Role::Follower).0,
            views: Mutex::default(),
            reconnected,
        };
        bus.setup().await?;
        Ok(bus)
    }

    async fn setup(&self) -> Result<(), BusError> {
        use async_nats::jetstream::{kv, stream};
        let nats = |e: &dyn std::fmt::Display| BusError::Nats(e.to_string());
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream(),
                subjects: vec![self.changes_subject()],
                storage: stream::StorageType::File,
                max_age: Duration::from_hours(1),
                duplicate_window: Duration::from_mins(2),
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&e))?;
        self.js
            .create_key_value(kv::Config {
                bucket: "gridwall_leases".into(),
                history: 1,
                max_age: LEASE_TTL,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| nats(&e))?;
        Ok(())
    }

    /// `GW_<CITY>`: the stream of the city's changes.
    pub fn stream(&self) -> String {
        format!("GW_{}", self.city.to_uppercase())
    }

    pub fn changes_subject(&self) -> String {
        format!("gw.{}.changes", self.city)
    }

    pub fn command_subject(&self) -> String {
        format!("gw.{}.cmd", self.city)
    }

    pub fn nearest_subject(&self) -> String {
        format!("gw.{}.nearest", self.city)
    }

    /// The subject of a tile's positions.
    pub fn tile_subject(&self, (x, y): (i32, i32)) -> String {
        format!("gw.{}.pos.{x}.{y}", self.city)
    }

    /// Every tile's positions.
    pub fn all_tiles_subject(&self) -> String {
        format!("gw.{}.pos.>", self.city)
    }

    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    /// A display's viewport (local box), or `None` when it went away.
    pub fn note_view(&self, session: u64, view: Option<[f64; 4]>) {
        let mut views = self.views.lock().expect("views");
        match view {
            Some(v) => views.insert(session, v),
            None => views.remove(&session),
        };
    }

    /// The tiles the displays want.
    pub fn wanted_tiles(&self) -> HashSet<(i32, i32)> {
        const MAX_TILES: usize = 20_000;
        let views = self.views.lock().expect("views");
        let mut out = HashSet::new();
        for v in views.values() {
            for t in tiles_of(*v) {
                if out.len() >= MAX_TILES {
                    return out;
                }
                out.insert(t);
            }
        }
        out
    }

    /// Publishes fixes by tile (at most once: a fix lost here is superseded a second later).
    pub async fn publish_fixes(&self, points: &[TrackPoint]) {
        let mut by_tile: HashMap<(i32, i32), Vec<TrackPoint>> = HashMap::new();
        for p in points {
            by_tile.entry(tile_of(p.x, p.y)).or_default().push(*p);
        }
        for (tile, pts) in by_tile {
            if let Err(e) = self.client.publish(self.tile_subject(tile), Bytes::from(encode_fixes(&pts))).await {
                tracing::debug!("positions not published: {e}");
            }
        }
    }

    /// Relays a committed change to the stream; `Err` while NATS does not acknowledge it.
    pub async fn relay(&self, change: &Change) -> Result<(), BusError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}:{}", self.city, change.id).as_str());
        let body = serde_json::to_vec(change).expect("a change serialises");
        let ack = self
            .js
            .publish_with_headers(self.changes_subject(), headers, body.into())
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        ack.await.map_err(|e| BusError::Nats(e.to_string()))?;
        Ok(())
    }

    /// Sends a command to the leader and waits for its answer (five seconds at most): what it
    /// made, or why it refused (nothing changed then).
    pub async fn ask_leader(&self, cmd: &Command) -> Result<Result<Done, Refusal>, BusError> {
        let body = serde_json::to_vec(cmd).expect("a command serialises");
        let reply = self.request(self.command_subject(), body).await?;
        match serde_json::from_slice::<Answer>(&reply).map_err(|e| BusError::Leader(e.to_string()))? {
            Answer::Done(done) => Ok(Ok(done)),
            Answer::Refused(r) => Ok(Err(r)),
            Answer::Failed { message } => Err(BusError::Leader(message)),
        }
    }

    /// The leader's nearest on-duty patrols to a point.
    pub async fn ask_nearest(&self, p: [f64; 2], k: usize) -> Result<Vec<(u32, f64)>, BusError> {
        let body = serde_json::to_vec(&NearestAsk { x: p[0], y: p[1], k }).expect("a question serialises");
        let reply = self.request(self.nearest_subject(), body).await?;
        serde_json::from_slice(&reply).map_err(|e| BusError::Leader(e.to_string()))
    }

    async fn request(&self, subject: String, body: Vec<u8>) -> Result<Bytes, BusError> {
        const WAIT: Duration = Duration::from_secs(5);
        match tokio::time::timeout(WAIT, self.client.request(subject, body.into())).await {
            Ok(Ok(m)) => Ok(m.payload),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Err(BusError::NoLeader(WAIT)),
            Ok(Err(e)) => Err(BusError::Nats(e.to_string())),
            Err(_) => Err(BusError::NoLeader(WAIT)),
        }
    }

    /// The number of the newest change on the stream, if it has any.
    pub async fn last_relayed(&self) -> Option<u64> {
        let stream = self.js.get_stream(self.stream()).await.ok()?;
        let m = stream.get_last_raw_message_by_subject(&self.changes_subject()).await.ok()?;
        serde_json::from_slice::<Change>(&m.payload).ok().map(|c| c.id)
    }

    /// Changes as they arrive on the stream (from now on; the store fills what came before).
    pub async fn changes(&self) -> Result<mpsc::Receiver<Change>, BusError> {
        use async_nats::jetstream::consumer::{DeliverPolicy, pull};
        let stream = self.js.get_stream(self.stream()).await.map_err(|e| BusError::Nats(e.to_string()))?;
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::New,
                filter_subject: self.changes_subject(),
                ..Default::default()
            })
            .await
            .map_err(|e| BusError::Nats(e.to_string()))?;
        let mut messages = consumer.messages().await.map_err(|e| BusError::Nats(e.to_string()))?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            while let Some(m) = messages.next().await {
                match m {
                    Ok(m) => match serde_json::from_slice::<Change>(&m.payload) {
                        Ok(c) => {
                            if tx.send(c).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("a change on the bus cannot be read: {e}"),
                    },
                    Err(e) => tracing::debug!("the changes stream: {e}"),
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_round_trip_and_damaged_ones_are_refused() {
        let points = vec![
            TrackPoint { patrol: 7, t_ms: 1_764_936_000_123, x: -12.25, y: 400.5 },
            TrackPoint { patrol: u32::MAX, t_ms: -1, x: 0.0, y: 1e6 },
        ];
        let b = encode_fixes(&points);
        assert_eq!(b.len(), 56);
        assert_eq!(decode_fixes(&b), Some(points));
        assert_eq!(decode_fixes(&b[..55]), None);
        let mut nan = b.clone();
        nan[12..20].copy_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(decode_fixes(&nan), None);
    }

    #[test]
    fn answers_cross_the_bus_unchanged() {
        let mut refused = Refusal::conflict("action", "dispatched: resolve first");
        refused.index = Some(2);
        for a in [
            Answer::Done(Done { incident: Some(7), change: 9 }),
            Answer::Refused(refused),
            Answer::Failed { message: "away".into() },
        ] {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(serde_json::from_str::<Answer>(&json).unwrap(), a, "{json}");
        }
    }

    #[test]
    fn a_viewport_covers_its_tiles_and_a_ring_around_them() {
        assert_eq!(tile_of(-0.1, 249.9), (-1, 0));
        let t: Vec<(i32, i32)> = tiles_of([0.0, 0.0, 100.0, 100.0]).collect();
        assert_eq!(t.len(), 9);
        assert!(t.contains(&(-1, -1)) && t.contains(&(1, 1)));
        assert_eq!(token("赫尔辛基 city.1"), "_____city_1");
    }
}
