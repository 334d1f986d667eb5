//! One display connection: its viewport, what it already knows, and the messages it gets. The
//! transport (the server's `/ws` socket) feeds it client messages and tick batches and sends
//! what it returns, encoded with [`Session::encode`].
//!
//! Every connection reads the same shared [`TickBatch`](gridwall_city::state::TickBatch)es from a bounded broadcast channel; the
//! producer never waits for anyone. A connection that falls behind (its socket is slow, so it
//! misses batches) catches up from the live state instead ([`Session::catch_up`]): latest
//! positions win, and the events it missed come from the event log, or, if the log no longer
//! holds them, it gets a fresh snapshot. Per-connection memory is the set of patrol ids it knows
//! plus one frame being sent.

mod coords;
mod ids;
mod replay;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwall_bus::Bus;
use gridwall_city::access::{Caller, Denied, Permission};
use gridwall_city::command::Command;
use gridwall_city::state::Refusal;
use gridwall_city::walls::{CAST_FLIGHT_MS, Stamped};
use gridwall_city::workflow::Action;
use gridwall_protocol::binary::ServerEncoder;
use gridwall_protocol::wall::{WallView, valid_wall_name};
use gridwall_protocol::{Bbox, ClientMessage, Event, Layer, LayerSet, PROTOCOL_VERSION, ServerMessage};
use gridwall_store::history::replay::Replay;
use tokio::sync::watch;

use coords::add_wgs84;
pub use coords::{BboxError, to_local_bbox};
use ids::IdSet;
use replay::live_timeline;

use crate::{Backend, CommitError};

/// Frames are sent at least this often (an empty delta carries the server clock).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// An encoded frame for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// The state of one display connection.
#[derive(Debug)]
pub struct Session {
    /// JSON frames (with WGS84 positions) instead of binary: the scene's CRS and origin.
    json: Option<(String, (f64, f64))>,
    encoder: ServerEncoder,
    view: Option<(Bbox, LayerSet)>,
    /// Patrols the client has (ids are dense, so a bitset: one bit per registered patrol).
    known: IdSet,
    last_seq: u64,
    /// The batch the newest snapshot already includes: batches up to it (made before the
    /// snapshot, read after it) hold nothing newer about patrols, only older positions.
    snapshot_tick: u64,
    last_sent: Instant,
    /// The wall group joined, and whether as its leader.
    wall: Option<(String, bool)>,
    /// A wall group's views to watch, for the transport to take ([`Session::take_wall_views`]).
    joined: Option<watch::Receiver<Option<Stamped>>>,
    /// Who connected (checked for each command; the actor of its commands).
    caller: Caller,
    /// The replay this display watches instead of live, if any.
    replay: Option<Box<Replay>>,
    /// On a bus: where this display's viewport is noted (the tiles its server subscribes to).
    on_bus: Option<(Arc<Bus>, u64)>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some((bus, id)) = &self.on_bus {
            bus.note_view(*id, None);
        }
    }
}

impl Session {
    /// A new connection of `backend`, in JSON (`json`) or binary, by `caller` (who may read:
    /// the transport checked that before the upgrade).
    pub fn new(backend: &Backend, json: bool, caller: Caller) -> Self {
        let m = &backend.manifest;
        Self {
            json: json.then(|| (m.crs.clone(), (m.origin[0], m.origin[1]))),
            encoder: ServerEncoder::new(),
            view: None,
            known: IdSet::default(),
            last_seq: backend.live().last_seq(),
            snapshot_tick: 0,
            last_sent: Instant::now(),
            wall: None,
            joined: None,
            caller,
            replay: None,
            on_bus: backend.bus.as_ref().map(|b| {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                (b.clone(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
            }),
        }
    }

    /// Refuses a command the caller may not give, and notes the attempt in the audit trail.
    fn deny(&self, state: &Backend, action: &str, target: String, denied: &Denied) -> String {
        // Only token holders: an anonymous caller cannot get this far (the handshake needs a
        // token), and would otherwise be able to fill the disk.
        if matches!(denied, Denied::Forbidden { .. }) {
            state.record_later(|live| vec![live.audit(&self.caller, action, target, format!("refused: {denied}"))]);
        }
        denied.to_string()
    }

    /// Encodes a message for this connection (binary, or JSON with WGS84 positions added) and
    /// notes that something was sent.
    pub fn encode(&mut self, mut msg: ServerMessage) -> Frame {
        self.last_sent = Instant::now();
        if let Some((crs, origin)) = &self.json {
            add_wgs84(&mut msg, crs, *origin);
            Frame::Text(gridwall_protocol::json::encode_server(&msg))
        } else {
            Frame::Binary(self.encoder.encode(&msg))
        }
    }

    /// The wall group's views to watch, once after joining one: the transport waits on it beside
    /// the socket and the ticks, and sends [`Session::wall_view`] of each change.
    pub fn take_wall_views(&mut self) -> Option<watch::Receiver<Option<Stamped>>> {
        self.joined.take()
    }

    /// The message that shows a wall group's view.
    pub fn wall_view(wall: &str, s: &Stamped) -> ServerMessage {
        ServerMessage::WallView { wall: wall.to_owned(), time_ms: s.time_ms, view: Box::new((*s.view).clone()) }
    }

    /// The name of the wall group this connection joined.
    pub fn wall_name(&self) -> Option<&str> {
        self.wall.as_ref().map(|(w, _)| w.as_str())
    }

    /// The answer to a frame that could not be decoded.
    pub fn bad_message(reason: String) -> ServerMessage {
        ServerMessage::Error { code: "bad_message".into(), message: reason }
    }

    /// Handles one client message; returns what to send back.
    pub async fn handle(&mut self, msg: ClientMessage, state: &Backend) -> Vec<ServerMessage> {
        match msg {
            ClientMessage::Hello { version, resume_after, .. } => {
                if version != PROTOCOL_VERSION {
                    return vec![ServerMessage::Error {
                        code: "version".into(),
                        message: format!(
                            "protocol version {version} is not supported; this server speaks {PROTOCOL_VERSION}"
                        ),
                    }];
                }
                let mut live = state.live();
                // Everything on disk counts as shown now, not at the next batch: a display that
                // resumes gets every acknowledged event it missed in the one delta.
                live.set_durable(state.store.durable_seq());
                let missed = resume_after.and_then(|seq| live.events_after(seq));
                let resumed = missed.is_some();
                let mut out = vec![
                    ServerMessage::Welcome {
                        version: PROTOCOL_VERSION,
                        scene: state.manifest.display_name.clone(),
                        tick_hz: state.tick_hz,
                        resumed,
                        clock_rate: live.clock.speed(),
                        may_command: self.caller.check(Permission::Command).is_ok(),
                    },
                    ServerMessage::Kpis { time_ms: live.now_ms(), kpis: live.kpis() },
                ];
                out.push(live_timeline(state, live.now_ms()));
                self.last_seq = live.last_seq();
                if let Some(events) = missed.filter(|e| !e.is_empty()) {
                    out.push(ServerMessage::Delta {
                        tick: 0,
                        time_ms: live.now_ms(),
                        moved: Vec::new(),
                        entered: Vec::new(),
                        left: Vec::new(),
                        events: events.iter().map(|e| Event::clone(e)).collect(),
                    });
                }
                drop(live);
                out.push(Self::warnings_now(state));
                out
            }
            ClientMessage::Subscribe { bbox, crs, layers } => {
                let local = match to_local_bbox(bbox, crs, state) {
                    Ok(b) => b,
                    Err(e) => return vec![ServerMessage::Error { code: "bad_bbox".into(), message: e.to_string() }],
                };
                self.view = Some((local, layers));
                if let Some((bus, id)) = &self.on_bus {
                    bus.note_view(*id, layers.contains(Layer::Patrols).then_some(local.0));
                }
                if let Some(mut r) = self.replay.take() {
                    // Patrols far from the old viewport were followed a keyframe at a time: the
                    // new one gets the city exactly as it was.
                    let refreshed = tokio::task::spawn_blocking(move || {
                        r.set_view(Some(local.0));
                        let done = r.refresh();
                        (r, done)
                    })
                    .await;
                    return match refreshed {
                        Ok((r, Ok(()))) => {
                            self.replay = Some(r);
                            vec![self.replay_snapshot(state)]
                        }
                        Ok((_, Err(e))) => self.replay_stopped(state, &e),
                        Err(e) => self.replay_stopped(state, &e),
                    };
                }
                let live = state.live();
                let snap = self.live_snapshot(&live, local, layers);
                if let ServerMessage::Snapshot { seq, .. } = &snap {
                    self.last_seq = self.last_seq.max(*seq);
                }
                vec![snap]
            }
            ClientMessage::Replay { at, speed } => self.start_replay(state, &at, speed).await,
            ClientMessage::Live => self.go_live(state),
            ClientMessage::Assign { request, incident, patrol, actor } => {
                if let Err(e) = self.caller.check(Permission::Command) {
                    let error = self.deny(state, "assign", format!("incident {incident}"), &e);
                    return vec![ServerMessage::Reply { request, ok: false, error: Some(error) }];
                }
                let actor = self.caller.actor(&actor);
                let result = state
                    .run_command(Command::Assign { incident, patrol, actor }, &self.caller, |_| {
                        format!("incident {incident} → patrol {patrol}")
                    })
                    .await;
                vec![reply(request, &result)]
            }
            ClientMessage::Transition { request, incident, action, actor, note, satisfaction } => {
                let action = match action.as_str() {
                    "resolve" => Ok(Action::Resolve),
                    "review_pass" => Ok(Action::ReviewPass),
                    "review_reject" => Ok(Action::ReviewReject),
                    "close" => satisfaction
                        .map(|s| Action::Close { satisfaction: s })
                        .ok_or_else(|| Refusal::invalid("satisfaction", "close needs a satisfaction of 1 to 5")),
                    "dispatch" => Err(Refusal::invalid("action", "dispatch with an assign message")),
                    other => Err(Refusal::invalid("action", format!("unknown action {other:?}"))),
                };
                if let Err(e) = self.caller.check(Permission::Command) {
                    let error = self.deny(state, "transition", format!("incident {incident}"), &e);
                    return vec![ServerMessage::Reply { request, ok: false, error: Some(error) }];
                }
                let actor = self.caller.actor(&actor);
                let result = match action {
                    Ok(action) => {
                        state
                            .run_command(Command::Apply { incident, action, actor, note }, &self.caller, |_| {
                                format!("incident {incident}")
                            })
                            .await
                    }
                    Err(e) => Err(CommitError::Refused(e)),
                };
                vec![reply(request, &result)]
            }
            ClientMessage::AckWarning { request, warning } => {
                if let Err(e) = self.caller.check(Permission::Command) {
                    let error = self.deny(state, "ack_warning", format!("warning {warning}"), &e);
                    return vec![ServerMessage::Reply { request, ok: false, error: Some(error) }];
                }
                let error = state.ack_warning(warning, &self.caller).await.err().map(|e| e.to_string());
                vec![ServerMessage::Reply { request, ok: error.is_none(), error }]
            }
            ClientMessage::Ping { t } => vec![ServerMessage::Pong { t, time_ms: state.live().now_ms() }],
            ClientMessage::JoinWall { wall, lead } => {
                if !valid_wall_name(&wall) {
                    return vec![wall_error("wall names are 1 to 64 letters, digits, '-', '_' or '.'")];
                }
                if lead && let Err(e) = self.caller.check(Permission::Command) {
                    return vec![wall_error(&self.deny(state, "lead_wall", format!("wall {wall}"), &e))];
                }
                match state.walls.join(&wall) {
                    Ok(rx) => {
                        let current = rx.borrow().clone();
                        self.joined = Some(rx);
                        let out = current.map(|s| Self::wall_view(&wall, &s)).into_iter().collect();
                        self.wall = Some((wall, lead));
                        out
                    }
                    Err(e) => vec![wall_error(&e.to_string())],
                }
            }
            ClientMessage::LeadWall { view } => {
                let Some((wall, true)) = &self.wall else {
                    return vec![wall_error("join a wall as its leader first (join_wall with lead)")];
                };
                if let Err(e) = view.check() {
                    return vec![wall_error(e)];
                }
                let now = state.live().now_ms();
                state.walls.lead(wall, *view, now).err().map(|e| wall_error(&e.to_string())).into_iter().collect()
            }
            ClientMessage::Cast { wall, view } => {
                if !valid_wall_name(&wall) {
                    return vec![wall_error("wall names are 1 to 64 letters, digits, '-', '_' or '.'")];
                }
                if let Err(e) = self.caller.check(Permission::Command) {
                    return vec![wall_error(&self.deny(state, "cast", format!("wall {wall}"), &e))];
                }
                if let Some(Err(e)) = view.as_deref().map(WallView::check) {
                    return vec![wall_error(e)];
                }
                let (now, speed) = {
                    let live = state.live();
                    (live.now_ms(), live.clock.speed())
                };
                // As long in real time as on a real-time server.
                let flight = (f64::from(CAST_FLIGHT_MS) * speed).clamp(1.0, f64::from(u32::MAX)) as u32;
                state
                    .walls
                    .cast(&wall, view.map(|v| *v), now, flight)
                    .err()
                    .map(|e| wall_error(&e.to_string()))
                    .into_iter()
                    .collect()
            }
        }
    }

    /// Whether the display watches a replay (its ticks come from [`Session::replay_tick`]).
    pub fn replaying(&self) -> bool {
        self.replay.is_some()
    }
}

fn wall_error(message: &str) -> ServerMessage {
    ServerMessage::Error { code: "wall".into(), message: message.to_owned() }
}

fn reply<T>(request: u64, result: &Result<T, CommitError>) -> ServerMessage {
    match result {
        Ok(_) => ServerMessage::Reply { request, ok: true, error: None },
        Err(e) => ServerMessage::Reply { request, ok: false, error: Some(e.to_string()) },
    }
}
