//! The only place that touches the socket: a background thread keeps a WebSocket to the server
//! (reconnecting with backoff and resuming from the last event seq) and turns frames into Bevy
//! messages ([`ServerFrame`]); [`Command`] messages go the other way.

use std::thread;
use std::time::Duration;

use bevy::prelude::*;
use futures_util::{SinkExt as _, StreamExt as _};
use gridwall_protocol::api::{IncidentDetail, NearestAnswer};
use gridwall_protocol::binary::{ServerDecoder, encode_client};
use gridwall_protocol::{ClientMessage, PROTOCOL_VERSION, ServerMessage};
use tokio::sync::mpsc as tmpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Where to connect: `ws://HOST:PORT/ws`.
#[derive(Resource, Debug, Clone)]
pub struct NetConfig {
    pub url: String,
}

/// A message from the server, in order.
#[derive(Message, Debug, Clone)]
pub struct ServerFrame(pub ServerMessage);

/// Something to send to the server (subscribe, assign, transition…).
#[derive(Message, Debug, Clone)]
pub struct Command(pub ClientMessage);

/// A question for the server's HTTP API; the answer comes back as an [`Answer`] message.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// `GET /api/v1/incidents/{id}`: details and workflow timeline.
    Incident(u64),
    /// `GET /api/v1/nearest?incident=ID&k=K`: the k nearest on-duty patrols.
    Nearest { incident: u64, k: usize },
}

/// The server's answer to an [`Ask`].
#[derive(Message, Debug, Clone, PartialEq)]
pub enum Answer {
    Incident(Box<IncidentDetail>),
    Nearest { incident: u64, answer: NearestAnswer },
    Failed { ask: Ask, error: String },
}

/// City-wide KPIs (from `GET /api/v1/kpis`, polled every few seconds).
#[derive(Message, Debug, Clone, Copy, PartialEq, Default, serde::Deserialize)]
pub struct Kpis {
    pub open: u64,
    pub closed_today: u64,
    pub overdue: u64,
    /// 结案率, 0..1.
    pub closure_rate: f64,
    /// 按期结案率, 0..1.
    pub on_time_rate: f64,
    /// 满意率, 0..1.
    pub satisfaction_rate: f64,
    pub mean_handling_min: f64,
}

/// How often the KPIs are fetched.
const KPI_EVERY: Duration = Duration::from_secs(5);

/// The link's state, for the HUD's "reconnecting" banner.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub enum Connection {
    #[default]
    Connecting,
    Connected,
    /// Lost; the next attempt is in `retry_in`.
    Reconnecting { attempt: u32, retry_in: Duration, reason: String },
}

/// How much live data has arrived (the capture waits for the first snapshot).
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStatus {
    pub snapshots: u64,
    pub frames: u64,
}

enum Inbound {
    Connected,
    Lost { attempt: u32, retry_in: Duration, reason: String },
    Frame(ServerMessage),
    Kpis(Kpis),
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
            .add_message::<Command>()
            .add_message::<Kpis>()
            .add_message::<Ask>()
            .add_message::<Answer>()
            .init_resource::<Connection>()
            .init_resource::<LiveStatus>()
            .add_systems(Startup, open_link.run_if(resource_exists::<NetConfig>))
            .add_systems(PreUpdate, receive_frames.run_if(resource_exists::<Link>))
            .add_systems(PostUpdate, send_commands.run_if(resource_exists::<Link>));
    }
}

fn open_link(mut commands: Commands, config: Res<NetConfig>) {
    let (in_tx, inbox) = tmpsc::unbounded_channel();
    let (outbox, out_rx) = tmpsc::unbounded_channel();
    let url = config.url.clone();
    let http = url.replacen("ws://", "http://", 1).trim_end_matches("/ws").to_owned();
    let kpi_url = format!("{http}/api/v1/kpis");
    let kpi_inbox = in_tx.clone();
    thread::Builder::new()
        .name("gridwall-kpis".into())
        .spawn(move || poll_kpis(&kpi_url, &kpi_inbox))
        .expect("spawn the KPI thread");
    let (asks, ask_rx) = std::sync::mpsc::channel();
    let http_inbox = in_tx.clone();
    thread::Builder::new()
        .name("gridwall-http".into())
        .spawn(move || answer_asks(&http, &ask_rx, &http_inbox))
        .expect("spawn the HTTP thread");
    thread::Builder::new()
        .name("gridwall-net".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for the socket");
            rt.block_on(keep_connected(url, in_tx, out_rx));
        })
        .expect("spawn the network thread");
    commands.insert_resource(Link { inbox, outbox, asks });
}

fn receive_frames(
    mut link: ResMut<Link>,
    mut state: ResMut<Connection>,
    mut live: ResMut<LiveStatus>,
    mut frames: MessageWriter<ServerFrame>,
    mut kpis: MessageWriter<Kpis>,
    mut answers: MessageWriter<Answer>,
) {
    while let Ok(item) = link.inbox.try_recv() {
        match item {
            Inbound::Connected => *state = Connection::Connected,
            Inbound::Lost { attempt, retry_in, reason } => *state = Connection::Reconnecting { attempt, retry_in, reason },
            Inbound::Kpis(k) => {
                kpis.write(k);
            }
            Inbound::Answer(a) => {
                answers.write(a);
            }
            Inbound::Frame(m) => {
                live.frames += 1;
                if matches!(m, ServerMessage::Snapshot { .. }) {
                    live.snapshots += 1;
                }
                frames.write(ServerFrame(m));
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct KpiAnswer {
    kpis: Kpis,
}

/// Fetches the KPIs now and then until the app goes away (a failed fetch is retried next time;
/// the socket's state already tells the user the server is gone).
fn poll_kpis(url: &str, inbox: &tmpsc::UnboundedSender<Inbound>) {
    let agent = ureq::Agent::new_with_config(ureq::config::Config::builder().timeout_global(Some(Duration::from_secs(3))).build());
    loop {
        if let Ok(mut res) = agent.get(url).call()
            && let Ok(answer) = res.body_mut().read_json::<KpiAnswer>()
            && inbox.send(Inbound::Kpis(answer.kpis)).is_err()
        {
            return;
        }
        if inbox.is_closed() {
            return;
        }
        thread::sleep(KPI_EVERY);
    }
}

/// Answers HTTP questions one at a time, in order, until the app goes away.
fn answer_asks(base: &str, asks: &std::sync::mpsc::Receiver<Ask>, inbox: &tmpsc::UnboundedSender<Inbound>) {
    let agent = ureq::Agent::new_with_config(ureq::config::Config::builder().timeout_global(Some(Duration::from_secs(5))).http_status_as_error(false).build());
    while let Ok(ask) = asks.recv() {
        let url = match &ask {
            Ask::Incident(id) => format!("{base}/api/v1/incidents/{id}"),
            Ask::Nearest { incident, k } => format!("{base}/api/v1/nearest?incident={incident}&k={k}"),
        };
        let answer = match agent.get(&url).call() {
            Err(e) => Err(e.to_string()),
            Ok(mut res) if !res.status().is_success() => {
                let body = res.body_mut().read_json::<serde_json::Value>().ok();
                Err(body.and_then(|b| b["error"]["message"].as_str().or(b["message"].as_str()).map(str::to_owned)).unwrap_or_else(|| format!("HTTP {}", res.status())))
            }
            Ok(mut res) => match &ask {
                Ask::Incident(_) => res.body_mut().read_json::<IncidentDetail>().map(|d| Answer::Incident(Box::new(d))).map_err(|e| e.to_string()),
                Ask::Nearest { incident, .. } => res.body_mut().read_json::<NearestAnswer>().map(|answer| Answer::Nearest { incident: *incident, answer }).map_err(|e| e.to_string()),
            },
        };
        let answer = answer.unwrap_or_else(|error| Answer::Failed { ask, error });
        if inbox.send(Inbound::Answer(answer)).is_err() {
            return;
        }
    }
}

fn send_commands(link: Res<Link>, mut commands: MessageReader<Command>, mut asks: MessageReader<Ask>) {
    for c in commands.read() {
        let _ = link.outbox.send(c.0.clone());
    }
    for a in asks.read() {
        let _ = link.asks.send(a.clone());
    }
}

/// Connects, runs the session, and reconnects after a loss with exponential backoff (0.5 s up
/// to 8 s). On every (re)connection it says hello with the last event seq it saw and repeats
/// the last subscription, so the view comes back without a restart.
async fn keep_connected(url: String, inbox: tmpsc::UnboundedSender<Inbound>, mut outbox: tmpsc::UnboundedReceiver<ClientMessage>) {
    let mut last_seq: Option<u64> = None;
    let mut subscription: Option<ClientMessage> = None;
    let mut attempt = 0u32;
    loop {
        let reason = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => {
                attempt = 0;
                if inbox.send(Inbound::Connected).is_err() {
                    return;
                }
                match session(ws, &inbox, &mut outbox, &mut last_seq, &mut subscription).await {
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
        // Keep the latest subscription while waiting; other commands fail with the link.
        let wait = tokio::time::sleep(retry_in);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                c = outbox.recv() => match c {
                    None => return,
                    Some(c @ ClientMessage::Subscribe { .. }) => subscription = Some(c),
                    Some(_) => {}
                },
            }
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection. `Ok` when the app closed the link, `Err(reason)` when the connection failed.
async fn session(
    ws: Ws,
    inbox: &tmpsc::UnboundedSender<Inbound>,
    outbox: &mut tmpsc::UnboundedReceiver<ClientMessage>,
    last_seq: &mut Option<u64>,
    subscription: &mut Option<ClientMessage>,
) -> Result<(), String> {
    let (mut sink, mut stream) = ws.split();
    let send = |m: &ClientMessage| WsMessage::Binary(encode_client(m).into());
    sink.send(send(&ClientMessage::Hello { version: PROTOCOL_VERSION, client: "gridwall".into(), resume_after: *last_seq })).await.map_err(|e| e.to_string())?;
    if let Some(s) = subscription.as_ref() {
        sink.send(send(s)).await.map_err(|e| e.to_string())?;
    }
    let mut decoder = ServerDecoder::new();
    loop {
        tokio::select! {
            c = outbox.recv() => {
                let Some(c) = c else { return Ok(()) };
                if matches!(c, ClientMessage::Subscribe { .. }) {
                    *subscription = Some(c.clone());
                }
                sink.send(send(&c)).await.map_err(|e| e.to_string())?;
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
