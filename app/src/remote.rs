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

/// `ws://host:port`, `http://host:port` or `host:port` → (`http://host:port`, `ws://host:port/ws`).
pub fn server_urls(server: &str) -> anyhow::Result<(String, String)> {
    anyhow::ensure!(
        !server.starts_with("wss://") && !server.starts_with("https://"),
        "--server {server:?}: TLS is not supported; put a TLS proxy in front and use ws://"
    );
    let rest = server.trim_end_matches('/');
    let host = ["ws://", "http://"].iter().find_map(|p| rest.strip_prefix(p)).unwrap_or(rest);
    let host = host.strip_suffix("/ws").unwrap_or(host);
    anyhow::ensure!(!host.is_empty() && !host.contains('/'), "--server {server:?}: expected ws://HOST:PORT");
    Ok((format!("http://{host}"), format!("ws://{host}/ws")))
}

/// Downloads `scene.toml` and the city model into `cache/<host>/` (replacing what was there)
/// and loads the manifest. Prints progress for the model (it can be large). When the server
/// cannot be reached but an earlier download is complete, that copy is used (a display that
/// restarts during an outage shows the city and waits for the server).
/// `token` goes with every request (`Authorization: Bearer`).
pub fn fetch_scene(server: &str, cache: &Path, token: Option<&str>) -> anyhow::Result<RemoteScene> {
    let (http, ws_url) = server_urls(server)?;
    let dir = cache.join(http.trim_start_matches("http://").replace([':', '/'], "_"));
    match download_scene(&http, &dir, token) {
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

fn download_scene(http: &str, dir: &Path, token: Option<&str>) -> anyhow::Result<SceneInfo> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    download(&format!("{http}/scene/scene.toml"), &dir.join("scene.toml"), token, false)?;
    let info = SceneInfo::load(dir)?;
    let city = &info.manifest.files.city;
    // The name comes from the server: a plain file name, or nothing is written.
    anyhow::ensure!(
        is_plain_file_name(city),
        "the server's scene.toml names its model {city:?}: not a plain file name, refused"
    );
    download(&format!("{http}/scene/{city}"), &dir.join(city), token, true)?;
    download(&format!("{http}/api/v1/grids"), &dir.join(GRIDS_FILE), token, false)?;
    Ok(info)
}

/// A name that stays inside the folder it is joined to: no separators, no `..`, not hidden.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The server refused the display's token (or the lack of one).
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct Refused {
    url: String,
    reason: &'static str,
}

fn download(url: &str, to: &Path, token: Option<&str>, progress: bool) -> anyhow::Result<()> {
    let mut request = ureq::get(url);
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
        assert!(server_urls("wss://example.org").is_err());
        assert!(server_urls("ws://a/b/c").is_err());
    }
}
