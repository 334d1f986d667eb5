//! `serve`'s configuration: a TOML file ([`file`]) and flags ([`args`]), merged in one place,
//! [`ServeConfig::resolve`]: a flag given wins over the file, the file over the defaults.

pub mod args;
pub mod file;

use std::path::PathBuf;

use gridwall_backend::LiveConfig;
use gridwall_backend::simulate::MAX_WARMUP_HOURS;

pub use args::ServeArgs;
pub use file::FileConfig;

/// Everything `serve` runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub addr: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// The scene, its store and its clock.
    pub live: LiveConfig,
    /// The token file (`--auth`); without it the server only listens on loopback.
    pub auth: Option<PathBuf>,
    /// Web origins allowed to open the sockets (browsers send `Origin`).
    pub allowed_origins: Vec<String>,
    /// Whether the public Open311 list shows residents' free text.
    pub open311_public_text: bool,
    /// Socket message size, rate and connection counts.
    pub sockets: crate::srv::limits::SocketLimits,
    /// Longest an HTTP request may take, body included (seconds).
    pub request_timeout_s: f64,
    /// Longest a client may take to send a request's headers, or to finish its TLS handshake;
    /// also the longest a kept-alive connection may idle (seconds).
    pub header_timeout_s: f64,
    /// TLS: a PEM certificate chain and its PEM private key (both, or plain HTTP).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The NATS server shared with the city's other servers (`--bus`).
    pub bus: Option<String>,
    /// This server's name there.
    pub instance: Option<String>,
    /// The built web display served at `/` (`scripts/build-web` writes `web/dist`).
    pub web: Option<PathBuf>,
    /// Where outsiders reach this server (`https://gridwall.example.org`): the start of the
    /// photo addresses in webhook deliveries. Without it, the address it listens on.
    pub public_url: Option<String>,
    /// The first wait after a webhook delivery failed (doubled after each, up to 5 minutes).
    pub webhook_retry_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:7878".into(),
            max_body_bytes: 8 << 20,
            live: LiveConfig::default(),
            auth: None,
            allowed_origins: Vec::new(),
            open311_public_text: false,
            sockets: crate::srv::limits::SocketLimits::default(),
            request_timeout_s: 30.0,
            header_timeout_s: 10.0,
            tls_cert: None,
            tls_key: None,
            bus: None,
            instance: None,
            web: Some(PathBuf::from("web/dist")),
            public_url: None,
            webhook_retry_ms: 1_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{setting}: {reason}")]
    Invalid { setting: &'static str, reason: &'static str },
    #[error("analysis.{0}")]
    Analysis(String),
}

impl ServeConfig {
    /// Merges the flags, the file they name (if any) and the defaults, and checks the result.
    pub fn resolve(args: ServeArgs) -> Result<Self, ConfigError> {
        let file = args.config.as_deref().map(FileConfig::load).transpose()?.unwrap_or_default();
        Self::merge(args, file)
    }

    /// Flags over file over defaults (no I/O).
    pub fn merge(args: ServeArgs, file: FileConfig) -> Result<Self, ConfigError> {
        let d = Self::default();
        let scene = args.scene.or(file.scene).unwrap_or(d.live.scene);
        // Each scene keeps its own store unless told otherwise.
        let data = args.data.or(file.data).unwrap_or_else(|| {
            let name = scene.file_name().map_or_else(|| "scene".into(), |n| n.to_string_lossy().into_owned());
            PathBuf::from("gridwall-data").join(name)
        });
        let mut simulate = file.simulate;
        if args.simulate
            || args.seed.is_some()
            || args.patrols.is_some()
            || args.incident_rate.is_some()
            || args.warmup.is_some()
            || args.bursts.is_some()
            || args.desk_slide.is_some()
        {
            let mut sim = simulate.take().unwrap_or_default();
            sim.seed = args.seed.unwrap_or(sim.seed);
            sim.patrols = args.patrols.unwrap_or(sim.patrols);
            sim.incident_rate = args.incident_rate.unwrap_or(sim.incident_rate);
            sim.warmup_hours = args.warmup.unwrap_or(sim.warmup_hours);
            sim.burst_every_hours = args.bursts.unwrap_or(sim.burst_every_hours);
            sim.desk_slide_hours = args.desk_slide.unwrap_or(sim.desk_slide_hours);
            simulate = Some(sim);
        }
        let config = Self {
            addr: args.addr.or(file.addr).unwrap_or(d.addr),
            max_body_bytes: file.max_body_bytes.unwrap_or(d.max_body_bytes),
            live: LiveConfig {
                scene,
                data,
                store: args.store.or(file.store),
                tick_hz: args.tick_hz.or(file.tick_hz).unwrap_or(d.live.tick_hz),
                flush_ms: args.flush_ms.or(file.flush_ms).unwrap_or(d.live.flush_ms),
                speed: args.speed.or(file.speed).unwrap_or(d.live.speed),
                utc_offset_hours: file.utc_offset_hours.unwrap_or(d.live.utc_offset_hours),
                position_margin_m: file.position_margin_m.unwrap_or(d.live.position_margin_m),
                clock_tolerance_s: file.clock_tolerance_s.unwrap_or(d.live.clock_tolerance_s),
                store_max_pages: file.store_max_pages,
                simulate,
                limits: file.limits.unwrap_or(d.live.limits),
                retention: file.retention.unwrap_or(d.live.retention),
                analysis: file.analysis.unwrap_or(d.live.analysis),
            },
            auth: args.auth.or(file.auth),
            allowed_origins: file.allowed_origins.unwrap_or_default(),
            open311_public_text: file.open311_public_text.unwrap_or(false),
            request_timeout_s: file.request_timeout_s.unwrap_or(d.request_timeout_s),
            header_timeout_s: file.header_timeout_s.unwrap_or(d.header_timeout_s),
            bus: args.bus.or(file.bus),
            instance: args.instance.or(file.instance),
            web: args.web.or(file.web).or(d.web),
            public_url: file.public_url,
            webhook_retry_ms: file.webhook_retry_ms.unwrap_or(d.webhook_retry_ms),
            tls_cert: args.tls_cert.or(file.tls_cert),
            tls_key: args.tls_key.or(file.tls_key),
            sockets: {
                let d = d.sockets;
                crate::srv::limits::SocketLimits {
                    message_bytes: file.max_socket_message_bytes.unwrap_or(d.message_bytes),
                    messages_per_second: file.max_messages_per_second.unwrap_or(d.messages_per_second),
                    per_address: file.max_sockets_per_address.unwrap_or(d.per_address),
                    per_token: file.max_sockets_per_token.unwrap_or(d.per_token),
                }
            },
        };
        config.check()?;
        Ok(config)
    }

    /// Refuses settings that cannot work, wherever they came from.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |setting, reason| Err(ConfigError::Invalid { setting, reason });
        let l = &self.live;
        if !(l.speed.is_finite() && l.speed > 0.0) {
            return bad("speed", "must be a positive number");
        }
        if !(1..=60).contains(&l.tick_hz) {
            return bad("tick_hz", "must be 1 to 60");
        }
        if l.flush_ms > 1_000 {
            return bad("flush_ms", "must be 0 to 1000");
        }
        if !(l.utc_offset_hours.is_finite() && (-14.0..=14.0).contains(&l.utc_offset_hours)) {
            return bad("utc_offset_hours", "must be -14 to 14");
        }
        if !(l.position_margin_m.is_finite() && (0.0..=100_000.0).contains(&l.position_margin_m)) {
            return bad("position_margin_m", "must be 0 to 100000 metres");
        }
        if !(l.clock_tolerance_s.is_finite() && (0.0..=3600.0).contains(&l.clock_tolerance_s)) {
            return bad("clock_tolerance_s", "must be 0 to 3600 seconds");
        }
        let hours = l.retention.hours;
        if !(hours.is_finite() && (1.0 / 60.0..=gridwall_store::history::RetentionConfig::MAX_HOURS).contains(&hours)) {
            return bad("retention.hours", "must be 1/60 (a minute) to 168 (a week)");
        }
        if let Some(url) = &l.store
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad("store", "must be a postgres:// URL (without it the embedded store in data is used)");
        }
        if let Some(bus) = &self.bus {
            if !(bus.starts_with("nats://") || bus.starts_with("tls://")) {
                return bad("bus", "must be a nats:// URL");
            }
            if l.store.is_none() {
                return bad("bus", "servers sharing a city need a shared store: give --store postgres://… too");
            }
        }
        if self.instance.as_ref().is_some_and(|i| {
            i.is_empty() || i.len() > 64 || !i.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }) {
            return bad("instance", "1 to 64 letters, digits, '-', '_' or '.'");
        }
        if l.store.is_some() && l.store_max_pages.is_some() {
            return bad("store_max_pages", "caps the embedded store only; PostgreSQL's room is the database's");
        }
        let s = &self.sockets;
        if !(1024..=(64 << 20)).contains(&s.message_bytes) {
            return bad("max_socket_message_bytes", "must be 1024 to 67108864");
        }
        if !(1..=100_000).contains(&s.messages_per_second) {
            return bad("max_messages_per_second", "must be 1 to 100000");
        }
        if !(1..=1_000_000).contains(&s.per_address) || !(1..=1_000_000).contains(&s.per_token) {
            return bad("max_sockets_per_address", "socket counts must be 1 to 1000000");
        }
        if let Some(sim) = &l.simulate
            && !(sim.burst_every_hours.is_finite() && (0.0..=10_000.0).contains(&sim.burst_every_hours))
        {
            return bad("simulate.burst_every_hours", "must be 0 (no bursts) to 10000 hours");
        }
        if let Some(sim) = &l.simulate
            && !(sim.desk_slide_hours.is_finite() && (0.0..=100_000.0).contains(&sim.desk_slide_hours))
        {
            return bad("simulate.desk_slide_hours", "must be 0 (no slide) to 100000 hours");
        }
        if let Some(problem) = l.analysis.problem() {
            return Err(ConfigError::Analysis(problem));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return bad("tls_cert", "give both tls_cert and tls_key, or neither");
        }
        if !(self.header_timeout_s.is_finite() && (0.1..=600.0).contains(&self.header_timeout_s)) {
            return bad("header_timeout_s", "must be 0.1 to 600 seconds");
        }
        if !(self.request_timeout_s.is_finite() && (0.1..=3600.0).contains(&self.request_timeout_s)) {
            return bad("request_timeout_s", "must be 0.1 to 3600 seconds");
        }
        if self.public_url.as_ref().is_some_and(|u| {
            u.len() > 200
                || !(u.starts_with("http://") || u.starts_with("https://"))
                || u.ends_with('/')
                || !u.chars().all(|c| c.is_ascii_graphic())
        }) {
            return bad("public_url", "an http:// or https:// address of at most 200 characters, without a final /");
        }
        if !(1..=300_000).contains(&self.webhook_retry_ms) {
            return bad("webhook_retry_ms", "must be 1 to 300000");
        }
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes", "must be at least 1024");
        }
        if let Some(sim) = &l.simulate {
            if !(sim.incident_rate.is_finite() && (0.0..=100_000.0).contains(&sim.incident_rate)) {
                return bad("incident_rate", "must be 0 to 100000 an hour");
            }
            if sim.patrols > 100_000 {
                return bad("patrols", "at most 100000 simulated patrols");
            }
            if !(sim.warmup_hours.is_finite() && (0.0..=MAX_WARMUP_HOURS).contains(&sim.warmup_hours)) {
                return bad("warmup", "must be 0 to 720 hours");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let f = file(
            "scene = \"scenes/a\"\naddr = \"0.0.0.0:9000\"\ntick_hz = 20\nspeed = 60.0\n[simulate]\npatrols = 5\n",
        );
        let c = ServeConfig::merge(
            ServeArgs { addr: Some("127.0.0.1:1".into()), seed: Some(9), ..ServeArgs::default() },
            f,
        )
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:1");
        assert_eq!((c.live.tick_hz, c.live.speed), (20, 60.0));
        let sim = c.live.simulate.unwrap();
        assert_eq!((sim.seed, sim.patrols, sim.incident_rate), (9, 5, 30.0));
        // The store follows the scene unless a file or flag names one.
        assert_eq!(c.live.data, PathBuf::from("gridwall-data/a"));
        let c = ServeConfig::merge(ServeArgs::default(), file("data = \"/var/lib/gw\"")).unwrap();
        assert_eq!(c.live.data, PathBuf::from("/var/lib/gw"));
        assert_eq!(c.live.scene, PathBuf::from("scenes/helsinki"));
        assert!(c.live.simulate.is_none());
    }

    #[test]
    fn impossible_settings_are_refused_from_flags_and_file_alike() {
        let e = ServeConfig::merge(ServeArgs { speed: Some(0.0), ..ServeArgs::default() }, FileConfig::default())
            .unwrap_err();
        assert_eq!(e.to_string(), "speed: must be a positive number");
        let e = ServeConfig::merge(ServeArgs::default(), file("tick_hz = 0")).unwrap_err();
        assert_eq!(e.to_string(), "tick_hz: must be 1 to 60");
        let e = ServeConfig::merge(ServeArgs::default(), file("flush_ms = 5000")).unwrap_err();
        assert_eq!(e.to_string(), "flush_ms: must be 0 to 1000");
        let c =
            ServeConfig::merge(ServeArgs { flush_ms: Some(0), ..ServeArgs::default() }, file("flush_ms = 20")).unwrap();
        assert_eq!(c.live.flush_ms, 0, "the flag wins");
        let e = ServeConfig::merge(
            ServeArgs { incident_rate: Some(f64::NAN), ..ServeArgs::default() },
            FileConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("incident_rate"));
        let e = ServeConfig::merge(ServeArgs { warmup: Some(1e9), ..ServeArgs::default() }, FileConfig::default())
            .unwrap_err();
        assert_eq!(e.to_string(), "warmup: must be 0 to 720 hours");
        let e = ServeConfig::merge(ServeArgs::default(), file("[simulate]\npatrols = 100000000")).unwrap_err();
        assert!(e.to_string().starts_with("patrols"), "{e}");
        let c = ServeConfig::merge(ServeArgs::default(), file("[simulate]\nwarmup_hours = 24")).unwrap();
        assert_eq!(c.live.simulate.unwrap().warmup_hours, 24.0);
        assert!(toml::from_str::<FileConfig>("colour = \"red\"").is_err(), "unknown settings are refused");
    }
}
