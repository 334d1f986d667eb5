//! Messages on the `/ws` socket, in both directions. The JSON form is serde's (`"type"` tag);
//! the binary form is in [`crate::binary`].
//!
//! Positions are local metres of the scene (x east, y north). JSON frames also carry WGS84
//! `lon`/`lat` for third-party tools; the binary form carries only the quantized local position
//! (centimetres), which the display uses directly.

use serde::{Deserialize, Serialize};

use crate::model::{
    Bbox, ComponentCategory, ComponentState, GridLevel, IncidentCategory, IncidentSource, IncidentStage, LayerSet,
    PatrolRole, PatrolStatus,
};
use crate::wall::WallView;

pub type PatrolId = u32;
pub type IncidentId = u64;
pub type ComponentId = u32;

/// Which frame a subscription's bbox is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BboxCrs {
    #[default]
    Wgs84,
    Local,
}

/// A position update of a patrol.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatrolPos {
    pub id: PatrolId,
    pub x: f64,
    pub y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
}

/// Everything a display shows of a patrol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatrolState {
    #[serde(flatten)]
    pub pos: PatrolPos,
    /// The id the patrol's device registered with (`patrol_id` in position reports); `pos.id` is
    /// the short number moves use on the socket.
    pub patrol_id: String,
    pub name: String,
    pub role: PatrolRole,
    pub status: PatrolStatus,
    /// Code of the assigned grid cell.
    pub grid: String,
}

/// Everything a display shows of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    pub id: IncidentId,
    pub category: IncidentCategory,
    pub source: IncidentSource,
    pub stage: IncidentStage,
    /// 1 (highest) to 4.
    pub priority: u8,
    pub x: f64,
    pub y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Grid cell code.
    pub grid: String,
    /// Who handles it now: cell, community, street or city centre.
    pub level: GridLevel,
    pub created_ms: i64,
    /// Deadline of the current stage (ms since the Unix epoch).
    pub deadline_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<PatrolId>,
    pub description: String,
}

/// A component in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentItem {
    pub id: ComponentId,
    /// 16-digit GB/T 30428-style code.
    pub code: String,
    pub category: ComponentCategory,
    pub state: ComponentState,
    pub x: f64,
    pub y: f64,
}

/// Key performance indicators over a set of incidents (city-wide or one grid unit).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Kpis {
    pub total: u64,
    /// 在办: not closed yet.
    pub open: u64,
    pub closed: u64,
    /// 今日办结: closed since midnight in the operators' time zone.
    pub closed_today: u64,
    /// 超期: open and past a time limit (the current one, or an earlier one it was escalated for).
    pub overdue: u64,
    /// 结案率: closed / total, 0..1.
    pub closure_rate: f64,
    /// 按期结案率: closed without any stage overdue / closed, 0..1.
    pub on_time_rate: f64,
    /// 满意率: satisfaction ≥ 4 / closed with a rating, 0..1.
    pub satisfaction_rate: f64,
    /// Mean minutes from acceptance to closing.
    pub mean_handling_min: f64,
}

/// Something that happened, numbered. Events are never dropped silently: a client that fell
/// too far behind gets a fresh snapshot instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub time_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    IncidentOpened {
        incident: IncidentState,
    },
    IncidentChanged {
        incident: IncidentState,
        actor: String,
        note: String,
    },
    /// Handed one level up for lateness, with the new deadline of its stage at that level (0 from
    /// servers that did not say).
    IncidentEscalated {
        incident: IncidentId,
        level: GridLevel,
        #[serde(default)]
        deadline_ms: i64,
    },
    PatrolLeftGrid {
        patrol: PatrolId,
        grid: String,
    },
}

/// A request from a display or tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message; `resume_after` is the last event seq the client saw.
    Hello {
        version: u16,
        #[serde(default)]
        client: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_after: Option<u64>,
    },
    /// Replace the viewport and layers.
    Subscribe {
        bbox: Bbox,
        #[serde(default)]
        crs: BboxCrs,
        layers: LayerSet,
    },
    /// Assign a patrol to an incident (the commander's one click).
    Assign {
        request: u64,
        incident: IncidentId,
        patrol: PatrolId,
        actor: String,
    },
    /// A workflow step: `resolve`, `review_pass`, `review_reject`, or `close` (with a
    /// `satisfaction` of 1–5). Dispatching to a patrol is [`ClientMessage::Assign`].
    Transition {
        request: u64,
        incident: IncidentId,
        action: String,
        actor: String,
        #[serde(default)]
        note: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        satisfaction: Option<u8>,
    },
    Ping {
        t: u64,
    },
    /// Join a wall group (`lead`: as the display that drives it). The group's current view
    /// follows as a `wall_view`.
    JoinWall {
        wall: String,
        lead: bool,
    },
    /// The leader's view of its wall group (refused from a display that did not join as leader).
    LeadWall {
        view: Box<WallView>,
    },
    /// Show a view on a wall group from a commander's desk (the selection's panel large), or,
    /// with no view, take it back (收回): the wall returns to its leader's view.
    Cast {
        wall: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view: Option<Box<WallView>>,
    },
    /// Show the city as it was at `at` (RFC 3339, e.g. `2026-11-24T21:30:00+08:00`) and play on
    /// at `speed` (replay ms per server ms: 1, 10, 60, 600…; 0 pauses). The answer is a
    /// `timeline`, the KPIs and a snapshot of the viewport then; deltas follow as replay time
    /// runs. Sent again, it seeks. A time before the history kept is refused with an `error`.
    Replay {
        at: String,
        #[serde(default = "real_time")]
        speed: f64,
    },
    /// Back to live (a `timeline` and a live snapshot follow).
    Live,
    /// 确认 a warning (commanders only): answered by a `reply`, then the warning follows as a
    /// `warnings` change to every display.
    AckWarning {
        request: u64,
        warning: u64,
    },
}

fn real_time() -> f64 {
    1.0
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `hello`. `resumed`: the events after the client's `resume_after` are all
    /// still in the log and follow (as a `delta` before the next `snapshot`); `false` after a
    /// `resume_after` means the client was too far behind and starts from a fresh snapshot.
    Welcome {
        version: u16,
        scene: String,
        tick_hz: u16,
        #[serde(default)]
        resumed: bool,
        /// How fast the server's clock runs: its milliseconds per real millisecond (1, unless it
        /// runs a demo or a test faster). Displays follow its time with this rate between pings.
        #[serde(default = "real_time")]
        clock_rate: f64,
        /// Whether this connection's token may command (assign, workflow steps, cast, lead a
        /// wall): a display hides the buttons it may not use. The server checks each command
        /// anyway.
        #[serde(default)]
        may_command: bool,
    },
    /// Everything inside the viewport now; replaces what the client had. `seq` is the last event
    /// it includes.
    Snapshot {
        seq: u64,
        tick: u64,
        time_ms: i64,
        patrols: Vec<PatrolState>,
        incidents: Vec<IncidentState>,
        components: Vec<ComponentItem>,
    },
    /// Changes since the previous frame.
    Delta {
        tick: u64,
        time_ms: i64,
        /// Patrols already known to the client that moved.
        moved: Vec<PatrolPos>,
        /// Patrols that entered the viewport (or changed status).
        entered: Vec<PatrolState>,
        /// Patrols that left the viewport.
        left: Vec<PatrolId>,
        events: Vec<Event>,
    },
    /// The answer to an `assign` or `transition` request.
    Reply {
        request: u64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The city-wide KPIs, sent after `welcome` and again whenever they change.
    Kpis {
        time_ms: i64,
        kpis: Kpis,
    },
    Error {
        code: String,
        message: String,
    },
    /// The answer to `ping`, with the server's clock when it answered (displays estimate the
    /// offset of their clock from it).
    Pong {
        t: u64,
        #[serde(default)]
        time_ms: i64,
    },
    /// The view of a wall group the display joined: sent on joining, and whenever the leader or
    /// a cast changes it. `time_ms` is the server time it became the group's view.
    WallView {
        wall: String,
        time_ms: i64,
        view: Box<WallView>,
    },
    /// What time the display shows: live, or a replay that was at `at_ms` when the server's
    /// clock read `server_ms` and runs at `speed` replay ms per server ms. Sent after `welcome`
    /// and on every change (a replay that catches up with now returns to live by itself).
    /// `earliest_ms`: the oldest moment that can be replayed now.
    Timeline {
        live: bool,
        at_ms: i64,
        server_ms: i64,
        speed: f64,
        earliest_ms: i64,
    },
    /// Early warnings (预警): after `welcome` every open one (`all`: replaces what the display
    /// had), then each warning raised, changed, acknowledged or closed.
    Warnings {
        time_ms: i64,
        all: bool,
        warnings: Vec<crate::api::analysis::Warning>,
    },
}
