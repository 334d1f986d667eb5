//! Tokens: the file `serve --auth FILE` checks requests against, and
//! `gridwall-server token add`, which adds one. A token is a random secret shown once; the
//! file keeps only its SHA-256, the holder's name (the actor of their commands), the role and,
//! for a device, its patrol ids; for a token with a webhook (`token webhook`), its URL and the
//! secret deliveries are signed with, in clear (the server needs it: keep the file private; it
//! is written readable by its owner only).
//!
//! ```toml
//! [[token]]
//! name = "desk-1"
//! role = "commander"
//! sha256 = "…64 hex digits…"
//! created = "2026-11-25T09:00:00Z"
//!
//! [[token]]
//! name = "phone-17"
//! role = "device"
//! patrols = ["P-17"]
//! sha256 = "…"
//! created = "…"
//!
//! [[token]]
//! name = "12345-hotline"
//! role = "intake"
//! sha256 = "…"
//! created = "…"
//! webhook = "https://hotline.example.org/gridwall"   # `token webhook`: changes are POSTed there
//! webhook_secret = "whsec_…"                          # the HMAC key that signs them
//! ```

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gridwall_city::access::{Caller, MAX_NAME, Role};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Longest secret looked at (ours are 67 characters).
pub const MAX_SECRET: usize = 256;
/// Most patrol ids one device token may report for.
pub const MAX_PATROLS_PER_TOKEN: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("{path}: token {index}: {reason}")]
    Entry { path: PathBuf, index: usize, reason: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    patrols: Vec<String>,
    sha256: String,
    #[serde(default)]
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

/// The tokens a server accepts, by the hash of their secret.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], (String, Role, Arc<HashSet<String>>)>,
    /// The tokens with a webhook: name, role, URL, signing secret.
    webhooks: Vec<(String, Role, String, String)>,
}

/// Longest webhook URL.
pub const MAX_WEBHOOK_URL: usize = 1_000;

fn check_webhook(url: &str, secret: Option<&str>, role: Role) -> Result<(), String> {
    if url.len() > MAX_WEBHOOK_URL
        || !(url.starts_with("http://") || url.starts_with("https://"))
        || !url.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(format!("webhook must be an http:// or https:// URL of at most {MAX_WEBHOOK_URL} characters"));
    }
    if role == Role::Device {
        return Err("a device token has no webhook".into());
    }
    if secret.is_none_or(|s| s.len() < 32 || s.len() > MAX_SECRET) {
        return Err("a webhook needs its webhook_secret (32 to 256 characters; `token webhook` makes one)".into());
    }
    Ok(())
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn check_entry(name: &str, role: Role, patrols: &[String]) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!("name must be 1 to {MAX_NAME} characters without control characters"));
    }
    if role == Role::Device && patrols.is_empty() {
        return Err("a device token needs the patrol ids it reports for (--patrol ID)".into());
    }
    if role != Role::Device && !patrols.is_empty() {
        return Err("only a device token has patrol ids".into());
    }
    if patrols.len() > MAX_PATROLS_PER_TOKEN || patrols.iter().any(|p| p.is_empty() || p.len() > 64) {
        return Err(format!("at most {MAX_PATROLS_PER_TOKEN} patrol ids of 1 to 64 bytes"));
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<TokenFile, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::Io { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| AuthError::Parse { path: path.to_owned(), source: Box::new(source) })
}

impl Tokens {
    /// Reads a token file; every entry is checked, and a name may appear once.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let file = read_file(path)?;
        let mut by_hash = HashMap::new();
        let mut webhooks = Vec::new();
        let mut names = HashSet::new();
        for (index, t) in file.token.into_iter().enumerate() {
            let bad = |reason: String| AuthError::Entry { path: path.to_owned(), index: index + 1, reason };
            check_entry(&t.name, t.role, &t.patrols).map_err(bad)?;
            let h = unhex(&t.sha256).ok_or_else(|| bad("sha256 must be 64 hex digits".into()))?;
            if !names.insert(t.name.clone()) {
                return Err(bad(format!("the name {:?} is used twice", t.name)));
            }
            if let Some(url) = &t.webhook {
                check_webhook(url, t.webhook_secret.as_deref(), t.role).map_err(bad)?;
                let secret = t.webhook_secret.clone().unwrap_or_default();
                webhooks.push((t.name.clone(), t.role, url.clone(), secret));
            }
            by_hash.insert(h, (t.name, t.role, Arc::new(t.patrols.into_iter().collect())));
        }
        Ok(Self { by_hash, webhooks })
    }

    /// The webhooks, each showing what its token's role may read (residents' text also where
    /// the server publishes it: `public_text`).
    pub fn webhooks(&self, public_text: bool) -> Vec<gridwall_backend::webhook::Hook> {
        use gridwall_city::access::Permission;
        self.webhooks
            .iter()
            .map(|(name, role, url, secret)| {
                let (text, photos) = gridwall_city::open311::visible(role.grants(Permission::Read), public_text);
                gridwall_backend::webhook::Hook {
                    name: name.clone(),
                    url: url.clone(),
                    secret: secret.clone(),
                    text,
                    photos,
                }
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The caller a secret belongs to (`None`: no such token).
    pub fn caller(&self, secret: &str, address: &str) -> Option<Caller> {
        if secret.len() > MAX_SECRET {
            return None;
        }
        self.by_hash
            .get(&hash(secret))
            .map(|(name, role, patrols)| Caller::token(name.clone(), *role, patrols.clone(), address))
    }
}

/// Adds a token to the file (creating it, readable by its owner only) and returns the new
/// secret, which is stored nowhere.
pub fn add_token(path: &Path, role: Role, name: &str, patrols: &[String]) -> Result<String, AuthError> {
    check_entry(name, role, patrols).map_err(AuthError::Invalid)?;
    let mut file = if path.exists() { read_file(path)? } else { TokenFile::default() };
    if file.token.iter().any(|t| t.name == name) {
        return Err(AuthError::Invalid(format!("{}: a token named {name:?} exists already", path.display())));
    }
    let secret = new_secret("gw_");
    file.token.push(TokenEntry {
        name: name.to_owned(),
        role,
        patrols: patrols.to_vec(),
        sha256: hex(&hash(&secret)),
        created: gridwall_city::ingest::format_time(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
        ),
        webhook: None,
        webhook_secret: None,
    });
    write_file(path, &file)?;
    Ok(secret)
}

/// Gives the token `name` a webhook to `url` with a new signing secret, which it returns (the
/// file keeps it: the server signs with it).
pub fn set_webhook(path: &Path, name: &str, url: &str) -> Result<String, AuthError> {
    let mut file = read_file(path)?;
    let secret = new_secret("whsec_");
    let t = file
        .token
        .iter_mut()
        .find(|t| t.name == name)
        .ok_or_else(|| AuthError::Invalid(format!("{}: no token named {name:?}", path.display())))?;
    check_webhook(url, Some(&secret), t.role).map_err(AuthError::Invalid)?;
    t.webhook = Some(url.to_owned());
    t.webhook_secret = Some(secret.clone());
    write_file(path, &file)?;
    Ok(secret)
}

/// 32 random bytes in hex after `prefix` (which says what the secret is for).
fn new_secret(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!("{prefix}{}", hex(&raw))
}

fn write_file(path: &Path, file: &TokenFile) -> Result<(), AuthError> {
    let text = toml::to_string(file).map_err(|e| AuthError::Invalid(e.to_string()))?;
    // Written beside, then renamed over: a crash leaves the old file or the new one.
    let tmp = path.with_extension("tmp");
    let io = |source| AuthError::Io { path: tmp.clone(), source };
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(|source| AuthError::Io { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_tokens_are_found_by_their_secret_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        let desk = add_token(&path, Role::Commander, "desk-1", &[]).unwrap();
        let phone = add_token(&path, Role::Device, "phone-17", &["P-17".into()]).unwrap();
        assert!(desk.starts_with("gw_") && desk.len() == 67 && desk != phone);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&desk[3..]) && !text.contains(&phone[3..]), "secrets are not stored");
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777,
            0o600
        );
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.len(), 2);
        let c = tokens.caller(&desk, "10.0.0.1:5").unwrap();
        assert_eq!((c.name.as_str(), c.role), ("desk-1", Some(Role::Commander)));
        assert!(tokens.caller(&phone, "x").unwrap().patrols.contains("P-17"));
        assert!(tokens.caller("gw_0000", "x").is_none());
        assert!(tokens.caller(&"a".repeat(10_000), "x").is_none());
        // Refused additions change nothing.
        assert!(add_token(&path, Role::Viewer, "desk-1", &[]).is_err(), "a name once");
        assert!(add_token(&path, Role::Device, "phone-18", &[]).is_err(), "a device needs its patrols");
        assert!(add_token(&path, Role::Viewer, "wall", &["P-1".into()]).is_err());
        assert!(add_token(&path, Role::Viewer, "", &[]).is_err());
        assert_eq!(Tokens::load(&path).unwrap().len(), 2);
    }

    #[test]
    fn a_webhook_is_given_to_a_token_with_its_own_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        add_token(&path, Role::Intake, "hotline", &[]).unwrap();
        add_token(&path, Role::Device, "phone", &["P-1".into()]).unwrap();
        add_token(&path, Role::Commander, "desk", &[]).unwrap();
        assert!(set_webhook(&path, "hotline", "ftp://x").is_err());
        assert!(set_webhook(&path, "phone", "https://x.example/h").is_err(), "devices have none");
        assert!(set_webhook(&path, "nobody", "https://x.example/h").is_err());
        let secret = set_webhook(&path, "hotline", "https://hotline.example/h").unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() == 70);
        set_webhook(&path, "desk", "http://10.0.0.5:9000/in").unwrap();
        let tokens = Tokens::load(&path).unwrap();
        let hooks = tokens.webhooks(false);
        assert_eq!(hooks.len(), 2);
        assert_eq!((hooks[0].name.as_str(), hooks[0].url.as_str()), ("hotline", "https://hotline.example/h"));
        assert_eq!(hooks[0].secret, secret);
        assert!(!hooks[0].text && !hooks[0].photos, "intake reads no residents' text");
        assert!(hooks[1].text && hooks[1].photos, "a commander does");
        assert!(tokens.webhooks(true)[0].text && !tokens.webhooks(true)[0].photos, "published text, never photos");
        // A file edited by hand: a webhook without its secret is refused.
        let text = std::fs::read_to_string(&path).unwrap().replace(&format!("webhook_secret = \"{secret}\""), "");
        std::fs::write(&path, text).unwrap();
        assert!(Tokens::load(&path).unwrap_err().to_string().contains("webhook_secret"));
    }

    #[test]
    fn a_broken_token_file_is_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        std::fs::write(&path, "[[token]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"zz\"\n").unwrap();
        let e = Tokens::load(&path).unwrap_err().to_string();
        assert!(e.contains("token 1") && e.contains("64 hex digits"), "{e}");
        std::fs::write(&path, "[[token]]\nname = \"a\"\nrole = \"root\"\nsha256 = \"00\"\n").unwrap();
        assert!(Tokens::load(&path).is_err());
    }
}
