//! The city components of a scene (`components.csv`: `code,category,class,name_zh,x,y,lon,lat,state,source`).

use std::path::Path;

use gridwall_protocol::{ComponentCategory, ComponentState};

use crate::{SceneError, SceneManifest};

/// One component as the scene holds it, in local metres.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentRow {
    /// 16-digit GB/T 30428-style code.
    pub code: String,
    pub category: ComponentCategory,
    pub state: ComponentState,
    /// Local metres (x east, y north).
    pub pos: [f64; 2],
}

/// Reads a scene's `components.csv`, in file order.
pub fn read_components(dir: &Path, manifest: &SceneManifest) -> Result<Vec<ComponentRow>, SceneError> {
    let path = dir.join(&manifest.files.components);
    let mut rdr = csv::Reader::from_path(&path).map_err(|source| SceneError::Csv { path: path.clone(), source })?;
    let mut out = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let row = row.map_err(|source| SceneError::Csv { path: path.clone(), source })?;
        let line = i as u64 + 2;
        let bad = |field: &'static str, source: Box<dyn std::error::Error + Send + Sync>| SceneError::Row {
            path: path.clone(),
            line,
            field,
            source,
        };
        let field = |k: usize, name: &'static str| row.get(k).ok_or_else(|| bad(name, "missing column".into()));
        let num = |k: usize, name: &'static str| field(k, name)?.parse::<f64>().map_err(|e| bad(name, e.into()));
        out.push(ComponentRow {
            code: field(0, "code")?.to_owned(),
            category: field(1, "category")?.parse().map_err(|e| bad("category", Box::new(e)))?,
            state: field(8, "state")?.parse().map_err(|e| bad("state", Box::new(e)))?,
            pos: [num(4, "x")?, num(5, "y")?],
        });
    }
    Ok(out)
}
