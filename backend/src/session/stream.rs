//! A display watching live: what it gets of each tick batch (a delta of its viewport, the KPIs
//! when they changed), and catching up after it fell behind (latest positions win; missed
//! events from the log, or a fresh snapshot when the log no longer holds them).

use std::collections::HashSet;

use gridwall_city::state::{Live, TickBatch};
use gridwall_protocol::{Bbox, Event, Layer, LayerSet, ServerMessage};

use super::{HEARTBEAT, Session};
use crate::Backend;

impl Session {
    /// What this connection gets of a tick batch: a delta of its viewport (or a heartbeat once a
    /// second), and the KPIs when they changed.
    pub fn on_tick(&mut self, batch: &TickBatch, backend: &Backend) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        if let Some(kpis) = batch.kpis {
            out.push(ServerMessage::Kpis { time_ms: batch.time_ms, kpis });
        }
        if !batch.warnings.is_empty() {
            out.push(ServerMessage::Warnings { time_ms: batch.time_ms, all: false, warnings: batch.warnings.clone() });
        }
        out.extend(self.delta(batch, backend));
        out
    }

    fn delta(&mut self, batch: &TickBatch, backend: &Backend) -> Option<ServerMessage> {
        let (mut moved, mut entered, mut left) = (Vec::new(), Vec::new(), Vec::new());
        if let Some((bbox, _)) = self.view.filter(|v| v.1.contains(Layer::Patrols))
            && batch.tick > self.snapshot_tick
        {
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
        let mut out = {
            let live = backend.live();
            vec![ServerMessage::Kpis { time_ms: live.now_ms(), kpis: live.kpis() }, self.catch_up_with(&live)]
        };
        out.push(Self::warnings_now(backend));
        out
    }

    /// Every open warning (after `welcome`, and after falling behind): replaces the display's.
    pub fn warnings_now(backend: &Backend) -> ServerMessage {
        let warnings = backend.analysis.engine().open_warnings();
        ServerMessage::Warnings { time_ms: backend.live().now_ms(), all: true, warnings }
    }

    /// The viewport as it is now; what the display then has (the patrols in it, the batches the
    /// snapshot includes).
    pub(super) fn live_snapshot(&mut self, live: &Live, bbox: Bbox, layers: LayerSet) -> ServerMessage {
        let snap = live.snapshot(bbox, layers);
        if let ServerMessage::Snapshot { tick, patrols, .. } = &snap {
            self.known = patrols.iter().map(|p| p.pos.id).collect();
            self.snapshot_tick = *tick;
        }
        snap
    }

    fn catch_up_with(&mut self, live: &Live) -> ServerMessage {
        let Some(events) = live.events_after(self.last_seq) else {
            self.last_seq = live.last_seq();
            return match self.view {
                Some((bbox, layers)) => self.live_snapshot(live, bbox, layers),
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
