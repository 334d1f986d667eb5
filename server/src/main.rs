//! `gridwall-server`: scene import, synthetic cities and the live backend (`serve`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gridwall_server::import::{ImportOptions, import};
use gridwall_server::progress::Progress;
use gridwall_server::serve::{self, ServeConfig};
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
    /// Run the live backend for a scene: HTTP ingest, Open311, WebSocket streaming, storage.
    Serve {
        /// A TOML file with any of the settings below (flags given here win).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Scene folder, e.g. scenes/helsinki.
        #[arg(long)]
        scene: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long)]
        addr: Option<String>,
        /// Folder of the durable store (default gridwall-data/<scene folder name>).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Run the city simulator (patrols, incidents, workflow).
        #[arg(long)]
        simulate: bool,
        /// Simulator seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Simulated patrols.
        #[arg(long)]
        patrols: Option<usize>,
        /// Simulated new incidents per hour (daily average).
        #[arg(long)]
        incident_rate: Option<f64>,
        /// Clock speed (1 = real time; 60 = an hour a minute).
        #[arg(long)]
        speed: Option<f64>,
        /// Stream ticks per second.
        #[arg(long)]
        tick_hz: Option<u16>,
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
        Command::Serve { config, scene, addr, data, simulate, seed, patrols, incident_rate, speed, tick_hz } => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
                .with_writer(std::io::stderr)
                .init();
            let mut cfg = match &config {
                Some(path) => ServeConfig::from_toml_file(path)?,
                None => ServeConfig::default(),
            };
            let data_given = data.is_some() || config.as_ref().is_some_and(|p| std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("data"))));
            if let Some(v) = scene {
                cfg.scene = v;
            }
            if let Some(v) = addr {
                cfg.addr = v;
            }
            if let Some(v) = data {
                cfg.data = v;
            }
            if !data_given {
                let name = cfg.scene.file_name().map_or_else(|| "scene".into(), |n| n.to_string_lossy().into_owned());
                cfg.data = PathBuf::from("gridwall-data").join(name);
            }
            if simulate || seed.is_some() || patrols.is_some() || incident_rate.is_some() {
                let mut sim = cfg.simulate.take().unwrap_or_default();
                sim.seed = seed.unwrap_or(sim.seed);
                sim.patrols = patrols.unwrap_or(sim.patrols);
                sim.incident_rate = incident_rate.unwrap_or(sim.incident_rate);
                anyhow::ensure!(sim.incident_rate.is_finite() && sim.incident_rate >= 0.0, "--incident-rate must be a number ≥ 0");
                cfg.simulate = Some(sim);
            }
            if let Some(v) = speed {
                anyhow::ensure!(v.is_finite() && v > 0.0, "--speed must be positive");
                cfg.speed = v;
            }
            if let Some(v) = tick_hz {
                anyhow::ensure!((1..=60).contains(&v), "--tick-hz must be 1 to 60");
                cfg.tick_hz = v;
            }
            let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&cfg.addr).await.with_context(|| format!("cannot listen on {}", cfg.addr))?;
                eprintln!("gridwall-server: listening on http://{} (scene {}, data {})", listener.local_addr()?, cfg.scene.display(), cfg.data.display());
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                    eprintln!("gridwall-server: shutting down");
                };
                serve::run(listener, cfg, shutdown).await.context("server failed")
            })?;
        }
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
