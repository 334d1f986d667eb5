//! Webhooks for integrators: when a request changes state (opened, a workflow step, an
//! escalation), every token with a webhook URL gets a signed `POST` of the request as its role
//! may see it ([`WebhookDelivery`]). Deliveries follow the city's durable event log, in order,
//! one hook at a time apart from the others (a receiver that is down delays only itself):
//! each is retried with doubling waits until the receiver answers 2xx, and the last delivered
//! event of each hook is kept in a file, so a restart goes on where it stopped. At least once:
//! a delivery cut off after the receiver took it comes again with the same `id`.
//!
//! Only the server that writes the city delivers (on a bus, the leader). The log is read from
//! the store a page at a time, so a receiver that was away for days costs no memory; what the
//! retention has already removed from the log is gone (a warning says so).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridwall_city::ingest::format_time;
use gridwall_city::open311::{redact, request_out};
use gridwall_protocol::api::open311::{Lang, WebhookDelivery};
use gridwall_protocol::{Event, EventKind};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use tokio::task::JoinHandle;

use crate::Backend;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_mins(5);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle hook looks for new events.
const POLL: Duration = Duration::from_millis(500);
/// Events read from the store at once.
const PAGE: u32 = 200;

/// One integrator's webhook (a token's `webhook` in the token file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The token's name (what the state file keeps the hook's place under).
    pub name: String,
    pub url: String,
    /// The HMAC key.
    pub secret: String,
    /// Whether the token's role may read residents' text (description, attributes).
    pub text: bool,
    /// Whether it may see photos.
    pub photos: bool,
}

/// The webhooks of a server.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub hooks: Vec<Hook>,
    /// The file that keeps each hook's last delivered event.
    pub state: PathBuf,
    /// Where this server is reached (`http://host:port`): photos' addresses start with it.
    pub base_url: String,
    /// The first wait after a failed attempt (doubled after each, up to [`MAX_BACKOFF`]).
    pub retry: Duration,
}

/// Each hook's last delivered event, kept in a file.
#[derive(Debug)]
struct Cursors {
    path: PathBuf,
    map: Mutex<BTreeMap<String, u64>>,
    /// The file was there but could not be read: every hook starts from the oldest change kept.
    lost: bool,
}

impl Cursors {
    /// Reads the file. One that cannot be read starts every hook from the beginning of the log
    /// kept: changes may come twice (receivers deduplicate), none is lost.
    fn load(path: PathBuf) -> Self {
        let read = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<BTreeMap<String, u64>>(&bytes).map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e.to_string()),
        };
        let lost = read.is_err();
        let map = read.unwrap_or_else(|e| {
            tracing::warn!("{}: unreadable ({e}); webhooks deliver again from the oldest change kept", path.display());
            BTreeMap::new()
        });
        Self { path, map: Mutex::new(map), lost }
    }

    /// A hook's place: where the file left it; for a hook new to the file, now (it wants what
    /// changes from here on); for every hook of an unreadable file, the start.
    fn get(&self, name: &str, now: u64) -> u64 {
        let map = self.map.lock().expect("cursors");
        map.get(name).copied().unwrap_or(if self.lost { 0 } else { now })
    }

    /// Notes a hook's place and writes the file (beside, then renamed over, under the lock:
    /// hooks take turns).
    fn set(&self, name: &str, seq: u64) {
        let mut map = self.map.lock().expect("cursors");
        if map.get(name) == Some(&seq) {
            return;
        }
        map.insert(name.to_owned(), seq);
        let json = serde_json::to_vec_pretty(&*map).expect("a map of numbers");
        let tmp = self.path.with_extension("tmp");
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &json).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::warn!("{}: {e} (a restart would deliver again from an earlier event)", self.path.display());
        }
    }
}

/// Starts one delivery task per hook.
pub fn spawn(backend: &Arc<Backend>, config: Webhooks) -> Vec<JoinHandle<()>> {
    if config.hooks.is_empty() {
        return Vec::new();
    }
    if let Some(dir) = config.state.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let cursors = Arc::new(Cursors::load(config.state.clone()));
    let config = Arc::new(config);
    (0..config.hooks.len())
        .map(|i| {
            let (backend, cursors, config) = (backend.clone(), cursors.clone(), config.clone());
            tokio::spawn(async move { run(&backend, &config.hooks[i], &cursors, &config).await })
        })
        .collect()
}

/// Whether this server delivers: it writes the city.
fn delivers(backend: &Backend) -> bool {
    backend.bus.as_ref().is_none_or(|b| b.role() == gridwall_bus::Role::Leader)
}

async fn run(backend: &Arc<Backend>, hook: &Hook, cursors: &Arc<Cursors>, config: &Webhooks) {
    let mut shutdown = backend.shutdown.clone();
    let now = backend.live().last_seq();
    let mut cursor = cursors.get(&hook.name, now);
    // The file write blocks: off the async threads.
    let save = |seq: u64| {
        let (cursors, name) = (cursors.clone(), hook.name.clone());
        async move {
            let _ = tokio::task::spawn_blocking(move || cursors.set(&name, seq)).await;
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(ATTEMPT_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut warned_gap = false;
    loop {
        let page = if delivers(backend) {
            let after = cursor;
            match backend.read(move |s| s.events_page(after, PAGE)).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!("webhook {}: reading the event log: {e}", hook.name);
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        if page.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(POLL) => continue,
                _ = shutdown.changed() => return,
            }
        }
        if !warned_gap && page[0].seq > cursor + 1 && cursor > 0 {
            tracing::warn!(
                "webhook {}: events {}–{} were removed by the retention before they were delivered",
                hook.name,
                cursor + 1,
                page[0].seq - 1
            );
            warned_gap = true;
        }
        for event in page {
            let made = match delivery(backend, hook, &event, &config.base_url).await {
                Ok(made) => made,
                Err(e) => {
                    // The store or the frame failed: the same event again after a wait.
                    tracing::warn!("webhook {}: event {}: {e}", hook.name, event.seq);
                    tokio::select! {
                        () = tokio::time::sleep(config.retry.max(POLL)) => break,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            if let Some(delivery) = made {
                let body = serde_json::to_vec(&delivery).expect("a delivery serializes");
                match deliver(backend, &agent, hook, &delivery, body, config.retry, &mut shutdown).await {
                    Sent::Taken => {}
                    Sent::Stopped => return,
                    // No longer the server that delivers: the new one goes on from its place.
                    Sent::Demoted => break,
                }
                cursor = event.seq;
                save(cursor).await;
            } else {
                cursor = event.seq;
            }
        }
        save(cursor).await;
    }
}

/// How a delivery ended.
enum Sent {
    Taken,
    Stopped,
    Demoted,
}

/// The delivery an event makes (none for events that are not a request's, or for an incident
/// the store does not have); an error when the store or the frame failed (try again).
async fn delivery(
    backend: &Arc<Backend>,
    hook: &Hook,
    event: &Event,
    base_url: &str,
) -> Result<Option<WebhookDelivery>, String> {
    let (kind, id, stage) = match &event.kind {
        EventKind::IncidentOpened { incident } => ("opened", incident.id, Some(incident.stage)),
        EventKind::IncidentChanged { incident, .. } => ("changed", incident.id, Some(incident.stage)),
        EventKind::IncidentEscalated { incident, .. } => ("escalated", *incident, None),
        EventKind::PatrolLeftGrid { .. } => return Ok(None),
    };
    let Some(rec) = backend.incident(id).await.map_err(|e| format!("incident {id}: {e}"))? else {
        return Ok(None);
    };
    let zone = backend.live().utc_offset_ms;
    let media = format!("{base_url}/open311/v2/media");
    let request = backend
        .with_frame(|f| Ok::<_, gridwall_scene::coords::CoordError>(request_out(&rec, f, Lang::Zh, zone, &media)))
        .map_err(|e| e.to_string())?;
    Ok(Some(WebhookDelivery {
        id: format!("{}-{}", backend.manifest.name, event.seq),
        event: kind.to_owned(),
        seq: event.seq,
        time: format_time(event.time_ms),
        stage: stage.unwrap_or(rec.case.stage).key().to_owned(),
        service_request: redact(request, hook.text, hook.photos),
    }))
}

/// The signature of a body sent at `timestamp` (seconds since the Unix epoch):
/// `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    })
}

/// Sends one delivery until the receiver takes it (2xx), the server stops, or it no longer
/// delivers.
async fn deliver(
    backend: &Backend,
    agent: &ureq::Agent,
    hook: &Hook,
    delivery: &WebhookDelivery,
    body: Vec<u8>,
    first_wait: Duration,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Sent {
    let body = Arc::new(body);
    let mut wait = first_wait.max(Duration::from_millis(1));
    for attempt in 1u32.. {
        if !delivers(backend) {
            return Sent::Demoted;
        }
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (agent, url, body, sig) =
            (agent.clone(), hook.url.clone(), body.clone(), signature(&hook.secret, timestamp, &body));
        let (id, event) = (delivery.id.clone(), delivery.event.clone());
        let sent = tokio::task::spawn_blocking(move || {
            agent
                .post(&url)
                .header("content-type", "application/json")
                .header("user-agent", concat!("gridwall/", env!("CARGO_PKG_VERSION")))
                .header("x-gridwall-delivery", &id)
                .header("x-gridwall-event", &event)
                .header("x-gridwall-timestamp", &timestamp.to_string())
                .header("x-gridwall-signature", &sig)
                .send(&body[..])
                .map(|r| r.status().as_u16())
        })
        .await;
        match sent {
            Ok(Ok(status)) if (200..300).contains(&status) => return Sent::Taken,
            Ok(Ok(status)) => {
                tracing::warn!("webhook {}: {} answered {status} (attempt {attempt})", hook.name, delivery.id);
            }
            Ok(Err(e)) => tracing::warn!("webhook {}: {}: {e} (attempt {attempt})", hook.name, delivery.id),
            Err(e) => tracing::warn!("webhook {}: {}: {e} (attempt {attempt})", hook.name, delivery.id),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Sent::Stopped,
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
    unreachable!("attempts are counted without end")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_the_body() {
        // The MAC is HMAC-SHA256 as RFC 4231 defines it (its test case 2).
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let s = signature("Jefe", 1_765_000_000, b"{}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert_ne!(s, signature("Jefe", 1_765_000_001, b"{}"), "the time is signed");
        assert_ne!(s, signature("jefe", 1_765_000_000, b"{}"), "the key matters");
    }

    #[test]
    fn a_hooks_place_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhooks.json");
        let c = Cursors::load(path.clone());
        assert_eq!(c.get("a", 500), 500, "no file: from now");
        c.set("a", 41);
        c.set("b", 7);
        c.set("a", 42);
        let again = Cursors::load(path.clone());
        assert_eq!((again.get("a", 500), again.get("b", 500)), (42, 7));
        assert_eq!(again.get("c", 500), 500, "a hook new to the file: from now");
        std::fs::write(&path, b"{broken").unwrap();
        assert_eq!(Cursors::load(path).get("a", 500), 0, "an unreadable file: from the oldest change kept");
    }
}
