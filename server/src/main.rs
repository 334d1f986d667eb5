//! `gridwall-server`: scene import, synthetic cities and the live backend (`serve`).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use gridwall_import::import::{ImportOptions, import};
use gridwall_import::progress::Progress;
use gridwall_import::synth::{SynthCity, write_city};
use gridwall_server::config::{ServeArgs, ServeConfig};

#[derive(Parser)]
#[command(name = "gridwall-server", version, about = "gridwall backend: scene import and live streaming")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a scene folder from an OpenStreetMap .osm.pbf extract.
    Import(ImportArgs),
    /// Run the live backend for a scene: HTTP ingest, Open311, WebSocket streaming, storage.
    Serve(ServeArgs),
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
    /// Write a seeded past of tickets (whole workflows, KPI rows) into a new city's store, for
    /// benchmarks and tests of a city with months or years behind it.
    SynthHistory(SynthHistoryArgs),
    /// Manage the tokens of `serve --auth FILE`.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Add a token and print its secret (shown once, as the last line; only its hash is kept).
    Add {
        /// The token file (created if missing, readable by its owner only).
        #[arg(long)]
        file: PathBuf,
        /// viewer (walls), commander (desks), device (a patrol's phone), intake (Open311), admin.
        #[arg(long)]
        role: gridwall_city::access::Role,
        /// Who holds it: the actor of their commands in timelines and the audit trail.
        #[arg(long)]
        name: String,
        /// For a device: a patrol id it may report positions for (repeat for several).
        #[arg(long = "patrol")]
        patrols: Vec<String>,
    },
    /// Give a token a webhook: the server POSTs each change of a request's state to URL, signed
    /// with a new secret printed once (the last line; kept in the file, which signs with it).
    Webhook {
        #[arg(long)]
        file: PathBuf,
        /// The token's name.
        #[arg(long)]
        name: String,
        /// Where deliveries go (http:// or https://).
        #[arg(long)]
        url: String,
    },
}

/// `synth-history`'s flags.
#[derive(clap::Args)]
struct SynthHistoryArgs {
    /// The scene folder (its cells place the tickets).
    #[arg(long)]
    scene: PathBuf,
    /// The embedded store's folder (as `serve --data`).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// A PostgreSQL store instead (as `serve --store`).
    #[arg(long)]
    store: Option<String>,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Tickets a day (a big city's 12345 line: 3,300; a megacity's: 30,000).
    #[arg(long, default_value_t = 3_300)]
    per_day: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The operators' time zone, hours east of UTC (as `serve --utc-offset-hours`).
    #[arg(long, default_value_t = 8.0)]
    utc_offset_hours: f64,
}

/// `import`'s flags.
#[derive(clap::Args)]
struct ImportArgs {
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
}

impl ImportArgs {
    fn options(self) -> anyhow::Result<ImportOptions> {
        anyhow::ensure!(self.tile_size.is_finite() && self.tile_size >= 10.0, "--tile-size must be at least 10 m");
        Ok(ImportOptions {
            crs: self.crs,
            display_name: self.name,
            grids: self.grids,
            components: self.components,
            synthesize_components: self.synthesize_components,
            seed: self.seed,
            county_code: self.county_code,
            tile_size: self.tile_size,
            ..ImportOptions::new(self.input, self.out)
        })
    }
}

fn main() {
    // A failure is one clear line (its causes joined), not a backtrace.
    if let Err(e) = run() {
        eprintln!("gridwall-server: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::SynthHistory(args) => synth_history(args),
        Command::Serve(args) => serve(args),
        Command::Token(TokenCommand::Add { file, role, name, patrols }) => {
            let secret = gridwall_server::auth::add_token(&file, role, &name, &patrols)?;
            eprintln!(
                "gridwall-server: added {role} token {name:?} to {} (the secret is shown only now):",
                file.display()
            );
            println!("{secret}");
            Ok(())
        }
        Command::Token(TokenCommand::Webhook { file, name, url }) => {
            let secret = gridwall_server::auth::set_webhook(&file, &name, &url)?;
            eprintln!(
                "gridwall-server: token {name:?} in {} now has a webhook to {url}; its signing secret (shown only now):",
                file.display()
            );
            println!("{secret}");
            Ok(())
        }
        Command::Import(args) => {
            import(&args.options()?, Progress::stderr()).context("import failed")?;
            Ok(())
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
            Ok(())
        }
    }
}

fn synth_history(a: SynthHistoryArgs) -> anyhow::Result<()> {
    use gridwall_backend::synth::{SynthHistory, synth_history};
    anyhow::ensure!(
        a.utc_offset_hours.is_finite() && a.utc_offset_hours.abs() <= 14.0,
        "--utc-offset-hours must be -14 to 14"
    );
    let end_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_millis() as i64;
    let cfg = SynthHistory {
        scene: a.scene,
        data: a.data,
        store: a.store,
        days: a.days,
        per_day: a.per_day,
        seed: a.seed,
        utc_offset_ms: (a.utc_offset_hours * 3_600_000.0) as i64,
        limits: gridwall_city::workflow::TimeLimits::default(),
        end_ms,
    };
    let started = std::time::Instant::now();
    let mut shown = 0;
    let written = synth_history(&cfg, |done, of, incidents| {
        let tenth = done * 10 / of.max(1);
        if tenth > shown {
            shown = tenth;
            eprintln!(
                "synth-history: {}0 % ({done} of {of} days, {incidents} incidents, {:.1} s)",
                tenth,
                started.elapsed().as_secs_f64()
            );
        }
    })?;
    eprintln!(
        "synth-history: wrote {} incidents ({} still open) in {:.1} s",
        written.incidents,
        written.open,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cfg = ServeConfig::resolve(args).context("bad configuration")?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(&cfg.addr).await.with_context(|| format!("cannot listen on {}", cfg.addr))?;
        eprintln!(
            "gridwall-server: listening on http://{} (scene {}, data {})",
            listener.local_addr()?,
            cfg.live.scene.display(),
            cfg.live.data.display()
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("gridwall-server: shutting down");
        };
        gridwall_server::run(listener, cfg, shutdown).await.context("server failed")
    })
}
