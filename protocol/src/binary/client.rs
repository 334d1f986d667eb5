//! Client → server frames (stateless).

use super::{
    DecodeError, Reader, T_ACK_WARNING, T_ASSIGN, T_CAST, T_HELLO, T_JOIN_WALL, T_LEAD_WALL, T_LIVE, T_PING, T_REPLAY,
    T_SUBSCRIBE, T_TRANSITION, Writer, finish, get_view, header, put_view,
};
use crate::PROTOCOL_VERSION;
use crate::messages::{BboxCrs, ClientMessage};
use crate::model::{Bbox, LayerSet};

/// Encodes a client message (stateless).
pub fn encode_client(msg: &ClientMessage) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(PROTOCOL_VERSION as u8);
    match msg {
        ClientMessage::Hello { version, client, resume_after } => {
            w.u8(T_HELLO);
            w.var(u64::from(*version));
            w.str(client);
            match resume_after {
                Some(s) => {
                    w.u8(1);
                    w.var(*s);
                }
                None => w.u8(0),
            }
        }
        ClientMessage::Subscribe { bbox, crs, layers } => {
            w.u8(T_SUBSCRIBE);
            for v in bbox.0 {
                w.f64(v);
            }
            w.u8(u8::from(*crs == BboxCrs::Local));
            w.u8(layers.0);
        }
        ClientMessage::Assign { request, incident, patrol, actor } => {
            w.u8(T_ASSIGN);
            w.var(*request);
            w.var(*incident);
            w.var(u64::from(*patrol));
            w.str(actor);
        }
        ClientMessage::Transition { request, incident, action, actor, note, satisfaction } => {
            w.u8(T_TRANSITION);
            w.var(*request);
            w.var(*incident);
            w.str(action);
            w.str(actor);
            w.str(note);
            w.u8(satisfaction.unwrap_or(0));
        }
        ClientMessage::Ping { t } => {
            w.u8(T_PING);
            w.var(*t);
        }
        ClientMessage::JoinWall { wall, lead } => {
            w.u8(T_JOIN_WALL);
            w.str(wall);
            w.u8(u8::from(*lead));
        }
        ClientMessage::LeadWall { view } => {
            w.u8(T_LEAD_WALL);
            put_view(&mut w, view);
        }
        ClientMessage::Cast { wall, view } => {
            w.u8(T_CAST);
            w.str(wall);
            match view {
                Some(v) => {
                    w.u8(1);
                    put_view(&mut w, v);
                }
                None => w.u8(0),
            }
        }
        ClientMessage::Replay { at, speed } => {
            w.u8(T_REPLAY);
            w.str(at);
            w.f64(*speed);
        }
        ClientMessage::Live => w.u8(T_LIVE),
        ClientMessage::AckWarning { request, warning } => {
            w.u8(T_ACK_WARNING);
            w.var(*request);
            w.var(*warning);
        }
    }
    w.0
}

/// Decodes a client message.
pub fn decode_client(frame: &[u8]) -> Result<ClientMessage, DecodeError> {
    let mut r = Reader { buf: frame, pos: 0 };
    let msg = match header(&mut r)? {
        T_HELLO => ClientMessage::Hello { version: r.u16()?, client: r.str()?, resume_after: r.opt(Reader::var)? },
        T_SUBSCRIBE => {
            let bbox = Bbox([r.f64()?, r.f64()?, r.f64()?, r.f64()?]);
            let crs = match r.u8()? {
                0 => BboxCrs::Wgs84,
                1 => BboxCrs::Local,
                v => return Err(DecodeError::Enum { what: "bbox crs", value: v }),
            };
            let layers = r.u8()?;
            if layers & !LayerSet::ALL.0 != 0 {
                return Err(DecodeError::Enum { what: "layer set", value: layers });
            }
            ClientMessage::Subscribe { bbox, crs, layers: LayerSet(layers) }
        }
        T_ASSIGN => ClientMessage::Assign { request: r.var()?, incident: r.var()?, patrol: r.u32()?, actor: r.str()? },
        T_TRANSITION => ClientMessage::Transition {
            request: r.var()?,
            incident: r.var()?,
            action: r.str()?,
            actor: r.str()?,
            note: r.str()?,
            satisfaction: Some(r.u8()?).filter(|&s| s != 0),
        },
        T_PING => ClientMessage::Ping { t: r.var()? },
        T_JOIN_WALL => ClientMessage::JoinWall { wall: r.str()?, lead: r.u8()? != 0 },
        T_LEAD_WALL => ClientMessage::LeadWall { view: get_view(&mut r)? },
        T_CAST => ClientMessage::Cast { wall: r.str()?, view: r.opt(get_view)? },
        T_REPLAY => ClientMessage::Replay { at: r.str()?, speed: r.f64()? },
        T_LIVE => ClientMessage::Live,
        T_ACK_WARNING => ClientMessage::AckWarning { request: r.var()?, warning: r.var()? },
        t => return Err(DecodeError::Tag(t)),
    };
    finish(&r, msg)
}
