//! Markers of live things on the map, and what a click can pick.

use std::collections::HashMap;

use bevy::prelude::*;
use gridwall_protocol::{ComponentCategory, ComponentState, IncidentState, PatrolRole, PatrolStatus};

/// What can be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Incident(u64),
    Patrol(u32),
    Component(u32),
    /// A grid unit, by code.
    Grid(String),
}

/// Marks a map object that a click can select.
#[derive(Component, Debug, Clone, PartialEq, Eq)]
pub struct Pickable(pub Target);

/// A patrol on the map.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct PatrolMarker {
    pub id: u32,
    /// The id its device registered with.
    pub patrol_id: String,
    pub name: String,
    pub role: PatrolRole,
    pub status: PatrolStatus,
    /// Code of the assigned cell.
    pub grid: String,
}

/// An open incident on the map, as the server last described it.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct IncidentMarker(pub IncidentState);

/// A city component on the map.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct ComponentMarker {
    pub id: u32,
    pub code: String,
    pub category: ComponentCategory,
    pub state: ComponentState,
}

/// Incident marker entities by incident id.
#[derive(Resource, Debug, Default)]
pub struct Incidents {
    pub by_id: HashMap<u64, Entity>,
}

/// Patrol marker entities by patrol id.
#[derive(Resource, Debug, Default)]
pub struct Patrols {
    pub by_id: HashMap<u32, Entity>,
}

/// A label floating over the map at a world point (a grid unit's name, an incident's countdown).
/// Its feature says whether it wants to show and how much it matters (`rank` 0 first); the
/// labels feature places it on the panel its point falls on, if it fits beside the labels placed
/// before it and clear of the panels.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct FloatingLabel {
    pub at: Vec3,
    pub rank: u8,
    pub wanted: bool,
}
