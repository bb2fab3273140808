//! The overview: charts of the last 24 hours (inline SVG drawn here from
//! the hourly counts), users per role and state, and the live tail's first
//! rows (`events.rs` streams the rest).

use std::fmt::Write;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::Failure;
use super::pages::{Chart, EventRow, Nav, OverviewPage, RoleRow, render, time};
use super::session::Viewer;
use crate::domain::Role;
use crate::flows::dashboard::{self, Hour};
use crate::state::AppState;
use crate::store::AuditFilter;

/// A chart: its id, its title, and its value in an hour.
type Series = (&'static str, &'static str, fn(&Hour) -> u64);

/// Rows of the live tail drawn with the page.
const TAIL_ROWS: u32 = 20;

pub async fn page(State(svc): State<AppState>, viewer: Viewer) -> Result<Response, Failure> {
    let overview = dashboard::overview(&svc).await?;
    let series: [Series; 5] = [
        ("sign-ins", "Sign-ins", |h| h.sign_ins),
        ("failures", "Failed sign-ins", |h| h.failed_sign_ins),
        ("registrations", "Registrations", |h| h.registrations),
        ("throttled", "Throttled requests", |h| h.throttled),
        ("reuse", "Refresh token reuse detections", |h| h.reuse_detections),
    ];
    let charts = series
        .iter()
        .map(|(id, title, value)| {
            let values: Vec<u64> = overview.hours.iter().map(value).collect();
            Chart { id, title, total: values.iter().sum(), svg: bars(title, &overview.hours, &values) }
        })
        .collect();
    let roles = Role::ALL
        .iter()
        .map(|role| {
            let count = |f: &dyn Fn(bool, bool) -> bool| -> i64 {
                let rows = overview.users.iter().filter(|c| c.role == role.as_str());
                rows.filter(|c| f(c.is_active, c.deleted)).map(|c| c.count).sum()
            };
            RoleRow {
                role: role.as_str(),
                active: count(&|active, deleted| active && !deleted),
                inactive: count(&|active, deleted| !active && !deleted),
                deleted: count(&|_, deleted| deleted),
            }
        })
        .collect();
    let mut recent = dashboard::audit(&svc, &AuditFilter { limit: TAIL_ROWS, ..AuditFilter::default() }).await?;
    recent.truncate(TAIL_ROWS as usize);
    // The tail goes on after the newest id shown (ids sort by creation).
    let after = recent.iter().map(|r| r.id.clone()).max().unwrap_or_default();
    let first = overview.hours.first().map(|h| time(&h.start)).unwrap_or_default();
    let last = overview.hours.last().map(|h| time(&(h.start + chrono::Duration::hours(1)))).unwrap_or_default();
    let page = OverviewPage {
        nav: Some(Nav::of(&viewer, "overview")),
        charts,
        roles,
        events: recent.iter().map(EventRow::of).collect(),
        after,
        hours_from: first,
        hours_to: last,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A bar chart of one value per hour, as SVG: numbers and fixed text only
/// (nothing a user typed), each bar titled with its hour and count.
fn bars(title: &str, hours: &[Hour], values: &[u64]) -> String {
    const BAR: usize = 12;
    const HEIGHT: u64 = 80;
    let width = BAR * values.len();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = values.iter().sum();
    let mut svg = format!(
        "<svg class=\"bars\" viewBox=\"0 0 {width} {h}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"{title}: {total} in the last 24 hours\">",
        h = HEIGHT + 2
    );
    let _ = write!(svg, "<line class=\"axis\" x1=\"0\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\"></line>", y = HEIGHT + 1);
    for (i, (hour, v)) in hours.iter().zip(values).enumerate() {
        let h = v * HEIGHT / max;
        let h = if *v > 0 { h.max(2) } else { 0 };
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\"><title>{at}: {v}</title></rect>",
            x = i * BAR + 1,
            y = HEIGHT - h,
            w = BAR - 2,
            at = hour.start.format("%H:00"),
        );
    }
    svg.push_str("</svg>");
    svg
}
