//! A display needs nothing but the server's address: [`fetch_scene`] downloads the scene's
//! manifest, model and grid outlines from the server (`GET /scene/{file}`, `GET /api/v1/grids`)
//! into a local cache folder, and names
//! the WebSocket to stream from.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::scene::{GRIDS_FILE, SceneInfo};

/// A scene fetched from a server.
#[derive(Debug, Clone)]
pub struct RemoteScene {
    pub info: SceneInfo,
    /// `ws://HOST:PORT/ws`.
    pub ws_url: String,
}

/// `ws://host:port`, `http://host:port` or `host:port` → (`http://host:port`, `ws://host:port/ws`);
/// `wss://` or `https://` → (`https://host:port`, `wss://host:port/ws`).
pub fn server_urls(server: &str) -> anyhow::Result<(String, String)> {
    let rest = server.trim_end_matches('/');
    let (tls, host) = [("ws://", false), ("http://", false), ("wss://", true), ("https://", true)]
        .iter()
        .find_map(|(p, tls)| rest.strip_prefix(p).map(|h| (*tls, h)))
        .unwrap_or((false, rest));
    let host = host.strip_suffix("/ws").unwrap_or(host);
    anyhow::ensure!(
        !host.is_empty() && !host.contains('/'),
        "--server {server:?}: expected ws://HOST:PORT or wss://HOST:PORT"
    );
    let (http, ws) = if tls { ("https", "wss") } else { ("http", "ws") };
    Ok((format!("{http}://{host}"), format!("{ws}://{host}/ws")))
}

/// Whom the display trusts over TLS: the usual web roots, or only the CA in `--ca-file`.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The CA certificates of `--ca-file` (DER); empty: the built-in web roots.
    pub ca: Vec<Vec<u8>>,
}

impl Trust {
    /// Reads a PEM file of CA certificates.
    pub fn from_ca_file(path: &Path) -> anyhow::Result<Self> {
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        let ca: Vec<Vec<u8>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("--ca-file {}", path.display()))?
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("--ca-file {}", path.display()))?;
        anyhow::ensure!(!ca.is_empty(), "--ca-file {}: no certificate in it", path.display());
        Ok(Self { ca })
    }

    /// An HTTP client that trusts these roots, answering errors as statuses when `status_errors` is off.
    pub fn agent(&self, timeout: Option<std::time::Duration>, status_errors: bool) -> ureq::Agent {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let roots = if self.ca.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::Specific(std::sync::Arc::new(
                self.ca.iter().map(|c| Certificate::from_der(c).to_owned()).collect(),
            ))
        };
        ureq::Agent::new_with_config(
            ureq::config::Config::builder()
                .timeout_global(timeout)
                .http_status_as_error(status_errors)
                .tls_config(TlsConfig::builder().root_certs(roots).build())
                .build(),
        )
    }

    /// The socket's TLS connector (`None`: the built-in web roots).
    pub fn ws_connector(&self) -> Option<tokio_tungstenite::Connector> {
        use tokio_rustls::rustls;
        if self.ca.is_empty() {
            return None;
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in &self.ca {
            let _ = roots.add(rustls::pki_types::CertificateDer::from(c.clone()));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Some(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(config)))
    }
}

/// Downloads `scene.toml` and the city model into `cache/<host>/` (replacing what was there)
/// and loads the manifest. Prints progress for the model (it can be large). When the server
/// cannot be reached but an earlier download is complete, that copy is used (a display that
/// restarts during an outage shows the city and waits for the server).
/// `token` goes with every request (`Authorization: Bearer`); `trust` says whom to believe over TLS.
pub fn fetch_scene(server: &str, cache: &Path, token: Option<&str>, trust: &Trust) -> anyhow::Result<RemoteScene> {
    let (http, ws_url) = server_urls(server)?;
    let host = http.trim_start_matches("https://").trim_start_matches("http://");
    let dir = cache.join(host.replace([':', '/'], "_"));
    let agent = trust.agent(None, true);
    match download_scene(&agent, &http, &dir, token) {
        Ok(info) => Ok(RemoteScene { info, ws_url }),
        // The server is there and says no: no cached copy would ever connect.
        Err(e) if e.downcast_ref::<Refused>().is_some() => Err(e),
        Err(e) => {
            let cached = SceneInfo::load(&dir)
                .ok()
                .filter(|i| dir.join(&i.manifest.files.city).is_file() && dir.join(GRIDS_FILE).is_file());
            match cached {
                Some(info) => {
                    eprintln!(
                        "gridwall: {e:#}; showing the copy fetched earlier from {} and retrying the server",
                        dir.display()
                    );
                    Ok(RemoteScene { info, ws_url })
                }
                None => Err(e),
            }
        }
    }
}

fn download_scene(agent: &ureq::Agent, http: &str, dir: &Path, token: Option<&str>) -> anyhow::Result<SceneInfo> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    download(agent, &format!("{http}/scene/scene.toml"), &dir.join("scene.toml"), token, false)?;
    let info = SceneInfo::load(dir)?;
    let city = &info.manifest.files.city;
    // The name comes from the server: a plain file name, or nothing is written.
    anyhow::ensure!(
        is_plain_file_name(city),
        "the server's scene.toml names its model {city:?}: not a plain file name, refused"
    );
    download(agent, &format!("{http}/scene/{city}"), &dir.join(city), token, true)?;
    download(agent, &format!("{http}/api/v1/grids"), &dir.join(GRIDS_FILE), token, false)?;
    Ok(info)
}

/// A name that stays inside the folder it is joined to: no separators, no `..`, not hidden.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_tls_refusal(e: &ureq::Error) -> bool {
    use tokio_rustls::rustls;
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<rustls::Error>),
        _ => false,
    }
}

/// The server refused the display's token (or the lack of one), or its certificate is not
/// trusted: no cached copy is shown, since it could never connect.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct Refused {
    url: String,
    reason: &'static str,
}

fn download(agent: &ureq::Agent, url: &str, to: &Path, token: Option<&str>, progress: bool) -> anyhow::Result<()> {
    let mut request = agent.get(url);
    if let Some(t) = token {
        request = request.header("authorization", &format!("Bearer {t}"));
    }
    let mut res = match request.call() {
        Err(ureq::Error::StatusCode(401)) => {
            let reason = if token.is_some() {
                "the server does not know this token (401)"
            } else {
                "the server checks tokens (401): give one with --token or GRIDWALL_TOKEN"
            };
            return Err(Refused { url: url.to_owned(), reason }.into());
        }
        Err(ureq::Error::StatusCode(403)) => {
            let reason = "this token may not read the city (403): a wall needs a viewer token, a desk a commander one";
            return Err(Refused { url: url.to_owned(), reason }.into());
        }
        // A certificate this display does not trust: someone else may be answering.
        Err(e) if is_tls_refusal(&e) => {
            return Err(anyhow::Error::new(Refused {
                url: url.to_owned(),
                reason: "the server's TLS certificate is not trusted (give its CA with --ca-file)",
            })
            .context(e.to_string()));
        }
        other => other.with_context(|| format!("cannot fetch {url}"))?,
    };
    let total: Option<u64> =
        res.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    // One part file per process: the panels of a wall started together on one PC share the
    // cache folder, and must not write into each other's download.
    let part: PathBuf = to.with_extension(format!("part-{}", std::process::id()));
    let mut file = std::fs::File::create(&part).with_context(|| format!("cannot write {}", part.display()))?;
    let mut reader = res.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let (mut done, mut shown) = (0u64, 0u64);
    loop {
        let n = std::io::Read::read(&mut reader, &mut buf).with_context(|| format!("download of {url} broke off"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
        done += n as u64;
        if progress && done - shown >= 8 << 20 {
            shown = done;
            match total {
                Some(t) => eprintln!("gridwall: {url}: {} / {} MB", done >> 20, t >> 20),
                None => eprintln!("gridwall: {url}: {} MB", done >> 20),
            }
        }
    }
    if let Some(t) = total {
        anyhow::ensure!(done == t, "download of {url} ended after {done} of {t} bytes");
    }
    file.sync_all()?;
    std::fs::rename(&part, to)?;
    if progress {
        eprintln!("gridwall: {url}: {:.1} MB, done", done as f64 / 1e6);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_server_stay_inside_the_cache() {
        assert!(is_plain_file_name("city.glb"));
        for bad in ["../city.glb", "/etc/passwd", "a/b.glb", ".bashrc", "", "c:\\x", "..", "city.glb\0"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn server_addresses_in_any_usual_form() {
        for s in ["ws://127.0.0.1:7878", "http://127.0.0.1:7878/", "127.0.0.1:7878", "ws://127.0.0.1:7878/ws"] {
            assert_eq!(
                server_urls(s).unwrap(),
                ("http://127.0.0.1:7878".to_owned(), "ws://127.0.0.1:7878/ws".to_owned()),
                "{s}"
            );
        }
        assert_eq!(
            server_urls("wss://wall.example.gov:7443").unwrap(),
            ("https://wall.example.gov:7443".to_owned(), "wss://wall.example.gov:7443/ws".to_owned())
        );
        assert_eq!(server_urls("https://h:1/").unwrap().1, "wss://h:1/ws");
        assert!(server_urls("ws://a/b/c").is_err());
    }
}
