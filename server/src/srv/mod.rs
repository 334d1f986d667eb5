//! The HTTP and WebSocket surface of the live backend: [`run`] serves a scene on a listener until
//! a shutdown future completes; [`router`] is the axum router over a [`Backend`] (tests mount
//! it on port 0). Handlers are grouped by resource:
//!
//! * `patrols`: registration, positions, tracks, nearest on duty;
//! * `incidents`: detail with timeline, workflow steps;
//! * `grids`: outlines, one unit's summary; `kpis`: KPIs city-wide or per unit;
//! * `open311`: Open311 `GeoReport` v2; `photos`: residents' photos uploaded with requests;
//! * `scene`: the scene's files for displays;
//! * `display`: the display socket (`/ws`); `ingest`: the device socket (`/ws/ingest`).
//!
//! * `audit`: the audit trail (admins); `access`: who is calling, and may they.
//! * `replay`: exports of the retained past (tracks, incident histories) as `GeoJSON` and CSV.
//!
//! Every documented answer is a type of `gridwall_protocol::api`; refusals are `error::ApiError`.

pub mod access;
mod analysis;
mod audit;
mod cluster;
mod display;
mod error;
mod grids;
mod incidents;
mod ingest;
mod kpis;
pub mod limits;
pub mod listen;
mod open311;
mod patrols;
mod photos;
mod replay;
mod scene;
pub mod signin;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use gridwall_backend::{Backend, BackendError};
use tokio::net::TcpListener;

use crate::config::ServeConfig;
pub use access::Access;
use error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Store(#[from] gridwall_store::StoreError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Tls(#[from] listen::TlsError),
    #[error(transparent)]
    Bus(#[from] gridwall_bus::BusError),
    #[error(
        "refusing to serve {0} without tokens: anyone who can reach it could do everything. Give --auth FILE \
         (gridwall-server token add --file FILE …), or listen on a loopback address (127.0.0.1)"
    )]
    Open(std::net::SocketAddr),
}

/// The router over a backend (`max_body` bytes per request body), admitting callers as `access`
/// says.
pub fn router(backend: Arc<Backend>, max_body: usize, access: Access) -> Router {
    Router::new()
        .route("/ws", get(display::upgrade))
        .route("/ws/ingest", get(ingest::upgrade))
        .route("/api/v1/patrols", post(patrols::register))
        .route("/api/v1/positions", post(patrols::report))
        .route("/api/v1/patrols/{id}/track", get(patrols::track))
        .route("/api/v1/nearest", get(patrols::nearest))
        .route("/api/v1/incidents/{id}", get(incidents::detail))
        .route("/api/v1/incidents/{id}/transitions", post(incidents::transition))
        .route("/api/v1/grids", get(grids::outlines))
        .route("/api/v1/grids/{code}", get(grids::summary))
        .route("/api/v1/kpis", get(kpis::kpis))
        .route("/api/v1/analysis/indicators", get(analysis::indicators_of))
        .route("/api/v1/analysis/ranking", get(analysis::ranking))
        .route("/api/v1/analysis/trend", get(analysis::trend))
        .route("/api/v1/analysis/hotspots", get(analysis::hotspots))
        .route("/api/v1/analysis/deviation", get(analysis::deviation))
        .route("/api/v1/analysis/desks", get(analysis::desks))
        .route("/api/v1/warnings", get(analysis::warnings))
        .route("/api/v1/warnings/{id}", get(analysis::warning))
        .route("/api/v1/warnings/{id}/ack", post(analysis::ack))
        .route("/api/v1/cluster", get(cluster::status))
        .route("/api/v1/audit", get(audit::trail))
        .route("/api/v1/replay/patrols.geojson", get(replay::patrols_geojson))
        .route("/api/v1/replay/incidents.geojson", get(replay::incidents_geojson))
        .route("/api/v1/replay/incidents.csv", get(replay::incidents_csv))
        // (Open311's POST reads its body itself: a request with photos may be larger.)
        .route("/open311/v2/{name}", get(open311::get_resource).post(open311::post_resource))
        .route("/open311/v2/requests/{id}", get(open311::one))
        .route("/open311/v2/services/{code}", get(open311::definition))
        .route("/open311/v2/media/{file}", get(photos::serve))
        .route("/open311/{name}", get(open311::discovery))
        .route("/scene/{file}", get(scene::file))
        .route("/", get(web::index))
        .route("/web/{file}", get(web::file))
        .route("/login", post(signin::login))
        .route("/logout", post(signin::logout))
        .fallback(|| async { ApiError::status(StatusCode::NOT_FOUND, "path", "no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(backend)
        .layer(middleware::from_fn_with_state(Arc::new(access), access::identify))
}

/// This server's name on a bus when none is given: host name and process id.
fn default_instance() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    format!("{}-{}", if host.is_empty() { "gridwall" } else { &host }, std::process::id())
}

/// Serves until `shutdown` completes, then stops the background tasks and flushes the store.
pub async fn run(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    let tokens = config.auth.as_deref().map(crate::auth::Tokens::load).transpose()?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(listen::tls_acceptor(cert, key)?),
        _ => None,
    };
    match &tokens {
        None if !addr.ip().is_loopback() => return Err(ServeError::Open(addr)),
        None => tracing::warn!(
            "NO TOKENS: serving {addr} open to everyone on this machine (loopback only); use --auth FILE on a network"
        ),
        Some(t) => tracing::info!(
            "{} tokens from {}",
            t.len(),
            config.auth.as_deref().unwrap_or(std::path::Path::new("")).display()
        ),
    }
    let access = Access {
        tokens: tokens.map(Arc::new),
        allowed_origins: config.allowed_origins.clone(),
        open311_public_text: config.open311_public_text,
        sockets: config.sockets,
        max_body: config.max_body_bytes,
        request_timeout: std::time::Duration::from_secs_f64(config.request_timeout_s),
        connections: Arc::default(),
        secure_cookies: tls.is_some(),
        public_url: config.public_url.clone(),
    };
    let bus = match &config.bus {
        Some(url) => {
            let manifest = gridwall_scene::SceneManifest::load(&config.live.scene)
                .map_err(|e| ServeError::Backend(gridwall_backend::BackendError::Scene(e)))?;
            let bus_config = gridwall_bus::BusConfig {
                url: url.clone(),
                instance: config.instance.clone().unwrap_or_else(default_instance),
            };
            let bus = gridwall_bus::Bus::connect(&bus_config, &manifest.name).await?;
            tracing::info!("on the bus {url} as {}", bus.instance);
            Some(Arc::new(bus))
        }
        None => None,
    };
    let (backend, stop) = Backend::open_on(&config.live, bus)?;
    let mut tasks = backend.start(&config.live)?;
    let hooks = access.tokens.as_ref().map(|t| t.webhooks(config.open311_public_text)).unwrap_or_default();
    if !hooks.is_empty() {
        tracing::info!("{} webhooks", hooks.len());
        if config.public_url.is_none() && addr.ip().is_unspecified() {
            tracing::warn!(
                "webhooks: photo addresses will name {addr}; set public_url to where outsiders reach this server"
            );
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        tasks.extend(gridwall_backend::webhook::spawn(
            &backend,
            gridwall_backend::webhook::Webhooks {
                hooks,
                state: config.live.data.join("webhooks.json"),
                base_url: config.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}")),
                retry: std::time::Duration::from_millis(config.webhook_retry_ms),
            },
        ));
    }
    tracing::info!("serving {} on http://{}", backend.manifest.display_name, listener.local_addr()?);
    let mut stopped = backend.shutdown.clone();
    tracing::info!(
        "{} on {}://{addr}",
        if tls.is_some() { "TLS" } else { "plain HTTP (no --tls-cert)" },
        if tls.is_some() { "https" } else { "http" }
    );
    let mut app = router(backend.clone(), config.max_body_bytes, access);
    if let Some(dir) = &config.web {
        app = app.layer(axum::Extension(web::WebDir(dir.clone())));
    }
    let timeouts = listen::Timeouts {
        handshake: std::time::Duration::from_secs_f64(config.header_timeout_s),
        headers: std::time::Duration::from_secs_f64(config.header_timeout_s),
    };
    let _ = stopped.borrow_and_update();
    let server = tokio::spawn(listen::serve(listener, app, tls, timeouts, stopped));
    shutdown.await;
    let _ = stop.send(true);
    let _ = server.await;
    for t in tasks {
        t.abort();
    }
    backend.store.flush().await?;
    Ok(())
}
