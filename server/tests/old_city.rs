//! A city with a past (`synth-history`: weeks of seeded tickets written straight into the store),
//! on both stores: the live state holds its open work only, yet every endpoint that answered
//! for an incident still answers for one closed long ago (from the store), the KPIs kept as
//! counters equal the KPIs computed from scratch over every stored incident, for every period
//! and grid level, after live steps and after a restart; the 研判 trend over the whole past
//! counts each day as the store holds it. And servers starting together on a
//! fresh PostgreSQL all come up.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gridwall_backend::LiveConfig;
use gridwall_backend::synth::{SynthHistory, Written, synth_history};
use gridwall_city::records::IncidentRow;
use gridwall_city::tally::{DAY_MS, bucket, local_day};
use gridwall_city::workflow::{TimeLimits, compute_kpis};
use gridwall_protocol::{KpiPeriod, Kpis};
use gridwall_store::CityKey;
use gridwall_store::history::incidents::RequestQuery;
use gridwall_store::history::source::Opener;
use gridwall_testkit::now_ms;
use gridwall_testkit::paths::helsinki;
use gridwall_testkit::postgres::TempPostgres;
use gridwall_testkit::server::TestServer as Server;
use serde_json::{Value, json as j};

const DAYS: u32 = 45;
const PER_DAY: u32 = 120;

fn utc_offset_ms() -> i64 {
    (LiveConfig::default().utc_offset_hours * 3_600_000.0) as i64
}

/// Writes the seeded past into the store in `data` (or PostgreSQL at `store`).
fn past(data: &Path, store: Option<String>) -> Written {
    let cfg = SynthHistory {
        scene: helsinki(),
        data: data.to_owned(),
        store,
        days: DAYS,
        per_day: PER_DAY,
        seed: 7,
        utc_offset_ms: utc_offset_ms(),
        limits: TimeLimits::default(),
        end_ms: now_ms(),
    };
    synth_history(&cfg, |_, _, _| {}).expect("the history is written")
}

/// A server on that store whose clock all but stands still (no deadline passes between an
/// answer and the check of it).
fn serve(data: &Path, store: Option<String>) -> Server {
    let data = data.to_owned();
    Server::start(move |c| {
        c.live.data = data;
        c.live.store = store;
        c.live.speed = 0.001;
    })
}

/// Every stored incident, read back with the Open311 list's own query.
fn every_incident(opener: &Opener) -> Vec<IncidentRow> {
    let q = RequestQuery { from_ms: i64::MIN, to_ms: i64::MAX, limit: 100_000, ..RequestQuery::default() };
    let all = opener.open().unwrap().requests(&q).unwrap();
    assert!(all.len() < 100_000);
    all
}

/// The KPIs of a scope and period at `now`, from scratch over every incident.
fn from_scratch(all: &[IncidentRow], scope: Option<&str>, period: KpiPeriod, now: i64) -> Kpis {
    let off = utc_offset_ms();
    let today = local_day(now, off);
    let in_scope = |i: &&IncidentRow| scope.is_none_or(|s| !i.grid.is_empty() && i.grid.starts_with(s));
    let cases = all
        .iter()
        .filter(in_scope)
        .filter(|i| bucket(period, local_day(i.case.created_ms, off)) == bucket(period, today))
        .map(|i| &i.case);
    let day_start = today * DAY_MS - off;
    let mut k = compute_kpis(cases, now, day_start);
    // "Closed today" counts whatever was accepted when.
    k.closed_today =
        all.iter().filter(in_scope).filter(|i| i.case.closed_ms.is_some_and(|c| c >= day_start)).count() as u64;
    k
}

/// The city, a street, a community and a cell (of the first stored incident in a cell).
fn scopes(s: &Server, all: &[IncidentRow]) -> Vec<Option<String>> {
    let cell = all.iter().find(|i| !i.grid.is_empty()).unwrap().grid.clone();
    let (_, g) = s.get(&format!("/api/v1/grids/{cell}"));
    let community = g["parent"].as_str().unwrap().to_owned();
    let (_, g) = s.get(&format!("/api/v1/grids/{community}"));
    let street = g["parent"].as_str().unwrap().to_owned();
    vec![None, Some(street), Some(community), Some(cell)]
}

/// Asks the server for every scope and period and checks each against the stored incidents;
/// returns the answers.
fn kpis_match(s: &Server, opener: &Opener) -> Vec<Value> {
    let all = every_incident(opener);
    let mut answers = Vec::new();
    for scope in scopes(s, &all) {
        for period in KpiPeriod::ALL {
            let q = scope.as_deref().map_or(String::new(), |c| format!("&scope={c}"));
            let (st, k) = s.get(&format!("/api/v1/kpis?period={period}{q}"));
            assert_eq!(st, 200, "{k}");
            let got: Kpis = serde_json::from_value(k["kpis"].clone()).unwrap();
            let want = from_scratch(&all, scope.as_deref(), period, k["time_ms"].as_i64().unwrap());
            assert_eq!(got, want, "{period} KPIs of {scope:?}");
            answers.push(k["kpis"].clone());
        }
    }
    answers
}

/// What every endpoint says of an incident closed weeks ago.
fn an_old_incident_is_answered(s: &Server, all: &[IncidentRow]) {
    let old = all.iter().filter(|i| !i.case.is_open()).min_by_key(|i| i.id).unwrap();
    let id = old.id;
    assert!(old.case.created_ms < now_ms() - (i64::from(DAYS) - 2) * DAY_MS, "weeks old");
    let (st, d) = s.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["incident"]["stage"], "closed");
    assert_eq!(d["timeline"].as_array().unwrap().len(), old.case.timeline.len());
    let (st, r) = s.get(&format!("/open311/v2/requests/{id}.json"));
    assert_eq!((st, r[0]["status"].as_str()), (200, Some("closed")), "{r}");
    let (_, r) = s.get(&format!("/open311/v2/requests.json?service_request_id={id}"));
    assert_eq!(r.as_array().unwrap().len(), 1, "{r}");
    let at = |ms: i64| gridwall_city::ingest::format_time(ms);
    let (_, r) = s.get(&format!(
        "/open311/v2/requests.json?start_date={}&end_date={}&status=closed",
        at(old.case.created_ms - 1_000),
        at(old.case.created_ms + 1_000)
    ));
    assert!(
        r.as_array().unwrap().iter().any(|x| x["service_request_id"].as_str().and_then(|v| v.parse().ok()) == Some(id)),
        "{r}"
    );
    let closed = old.case.closed_ms.unwrap();
    let (st, e) =
        s.get(&format!("/api/v1/replay/incidents.geojson?from={}&to={}", at(closed - 1_000), at(closed + 1_000)));
    assert_eq!(st, 200, "{e}");
    assert!(e["features"].as_array().unwrap().iter().any(|f| f["id"] == id), "the export has it");
    let (st, n) = s.get(&format!("/api/v1/nearest?incident={id}&k=3"));
    assert_eq!(st, 200, "{n}");
    // Closed is closed: a step is refused, and says why.
    let (st, b) = s.step(id, &j!({"action":"resolve","actor":"W-1"}));
    assert_eq!(st, 409, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("closed"), "{b}");
    let (st, b) = s.get(&format!("/api/v1/incidents/{}", all.iter().map(|i| i.id).max().unwrap() + 1000));
    assert_eq!(st, 404, "{b}");
}

/// Live work on top of the past: a new ticket, and an old open one worked to its close.
fn live_steps(s: &Server, all: &[IncidentRow]) {
    let (x, y) = (30.0, 40.0);
    s.open_request("garbage", x, y, "垃圾满溢");
    // The oldest ticket still open, whatever its stage: which stages are still open an hour
    // after the past ends depends on the hour of the day the test runs.
    use gridwall_protocol::IncidentStage as S;
    let open =
        all.iter().filter(|i| i.case.stage != S::Closed).min_by_key(|i| i.case.created_ms).expect("open tickets");
    let steps = [
        (S::Accepted, j!({"action":"dispatch","actor":"指挥长","assignee":"W-9"})),
        (S::Dispatched, j!({"action":"resolve","actor":"W-9"})),
        (S::Resolved, j!({"action":"review_pass","actor":"审核员"})),
        (S::Reviewed, j!({"action":"close","actor":"回访员","satisfaction":2})),
    ];
    for (_, step) in steps.iter().skip_while(|(from, _)| *from != open.case.stage) {
        let (st, b) = s.step(open.id, step);
        assert_eq!(st, 200, "{b}");
    }
    let (_, d) = s.get(&format!("/api/v1/incidents/{}", open.id));
    assert_eq!(d["incident"]["stage"], "closed", "answered from the store once closed");
}

/// The 研判 trend over the whole past is daily (beyond the hours it keeps), and each day's count
/// of the city and of a community equals the stored incidents accepted that day: the days
/// older than the analysis reads one by one come from the store's counts per day.
fn daily_trend_matches(s: &Server, opener: &Opener) {
    let all = every_incident(opener);
    let off = utc_offset_ms();
    let community = scopes(s, &all)[2].clone();
    for scope in [None, community] {
        let q = scope.as_deref().map_or(String::new(), |c| format!("&scope={c}"));
        let path = format!("/api/v1/analysis/trend?hours={}{q}", DAYS * 24);
        let end = Instant::now() + Duration::from_mins(1);
        let trend = loop {
            let (st, t) = s.get(&path);
            if st == 200 {
                break t;
            }
            assert!(st == 503 && Instant::now() < end, "{st} {t}");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(trend["bucket_ms"], DAY_MS, "past the hours kept, a trend is daily");
        let points = trend["points"].as_array().unwrap();
        assert_eq!(points.len(), DAYS as usize, "{scope:?}");
        let in_scope = |i: &&IncidentRow| scope.as_deref().is_none_or(|c| i.grid.starts_with(c));
        for p in points {
            let day = local_day(p["t_ms"].as_i64().unwrap(), off);
            let want = all.iter().filter(in_scope).filter(|i| local_day(i.case.created_ms, off) == day).count();
            assert_eq!(p["observed"].as_u64(), Some(want as u64), "day {day} of {scope:?}");
        }
        let total: u64 = points.iter().map(|p| p["observed"].as_u64().unwrap()).sum();
        let by_category: u64 = trend["by_category"].as_array().unwrap().iter().map(|c| c[1].as_u64().unwrap()).sum();
        assert_eq!(by_category, total);
        assert!(total > u64::from(DAYS), "{scope:?}: {total}");
    }
}

fn an_old_city(data: &Path, store: Option<String>, opener: &Opener) {
    let written = past(data, store.clone());
    assert!(written.incidents > u64::from(DAYS * PER_DAY) * 9 / 10 && written.open > 0, "{written:?}");
    let mut s = serve(data, store.clone());
    let all = every_incident(opener);
    assert_eq!(all.len() as u64, written.incidents);
    kpis_match(&s, opener);
    an_old_incident_is_answered(&s, &all);
    live_steps(&s, &all);
    let before = kpis_match(&s, opener);
    // The default Open311 list: the newest thousand of the last 90 days, newest first.
    let (_, r) = s.get("/open311/v2/requests.json");
    let r = r.as_array().unwrap();
    assert_eq!(r.len(), 1000);
    assert!(r.windows(2).all(|w| w[0]["requested_datetime"].as_str() >= w[1]["requested_datetime"].as_str()));
    s.stop();
    // A restart reads back the counters, not the past, and answers the same (what does not
    // move with the clock: a deadline may pass, or midnight, between the two servers).
    let s = serve(data, store);
    let after = kpis_match(&s, opener);
    let lasting = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .map(|k| {
                let mut k = k.clone();
                let o = k.as_object_mut().unwrap();
                o.remove("overdue");
                o.remove("closed_today");
                k
            })
            .collect()
    };
    // The all-time answers come first of each scope's five periods.
    let all_time = |v: &[Value]| lasting(v).into_iter().step_by(KpiPeriod::ALL.len()).collect::<Vec<_>>();
    assert_eq!(all_time(&after), all_time(&before), "the same KPIs after a restart");
    let (_, k) = s.get("/api/v1/kpis");
    assert_eq!(k["kpis"]["open"].as_u64(), Some(written.open), "{k}");
    daily_trend_matches(&s, opener);
}

#[test]
fn an_old_city_on_the_embedded_store_answers_from_its_counters_and_its_store() {
    let dir = tempfile::tempdir().unwrap();
    an_old_city(dir.path(), None, &Opener::Sqlite(dir.path().join("gridwall.sqlite")));
}

#[test]
fn an_old_city_on_postgres_answers_from_its_counters_and_its_store() {
    let pg = TempPostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let m = gridwall_scene::SceneManifest::load(&helsinki()).unwrap();
    let city = CityKey { city: m.name.clone(), crs: m.crs.clone(), origin: [m.origin[0], m.origin[1]] };
    an_old_city(dir.path(), Some(pg.url()), &Opener::Postgres { url: pg.url(), city });
}

#[test]
fn servers_started_together_on_a_fresh_database_all_come_up() {
    let pg = TempPostgres::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_gridwall-server"));
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports: Vec<u16> =
        (0..3).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    // Three at the same moment: each applies the migrations or waits for the one that does.
    let mut children: Vec<_> = dirs
        .iter()
        .zip(&ports)
        .map(|(d, port)| {
            Command::new(bin)
                .args(["serve", "--scene"])
                .arg(helsinki())
                .arg("--data")
                .arg(d.path())
                .args(["--addr", &format!("127.0.0.1:{port}"), "--store", &pg.url()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let end = Instant::now() + Duration::from_mins(1);
    for (child, port) in children.iter_mut().zip(&ports) {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("a server exited ({status}): {err}");
            }
            let answer = gridwall_testkit::server::agent().get(&format!("http://127.0.0.1:{port}/api/v1/kpis")).call();
            if answer.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(Instant::now() < end, "a server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let migrations =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations")).unwrap().count();
    assert_eq!(
        pg.psql("gridwall", "SELECT count(*) FROM gridwall_migrations"),
        migrations.to_string(),
        "applied once each"
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    // A start-up that fails says so in one line, not with a backtrace.
    let out = Command::new(bin)
        .args(["serve", "--scene"])
        .arg(helsinki())
        .args(["--addr", "127.0.0.1:0", "--store", "postgres://nobody@127.0.0.1:1/none"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("gridwall-server: ") && last.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("backtrace") && !err.contains("Caused by"), "{err}");
}
