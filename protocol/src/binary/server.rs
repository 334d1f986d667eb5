//! Server → client frames: stateful per connection (positions delta-coded against what this
//! connection last got).

use super::{
    DecodeError, PositionCache, Reader, T_DELTA, T_ERROR, T_KPIS, T_PONG, T_REPLY, T_SNAPSHOT, T_TIMELINE, T_WALL_VIEW,
    T_WARNINGS, T_WELCOME, Writer, dequantize, finish, get_enum, get_event, get_incident, get_patrol_state, get_view,
    get_warnings, header, put_enum, put_event, put_incident, put_patrol_state, put_view, put_warnings, quantize,
    unzigzag, zigzag,
};
use crate::PROTOCOL_VERSION;
use crate::messages::{ComponentItem, Kpis, PatrolId, PatrolPos, ServerMessage};

/// Encodes server messages for one connection (stateful: see the module docs).
#[derive(Debug, Default)]
pub struct ServerEncoder {
    cache: PositionCache,
}

impl ServerEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encode(&mut self, msg: &ServerMessage) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(PROTOCOL_VERSION as u8);
        match msg {
            ServerMessage::Welcome { version, scene, tick_hz, resumed, clock_rate, may_command } => {
                w.u8(T_WELCOME);
                w.var(u64::from(*version));
                w.str(scene);
                w.var(u64::from(*tick_hz));
                w.u8(u8::from(*resumed));
                w.f64(*clock_rate);
                w.u8(u8::from(*may_command));
            }
            ServerMessage::Snapshot { seq, tick, time_ms, patrols, incidents, components } => {
                w.u8(T_SNAPSHOT);
                self.cache.clear();
                w.var(*seq);
                w.var(*tick);
                w.ivar(*time_ms);
                w.len(patrols.len());
                for p in patrols {
                    put_patrol_state(&mut w, p, &mut self.cache);
                }
                w.len(incidents.len());
                for i in incidents {
                    put_incident(&mut w, i);
                }
                w.len(components.len());
                for c in components {
                    w.var(u64::from(c.id));
                    w.str(&c.code);
                    put_enum(&mut w, c.category);
                    put_enum(&mut w, c.state);
                    w.metres(c.x);
                    w.metres(c.y);
                }
            }
            ServerMessage::Delta { tick, time_ms, moved, entered, left, events } => {
                w.u8(T_DELTA);
                w.var(*tick);
                w.ivar(*time_ms);
                w.len(moved.len());
                let mut prev_id = 0i64;
                for m in moved {
                    let q = (quantize(m.x), quantize(m.y));
                    let id_delta = zigzag(i64::from(m.id) - prev_id);
                    prev_id = i64::from(m.id);
                    if let Some(old) = self.cache.insert(m.id, q) {
                        w.var(id_delta << 1);
                        w.ivar(q.0 - old.0);
                        w.ivar(q.1 - old.1);
                    } else {
                        w.var((id_delta << 1) | 1);
                        w.ivar(q.0);
                        w.ivar(q.1);
                    }
                }
                w.len(entered.len());
                for p in entered {
                    put_patrol_state(&mut w, p, &mut self.cache);
                }
                w.len(left.len());
                for id in left {
                    self.cache.remove(id);
                    w.var(u64::from(*id));
                }
                w.len(events.len());
                for e in events {
                    put_event(&mut w, e);
                }
            }
            ServerMessage::Reply { request, ok, error } => {
                w.u8(T_REPLY);
                w.var(*request);
                w.u8(u8::from(*ok));
                match error {
                    Some(e) => {
                        w.u8(1);
                        w.str(e);
                    }
                    None => w.u8(0),
                }
            }
            ServerMessage::Error { code, message } => {
                w.u8(T_ERROR);
                w.str(code);
                w.str(message);
            }
            ServerMessage::Pong { t, time_ms } => {
                w.u8(T_PONG);
                w.var(*t);
                w.ivar(*time_ms);
            }
            ServerMessage::WallView { wall, time_ms, view } => {
                w.u8(T_WALL_VIEW);
                w.str(wall);
                w.ivar(*time_ms);
                put_view(&mut w, view);
            }
            ServerMessage::Kpis { time_ms, kpis: k } => {
                w.u8(T_KPIS);
                w.ivar(*time_ms);
                for n in [k.total, k.open, k.closed, k.closed_today, k.overdue] {
                    w.var(n);
                }
                for v in [k.closure_rate, k.on_time_rate, k.satisfaction_rate, k.mean_handling_min] {
                    w.f64(v);
                }
            }
            ServerMessage::Timeline { live, at_ms, server_ms, speed, earliest_ms } => {
                w.u8(T_TIMELINE);
                w.u8(u8::from(*live));
                w.ivar(*at_ms);
                w.ivar(*server_ms);
                w.f64(*speed);
                w.ivar(*earliest_ms);
            }
            ServerMessage::Warnings { time_ms, all, warnings } => {
                w.u8(T_WARNINGS);
                w.ivar(*time_ms);
                w.u8(u8::from(*all));
                put_warnings(&mut w, warnings);
            }
        }
        w.0
    }
}

/// Decodes server messages of one connection (mirrors [`ServerEncoder`]).
#[derive(Debug, Default)]
pub struct ServerDecoder {
    cache: PositionCache,
}

impl ServerDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one frame. On error the connection's position state may be stale: the client
    /// should resubscribe (which brings a snapshot).
    pub fn decode(&mut self, frame: &[u8]) -> Result<ServerMessage, DecodeError> {
        let mut r = Reader { buf: frame, pos: 0 };
        let msg = match header(&mut r)? {
            T_WELCOME => ServerMessage::Welcome {
                version: r.u16()?,
                scene: r.str()?,
                tick_hz: r.u16()?,
                resumed: r.u8()? != 0,
                clock_rate: r.f64()?,
                may_command: r.u8()? != 0,
            },
            T_SNAPSHOT => {
                let mut cache = PositionCache::new();
                let (seq, tick, time_ms) = (r.var()?, r.var()?, r.ivar()?);
                let patrols = r.vec(|r| get_patrol_state(r, &mut cache))?;
                let incidents = r.vec(get_incident)?;
                let components = r.vec(|r| {
                    Ok(ComponentItem {
                        id: r.u32()?,
                        code: r.str()?,
                        category: get_enum(r)?,
                        state: get_enum(r)?,
                        x: r.metres()?,
                        y: r.metres()?,
                    })
                })?;
                self.cache = cache;
                ServerMessage::Snapshot { seq, tick, time_ms, patrols, incidents, components }
            }
            T_DELTA => {
                let (tick, time_ms) = (r.var()?, r.ivar()?);
                let mut prev_id = 0i64;
                let cache = &mut self.cache;
                let moved = r.vec(|r| {
                    let head = r.var()?;
                    let id = prev_id + unzigzag(head >> 1);
                    prev_id = id;
                    let id = PatrolId::try_from(id).map_err(|_| DecodeError::Varint)?;
                    let (a, b) = (r.ivar()?, r.ivar()?);
                    let q = if head & 1 == 1 {
                        (a, b)
                    } else {
                        let old = cache.get(&id).ok_or(DecodeError::UnknownPatrol(id))?;
                        (old.0 + a, old.1 + b)
                    };
                    cache.insert(id, q);
                    Ok(PatrolPos { id, x: dequantize(q.0), y: dequantize(q.1), lon: None, lat: None })
                })?;
                let entered = r.vec(|r| get_patrol_state(r, cache))?;
                let left = r.vec(|r| {
                    let id = r.u32()?;
                    cache.remove(&id);
                    Ok(id)
                })?;
                let events = r.vec(get_event)?;
                ServerMessage::Delta { tick, time_ms, moved, entered, left, events }
            }
            T_REPLY => ServerMessage::Reply { request: r.var()?, ok: r.u8()? != 0, error: r.opt(Reader::str)? },
            T_ERROR => ServerMessage::Error { code: r.str()?, message: r.str()? },
            T_PONG => ServerMessage::Pong { t: r.var()?, time_ms: r.ivar()? },
            T_WALL_VIEW => ServerMessage::WallView { wall: r.str()?, time_ms: r.ivar()?, view: get_view(&mut r)? },
            T_KPIS => ServerMessage::Kpis {
                time_ms: r.ivar()?,
                kpis: Kpis {
                    total: r.var()?,
                    open: r.var()?,
                    closed: r.var()?,
                    closed_today: r.var()?,
                    overdue: r.var()?,
                    closure_rate: r.f64()?,
                    on_time_rate: r.f64()?,
                    satisfaction_rate: r.f64()?,
                    mean_handling_min: r.f64()?,
                },
            },
            T_TIMELINE => ServerMessage::Timeline {
                live: r.u8()? != 0,
                at_ms: r.ivar()?,
                server_ms: r.ivar()?,
                speed: r.f64()?,
                earliest_ms: r.ivar()?,
            },
            T_WARNINGS => {
                ServerMessage::Warnings { time_ms: r.ivar()?, all: r.u8()? != 0, warnings: get_warnings(&mut r)? }
            }
            t => return Err(DecodeError::Tag(t)),
        };
        finish(&r, msg)
    }
}
