//! Protocol values for unit tests: change what a test is about with struct update syntax,
//! e.g. `IncidentState { grid: CELL.into(), ..incident(7, IncidentStage::Accepted) }`.

use gridwall_protocol::{
    ComponentCategory, ComponentItem, ComponentState, Event, EventKind, GridLevel, IncidentCategory, IncidentSource,
    IncidentStage, IncidentState, PatrolPos, PatrolRole, PatrolState, PatrolStatus, ServerMessage,
};

/// A garbage incident reported on the hotline at local (1, 2) in cell `g`, handled at cell level,
/// priority 4, no deadline.
pub fn incident(id: u64, stage: IncidentStage) -> IncidentState {
    IncidentState {
        id,
        category: IncidentCategory::Garbage,
        source: IncidentSource::Hotline,
        stage,
        priority: 4,
        x: 1.0,
        y: 2.0,
        lon: None,
        lat: None,
        grid: "g".into(),
        level: GridLevel::Cell,
        created_ms: 0,
        deadline_ms: 0,
        assignee: None,
        description: String::new(),
    }
}

/// A patrolling police officer `P-{id}` at local (x, y), assigned to cell `g`.
pub fn patrol(id: u32, x: f64, y: f64) -> PatrolState {
    PatrolState {
        pos: PatrolPos { id, x, y, lon: None, lat: None },
        patrol_id: format!("P-{id}"),
        name: format!("P-{id}"),
        role: PatrolRole::Police,
        status: PatrolStatus::Patrolling,
        grid: "g".into(),
    }
}

/// An intact component of a category at local (x, 0).
pub fn component(id: u32, category: ComponentCategory, state: ComponentState) -> ComponentItem {
    ComponentItem { id, code: format!("37078302070000{id:02}"), category, state, x: f64::from(id), y: 0.0 }
}

/// A snapshot of these patrols, incidents and components.
pub fn snapshot(
    patrols: Vec<PatrolState>,
    incidents: Vec<IncidentState>,
    components: Vec<ComponentItem>,
) -> ServerMessage {
    ServerMessage::Snapshot { seq: 0, tick: 0, time_ms: 0, patrols, incidents, components }
}

/// A delta carrying only these events, numbered from 1.
pub fn events(kinds: Vec<EventKind>) -> ServerMessage {
    let events = kinds.into_iter().enumerate().map(|(i, kind)| Event { seq: i as u64 + 1, time_ms: 0, kind }).collect();
    ServerMessage::Delta { tick: 1, time_ms: 0, moved: vec![], entered: vec![], left: vec![], events }
}

/// A delta of patrol changes only.
pub fn delta(moved: Vec<PatrolPos>, entered: Vec<PatrolState>, left: Vec<u32>) -> ServerMessage {
    ServerMessage::Delta { tick: 1, time_ms: 0, moved, entered, left, events: vec![] }
}

/// A wall view with every field set.
pub fn wall_view() -> gridwall_protocol::wall::WallView {
    use gridwall_protocol::wall::{CameraMotion, Caption, Highlight, Orbit, Selected, WallView};
    use gridwall_protocol::{ComponentCategory, GridLevel, IncidentStage};
    let orbit = |x: f64, d: f32| Orbit { x, y: -20.5, heading: 0.3, pitch: 0.9, distance: d };
    WallView {
        camera: CameraMotion {
            from: orbit(0.0, 1500.0),
            to: orbit(120.0, 450.0),
            start_ms: 1_790_000_000_000,
            duration_ms: 1_200,
            eased: true,
        },
        selection: Some(Selected::Incident(17)),
        cast: true,
        hidden_stages: vec![IncidentStage::Resolved],
        hidden_categories: vec![ComponentCategory::Bench],
        grid_filter: Some("370783001002".into()),
        heatmap: true,
        caption: Some(Caption { zh: "网格化管理".into(), en: "Grid management".into() }),
        highlight: Some(Highlight::GridLevel(GridLevel::Community)),
        replay: Some(gridwall_protocol::wall::WallReplay {
            at_ms: 1_789_990_000_000,
            server_ms: 1_790_000_000_000,
            speed: 60.0,
        }),
        analysis: Some(gridwall_protocol::wall::WallAnalysis {
            tab: gridwall_protocol::wall::AnalysisTab::Ranking,
            scope: Some("370783001".into()),
            category: Some(gridwall_protocol::IncidentCategory::Garbage),
            hours: 24 * 365,
            level: GridLevel::Street,
            desks: true,
            period: gridwall_protocol::AnalysisPeriod::Quarter,
            focus: Some(12),
        }),
    }
}

/// A replay's timeline message.
pub fn timeline() -> gridwall_protocol::ServerMessage {
    gridwall_protocol::ServerMessage::Timeline {
        live: false,
        at_ms: 1_789_990_000_000,
        server_ms: 1_790_000_000_000,
        speed: 600.0,
        earliest_ms: 1_789_913_600_000,
    }
}

/// One client message of every kind (both transition shapes, a cast and its take-back).
pub fn client_messages() -> Vec<gridwall_protocol::ClientMessage> {
    use gridwall_protocol::{Bbox, BboxCrs, ClientMessage, Layer, PROTOCOL_VERSION};
    vec![
        ClientMessage::Hello { version: PROTOCOL_VERSION, client: "wall-1".into(), resume_after: Some(77) },
        ClientMessage::Subscribe {
            bbox: Bbox([24.93, 60.16, 24.95, 60.18]),
            crs: BboxCrs::Wgs84,
            layers: [Layer::Patrols, Layer::Incidents].into_iter().collect(),
        },
        ClientMessage::Assign { request: 5, incident: 9, patrol: 3, actor: "指挥长".into() },
        ClientMessage::Transition {
            request: 6,
            incident: 9,
            action: "resolve".into(),
            actor: "w1".into(),
            note: "已修复".into(),
            satisfaction: None,
        },
        ClientMessage::Transition {
            request: 7,
            incident: 9,
            action: "close".into(),
            actor: "回访员".into(),
            note: String::new(),
            satisfaction: Some(5),
        },
        ClientMessage::Ping { t: 99 },
        ClientMessage::JoinWall { wall: "main".into(), lead: true },
        ClientMessage::LeadWall { view: Box::new(wall_view()) },
        ClientMessage::Cast { wall: "main".into(), view: Some(Box::new(wall_view())) },
        ClientMessage::Cast { wall: "main".into(), view: None },
        ClientMessage::Replay { at: "2026-11-24T21:30:00+08:00".into(), speed: 60.0 },
        ClientMessage::Live,
    ]
}
