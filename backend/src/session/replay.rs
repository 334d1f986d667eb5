//! A display watching the past instead of live: starting a replay at a moment and speed, its
//! ticks (deltas as replay time runs, a snapshot after a jump), a new viewport, and back to live.
//! The replay itself ([`Replay`]) reads the store's history off the async threads.

use std::collections::HashSet;

use gridwall_protocol::{Layer, ServerMessage};
use gridwall_store::history::HistoryError;
use gridwall_store::history::replay::{Changes, MAX_SPEED, Replay};

use super::{HEARTBEAT, Session};
use crate::Backend;

impl Session {
    pub(super) async fn start_replay(&mut self, state: &Backend, at: &str, speed: f64) -> Vec<ServerMessage> {
        let at_ms = match gridwall_city::ingest::parse_time(at) {
            Ok(t) => t,
            Err(e) => return vec![replay_error(format!("at: {e}"))],
        };
        if !(speed.is_finite() && (0.0..=MAX_SPEED).contains(&speed)) {
            return vec![replay_error(format!("speed: {speed} is not 0 to {MAX_SPEED}"))];
        }
        let now = state.live().now_ms();
        if at_ms > now {
            return vec![replay_error(HistoryError::Future { at_ms, now_ms: now }.to_string())];
        }
        if at_ms < now - state.retention_ms {
            let earliest_ms = Some(earliest_ms(state, now));
            return vec![replay_error(HistoryError::BeforeHistory { at_ms, earliest_ms }.to_string())];
        }
        let history = state.history();
        let view = self.view.map(|(b, _)| b.0);
        let opened = tokio::task::spawn_blocking(move || {
            let mut r = Replay::open(history.open()?, at_ms, speed, now)?;
            r.set_view(view);
            Ok::<_, HistoryError>(r)
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
    pub(super) fn replay_stopped(&mut self, state: &Backend, why: &dyn std::fmt::Display) -> Vec<ServerMessage> {
        let mut out = vec![replay_error(format!("the replay stopped: {why}"))];
        out.extend(self.go_live(state));
        out
    }

    /// Back to live: the timeline, the KPIs and a snapshot of now.
    pub(super) fn go_live(&mut self, state: &Backend) -> Vec<ServerMessage> {
        self.replay = None;
        let live = state.live();
        let mut out = vec![
            live_timeline(state, live.now_ms()),
            ServerMessage::Kpis { time_ms: live.now_ms(), kpis: live.kpis() },
        ];
        if let Some((bbox, layers)) = self.view {
            let snap = self.live_snapshot(&live, bbox, layers);
            if let ServerMessage::Snapshot { seq, .. } = &snap {
                self.last_seq = *seq;
            }
            out.push(snap);
        }
        out
    }

    /// The viewport at the replay's time.
    pub(super) fn replay_snapshot(&mut self, state: &Backend) -> ServerMessage {
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

pub(super) fn live_timeline(state: &Backend, now: i64) -> ServerMessage {
    ServerMessage::Timeline { live: true, at_ms: now, server_ms: now, speed: 1.0, earliest_ms: earliest_ms(state, now) }
}

fn replay_timeline(state: &Backend, r: &Replay, now: i64) -> ServerMessage {
    let (server_ms, at_ms) = r.anchor();
    ServerMessage::Timeline { live: false, at_ms, server_ms, speed: r.speed, earliest_ms: earliest_ms(state, now) }
}
