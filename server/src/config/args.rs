//! `gridwall-server serve`'s flags. Each is optional, so that a flag given wins over the file and
//! a flag not given leaves the file's value (or the default) alone.

use std::path::PathBuf;

/// Run the live backend for a scene: HTTP ingest, Open311, WebSocket streaming, storage.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (flags given here win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Scene folder, e.g. scenes/helsinki.
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    pub addr: Option<String>,
    /// Folder of the durable store (default gridwall-data/<scene folder name>).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Keep the city in PostgreSQL 15 + PostGIS 3 instead of the embedded store:
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (the schema is applied at start).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Share the city with other servers on this NATS server (`nats://HOST:PORT`, JetStream
    /// on; needs a PostgreSQL --store): one of them leads, the others follow.
    #[arg(long, value_name = "URL")]
    pub bus: Option<String>,
    /// This server's name on the bus (default: host name and process id).
    #[arg(long)]
    pub instance: Option<String>,
    /// The built web display to serve at `/` (`scripts/build-web` writes it; default `web/dist`).
    #[arg(long, value_name = "DIR")]
    pub web: Option<PathBuf>,
    /// Run the city simulator (patrols, incidents, workflow).
    #[arg(long)]
    pub simulate: bool,
    /// Simulator seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated patrols.
    #[arg(long)]
    pub patrols: Option<usize>,
    /// Simulated new incidents per hour (daily average).
    #[arg(long)]
    pub incident_rate: Option<f64>,
    /// Simulate this many hours before now at start-up (0 to 720), so the city opens with its
    /// history: closed cases, realistic KPIs, the last day's tracks. Only into an empty store.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Simulate a burst (one category reported again and again around one place for two to
    /// four hours) every this many hours on average: anomalies for 预警 to catch.
    #[arg(long)]
    pub bursts: Option<f64>,
    /// Make one department (seeded) slow down for good this many hours after the simulator's
    /// start: its on-time rate slides, for 预警 to catch.
    #[arg(long)]
    pub desk_slide: Option<f64>,
    /// Clock speed (1 = real time; 60 = an hour a minute).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Stream ticks per second.
    #[arg(long)]
    pub tick_hz: Option<u16>,
    /// Moves and events reach the displays this many ms after their commit (a burst gathered
    /// into one frame); 0: on the next tick instead.
    #[arg(long)]
    pub flush_ms: Option<u16>,
    /// The token file (`gridwall-server token add`): every request needs a token of a role
    /// allowed to make it. Without it the server only listens on loopback and trusts everyone.
    #[arg(long)]
    pub auth: Option<PathBuf>,
    /// Serve HTTPS and WSS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}
