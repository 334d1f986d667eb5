//! An incident as the public sees it through Open311 `GeoReport` v2: the request, its status,
//! and the workflow's public steps as `status_notes` in Chinese or English. The public steps
//! name no one and carry no staff notes: a resident learns when the case was accepted,
//! dispatched, handled, reviewed and closed, and who (which level of the grid) has it now.

use gridwall_protocol::api::open311::{Extension, Lang, ServiceRequest};
use gridwall_protocol::{GridLevel, IncidentStage};
use gridwall_scene::coords::SceneFrame;

use crate::ingest::format_time;
use crate::services::Photo;
use crate::workflow::Case;
use crate::world::IncidentRec;

/// Shows an incident as an Open311 request (`status` is `open` until 回访结案); words in `lang`,
/// times of the notes in the operators' zone (`utc_offset_ms`); photos at `media_base`
/// (`https://host/open311/v2/media`: [`photo_file`] is appended). Everything it was filed with
/// is there: the caller removes what the reader may not see.
pub fn request_out(
    rec: &IncidentRec,
    frame: &SceneFrame,
    lang: Lang,
    utc_offset_ms: i64,
    media_base: &str,
) -> ServiceRequest {
    let (long, lat) = frame.to_wgs84(rec.pos[0], rec.pos[1]).unwrap_or((f64::NAN, f64::NAN));
    let case = &rec.case;
    let media: Vec<String> = case.intake.photos.iter().map(|p| format!("{media_base}/{}", photo_file(p))).collect();
    ServiceRequest {
        service_request_id: rec.id.to_string(),
        status: if case.stage == IncidentStage::Closed { "closed" } else { "open" }.into(),
        status_notes: status_notes(case, lang, utc_offset_ms),
        service_code: rec.category.key().into(),
        service_name: match lang {
            Lang::Zh => rec.category.name_zh(),
            Lang::En => rec.category.name_en(),
        }
        .into(),
        description: rec.description.clone(),
        agency_responsible: agency(case.level, &rec.grid, lang),
        requested_datetime: format_time(case.created_ms),
        updated_datetime: format_time(case.timeline.last().map_or(case.created_ms, |t| t.at_ms)),
        lat: (lat * 1e7).round() / 1e7,
        long: (long * 1e7).round() / 1e7,
        media_url: media.first().cloned().unwrap_or_else(|| case.intake.media_url.clone()),
        gridwall: Extension {
            stage: case.stage.key().into(),
            stage_zh: case.stage.name_zh().into(),
            level: case.level.key().into(),
            grid: rec.grid.clone(),
            deadline: case.deadline_ms.map(format_time),
            escalated: case.level != GridLevel::Cell,
            attributes: case.intake.attributes.clone(),
            media,
        },
    }
}

/// What a reader may see of requests, as (`text`, `photos`) for [`redact`]: residents' text when
/// they may read the live picture or the server publishes it (`public_text`); uploaded photos
/// only when they may read (a photo shows faces and number plates).
pub fn visible(reader: bool, public_text: bool) -> (bool, bool) {
    (reader || public_text, reader)
}

/// Removes from a request what its reader may not see: residents' text (description,
/// attributes, the photo address they gave) unless `text`; uploaded photos unless `photos`.
pub fn redact(mut r: ServiceRequest, text: bool, photos: bool) -> ServiceRequest {
    if !text {
        r.description.clear();
        r.gridwall.attributes.clear();
        r.media_url.clear();
    }
    if !photos {
        if r.gridwall.media.first().is_some_and(|m| *m == r.media_url) {
            r.media_url.clear();
        }
        r.gridwall.media.clear();
    }
    r
}

/// A stored photo's file name: its id and the extension of its type.
pub fn photo_file(p: &Photo) -> String {
    let ext = if p.mime == "image/png" { "png" } else { "jpg" };
    format!("{}.{ext}", p.id)
}

/// Who has the case now: the level of the grid and the cell it lies in.
fn agency(level: GridLevel, cell: &str, lang: Lang) -> String {
    let name = match lang {
        Lang::Zh => level.name_zh(),
        Lang::En => level.name_en(),
    };
    if cell.is_empty() { name.to_owned() } else { format!("{name} {cell}") }
}

/// The public steps, oldest first, one per workflow step: its local time (`MM-DD HH:MM`) and
/// what happened; then the escalation, if any.
pub fn status_notes(case: &Case, lang: Lang, utc_offset_ms: i64) -> String {
    let mut notes: Vec<String> = case
        .timeline
        .iter()
        .map(|step| {
            let when = local_minute(step.at_ms, utc_offset_ms);
            let what = match (step.action.as_str(), lang) {
                ("accept", Lang::Zh) => "受理".to_owned(),
                ("accept", Lang::En) => "accepted".to_owned(),
                ("dispatch", Lang::Zh) => "已分派处置".to_owned(),
                ("dispatch", Lang::En) => "dispatched to a handler".to_owned(),
                ("resolve", Lang::Zh) => "处置完成（办结）".to_owned(),
                ("resolve", Lang::En) => "handled".to_owned(),
                ("review_pass", Lang::Zh) => "审核通过".to_owned(),
                ("review_pass", Lang::En) => "review passed".to_owned(),
                ("review_reject", Lang::Zh) => "审核未通过，返回重新处置".to_owned(),
                ("review_reject", Lang::En) => "review failed: back to the handler".to_owned(),
                ("close", Lang::Zh) => match case.satisfaction {
                    Some(s) => format!("回访结案（满意度 {s}/5）"),
                    None => "回访结案".to_owned(),
                },
                ("close", Lang::En) => match case.satisfaction {
                    Some(s) => format!("closed after a call back (satisfaction {s}/5)"),
                    None => "closed after a call back".to_owned(),
                },
                // A step this version does not know: its stage says what it led to.
                (_, Lang::Zh) => step.to.name_zh().to_owned(),
                (_, Lang::En) => step.to.name_en().to_lowercase(),
            };
            format!("{when} {what}")
        })
        .collect();
    if case.level != GridLevel::Cell {
        notes.push(match lang {
            Lang::Zh => format!("已超时，升级至{}督办", case.level.name_zh()),
            Lang::En => format!("overdue: escalated to the {}", case.level.name_en().to_lowercase()),
        });
    }
    notes.join(match lang {
        Lang::Zh => "；",
        Lang::En => "; ",
    })
}

/// `MM-DD HH:MM` of an instant in a zone `utc_offset_ms` from UTC.
fn local_minute(ms: i64, utc_offset_ms: i64) -> String {
    let t = format_time(ms.saturating_add(utc_offset_ms).max(0));
    // 2026-11-22T08:00:00Z → 11-22 08:00
    match (t.get(5..10), t.get(11..16)) {
        (Some(day), Some(minute)) => format!("{day} {minute}"),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse_time;
    use crate::workflow::{Action, Case, TimeLimits};
    use gridwall_protocol::IncidentCategory;

    fn frame() -> SceneFrame {
        SceneFrame::centred_on("EPSG:32635", 24.944, 60.1716).unwrap()
    }

    #[test]
    fn incidents_show_as_open311_with_the_stage_extension_and_public_steps() {
        let f = frame();
        let limits = TimeLimits::default();
        let t0 = parse_time("2026-11-22T08:00:00Z").unwrap();
        let mut rec = IncidentRec {
            id: 42,
            category: IncidentCategory::Garbage,
            source: gridwall_protocol::IncidentSource::Open311,
            pos: [0.0, 0.0],
            grid: "370783001001001".into(),
            description: "垃圾堆放".into(),
            case: Case::accept(IncidentCategory::Garbage, t0, "open311", &limits),
        };
        let eight_hours = 8 * 3_600_000;
        let out = request_out(&rec, &f, Lang::Zh, eight_hours, "");
        assert_eq!(
            (out.service_request_id.as_str(), out.status.as_str(), out.gridwall.stage_zh.as_str()),
            ("42", "open", "受理")
        );
        assert_eq!(out.requested_datetime, "2026-11-22T08:00:00Z");
        assert_eq!(out.gridwall.deadline.as_deref(), Some("2026-11-22T09:00:00Z"));
        assert_eq!(out.status_notes, "11-22 16:00 受理");
        assert_eq!(out.agency_responsible, "网格 370783001001001");
        for (k, a) in [
            Action::Dispatch { assignee: "张三".into() },
            Action::Resolve,
            Action::ReviewReject,
            Action::Resolve,
            Action::ReviewPass,
            Action::Close { satisfaction: 4 },
        ]
        .iter()
        .enumerate()
        {
            rec.case.apply(a, "李四", "内部备注：电话 138", t0 + 600_000 * (k as i64 + 1), &limits).unwrap();
        }
        let out = request_out(&rec, &f, Lang::Zh, eight_hours, "");
        assert_eq!((out.status.as_str(), out.updated_datetime.as_str()), ("closed", "2026-11-22T09:00:00Z"));
        assert_eq!(
            out.status_notes,
            "11-22 16:00 受理；11-22 16:10 已分派处置；11-22 16:20 处置完成（办结）；11-22 16:30 审核未通过，返回重新处置；\
             11-22 16:40 处置完成（办结）；11-22 16:50 审核通过；11-22 17:00 回访结案（满意度 4/5）"
        );
        // No names and no staff notes in public.
        for private in ["张三", "李四", "138"] {
            assert!(!out.status_notes.contains(private));
        }
        let en = request_out(&rec, &f, Lang::En, 0, "");
        assert!(
            en.status_notes.starts_with("11-22 08:00 accepted; 11-22 08:10 dispatched to a handler;"),
            "{}",
            en.status_notes
        );
        assert!(en.status_notes.ends_with("closed after a call back (satisfaction 4/5)"));
        assert_eq!(en.service_name, "Garbage");
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["gridwall"]["stage"], "closed");
        assert!((json["lat"].as_f64().unwrap() - 60.1716).abs() < 1e-4);
    }

    #[test]
    fn an_escalated_case_says_who_has_it_now() {
        let limits = TimeLimits::default();
        let t0 = parse_time("2026-11-22T08:00:00Z").unwrap();
        let mut case = Case::accept(IncidentCategory::ManholeDamage, t0, "hotline", &limits);
        assert!(case.escalate_if_overdue(t0 + 10 * 3_600_000, &limits).is_some());
        assert_eq!(status_notes(&case, Lang::Zh, 0), "11-22 08:00 受理；已超时，升级至社区督办");
        assert_eq!(status_notes(&case, Lang::En, 0), "11-22 08:00 accepted; overdue: escalated to the community");
        assert_eq!(agency(case.level, "A-1", Lang::En), "Community A-1");
        assert_eq!(agency(case.level, "", Lang::Zh), "社区");
    }
}
