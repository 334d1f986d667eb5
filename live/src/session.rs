//! One display connection: its viewport, what it already knows, and the messages it gets. The
//! transport (the server's `/ws` socket) feeds it client messages and tick batches and sends
//! what it returns, encoded with [`Session::encode`].
//!
//! Every connection reads the same shared [`TickBatch`]es from a bounded broadcast channel; the
//! producer never waits for anyone. A connection that falls behind (its socket is slow, so it
//! misses batches) catches up from the live state instead ([`Session::catch_up`]): latest
//! positions win, and the events it missed come from the event log, or, if the log no longer
//! holds them, it gets a fresh snapshot. Per-connection memory is the set of patrol ids it knows
//! plus one frame being sent.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridwall_protocol::binary::ServerEncoder;
use gridwall_protocol::{
    Bbox, BboxCrs, ClientMessage, Event, EventKind, Layer, LayerSet, PROTOCOL_VERSION, ServerMessage,
};
use gridwall_scene::coords::CoordError;

use gridwall_protocol::wall::{WallView, valid_wall_name};
use tokio::sync::watch;

use crate::access::{Caller, Denied, Permission};
use crate::backend::{Backend, CommitError, with_frame};
use crate::cluster::command::Command;
use crate::replay::{Changes, MAX_SPEED, Replay};
use crate::state::{Live, Refusal, TickBatch};
use crate::walls::Stamped;
use crate::workflow::Action;

/// Frames are sent at least this often (an empty delta carries the server clock).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A set of patrol ids as a bitset.
#[derive(Debug, Default)]
struct IdSet(Vec<u64>);

impl IdSet {
    fn contains(&self, id: u32) -> bool {
        self.0.get(id as usize / 64).is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
    fn insert(&mut self, id: u32) {
        let i = id as usize / 64;
        if i >= self.0.len() {
            self.0.resize(i + 1, 0);
        }
        self.0[i] |= 1 << (id % 64);
    }
    /// Removes an id; whether it was there.
    fn remove(&mut self, id: u32) -> bool {
        let had = self.contains(id);
        if had {
            self.0[id as usize / 64] &= !(1 << (id % 64));
        }
        had
    }
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0
            .iter()
            .enumerate()
            .flat_map(|(i, &w)| (0..64).filter(move |b| w & (1 << b) != 0).map(move |b| (i * 64 + b) as u32))
    }
}

impl FromIterator<u32> for IdSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut s = Self::default();
        for id in iter {
            s.insert(id);
        }
        s
    }
}

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
    on_bus: Option<(Arc<crate::cluster::Bus>, u64)>,
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
                let live = state.live();
                let missed = resume_after.and_then(|seq| live.events_after(seq));
                let resumed = missed.is_some();
                let mut out = vec![
                    ServerMessage::Welcome {
                        version: PROTOCOL_VERSION,
                        scene: state.manifest.display_name.clone(),
                        tick_hz: state.tick_hz,
                        resumed,
                        clock_rate: live.clock.speed(),
                    },
                    ServerMessage::Kpis { time_ms: live.now_ms(), kpis: live.kpis(None) },
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
                let snap = live.snapshot(local, layers);
                if let ServerMessage::Snapshot { seq, patrols, .. } = &snap {
                    self.known = patrols.iter().map(|p| p.pos.id).collect();
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
                let flight = (f64::from(crate::walls::CAST_FLIGHT_MS) * speed).clamp(1.0, f64::from(u32::MAX)) as u32;
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

    async fn start_replay(&mut self, state: &Backend, at: &str, speed: f64) -> Vec<ServerMessage> {
        let at_ms = match crate::ingest::parse_time(at) {
            Ok(t) => t,
            Err(e) => return vec![replay_error(format!("at: {e}"))],
        };
        if !(speed.is_finite() && (0.0..=MAX_SPEED).contains(&speed)) {
            return vec![replay_error(format!("speed: {speed} is not 0 to {MAX_SPEED}"))];
        }
        let now = state.live().now_ms();
        if at_ms > now {
            return vec![replay_error(crate::history::HistoryError::Future { at_ms, now_ms: now }.to_string())];
        }
        if at_ms < now - state.retention_ms {
            let earliest_ms = Some(earliest_ms(state, now));
            return vec![replay_error(crate::history::HistoryError::BeforeHistory { at_ms, earliest_ms }.to_string())];
        }
        let history = state.history();
        let view = self.view.map(|(b, _)| b.0);
        let opened = tokio::task::spawn_blocking(move || {
            let mut r = Replay::open(history.open()?, at_ms, speed, now)?;
            r.set_view(view);
            Ok::<_, crate::history::HistoryError>(r)
        })
        .await;
        match opened {
            Ok(Ok(r)) => {
                let (timeline, kpis) = (replay_timeline(state, &r, now), r.city.kpis);
                self.replay = Some(Box::new(r));
                vec![timeline, ServerMessage::Kpis { time_ms: at_ms, kpis }, self.replay_snapshot(state)]
            }
            Ok(Err(e)) => vec![replay_error(e.to_string())],
            Err(e) => vec![replay_error(format!("the replay could not start: {e}"))],
        }
    }

    /// A replay that could not go on: why, then live.
    fn replay_stopped(&mut self, state: &Backend, why: &dyn std::fmt::Display) -> Vec<ServerMessage> {
        let mut out = vec![replay_error(format!("the replay stopped: {why}"))];
        out.extend(self.go_live(state));
        out
    }

    /// Back to live: the timeline, the KPIs and a snapshot of now.
    fn go_live(&mut self, state: &Backend) -> Vec<ServerMessage> {
        self.replay = None;
        let live = state.live();
        let mut out = vec![
            live_timeline(state, live.now_ms()),
            ServerMessage::Kpis { time_ms: live.now_ms(), kpis: live.kpis(None) },
        ];
        if let Some((bbox, layers)) = self.view {
            let snap = live.snapshot(bbox, layers);
            if let ServerMessage::Snapshot { seq, patrols, .. } = &snap {
                self.known = patrols.iter().map(|p| p.pos.id).collect();
                self.last_seq = *seq;
            }
            out.push(snap);
        }
        out
    }

    /// The viewport at the replay's time.
    fn replay_snapshot(&mut self, state: &Backend) -> ServerMessage {
        let Some(r) = &self.replay else {
            return ServerMessage::Error { code: "replay".into(), message: "no replay".into() };
        };
        let city = &r.city;
        let (mut patrols, mut incidents, mut components) = (Vec::new(), Vec::new(), Vec::new());
        if let Some((bbox, layers)) = self.view {
            let live = state.live();
            if layers.contains(Layer::Patrols) {
                let mut ids: Vec<u32> = city
                    .patrols
                    .iter()
                    .filter(|(_, p)| p.fix.is_some_and(|f| bbox.contains(f.metres()[0], f.metres()[1])))
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                patrols = ids
                    .into_iter()
                    .filter_map(|id| {
                        let p = &city.patrols[&id];
                        live.patrol_state_as(id, p.role, p.status, p.fix?.metres())
                    })
                    .collect();
            }
            if layers.contains(Layer::Incidents) {
                incidents = city.incidents.values().filter(|i| bbox.contains(i.x, i.y)).cloned().collect();
            }
            if layers.contains(Layer::Components)
                && let ServerMessage::Snapshot { components: c, .. } =
                    live.snapshot(bbox, gridwall_protocol::LayerSet::default().with(Layer::Components))
            {
                components = c;
            }
        }
        self.known = patrols.iter().map(|p| p.pos.id).collect();
        ServerMessage::Snapshot { seq: city.seq, tick: 0, time_ms: city.t_ms, patrols, incidents, components }
    }

    /// A tick while replaying: replay time runs on to where the speed puts it now, and the
    /// display gets what changed (or, after a jump, a snapshot); once it reaches now, live.
    pub async fn replay_tick(&mut self, state: &Backend) -> Vec<ServerMessage> {
        let Some(mut r) = self.replay.take() else { return Vec::new() };
        let now = state.live().now_ms();
        let target = r.target(now);
        if target >= now {
            return self.go_live(state);
        }
        if target <= r.at_ms() {
            let heartbeat = self.last_sent.elapsed() >= HEARTBEAT;
            let at = r.at_ms();
            self.replay = Some(r);
            return if heartbeat { vec![empty_delta(at)] } else { Vec::new() };
        }
        let stepped = tokio::task::spawn_blocking(move || {
            let changes = r.advance(target);
            (r, changes)
        })
        .await;
        let (r, changes) = match stepped {
            Ok((r, Ok(c))) => (r, c),
            Ok((_, Err(e))) => return self.replay_stopped(state, &e),
            Err(e) => return self.replay_stopped(state, &e),
        };
        self.replay = Some(r);
        let mut out = Vec::new();
        if let Some(kpis) = changes.kpis {
            out.push(ServerMessage::Kpis { time_ms: target, kpis });
        }
        if changes.jumped {
            let kpis = self.replay.as_ref().map(|r| r.city.kpis).unwrap_or_default();
            out.push(ServerMessage::Kpis { time_ms: target, kpis });
            out.push(self.replay_snapshot(state));
            return out;
        }
        out.extend(self.replay_delta(state, changes));
        out
    }

    fn replay_delta(&mut self, state: &Backend, c: Changes) -> Option<ServerMessage> {
        let r = self.replay.as_ref()?;
        let city = &r.city;
        let (mut moved, mut entered, mut left) = (Vec::new(), Vec::new(), Vec::new());
        if let Some((bbox, _)) = self.view.filter(|v| v.1.contains(Layer::Patrols)) {
            let live = state.live();
            let changed: HashSet<u32> = c.changed.iter().copied().collect();
            let mut ids: Vec<u32> = c.moved.iter().chain(&c.changed).copied().collect();
            ids.sort_unstable();
            ids.dedup();
            for id in ids {
                let Some(p) = city.patrols.get(&id) else { continue };
                let Some(pos) = p.fix.map(|f| f.metres()) else { continue };
                let inside = bbox.contains(pos[0], pos[1]);
                let known = self.known.contains(id);
                if inside && (changed.contains(&id) || !known) {
                    if let Some(s) = live.patrol_state_as(id, p.role, p.status, pos) {
                        self.known.insert(id);
                        entered.push(s);
                    }
                } else if inside {
                    moved.push(gridwall_protocol::PatrolPos { id, x: pos[0], y: pos[1], lon: None, lat: None });
                } else if known {
                    self.known.remove(id);
                    left.push(id);
                }
            }
        }
        let empty = moved.is_empty() && entered.is_empty() && left.is_empty() && c.events.is_empty();
        if empty && self.last_sent.elapsed() < HEARTBEAT {
            return None;
        }
        Some(ServerMessage::Delta { tick: 0, time_ms: city.t_ms, moved, entered, left, events: c.events })
    }

    /// What this connection gets of a tick batch: a delta of its viewport (or a heartbeat once a
    /// second), and the KPIs when they changed.
    pub fn on_tick(&mut self, batch: &TickBatch, backend: &Backend) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        if let Some(kpis) = batch.kpis {
            out.push(ServerMessage::Kpis { time_ms: batch.time_ms, kpis });
        }
        out.extend(self.delta(batch, backend));
        out
    }

    fn delta(&mut self, batch: &TickBatch, backend: &Backend) -> Option<ServerMessage> {
        let (mut moved, mut entered, mut left) = (Vec::new(), Vec::new(), Vec::new());
        if let Some((bbox, _)) = self.view.filter(|v| v.1.contains(Layer::Patrols)) {
            let mut unknown = Vec::new();
            for &(id, p) in &batch.moved {
                let inside = bbox.contains(p[0], p[1]);
                if !inside && !self.known.contains(id) {
                    continue;
                }
                match (inside, self.known.contains(id)) {
                    (true, true) => {
                        moved.push(gridwall_protocol::PatrolPos { id, x: p[0], y: p[1], lon: None, lat: None });
                    }
                    (false, true) => {
                        self.known.remove(id);
                        left.push(id);
                    }
                    (true, false) => unknown.push(id),
                    (false, false) => {}
                }
            }
            for s in &batch.changed {
                let id = s.pos.id;
                if bbox.contains(s.pos.x, s.pos.y) {
                    self.known.insert(id);
                    entered.push(s.clone());
                } else if self.known.remove(id) {
                    left.push(id);
                }
            }
            if !unknown.is_empty() {
                let live = backend.live();
                for id in unknown {
                    if let Some(s) = live.patrol_state(id) {
                        self.known.insert(id);
                        entered.push(s);
                    }
                }
            }
        }
        let events: Vec<Event> =
            batch.events.iter().filter(|e| e.seq > self.last_seq).map(|e| Event::clone(e)).collect();
        if let Some(e) = events.last() {
            self.last_seq = e.seq;
        }
        let empty = moved.is_empty() && entered.is_empty() && left.is_empty() && events.is_empty();
        if empty && self.last_sent.elapsed() < HEARTBEAT {
            return None;
        }
        Some(ServerMessage::Delta { tick: batch.tick, time_ms: batch.time_ms, moved, entered, left, events })
    }

    /// After missing batches: the KPIs, the current state of the viewport (latest positions win)
    /// and the missed events, or a fresh snapshot when the event log no longer has them.
    pub fn catch_up(&mut self, backend: &Backend) -> Vec<ServerMessage> {
        let live = backend.live();
        vec![ServerMessage::Kpis { time_ms: live.now_ms(), kpis: live.kpis(None) }, self.catch_up_with(&live)]
    }

    fn catch_up_with(&mut self, live: &Live) -> ServerMessage {
        let Some(events) = live.events_after(self.last_seq) else {
            self.last_seq = live.last_seq();
            return match self.view {
                Some((bbox, layers)) => {
                    let snap = live.snapshot(bbox, layers);
                    if let ServerMessage::Snapshot { patrols, .. } = &snap {
                        self.known = patrols.iter().map(|p| p.pos.id).collect();
                    }
                    snap
                }
                None => ServerMessage::Snapshot {
                    seq: live.last_seq(),
                    tick: 0,
                    time_ms: live.now_ms(),
                    patrols: vec![],
                    incidents: vec![],
                    components: vec![],
                },
            };
        };
        let mut entered = Vec::new();
        let mut left = Vec::new();
        if let Some((bbox, layers)) = self.view
            && layers.contains(Layer::Patrols)
        {
            let now: HashSet<u32> = live.patrols_in(bbox).into_iter().collect();
            left = self.known.iter().filter(|id| !now.contains(id)).collect();
            let mut ids: Vec<u32> = now.iter().copied().collect();
            ids.sort_unstable();
            entered = ids.into_iter().filter_map(|id| live.patrol_state(id)).collect();
            self.known = now.iter().copied().collect();
        }
        if let Some(e) = events.last() {
            self.last_seq = e.seq;
        }
        ServerMessage::Delta {
            tick: 0,
            time_ms: live.now_ms(),
            moved: Vec::new(),
            entered,
            left,
            events: events.iter().map(|e| Event::clone(e)).collect(),
        }
    }
}

fn replay_error(message: String) -> ServerMessage {
    ServerMessage::Error { code: "replay".into(), message }
}

fn empty_delta(time_ms: i64) -> ServerMessage {
    ServerMessage::Delta { tick: 0, time_ms, moved: vec![], entered: vec![], left: vec![], events: vec![] }
}

/// The oldest moment a replay can show now: the retention's edge, or the first keyframe.
fn earliest_ms(state: &Backend, now: i64) -> i64 {
    let edge = now - state.retention_ms;
    let first = state.earliest_replay_ms().unwrap_or(now);
    edge.max(first)
}

fn live_timeline(state: &Backend, now: i64) -> ServerMessage {
    ServerMessage::Timeline { live: true, at_ms: now, server_ms: now, speed: 1.0, earliest_ms: earliest_ms(state, now) }
}

fn replay_timeline(state: &Backend, r: &Replay, now: i64) -> ServerMessage {
    let (server_ms, at_ms) = r.anchor();
    ServerMessage::Timeline { live: false, at_ms, server_ms, speed: r.speed, earliest_ms: earliest_ms(state, now) }
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

/// Why a subscription's box was refused.
#[derive(Debug, thiserror::Error)]
pub enum BboxError {
    #[error("{0:?} is not [west, south, east, north]")]
    NotABox([f64; 4]),
    #[error("{0:?} is not a WGS84 box")]
    NotWgs84([f64; 4]),
    #[error(transparent)]
    Coord(#[from] CoordError),
}

/// A subscription bbox in local metres, clipped to the area the server keeps points in (a box
/// larger than the city sees the whole city, and costs no more). A WGS84 box becomes the
/// envelope of its projected edges.
pub fn to_local_bbox(bbox: Bbox, crs: BboxCrs, state: &Backend) -> Result<Bbox, BboxError> {
    let [x0, y0, x1, y1] = state.area();
    let Bbox([w, s, e, n]) = local_bbox(bbox, crs, state)?;
    Ok(Bbox([w.clamp(x0, x1), s.clamp(y0, y1), e.clamp(x0, x1), n.clamp(y0, y1)]))
}

fn local_bbox(bbox: Bbox, crs: BboxCrs, state: &Backend) -> Result<Bbox, BboxError> {
    if !bbox.is_valid() {
        return Err(BboxError::NotABox(bbox.0));
    }
    match crs {
        BboxCrs::Local => Ok(bbox),
        BboxCrs::Wgs84 => {
            let [w, s, e, n] = bbox.0;
            if w < -180.0 || e > 180.0 || s < -90.0 || n > 90.0 {
                return Err(BboxError::NotWgs84(bbox.0));
            }
            state.with_frame(|f| {
                let mut out = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
                for k in 0..=8 {
                    let t = f64::from(k) / 8.0;
                    for (lon, lat) in
                        [(w + (e - w) * t, s), (w + (e - w) * t, n), (w, s + (n - s) * t), (e, s + (n - s) * t)]
                    {
                        let (x, y) = f.to_local(lon, lat)?;
                        out = [out[0].min(x), out[1].min(y), out[2].max(x), out[3].max(y)];
                    }
                }
                Ok::<_, BboxError>(Bbox(out))
            })
        }
    }
}

/// Fills `lon`/`lat` of every position in a message (the JSON form).
fn add_wgs84(msg: &mut ServerMessage, crs: &str, origin: (f64, f64)) {
    let _ = with_frame(crs, origin, |f| {
        let put = |x: f64, y: f64, lon: &mut Option<f64>, lat: &mut Option<f64>| {
            if let Ok((a, b)) = f.to_wgs84(x, y) {
                *lon = Some((a * 1e7).round() / 1e7);
                *lat = Some((b * 1e7).round() / 1e7);
            }
        };
        let events = match msg {
            ServerMessage::Snapshot { patrols, incidents, .. } => {
                for p in patrols {
                    put(p.pos.x, p.pos.y, &mut p.pos.lon, &mut p.pos.lat);
                }
                for i in incidents {
                    put(i.x, i.y, &mut i.lon, &mut i.lat);
                }
                return Ok::<_, CoordError>(());
            }
            ServerMessage::Delta { moved, entered, events, .. } => {
                for p in moved {
                    put(p.x, p.y, &mut p.lon, &mut p.lat);
                }
                for p in entered {
                    put(p.pos.x, p.pos.y, &mut p.pos.lon, &mut p.pos.lat);
                }
                events
            }
            _ => return Ok(()),
        };
        for e in events {
            if let EventKind::IncidentOpened { incident } | EventKind::IncidentChanged { incident, .. } = &mut e.kind {
                put(incident.x, incident.y, &mut incident.lon, &mut incident.lat);
            }
        }
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn the_id_bitset_behaves_like_a_set() {
        let mut s: IdSet = [3, 64, 200].into_iter().collect();
        assert!(s.contains(64) && !s.contains(65) && !s.contains(100_000));
        assert!(s.remove(64) && !s.remove(64));
        s.insert(0);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 3, 200]);
    }
}
