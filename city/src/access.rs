//! Who may do what. Every request and connection has a [`Caller`]: a token's holder with a
//! [`Role`], an anonymous caller (who may read only what is public), or — on a server started
//! without tokens, which only listens on loopback — the local operator, who may do everything.
//! The actor of every command is the caller's name, never a field the client fills in, and
//! every command leaves an [`AuditEntry`].

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Longest name of a token's holder (it becomes the actor of their commands).
pub const MAX_NAME: usize = 64;
/// Audit entries kept in memory for queries (all of them stay in the store).
pub const AUDIT_KEPT: usize = 10_000;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Walls: the stream, the scene, KPIs, tracks, incidents — what a wall shows.
    Viewer,
    /// A commander's desk: everything a viewer sees, plus assigning, workflow steps, casting
    /// and leading a wall.
    Commander,
    /// A patrol's device: positions for its own patrol ids only.
    Device,
    /// Incident intake (a hotline system, a citizens' app backend): Open311 requests, with
    /// their source.
    Intake,
    /// The patrol registry and the audit trail (and reading).
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Viewer, Role::Commander, Role::Device, Role::Intake, Role::Admin];

    pub fn key(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Commander => "commander",
            Role::Device => "device",
            Role::Intake => "intake",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do `p`.
    pub fn grants(self, p: Permission) -> bool {
        matches!(
            (self, p),
            (Role::Viewer | Role::Commander | Role::Admin, Permission::Read)
                | (Role::Commander, Permission::Command)
                | (Role::Device, Permission::Report)
                | (Role::Intake, Permission::Intake)
                | (Role::Admin, Permission::Administer)
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.key() == s)
            .ok_or_else(|| format!("{s:?} is not a role: viewer, commander, device, intake or admin"))
    }
}

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the live picture: the display stream, the scene, KPIs, incidents, tracks, nearest.
    Read,
    /// Assign, run workflow steps, cast to and lead a wall.
    Command,
    /// Report positions (of the caller's own patrols).
    Report,
    /// Open incidents through Open311.
    Intake,
    /// Register patrols, read the audit trail.
    Administer,
}

impl Permission {
    /// What it lets one do, for refusals.
    pub fn what(self) -> &'static str {
        match self {
            Permission::Read => "read the live picture",
            Permission::Command => "give commands",
            Permission::Report => "report positions",
            Permission::Intake => "open incidents",
            Permission::Administer => "administer patrols and read the audit trail",
        }
    }
}

/// Why a caller was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No token, or one the server does not know (HTTP 401).
    #[error("a valid token is needed to {0} (Authorization: Bearer …)")]
    Unauthenticated(&'static str),
    /// A token whose role does not allow it (HTTP 403).
    #[error("{name} ({role}) may not {what}")]
    Forbidden { name: String, role: Role, what: String },
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's holder (the actor of their commands); `anonymous`; or `local`.
    pub name: String,
    /// `None`: anonymous.
    pub role: Option<Role>,
    /// For a device: the patrol ids it may report for (shared by its connections).
    pub patrols: Arc<HashSet<String>>,
    /// A server without tokens (loopback only): the caller may do everything.
    pub open: bool,
    /// Where the request came from (IP and port), for the audit trail.
    pub address: String,
}

impl Caller {
    /// On a server without tokens: the local operator, who may do everything.
    pub fn local(address: impl Into<String>) -> Self {
        Self { name: "local".into(), role: None, patrols: Arc::default(), open: true, address: address.into() }
    }

    /// No token given.
    pub fn anonymous(address: impl Into<String>) -> Self {
        Self { name: "anonymous".into(), role: None, patrols: Arc::default(), open: false, address: address.into() }
    }

    /// A token's holder.
    pub fn token(
        name: impl Into<String>,
        role: Role,
        patrols: Arc<HashSet<String>>,
        address: impl Into<String>,
    ) -> Self {
        Self { name: name.into(), role: Some(role), patrols, open: false, address: address.into() }
    }

    pub fn may(&self, p: Permission) -> bool {
        self.open || self.role.is_some_and(|r| r.grants(p))
    }

    /// `Ok` when the caller may do `p`.
    pub fn check(&self, p: Permission) -> Result<(), Denied> {
        match self.role {
            _ if self.may(p) => Ok(()),
            None => Err(Denied::Unauthenticated(p.what())),
            Some(role) => Err(Denied::Forbidden { name: self.name.clone(), role, what: p.what().into() }),
        }
    }

    /// `Ok` when the caller may report positions for this patrol.
    pub fn check_patrol(&self, patrol_id: &str) -> Result<(), Denied> {
        self.check(Permission::Report)?;
        if self.open || self.patrols.contains(patrol_id) {
            Ok(())
        } else {
            Err(Denied::Forbidden {
                name: self.name.clone(),
                role: Role::Device,
                what: format!("report positions for patrol {patrol_id:?} (not one of its own)"),
            })
        }
    }

    /// The actor recorded for a command: the token's holder. Only the local operator of a
    /// server without tokens may name someone (a desk shared on one machine), up to 64 characters.
    pub fn actor(&self, claimed: &str) -> String {
        let claimed = claimed.trim();
        if self.open && !claimed.is_empty() { claimed.chars().take(MAX_NAME).collect() } else { self.name.clone() }
    }

    /// The role as the audit trail writes it.
    pub fn role_key(&self) -> &'static str {
        match (self.open, self.role) {
            (true, _) => "local",
            (false, Some(r)) => r.key(),
            (false, None) => "anonymous",
        }
    }
}

pub use gridwall_protocol::api::AuditEntry;

/// An audit entry of a command by `caller` at `t_ms` (texts cut to 256 characters).
pub fn audit_entry(t_ms: i64, caller: &Caller, action: &str, target: String, outcome: String) -> AuditEntry {
    let cut = |s: &str| -> String { s.chars().take(256).collect() };
    AuditEntry {
        t_ms,
        actor: caller.name.clone(),
        role: caller.role_key().into(),
        address: caller.address.clone(),
        action: cut(action),
        target: cut(&target),
        outcome: cut(&outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_do_its_own_things_only() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, false, false, false, false]),
            (Role::Commander, [true, true, false, false, false]),
            (Role::Device, [false, false, true, false, false]),
            (Role::Intake, [false, false, false, true, false]),
            (Role::Admin, [true, false, false, false, true]),
        ];
        for (role, allowed) in table {
            for (p, want) in [Read, Command, Report, Intake, Administer].into_iter().zip(allowed) {
                assert_eq!(role.grants(p), want, "{role} {p:?}");
            }
            assert_eq!(role.key().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn callers_are_refused_with_the_right_reason_and_act_under_their_own_name() {
        let anon = Caller::anonymous("10.0.0.9:5000");
        assert_eq!(anon.check(Permission::Read), Err(Denied::Unauthenticated("read the live picture")));
        let viewer = Caller::token("wall-1", Role::Viewer, Arc::default(), "10.0.0.2:1");
        assert!(matches!(viewer.check(Permission::Command), Err(Denied::Forbidden { role: Role::Viewer, .. })));
        let device = Caller::token("phone-7", Role::Device, Arc::new(HashSet::from(["P-7".into()])), "10.0.0.3:1");
        assert!(device.check_patrol("P-7").is_ok());
        assert!(device.check_patrol("P-8").is_err());
        assert!(viewer.check_patrol("P-7").is_err());
        let desk = Caller::token("张指挥", Role::Commander, Arc::default(), "10.0.0.4:1");
        assert_eq!(desk.actor("市长"), "张指挥", "a claimed actor is ignored");
        let local = Caller::local("127.0.0.1:9");
        assert!(local.check(Permission::Administer).is_ok() && local.check_patrol("anything").is_ok());
        assert_eq!(local.actor("指挥长"), "指挥长");
        assert_eq!(local.actor("  "), "local");
        assert_eq!(local.actor(&"长".repeat(100)).chars().count(), MAX_NAME);
    }
}
