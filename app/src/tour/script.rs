//! A tour script (`--tour FILE.toml`): steps that fly the camera to a keyframe on an eased path
//! and hold it there, each with a caption in Chinese and English and what to show. The script
//! loops. A file with an error is refused before anything opens, naming the line.
//!
//! ```toml
//! idle_resume_s = 30          # after a pause for a visitor's own exploring, resume after this
//!
//! [[step]]
//! fly_s = 4                   # eased flight from the previous keyframe
//! hold_s = 6
//! camera = { x = 0, y = 0, heading = -35, pitch = 50, distance = 2000 }  # metres, degrees
//! caption = { zh = "…", en = "…" }
//! highlight = "street"        # street | community | cell | kpis: what lights up
//! patrols = "370783001"       # only the patrols of this grid unit
//! heatmap = true              # the incident heatmap on (off otherwise)
//! incident = "closed"         # open: the oldest open incident's panel; closed: the newest closed
//! analysis = "ranking"        # the 研判 panel on this page: trend | ranking | warnings
//! ```

use std::path::Path;

use gridwall_protocol::GridLevel;
use gridwall_protocol::wall::{Caption, Highlight, Orbit, ease_in_out};
use serde::Deserialize;
use toml::Spanned;

/// Longest tour: a hundred steps of at most ten minutes each.
const MAX_STEPS: usize = 100;
const MAX_STEP_S: f64 = 600.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_idle")]
    idle_resume_s: f64,
    step: Vec<Spanned<StepIn>>,
}

fn default_idle() -> f64 {
    30.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepIn {
    #[serde(default = "default_fly")]
    fly_s: f64,
    hold_s: f64,
    camera: Spanned<CameraIn>,
    caption: Option<Spanned<Caption>>,
    highlight: Option<Spanned<String>>,
    patrols: Option<Spanned<String>>,
    #[serde(default)]
    heatmap: bool,
    incident: Option<Spanned<String>>,
    analysis: Option<Spanned<String>>,
}

fn default_fly() -> f64 {
    3.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraIn {
    x: f64,
    y: f64,
    heading: f32,
    pitch: f32,
    distance: f32,
}

/// Which incident a step shows the panel of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentPick {
    /// The oldest open incident on the map (the furthest along its workflow).
    Open,
    /// The newest closed one: its timeline runs from 受理 to 回访.
    Closed,
}

/// One step of a tour.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub fly_s: f64,
    pub hold_s: f64,
    pub camera: Orbit,
    pub caption: Option<Caption>,
    pub highlight: Option<Highlight>,
    pub heatmap: bool,
    pub incident: Option<IncidentPick>,
    /// The 研判 panel shown on this page during the step (closed otherwise).
    pub analysis: Option<crate::map::AnalysisTab>,
}

/// A whole tour.
#[derive(Debug, Clone, PartialEq, bevy::prelude::Resource)]
pub struct TourScript {
    pub steps: Vec<Step>,
    pub idle_resume_s: f64,
}

/// Why a tour file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TourError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Syntax { path: String, source: Box<toml::de::Error> },
    #[error("{path} line {line}: step {step}: {reason}")]
    Step { path: String, line: usize, step: usize, reason: String },
    #[error("{path}: {reason}")]
    Tour { path: String, reason: String },
}

impl TourScript {
    pub fn load(path: &Path) -> Result<Self, TourError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TourError::Read { path: name.clone(), source })?;
        Self::parse(&text, &name)
    }

    /// Parses and checks a tour; `name` is what errors call the file.
    pub fn parse(text: &str, name: &str) -> Result<Self, TourError> {
        let file: File = toml::from_str(text)
            .map_err(|source| TourError::Syntax { path: name.to_owned(), source: Box::new(source) })?;
        let tour_error = |reason: &str| TourError::Tour { path: name.to_owned(), reason: reason.to_owned() };
        if file.step.is_empty() || file.step.len() > MAX_STEPS {
            return Err(tour_error("a tour has 1 to 100 [[step]]s"));
        }
        if !(file.idle_resume_s.is_finite() && (1.0..=3600.0).contains(&file.idle_resume_s)) {
            return Err(tour_error("idle_resume_s must be 1 to 3600"));
        }
        let mut steps = Vec::with_capacity(file.step.len());
        let line_of = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
        for (i, spanned) in file.step.iter().enumerate() {
            // The line of the value at fault, or the step's own.
            let bad = |(at, reason): (Option<usize>, String)| TourError::Step {
                path: name.to_owned(),
                line: line_of(at.unwrap_or(spanned.span().start)),
                step: i + 1,
                reason,
            };
            steps.push(check(spanned.get_ref()).map_err(bad)?);
        }
        Ok(Self { steps, idle_resume_s: file.idle_resume_s })
    }

    /// How long one round takes (seconds).
    pub fn length(&self) -> f64 {
        self.steps.iter().map(|s| s.fly_s + s.hold_s).sum()
    }

    /// The step playing at `t` seconds into the round (wrapped), and how far into it.
    pub fn step_at(&self, t: f64) -> (usize, f64) {
        let mut t = t.rem_euclid(self.length());
        for (i, s) in self.steps.iter().enumerate() {
            let len = s.fly_s + s.hold_s;
            if t < len {
                return (i, t);
            }
            t -= len;
        }
        (self.steps.len() - 1, 0.0)
    }

    /// Where the camera flies from into step `i`: the keyframe before it (the last one for the
    /// first step, as the tour loops).
    pub fn from_camera(&self, i: usize) -> Orbit {
        self.steps[(i + self.steps.len() - 1) % self.steps.len()].camera
    }

    /// The camera at `t` seconds into the round.
    pub fn camera_at(&self, t: f64) -> Orbit {
        let (i, into) = self.step_at(t);
        let s = &self.steps[i];
        if into >= s.fly_s || s.fly_s <= 0.0 {
            return s.camera;
        }
        self.from_camera(i).lerp(&s.camera, ease_in_out((into / s.fly_s) as f32))
    }
}

/// A step checked, or where (a byte offset, if known) and why it is wrong.
fn check(s: &StepIn) -> Result<Step, (Option<usize>, String)> {
    let secs = |v: f64, what: &str, min: f64| {
        if v.is_finite() && (min..=MAX_STEP_S).contains(&v) {
            Ok(v)
        } else {
            Err((None, format!("{what} must be {min} to {MAX_STEP_S} seconds")))
        }
    };
    let fly_s = secs(s.fly_s, "fly_s", 0.0)?;
    let hold_s = secs(s.hold_s, "hold_s", 0.5)?;
    let at = |v: &dyn SpanOf| Some(v.start());
    let c = s.camera.get_ref();
    let camera =
        Orbit { x: c.x, y: c.y, heading: -c.heading.to_radians(), pitch: c.pitch.to_radians(), distance: c.distance };
    if !camera.is_valid() {
        return Err((
            at(&s.camera),
            format!(
                "camera: x and y within 10,000 km, pitch {:.0} to {:.0} degrees, distance 1 to 60000 m",
                Orbit::MIN_PITCH.to_degrees(),
                Orbit::MAX_PITCH.to_degrees()
            ),
        ));
    }
    if let Some(c) = &s.caption
        && (c.get_ref().zh.chars().count() > 400 || c.get_ref().en.chars().count() > 400)
    {
        return Err((at(c), "caption: at most 400 characters a language".into()));
    }
    let highlight = match (&s.highlight, &s.patrols) {
        (Some(h), Some(_)) => return Err((at(h), "give highlight or patrols, not both".into())),
        (None, Some(code)) if code.get_ref().len() <= 64 && !code.get_ref().is_empty() => {
            Some(Highlight::Patrols(code.get_ref().clone()))
        }
        (None, Some(code)) => return Err((at(code), "patrols: a grid code of 1 to 64 characters".into())),
        (Some(h), None) if h.get_ref() == "kpis" => Some(Highlight::Kpis),
        (Some(h), None) => match h.get_ref().parse::<GridLevel>() {
            Ok(l @ (GridLevel::Street | GridLevel::Community | GridLevel::Cell)) => Some(Highlight::GridLevel(l)),
            _ => {
                return Err((at(h), format!("highlight {:?}: use street, community, cell or kpis", h.get_ref())));
            }
        },
        (None, None) => None,
    };
    let incident = match &s.incident {
        None => None,
        Some(i) if i.get_ref() == "open" => Some(IncidentPick::Open),
        Some(i) if i.get_ref() == "closed" => Some(IncidentPick::Closed),
        Some(i) => return Err((at(i), format!("incident {:?}: use open or closed", i.get_ref()))),
    };
    let analysis = match &s.analysis {
        None => None,
        Some(a) => Some(a.get_ref().parse().map_err(|e: String| (at(a), format!("analysis: {e}")))?),
    };
    let caption = s.caption.as_ref().map(|c| c.get_ref().clone());
    Ok(Step { fly_s, hold_s, camera, caption, highlight, heatmap: s.heatmap, incident, analysis })
}

/// Where a spanned value starts in the file.
trait SpanOf {
    fn start(&self) -> usize;
}

impl<T> SpanOf for Spanned<T> {
    fn start(&self) -> usize {
        self.span().start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOUR: &str = r#"
idle_resume_s = 20

[[step]]
fly_s = 0
hold_s = 4
camera = { x = 0, y = 0, heading = 0, pitch = 50, distance = 2000 }
caption = { zh = "全景", en = "Overview" }

[[step]]
fly_s = 2
hold_s = 2
camera = { x = 100, y = 0, heading = 0, pitch = 50, distance = 500 }
highlight = "community"
heatmap = true
"#;

    #[test]
    fn steps_fly_then_hold_and_the_tour_loops() {
        let t = TourScript::parse(TOUR, "tour.toml").unwrap();
        assert_eq!((t.length(), t.idle_resume_s), (8.0, 20.0));
        assert_eq!(t.step_at(1.0), (0, 1.0));
        assert_eq!(t.step_at(5.0), (1, 1.0));
        assert_eq!(t.step_at(9.0), (0, 1.0), "loops");
        assert_eq!(t.camera_at(2.0).x, 0.0);
        let mid = t.camera_at(5.0);
        assert!((mid.x - 50.0).abs() < 1e-9 && (mid.distance - 1000.0).abs() < 0.5, "{mid:?}");
        assert_eq!(t.camera_at(7.0).x, 100.0);
        assert_eq!(t.steps[1].highlight, Some(Highlight::GridLevel(GridLevel::Community)));
        assert_eq!(t.steps[0].caption.as_ref().unwrap().en, "Overview");
    }

    #[test]
    fn the_shipped_tour_is_valid_and_shows_every_kind_of_step() {
        let t = TourScript::parse(include_str!("../../../scenes/helsinki/tour.toml"), "tour.toml").unwrap();
        assert!((60.0..300.0).contains(&t.length()), "{}", t.length());
        assert!(t.steps.iter().all(|s| s.caption.is_some()), "every step is captioned");
        let has = |f: &dyn Fn(&Step) -> bool| t.steps.iter().any(f);
        for level in [GridLevel::Street, GridLevel::Community, GridLevel::Cell] {
            assert!(has(&|s| s.highlight == Some(Highlight::GridLevel(level))), "{level:?}");
        }
        assert!(has(&|s| matches!(s.highlight, Some(Highlight::Patrols(_)))));
        assert!(has(&|s| s.highlight == Some(Highlight::Kpis)));
        assert!(has(&|s| s.heatmap));
        assert!(has(&|s| s.incident == Some(IncidentPick::Open)) && has(&|s| s.incident == Some(IncidentPick::Closed)));
        use crate::map::AnalysisTab;
        assert!(
            has(&|s| s.analysis == Some(AnalysisTab::Warnings)) && has(&|s| s.analysis == Some(AnalysisTab::Ranking))
        );
    }

    #[test]
    fn a_bad_tour_names_the_line_and_the_reason() {
        let bad = TOUR.replace("pitch = 50, distance = 500", "pitch = 95, distance = 500");
        let e = TourScript::parse(&bad, "tour.toml").unwrap_err().to_string();
        assert!(e.starts_with("tour.toml line 13: step 2: camera"), "{e}");
        let bad = TOUR.replace("highlight = \"community\"", "highlight = \"province\"");
        let e = TourScript::parse(&bad, "t").unwrap_err().to_string();
        assert!(e.starts_with("t line 14: step 2: highlight \"province\""), "{e}");
        let bad = TOUR.replace("heatmap = true", "analysis = \"charts\"");
        let e = TourScript::parse(&bad, "t").unwrap_err().to_string();
        assert!(e.starts_with("t line 15: step 2: analysis: \"charts\": use trend, ranking or warnings"), "{e}");
        let bad = TOUR.replace("hold_s = 2\n", "hold_s = 0\n");
        let e = TourScript::parse(&bad, "t").unwrap_err().to_string();
        assert!(e.starts_with("t line 10: step 2: hold_s"), "the step's line: {e}");
        let bad = TOUR.replace("hold_s = 4", "hold_s = \"long\"");
        let e = TourScript::parse(&bad, "t").unwrap_err().to_string();
        assert!(e.contains("line 6"), "{e}");
        assert!(TourScript::parse("idle_resume_s = 5\n", "t").is_err(), "no steps");
        let bad = TOUR.replace("heatmap = true", "heatmap = true\nsparkles = true");
        assert!(TourScript::parse(&bad, "t").unwrap_err().to_string().contains("sparkles"));
    }
}
