//! The only place that touches the network: a background thread keeps a WebSocket to the server
//! (reconnecting with backoff and resuming from the last event seq) and turns frames into Bevy
//! messages ([`ServerFrame`]); [`Outbound`] messages go the other way. Questions for the HTTP
//! API ([`Ask`]) are answered on another thread ([`Answer`]). The link's state
//! ([`Connection`]) and the server's clock ([`ServerClock`]) are resources.

use std::thread;
use std::time::Duration;

use bevy::prelude::*;
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_protocol::api::analysis::{DeskRankingAnswer, DeviationAnswer, HotspotAnswer, RankingAnswer, TrendAnswer};
use gridwall_protocol::api::open311::ServiceRequest;
use gridwall_protocol::api::{ErrorBody, IncidentDetail, NearestAnswer};
use gridwall_protocol::binary::{ServerDecoder, encode_client};
use gridwall_protocol::wall::WallReplay;
use gridwall_protocol::{AnalysisPeriod, ClientMessage, GridLevel, IncidentCategory, PROTOCOL_VERSION, ServerMessage};
use tokio::sync::mpsc as tmpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::AppSystems;
use crate::loading::LoadProgress;

mod clock;

pub use clock::{ServerClock, local_ms};

/// What readiness waits for when the display is live.
const FIRST_SNAPSHOT: &str = "first live snapshot";

/// Where to connect: `ws://HOST:PORT/ws`, and the token to show (`--token`).
#[derive(Resource, Debug, Clone)]
pub struct NetConfig {
    pub url: String,
    pub token: Option<String>,
    /// Whom to trust over TLS (`wss://`).
    pub trust: crate::remote::Trust,
}

/// A message from the server, in order.
#[derive(Message, Debug, Clone)]
pub struct ServerFrame(pub ServerMessage);

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

enum Inbound {
    Connected,
    Clock { server_ms: f64, local_ms: f64, rtt_ms: f64, rate: f64 },
    Lost { attempt: u32, retry_in: Duration, reason: String },
    Frame(ServerMessage),
    Answer(Answer),
}

/// The channel ends the Bevy side holds.
#[derive(Resource)]
struct Link {
    inbox: tmpsc::UnboundedReceiver<Inbound>,
    outbox: tmpsc::UnboundedSender<ClientMessage>,
    asks: std::sync::mpsc::Sender<Ask>,
}

pub struct NetPlugin;

impl Plugin for NetPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ServerFrame>()
            .add_message::<Outbound>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .init_resource::<Connection>()
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
    let (in_tx, inbox) = tmpsc::unbounded_channel();
    let (outbox, out_rx) = tmpsc::unbounded_channel();
    let url = config.url.clone();
    let token = config.token.clone();
    let http_token = token.clone();
    let http = url.replacen("wss://", "https://", 1).replacen("ws://", "http://", 1).trim_end_matches("/ws").to_owned();
    let (trust, ws_trust) = (config.trust.clone(), config.trust.clone());
    let (asks, ask_rx) = std::sync::mpsc::channel();
    let http_inbox = in_tx.clone();
    thread::Builder::new()
        .name("gridwall-http".into())
        .spawn(move || answer_asks(&http, http_token.as_deref(), &trust, &ask_rx, &http_inbox))
        .expect("spawn the HTTP thread");
    thread::Builder::new()
        .name("gridwall-net".into())
        .spawn(move || {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for the socket");
            rt.block_on(keep_connected(url, token, ws_trust, in_tx, out_rx));
        })
        .expect("spawn the network thread");
    commands.insert_resource(Link { inbox, outbox, asks });
}

/// Drains what the network threads received: link state, frames (which also set the server
/// clock), answers.
fn receive_frames(
    mut link: ResMut<Link>,
    mut state: ResMut<Connection>,
    mut clock: ResMut<ServerClock>,
    time: Res<Time>,
    mut progress: ResMut<LoadProgress>,
    mut frames: MessageWriter<ServerFrame>,
    mut answers: MessageWriter<Answer>,
) {
    while let Ok(item) = link.inbox.try_recv() {
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

/// Answers HTTP questions one at a time, in order, until the app goes away.
fn answer_asks(
    base: &str,
    token: Option<&str>,
    trust: &crate::remote::Trust,
    asks: &std::sync::mpsc::Receiver<Ask>,
    inbox: &tmpsc::UnboundedSender<Inbound>,
) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let agent = trust.agent(Some(Duration::from_secs(5)), false);
    while let Ok(ask) = asks.recv() {
        // The path, and the query (percent-encoded by `query_pairs`).
        let (url, query): (String, Vec<(&str, String)>) = match &ask {
            Ask::Incident(id) => (format!("{base}/api/v1/incidents/{id}"), vec![]),
            Ask::Nearest { incident, k } => (format!("{base}/api/v1/nearest?incident={incident}&k={k}"), vec![]),
            Ask::NewestClosed => (format!("{base}/open311/v2/requests.json?status=closed"), vec![]),
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
            Ask::Desks { period, top } => (
                format!("{base}/api/v1/analysis/desks"),
                vec![("period", period.to_string()), ("top", top.to_string())],
            ),
            Ask::Hotspots { category } => (
                format!("{base}/api/v1/analysis/hotspots"),
                vec![("category", category.map_or("", IncidentCategory::key).to_owned())],
            ),
            Ask::Deviation { level, hours } => (
                format!("{base}/api/v1/analysis/deviation"),
                vec![("level", level.to_string()), ("hours", hours.to_string())],
            ),
        };
        let mut request = agent.get(&url).query_pairs(query);
        if let Some(b) = &bearer {
            request = request.header("authorization", b);
        }
        let answer = match request.call() {
            Err(e) => Err(e.to_string()),
            Ok(mut res) if !res.status().is_success() => {
                let status = res.status();
                Err(res
                    .body_mut()
                    .read_json::<ErrorBody>()
                    .map_or_else(|_| format!("HTTP {status}"), |b| b.error.message))
            }
            Ok(mut res) => match &ask {
                Ask::Incident(_) => res
                    .body_mut()
                    .read_json::<IncidentDetail>()
                    .map(|d| Answer::Incident(Box::new(d)))
                    .map_err(|e| e.to_string()),
                Ask::Nearest { incident, .. } => res
                    .body_mut()
                    .read_json::<NearestAnswer>()
                    .map(|answer| Answer::Nearest { incident: *incident, answer })
                    .map_err(|e| e.to_string()),
                Ask::NewestClosed => res
                    .body_mut()
                    .read_json::<Vec<ServiceRequest>>()
                    .map(|list| Answer::NewestClosed(list.first().and_then(|r| r.service_request_id.parse().ok())))
                    .map_err(|e| e.to_string()),
                Ask::Trend { .. } => read(&mut res).map(|a| Answer::Trend(Box::new(a))),
                Ask::Ranking { .. } => read(&mut res).map(|a| Answer::Ranking(Box::new(a))),
                Ask::Desks { .. } => read(&mut res).map(|a| Answer::Desks(Box::new(a))),
                Ask::Hotspots { .. } => read(&mut res).map(|a| Answer::Hotspots(Box::new(a))),
                Ask::Deviation { .. } => read(&mut res).map(|a| Answer::Deviation(Box::new(a))),
            },
        };
        let answer = answer.unwrap_or_else(|error| Answer::Failed { ask, error });
        if inbox.send(Inbound::Answer(answer)).is_err() {
            return;
        }
    }
}

/// An answer's JSON body as `T` (a 研判 answer can be large: up to 16 MiB).
fn read<T: serde::de::DeserializeOwned>(res: &mut ureq::http::Response<ureq::Body>) -> Result<T, String> {
    res.body_mut().with_config().limit(16 << 20).read_json::<T>().map_err(|e| e.to_string())
}

fn send_outbound(link: Res<Link>, mut outbound: MessageReader<Outbound>, mut asks: MessageReader<Ask>) {
    for c in outbound.read() {
        let _ = link.outbox.send(c.0.clone());
    }
    for a in asks.read() {
        let _ = link.asks.send(a.clone());
    }
}

/// The socket handshake: the URL, with the token as a bearer header.
fn handshake(url: &str, token: Option<&str>) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = url.into_client_request().expect("a ws:// URL (checked when the display started)");
    if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
        request.headers_mut().insert("authorization", value);
    }
    request
}

/// Connects, runs the session, and reconnects after a loss with exponential backoff (0.5 s up
/// to 8 s). On every (re)connection it says hello with the last event seq it saw and repeats
/// the last subscription and wall membership, so the view comes back without a restart.
async fn keep_connected(
    url: String,
    token: Option<String>,
    trust: crate::remote::Trust,
    inbox: tmpsc::UnboundedSender<Inbound>,
    mut outbox: tmpsc::UnboundedReceiver<ClientMessage>,
) {
    let mut last_seq: Option<u64> = None;
    let mut standing = Standing::default();
    let mut attempt = 0u32;
    loop {
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            handshake(&url, token.as_deref()),
            None,
            false,
            trust.ws_connector(),
        );
        let reason = match connecting.await {
            Ok((ws, _)) => {
                attempt = 0;
                if inbox.send(Inbound::Connected).is_err() {
                    return;
                }
                match session(ws, &inbox, &mut outbox, &mut last_seq, &mut standing).await {
                    Ok(()) => return, // the app went away
                    Err(e) => e,
                }
            }
            Err(e) => e.to_string(),
        };
        attempt += 1;
        let retry_in = Duration::from_millis(500 * (1 << attempt.min(5).saturating_sub(1))).min(Duration::from_secs(8));
        if inbox.send(Inbound::Lost { attempt, retry_in, reason }).is_err() {
            return;
        }
        // Keep the latest subscription and wall membership while waiting; other commands fail
        // with the link.
        let wait = tokio::time::sleep(retry_in);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                c = outbox.recv() => match c {
                    None => return,
                    Some(c) => standing.remember(&c),
                },
            }
        }
    }
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

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection. `Ok` when the app closed the link, `Err(reason)` when the connection failed.
async fn session(
    ws: Ws,
    inbox: &tmpsc::UnboundedSender<Inbound>,
    outbox: &mut tmpsc::UnboundedReceiver<ClientMessage>,
    last_seq: &mut Option<u64>,
    standing: &mut Standing,
) -> Result<(), String> {
    let (mut sink, mut stream) = ws.split();
    let send = |m: &ClientMessage| WsMessage::Binary(encode_client(m).into());
    sink.send(send(&ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        client: "gridwall".into(),
        resume_after: *last_seq,
    }))
    .await
    .map_err(|e| e.to_string())?;
    for m in standing.all() {
        sink.send(send(m)).await.map_err(|e| e.to_string())?;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    // The server's clock rate, from its welcome.
    let mut rate = 1.0;
    let mut decoder = ServerDecoder::new();
    loop {
        tokio::select! {
            c = outbox.recv() => {
                let Some(c) = c else { return Ok(()) };
                standing.remember(&c);
                sink.send(send(&c)).await.map_err(|e| e.to_string())?;
            }
            _ = ping.tick() => {
                sink.send(send(&ClientMessage::Ping { t: local_ms() as u64 })).await.map_err(|e| e.to_string())?;
            }
            m = stream.next() => {
                let m = match m {
                    None => return Err("the server closed the connection".into()),
                    Some(Err(e)) => return Err(e.to_string()),
                    Some(Ok(m)) => m,
                };
                let msg = match m {
                    WsMessage::Binary(b) => decoder.decode(&b).map_err(|e| format!("bad frame from the server: {e}"))?,
                    WsMessage::Close(_) => return Err("the server closed the connection".into()),
                    _ => continue,
                };
                if let ServerMessage::Welcome { clock_rate, .. } = &msg {
                    rate = *clock_rate;
                }
                if let ServerMessage::Pong { t, time_ms } = msg {
                    let now = local_ms() as f64;
                    let (rtt_ms, local_ms) = (now - t as f64, f64::midpoint(t as f64, now));
                    let clock = Inbound::Clock { server_ms: time_ms as f64, local_ms, rtt_ms, rate };
                    if inbox.send(clock).is_err() {
                        return Ok(());
                    }
                    continue;
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
                if inbox.send(Inbound::Frame(msg)).is_err() {
                    return Ok(());
                }
            }
        }
    }
}
