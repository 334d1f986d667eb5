//! 研判 and 预警 over HTTP.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/analysis/indicators?level=&period=&at=&scope=` | indicators per grid unit with 环比 and 同比 → [`IndicatorsAnswer`] |
//! | `GET /api/v1/analysis/ranking?level=&period=&at=&top=&format=json\|csv` | 一季一排名: units by 综合指标 with their rank change → [`RankingAnswer`] (or CSV) |
//! | `GET /api/v1/analysis/desks?period=&at=&top=&format=json\|csv` | the desks (patrols and departments cases went to) by 综合指标 with rank changes → [`DeskRankingAnswer`] (or CSV) |
//! | `GET /api/v1/analysis/trend?scope=&category=&hours=` | hourly counts with the expected band and breakdowns → [`TrendAnswer`] |
//! | `GET /api/v1/analysis/hotspots?category=&format=json\|geojson\|csv` | the emerging hot spot layer of the last days → [`HotspotAnswer`] (or `GeoJSON` polygons, or CSV) |
//! | `GET /api/v1/analysis/deviation?level=&hours=` | each unit's count over the last hours beside its band (the overview's tint) → [`DeviationAnswer`] |
//! | `GET /api/v1/warnings?state=open\|all&hours=` | early warnings, newest first → [`WarningsAnswer`] |
//! | `GET /api/v1/warnings/{id}` | one warning → [`Warning`] |
//! | `POST /api/v1/warnings/{id}/ack` | 确认 (commanders) → [`Warning`] |
//!
//! Indicators and rankings are read from the KPI counters' day rows in the store (off the live
//! lock, any server of a city); trends and acknowledgements need the analysis of the server
//! that writes the city.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridwall_analysis::indicators::{indicators, rank, rank_desks, roll_up, with_changes};
use gridwall_analysis::periods::{Span, parse_iso};
use gridwall_backend::Backend;
use gridwall_backend::analysis::AckFailure;
use gridwall_city::access::Permission;
use gridwall_city::tally::{Tally, local_day};
use gridwall_protocol::api::analysis::{
    DeskRankingAnswer, DeviationAnswer, HotspotAnswer, IndicatorsAnswer, RankEntry, RankingAnswer, TrendAnswer,
    UnitIndicators, Warning, WarningsAnswer,
};
use gridwall_protocol::{AnalysisPeriod, GridLevel, IncidentCategory, KpiPeriod};
use gridwall_store::history::analysis::MAX_WARNINGS;

use super::access::Who;
use super::error::{ApiError, ApiResult};

/// Most units one ranking lists at each end.
const MAX_TOP: usize = 1000;

fn param<T: std::str::FromStr>(q: &HashMap<String, String>, name: &str, default: T, what: &str) -> ApiResult<T> {
    match q.get(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::bad_request(name, format!("{:?}: {what}", v.chars().take(32).collect::<String>()))),
    }
}

/// The period asked for: its kind and the day it holds (`at`, default today).
fn span(backend: &Backend, q: &HashMap<String, String>, default: AnalysisPeriod) -> ApiResult<Span> {
    let period = param(q, "period", default, "use day, week, month, quarter or year")?;
    let day = match q.get("at").filter(|v| !v.is_empty()) {
        None => {
            let live = backend.live();
            local_day(live.now_ms(), live.utc_offset_ms)
        }
        Some(at) => parse_iso(at).ok_or_else(|| {
            ApiError::bad_request("at", format!("{:?}: a date YYYY-MM-DD", at.chars().take(32).collect::<String>()))
        })?,
    };
    Ok(Span::of(period, day))
}

/// The cells' rows of a period, or none where the store holds nothing that far back.
async fn sums_of(backend: &Arc<Backend>, s: Span) -> ApiResult<(Vec<Tally>, bool)> {
    let rows = backend.read(move |src| Ok((src.kpi_range(s.from, s.to)?, src.first_kpi_day()?))).await?;
    let held = rows.1.is_some_and(|first| first < s.to);
    Ok((roll_up(&backend.analysis.units, rows.0.iter().map(|(g, t)| (g.as_str(), t))), held))
}

pub async fn indicators_of(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<IndicatorsAnswer>> {
    who.check(Permission::Read)?;
    let level = param(&q, "level", GridLevel::Community, "use city, street, community or cell")?;
    let span = span(&backend, &q, AnalysisPeriod::Month)?;
    let units = backend.analysis.units.clone();
    let scope = match q.get("scope").filter(|s| !s.is_empty()) {
        None => 0,
        Some(code) => units
            .find(code)
            .ok_or_else(|| ApiError::status(StatusCode::NOT_FOUND, "scope", format!("no grid unit {code:?}")))?,
    };
    let (previous, year_before) = (span.previous(), span.year_before());
    let (now, _) = sums_of(&backend, span).await?;
    let (prev, prev_held) = sums_of(&backend, previous).await?;
    let (last_year, year_held) = sums_of(&backend, year_before).await?;
    let w = &backend.analysis.config.weights;
    let today = {
        let live = backend.live();
        local_day(live.now_ms(), live.utc_offset_ms)
    };
    let current = span.from <= today && today < span.to;
    let chosen: Vec<u32> = units
        .at_level(level)
        .filter(|&u| units.chain_of(&units.get(u).code).contains(&scope) || (level == GridLevel::City && scope == 0))
        .collect();
    let overdue: Vec<Option<u64>> = {
        let live = backend.live();
        chosen
            .iter()
            .map(|&u| {
                let code = &units.get(u).code;
                let scope = (!code.is_empty()).then_some(code.as_str());
                current.then(|| live.kpis_for(scope, KpiPeriod::All).map_or(0, |k| k.overdue))
            })
            .collect()
    };
    let list = chosen
        .iter()
        .zip(overdue)
        .map(|(&u, overdue_open)| {
            let unit = units.get(u);
            UnitIndicators {
                code: unit.code.clone(),
                name: unit.name.clone(),
                level: unit.level,
                now: indicators(&now[u as usize], w),
                previous: prev_held.then(|| indicators(&prev[u as usize], w)),
                year_before: year_held.then(|| indicators(&last_year[u as usize], w)),
                overdue_open,
            }
        })
        .collect();
    Ok(Json(IndicatorsAnswer {
        span: span.answer(),
        previous: previous.answer(),
        year_before: year_before.answer(),
        units: list,
    }))
}

/// A ranking's `top` (1 to 1000 at each end) and whether it is wanted as CSV (`format`).
fn list_params(q: &HashMap<String, String>, what: &str) -> ApiResult<(usize, bool)> {
    let top: usize = param(q, "top", 10, &format!("a number of {what}, 1 to 1000"))?;
    if !(1..=MAX_TOP).contains(&top) {
        return Err(ApiError::bad_request("top", format!("a number of {what}, 1 to 1000")));
    }
    match q.get("format").map_or("json", String::as_str) {
        "json" => Ok((top, false)),
        "csv" => Ok((top, true)),
        _ => Err(ApiError::bad_request("format", "use json or csv")),
    }
}

pub async fn ranking(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    let level = param(&q, "level", GridLevel::Community, "use street, community or cell")?;
    let (top, csv_wanted) = list_params(&q, "units")?;
    let span = span(&backend, &q, AnalysisPeriod::Quarter)?;
    let previous = span.previous();
    let (now, _) = sums_of(&backend, span).await?;
    let (prev, _) = sums_of(&backend, previous).await?;
    let (units, config) = (&backend.analysis.units, &backend.analysis.config);
    let before = rank(units, level, &prev, &config.weights, config.min_cases);
    let all = with_changes(rank(units, level, &now, &config.weights, config.min_cases), &before);
    if csv_wanted {
        return Ok(csv(&all));
    }
    let best: Vec<RankEntry> = all.iter().take(top).cloned().collect();
    let worst: Vec<RankEntry> = all.iter().skip(all.len().saturating_sub(top)).cloned().collect();
    Ok(Json(RankingAnswer {
        span: span.answer(),
        previous: previous.answer(),
        level,
        ranked: all.len() as u32,
        min_cases: config.min_cases,
        best,
        worst,
    })
    .into_response())
}

pub async fn desks(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    let (top, csv_wanted) = list_params(&q, "desks")?;
    let span = span(&backend, &q, AnalysisPeriod::Month)?;
    let previous = span.previous();
    let offset = backend.live().utc_offset_ms;
    let ms = move |s: Span| (s.from * 86_400_000 - offset, s.to * 86_400_000 - offset);
    let ((from, to), (prev_from, prev_to)) = (ms(span), ms(previous));
    let (now, before) =
        backend.read(move |src| Ok((src.desk_tallies(from, to)?, src.desk_tallies(prev_from, prev_to)?))).await?;
    let config = &backend.analysis.config;
    let before = rank_desks(&before, &config.weights, config.min_cases);
    let all = with_changes(rank_desks(&now, &config.weights, config.min_cases), &before);
    if csv_wanted {
        return Ok(csv(&all));
    }
    Ok(Json(DeskRankingAnswer {
        span: span.answer(),
        previous: previous.answer(),
        ranked: all.len() as u32,
        min_cases: config.min_cases,
        best: all.iter().take(top).cloned().collect(),
        worst: all.iter().skip(all.len().saturating_sub(top)).cloned().collect(),
    })
    .into_response())
}

fn csv(entries: &[RankEntry]) -> Response {
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    let mut out = String::from(
        "rank,previous_rank,change,code,name,score,total,closed,closure_rate,on_time_rate,rework_rate,overdue_rate,satisfaction_rate,mean_handling_min\n",
    );
    for e in entries {
        let i = &e.indicators;
        let _ = writeln!(
            out,
            "{},{},{},{},\"{}\",{:.2},{},{},{},{},{},{},{},{}",
            e.rank,
            e.previous_rank.map(|r| r.to_string()).unwrap_or_default(),
            e.change.map(|c| c.to_string()).unwrap_or_default(),
            e.code,
            e.name.replace('"', "\"\""),
            e.score,
            i.total,
            i.closed,
            opt(i.closure_rate),
            opt(i.on_time_rate),
            opt(i.rework_rate),
            opt(i.overdue_rate),
            opt(i.satisfaction_rate),
            opt(i.mean_handling_min)
        );
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}

fn not_ready() -> ApiError {
    ApiError::status(
        StatusCode::SERVICE_UNAVAILABLE,
        "analysis",
        "the analysis runs on the server that writes the city (a bus's leader), once it has read the store: ask that server, or try again shortly",
    )
}

/// Runs `f` on this server's analysis at its clock's now, on a blocking thread (the engine's
/// lock is not held on an async worker); 503 where the analysis is not here.
async fn on_analysis<T: Send + 'static>(
    backend: &Arc<Backend>,
    f: impl FnOnce(&Backend, i64) -> T + Send + 'static,
) -> ApiResult<T> {
    if !backend.analysis_here() {
        return Err(not_ready());
    }
    let now = backend.live().now_ms();
    let b = backend.clone();
    tokio::task::spawn_blocking(move || f(&b, now))
        .await
        .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "analysis", e.to_string()))
}

pub async fn trend(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<TrendAnswer>> {
    who.check(Permission::Read)?;
    let hours: i64 = param(&q, "hours", 72, "a number of hours, 1 to 9600")?;
    if !(1..=gridwall_analysis::trend::MAX_HOURS).contains(&hours) {
        return Err(ApiError::bad_request("hours", "a number of hours, 1 to 9600"));
    }
    let category = category_param(&q)?;
    let scope = q.get("scope").map_or("", String::as_str);
    let u = backend
        .analysis
        .units
        .find(scope)
        .ok_or_else(|| ApiError::status(StatusCode::NOT_FOUND, "scope", format!("no grid unit {scope:?}")))?;
    let answer = on_analysis(&backend, move |b, now| b.analysis.engine().trend(u, category, hours, now)).await?;
    Ok(Json(answer))
}

pub async fn deviation(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<DeviationAnswer>> {
    who.check(Permission::Read)?;
    let level = param(&q, "level", GridLevel::Community, "use a level the baseline is fitted at (street, community)")?;
    let hours: i64 = param(&q, "hours", 24, "a number of hours, 1 to 168")?;
    if !(1..=168).contains(&hours) {
        return Err(ApiError::bad_request("hours", "a number of hours, 1 to 168"));
    }
    if !backend.analysis.config.levels.contains(&level) {
        return Err(ApiError::bad_request("level", format!("{level}: the baseline is not fitted at this level")));
    }
    let answer = on_analysis(&backend, move |b, now| b.analysis.engine().deviation(level, hours, now)).await?;
    answer.map(Json).ok_or_else(|| ApiError::bad_request("level", "the baseline is not fitted at this level"))
}

pub async fn warnings(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<WarningsAnswer>> {
    who.check(Permission::Read)?;
    let open_only = match q.get("state").map_or("open", String::as_str) {
        "open" => true,
        "all" => false,
        other => return Err(ApiError::bad_request("state", format!("{other:?}: use open or all"))),
    };
    let hours: i64 = param(&q, "hours", 24, "a number of hours, 1 to 8784")?;
    if !(1..=8784).contains(&hours) {
        return Err(ApiError::bad_request("hours", "a number of hours, 1 to 8784"));
    }
    let now = backend.live().now_ms();
    let since = now - hours * 3_600_000;
    let warnings = backend.read(move |s| s.warnings(open_only, since, MAX_WARNINGS)).await?;
    Ok(Json(WarningsAnswer { time_ms: now, warnings }))
}

fn warning_id(id: &str) -> ApiResult<u64> {
    id.parse().map_err(|_| {
        ApiError::status(
            StatusCode::NOT_FOUND,
            "id",
            format!("no warning {:?}", id.chars().take(32).collect::<String>()),
        )
    })
}

pub async fn warning(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Warning>> {
    who.check(Permission::Read)?;
    let id = warning_id(&id)?;
    let found = backend.read(move |s| s.warning(id)).await?;
    found.map(Json).ok_or_else(|| ApiError::status(StatusCode::NOT_FOUND, "id", format!("no warning {id}")))
}

pub async fn ack(who: Who, State(backend): State<Arc<Backend>>, Path(id): Path<String>) -> ApiResult<Json<Warning>> {
    who.check_command(Permission::Command, &backend, "ack_warning", || format!("warning {id}"))?;
    let id = warning_id(&id)?;
    match backend.ack_warning(id, &who.0).await {
        Ok(w) => Ok(Json(w)),
        Err(AckFailure::NotOpen(e)) => Err(ApiError::status(StatusCode::CONFLICT, "id", e.to_string())),
        Err(AckFailure::NotReady) => Err(not_ready()),
        Err(AckFailure::Commit(e)) => Err(e.into()),
    }
}

fn category_param(q: &HashMap<String, String>) -> ApiResult<Option<IncidentCategory>> {
    match q.get("category").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => c.parse().map(Some).map_err(|_| {
            ApiError::bad_request("category", format!("no category {:?}", c.chars().take(32).collect::<String>()))
        }),
    }
}

pub async fn hotspots(
    who: Who,
    State(backend): State<Arc<Backend>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.check(Permission::Read)?;
    let category = category_param(&q)?;
    let format = q.get("format").map_or("json", String::as_str);
    if !["json", "geojson", "csv"].contains(&format) {
        return Err(ApiError::bad_request("format", "use json, geojson or csv"));
    }
    let layer = on_analysis(&backend, move |b, now| b.analysis.hotspots(category, now)).await?;
    match format {
        "csv" => {
            let mut out = String::from("code,class,class_zh,z,trend_z,trend_p,hot_days,cold_days\n");
            for c in &layer.cells {
                let _ = writeln!(
                    out,
                    "{},{},{},{:.4},{:.4},{:.6},{},{}",
                    c.code,
                    c.class.key(),
                    c.class.name_zh(),
                    c.z,
                    c.trend_z,
                    c.trend_p,
                    c.hot_days,
                    c.cold_days
                );
            }
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
        }
        "geojson" => hotspots_geojson(&backend, &layer),
        _ => Ok(Json(HotspotAnswer::clone(&layer)).into_response()),
    }
}

/// The layer as `GeoJSON`: each cell's outline (WGS84) with its category and figures.
fn hotspots_geojson(backend: &Backend, layer: &HotspotAnswer) -> ApiResult<Response> {
    let outlines = backend.live().grid_outlines();
    let by_code: HashMap<&str, &gridwall_protocol::api::GridOutline> =
        outlines.grids.iter().map(|g| (g.code.as_str(), g)).collect();
    let mut features = Vec::new();
    for c in &layer.cells {
        let Some(outline) = by_code.get(c.code.as_str()) else { continue };
        let rings = backend
            .with_frame(|f| {
                outline
                    .rings
                    .iter()
                    .map(|ring| {
                        ring.iter()
                            .map(|&[x, y]| f.to_wgs84(x, y).map(|(lon, lat)| [lon, lat]))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, "crs", e.to_string()))?;
        features.push(serde_json::json!({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": rings},
            "properties": {
                "code": c.code, "name": outline.name, "class": c.class.key(), "class_zh": c.class.name_zh(),
                "z": c.z, "trend_z": c.trend_z, "trend_p": c.trend_p, "hot_days": c.hot_days, "cold_days": c.cold_days,
                "first_day": layer.first_day, "last_day": layer.last_day,
            }
        }));
    }
    let body = serde_json::json!({"type": "FeatureCollection", "features": features});
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body.to_string()).into_response())
}
