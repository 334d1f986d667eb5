//! The only place that touches the network: a WebSocket to the server (reconnecting with
//! backoff and resuming from the last event seq) whose frames become Bevy messages
//! ([`ServerFrame`]); [`Outbound`] messages go the other way. Questions for the HTTP API
//! ([`Ask`]) come back as [`Answer`]s. The link's state ([`Connection`]) and the server's clock
//! ([`ServerClock`]) are resources.
//!
//! The same link runs natively (`native`: the socket and HTTP on threads of their own, tokio and
//! ureq) and in a browser (`web`: the browser's WebSocket and fetch, on its one thread); what
//! they share is here: the questions' URLs and answers, the frames' handling, what is said again
//! after a reconnection.

use std::time::Duration;

use bevy::prelude::*;
use gridwall_protocol::api::analysis::{DeskRankingAnswer, DeviationAnswer, HotspotAnswer, RankingAnswer, TrendAnswer};
use gridwall_protocol::api::open311::ServiceRequest;
use gridwall_protocol::api::{ErrorBody, IncidentDetail, NearestAnswer};
use gridwall_protocol::binary::ServerDecoder;
use gridwall_protocol::wall::WallReplay;
use gridwall_protocol::{AnalysisPeriod, ClientMessage, GridLevel, IncidentCategory, PROTOCOL_VERSION, ServerMessage};

use crate::AppSystems;
use crate::loading::LoadProgress;

mod clock;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
mod web;

#[cfg(not(target_arch = "wasm32"))]
use native::Link;
#[cfg(target_arch = "wasm32")]
use web::Link;
#[cfg(target_arch = "wasm32")]
pub(crate) use web::get as web_get;

pub use clock::{ServerClock, local_ms};

/// What readiness waits for when the display is live.
const FIRST_SNAPSHOT: &str = "first live snapshot";

/// Where to connect: `ws://HOST:PORT/ws`, and the token to show (`--token`).
#[derive(Resource, Debug, Clone)]
pub struct NetConfig {
    pub url: String,
    /// The bearer token (`--token`); a browser signs in with a cookie instead.
    #[cfg(not(target_arch = "wasm32"))]
    pub token: Option<String>,
    /// Whom to trust over TLS (`wss://`; a browser trusts its own roots).
    #[cfg(not(target_arch = "wasm32"))]
    pub trust: crate::remote::Trust,
}

/// A message from the server, in order.
#[derive(Message, Debug, Clone)]
pub struct ServerFrame(pub ServerMessage);

/// Whether the server lets this display command (its welcome says, from the token's role):
/// a viewer's wall or browser shows no 派遣, 投屏 or 确认. The server checks each command anyway.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MayCommand(pub bool);

/// Something to send to the server (subscribe, assign, transition…).
#[derive(Message, Debug, Clone)]
pub struct Outbound(pub ClientMessage);

/// A question for the server's HTTP API; the answer comes back as an [`Answer`] message.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// `GET /api/v1/incidents/{id}`: details and workflow timeline.
    Incident(u64),
    /// `GET /api/v1/nearest?incident=ID&k=K`: the k nearest on-duty patrols.
    Nearest { incident: u64, k: usize },
    /// `GET /open311/v2/requests.json?status=closed`: the newest closed incident (a tour shows
    /// its whole loop).
    NewestClosed,
    /// `GET /api/v1/analysis/trend`: a unit's (none: the city's) hourly counts with the band.
    Trend { scope: Option<String>, category: Option<IncidentCategory>, hours: u32 },
    /// `GET /api/v1/analysis/ranking`: 一季一排名 of a level for the period holding today.
    Ranking { level: GridLevel, period: AnalysisPeriod, top: u32 },
    /// `GET /api/v1/analysis/desks`: the desks (patrols, departments) ranked for the period.
    Desks { period: AnalysisPeriod, top: u32 },
    /// `GET /api/v1/analysis/hotspots`: the emerging hot spot layer.
    Hotspots { category: Option<IncidentCategory> },
    /// `GET /api/v1/analysis/deviation`: each unit of a level against its band.
    Deviation { level: GridLevel, hours: u32 },
    /// `GET /open311/v2/media/{file}`: a photo of an incident (reader roles).
    Photo { incident: u64, file: String },
}

/// The server's answer to an [`Ask`].
#[derive(Message, Debug, Clone, PartialEq)]
pub enum Answer {
    Incident(Box<IncidentDetail>),
    Nearest {
        incident: u64,
        answer: NearestAnswer,
    },
    /// The newest closed incident's id, if any closed.
    NewestClosed(Option<u64>),
    Trend(Box<TrendAnswer>),
    Ranking(Box<RankingAnswer>),
    Desks(Box<DeskRankingAnswer>),
    Hotspots(Box<HotspotAnswer>),
    Deviation(Box<DeviationAnswer>),
    /// A photo's bytes (JPEG or PNG, as `file` names it).
    Photo {
        incident: u64,
        file: String,
        bytes: Vec<u8>,
    },
    Failed {
        ask: Ask,
        error: String,
    },
}

/// The link's state, for the HUD's "reconnecting" banner.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub enum Connection {
    #[default]
    Connecting,
    Connected,
    /// Lost; the next attempt is in `retry_in`.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
    },
}

/// What the link hands the Bevy side.
enum Inbound {
    Connected,
    Clock { server_ms: f64, local_ms: f64, rtt_ms: f64, rate: f64 },
    Lost { attempt: u32, retry_in: Duration, reason: String },
    Frame(ServerMessage),
    Answer(Answer),
}

pub struct NetPlugin;

impl Plugin for NetPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ServerFrame>()
            .add_message::<Outbound>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .init_resource::<Connection>()
            .init_resource::<MayCommand>()
            .init_resource::<ServerClock>()
            .init_resource::<LoadProgress>()
            .add_systems(Startup, open_link.run_if(resource_exists::<NetConfig>))
            .add_systems(
                Update,
                (receive_frames.in_set(AppSystems::Receive), send_outbound.in_set(AppSystems::Send))
                    .run_if(resource_exists::<Link>),
            );
    }
}

fn open_link(mut commands: Commands, config: Res<NetConfig>, mut progress: ResMut<LoadProgress>) {
    progress.wait_for(FIRST_SNAPSHOT);
    commands.insert_resource(Link::open(&config));
}

/// Drains what the link received: link state, frames (which also set the server
/// clock), answers.
fn receive_frames(
    link: Res<Link>,
    mut state: ResMut<Connection>,
    mut clock: ResMut<ServerClock>,
    time: Res<Time>,
    mut progress: ResMut<LoadProgress>,
    mut rights: ResMut<MayCommand>,
    mut frames: MessageWriter<ServerFrame>,
    mut answers: MessageWriter<Answer>,
) {
    while let Some(item) = link.try_recv() {
        match item {
            Inbound::Connected => *state = Connection::Connected,
            Inbound::Clock { server_ms, local_ms, rtt_ms, rate } => clock.sync(server_ms, local_ms, rtt_ms, rate),
            Inbound::Lost { attempt, retry_in, reason } => {
                *state = Connection::Reconnecting { attempt, retry_in, reason }
            }
            Inbound::Answer(a) => {
                answers.write(a);
            }
            Inbound::Frame(m) => {
                if let ServerMessage::Welcome { may_command, .. } = &m {
                    rights.set_if_neq(MayCommand(*may_command));
                }
                if let ServerMessage::Timeline { live, at_ms, server_ms, speed, .. } = &m {
                    clock.set_replay((!live).then_some(WallReplay {
                        at_ms: *at_ms,
                        server_ms: *server_ms,
                        speed: *speed,
                    }));
                }
                // A replay's frames carry the replay's time, not the server's.
                if let ServerMessage::Snapshot { time_ms, .. }
                | ServerMessage::Delta { time_ms, .. }
                | ServerMessage::Kpis { time_ms, .. } = &m
                    && clock.replay().is_none()
                {
                    clock.set(*time_ms, time.elapsed_secs());
                }
                if matches!(m, ServerMessage::Snapshot { .. }) {
                    progress.done(FIRST_SNAPSHOT);
                }
                frames.write(ServerFrame(m));
            }
        }
    }
}

fn send_outbound(link: Res<Link>, mut outbound: MessageReader<Outbound>, mut asks: MessageReader<Ask>) {
    for c in outbound.read() {
        link.send(c.0.clone());
    }
    for a in asks.read() {
        link.ask(a.clone());
    }
}

/// The HTTP API's base (`http://HOST:PORT`) of a socket URL (`ws://HOST:PORT/ws`).
fn http_base(ws_url: &str) -> String {
    ws_url.replacen("wss://", "https://", 1).replacen("ws://", "http://", 1).trim_end_matches("/ws").to_owned()
}

/// Most bytes of one answer (a 研判 answer can be large).
const MAX_ANSWER_BYTES: u64 = 16 << 20;

/// An [`Ask`]'s URL under `base`, and its query (percent-encoded by whoever sends it).
fn ask_request(base: &str, ask: &Ask) -> (String, Vec<(&'static str, String)>) {
    match ask {
        Ask::Incident(id) => (format!("{base}/api/v1/incidents/{id}"), vec![]),
        Ask::Nearest { incident, k } => {
            (format!("{base}/api/v1/nearest"), vec![("incident", incident.to_string()), ("k", k.to_string())])
        }
        Ask::NewestClosed => (format!("{base}/open311/v2/requests.json"), vec![("status", "closed".to_owned())]),
        Ask::Trend { scope, category, hours } => (
            format!("{base}/api/v1/analysis/trend"),
            vec![
                ("scope", scope.clone().unwrap_or_default()),
                ("category", category.map_or("", IncidentCategory::key).to_owned()),
                ("hours", hours.to_string()),
            ],
        ),
        Ask::Ranking { level, period, top } => (
            format!("{base}/api/v1/analysis/ranking"),
            vec![("level", level.to_string()), ("period", period.to_string()), ("top", top.to_string())],
        ),
        Ask::Desks { period, top } => {
            (format!("{base}/api/v1/analysis/desks"), vec![("period", period.to_string()), ("top", top.to_string())])
        }
        Ask::Hotspots { category } => (
            format!("{base}/api/v1/analysis/hotspots"),
            vec![("category", category.map_or("", IncidentCategory::key).to_owned())],
        ),
        Ask::Deviation { level, hours } => (
            format!("{base}/api/v1/analysis/deviation"),
            vec![("level", level.to_string()), ("hours", hours.to_string())],
        ),
        // The name is the server's (an id and an extension); encoded all the same.
        Ask::Photo { file, .. } => {
            let file: String = file.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
            (format!("{base}/open311/v2/media/{file}"), vec![])
        }
    }
}

/// The answer to `ask` from the server's reply: its status and body.
fn decode_answer(ask: Ask, status: u16, body: &[u8]) -> Answer {
    fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
    let answer = if (200..300).contains(&status) {
        match &ask {
            Ask::Photo { incident, file } => {
                Ok(Answer::Photo { incident: *incident, file: file.clone(), bytes: body.to_vec() })
            }
            Ask::Incident(_) => json(body).map(|d| Answer::Incident(Box::new(d))),
            Ask::Nearest { incident, .. } => json(body).map(|answer| Answer::Nearest { incident: *incident, answer }),
            Ask::NewestClosed => json::<Vec<ServiceRequest>>(body)
                .map(|list| Answer::NewestClosed(list.first().and_then(|r| r.service_request_id.parse().ok()))),
            Ask::Trend { .. } => json(body).map(|a| Answer::Trend(Box::new(a))),
            Ask::Ranking { .. } => json(body).map(|a| Answer::Ranking(Box::new(a))),
            Ask::Desks { .. } => json(body).map(|a| Answer::Desks(Box::new(a))),
            Ask::Hotspots { .. } => json(body).map(|a| Answer::Hotspots(Box::new(a))),
            Ask::Deviation { .. } => json(body).map(|a| Answer::Deviation(Box::new(a))),
        }
    } else {
        Err(json::<ErrorBody>(body).map_or_else(|_| format!("HTTP {status}"), |b| b.error.message))
    };
    answer.unwrap_or_else(|error| Answer::Failed { ask, error })
}

/// How often the link measures the server's clock.
const PING_EVERY: Duration = Duration::from_secs(2);

/// What the server is told again after every (re)connection: the last subscription and the wall
/// group joined.
#[derive(Debug, Default)]
struct Standing {
    subscribe: Option<ClientMessage>,
    join: Option<ClientMessage>,
}

impl Standing {
    fn remember(&mut self, m: &ClientMessage) {
        match m {
            ClientMessage::Subscribe { .. } => self.subscribe = Some(m.clone()),
            ClientMessage::JoinWall { .. } => self.join = Some(m.clone()),
            _ => {}
        }
    }

    fn all(&self) -> impl Iterator<Item = &ClientMessage> {
        self.subscribe.iter().chain(&self.join)
    }
}

/// One connection's reading of the server's frames: decodes them, keeps the last event seq
/// (to resume after a loss) and the server's clock rate, and turns pongs into clock readings.
#[derive(Default)]
struct Reader {
    decoder: ServerDecoder,
    /// The server's clock rate, from its welcome.
    rate: Option<f64>,
}

impl Reader {
    /// The hello that opens a connection (resuming after `last_seq`).
    fn hello(last_seq: Option<u64>) -> ClientMessage {
        ClientMessage::Hello { version: PROTOCOL_VERSION, client: "gridwall".into(), resume_after: last_seq }
    }

    /// A binary frame: what to hand the Bevy side, or why the connection is bad.
    fn read(&mut self, bytes: &[u8], last_seq: &mut Option<u64>) -> Result<Inbound, String> {
        let msg = self.decoder.decode(bytes).map_err(|e| format!("bad frame from the server: {e}"))?;
        if let ServerMessage::Welcome { clock_rate, .. } = &msg {
            self.rate = Some(*clock_rate);
        }
        if let ServerMessage::Pong { t, time_ms } = msg {
            let now = local_ms() as f64;
            let (rtt_ms, local_ms) = (now - t as f64, f64::midpoint(t as f64, now));
            return Ok(Inbound::Clock { server_ms: time_ms as f64, local_ms, rtt_ms, rate: self.rate.unwrap_or(1.0) });
        }
        match &msg {
            ServerMessage::Snapshot { seq, .. } => *last_seq = Some(last_seq.map_or(*seq, |s| s.max(*seq))),
            ServerMessage::Delta { events, .. } => {
                if let Some(e) = events.last() {
                    *last_seq = Some(e.seq);
                }
            }
            ServerMessage::Welcome { resumed: false, .. } => *last_seq = None,
            _ => {}
        }
        Ok(Inbound::Frame(msg))
    }
}

/// The wait before reconnection attempt `attempt` (1, 2, …): 0.5 s doubling up to 8 s.
fn retry_after(attempt: u32) -> Duration {
    Duration::from_millis(500 * (1 << attempt.min(5).saturating_sub(1))).min(Duration::from_secs(8))
}
