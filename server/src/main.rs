//! `gridwall-server`: scene import and (later) the live backend.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gridwall_server::import::{ImportOptions, import};
use gridwall_server::progress::Progress;
use gridwall_server::synth::{SynthCity, write_city};

#[derive(Parser)]
#[command(name = "gridwall-server", version, about = "gridwall backend: scene import and live streaming")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a scene folder from an OpenStreetMap .osm.pbf extract.
    Import {
        /// The .osm.pbf file.
        input: PathBuf,
        /// Scene folder to write, e.g. scenes/helsinki (replaced if it is an older scene).
        #[arg(long)]
        out: PathBuf,
        /// Projected CRS for local metres, e.g. EPSG:4549 (CGCS2000 GK CM 120E). Default: the UTM
        /// zone of the data's centre.
        #[arg(long)]
        crs: Option<String>,
        /// Display name, e.g. 寿光市城区.
        #[arg(long)]
        name: Option<String>,
        /// Real grid boundaries (`GeoJSON`: level, code, name, parent). Default: generated.
        #[arg(long)]
        grids: Option<PathBuf>,
        /// Extra components (CSV: category,lon,lat[,crs][,state]; or `GeoJSON` points).
        #[arg(long)]
        components: Option<PathBuf>,
        /// Also place N seeded synthetic components along the roads (scale tests).
        #[arg(long, default_value_t = 0)]
        synthesize_components: usize,
        /// Seed of everything synthetic.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 6-digit county code that prefixes grid and component codes.
        #[arg(long, default_value = "370783")]
        county_code: String,
        /// Tile edge in metres (one glTF node per tile).
        #[arg(long, default_value_t = 250.0)]
        tile_size: f64,
    },
    /// Write a seeded synthetic city as .osm.pbf (for scale tests and benchmarks).
    SynthCity {
        /// Output .osm.pbf file.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 200_000)]
        buildings: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Import { input, out, crs, name, grids, components, synthesize_components, seed, county_code, tile_size } => {
            anyhow::ensure!(tile_size.is_finite() && tile_size >= 10.0, "--tile-size must be at least 10 m");
            let opts = ImportOptions {
                crs,
                display_name: name,
                grids,
                components,
                synthesize_components,
                seed,
                county_code,
                tile_size,
                ..ImportOptions::new(input, out)
            };
            import(&opts, Progress::stderr()).context("import failed")?;
        }
        Command::SynthCity { out, buildings, seed } => {
            let stats = write_city(&SynthCity { buildings, seed, ..SynthCity::default() }, &out, Progress::stderr())
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "wrote {}: {} buildings, {} roads, {} nodes ({} × {} blocks)",
                out.display(),
                stats.buildings,
                stats.roads,
                stats.nodes,
                stats.blocks_per_side,
                stats.blocks_per_side
            );
        }
    }
    Ok(())
}
