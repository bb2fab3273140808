//! The audit trail: §13's filters, a page at a time, and exports of every
//! event the filters match as CSV or JSON Lines. An export is streamed: the
//! store is paged through by (time, id), one page in memory at a time, so a
//! million events take no more memory than a thousand.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Failure;
use super::pages::{AuditPage, EventRow, Nav, Opt, render};
use super::session::Viewer;
use super::users::{query_of, with_param};
use crate::flows::dashboard;
use crate::http::admin::{audit_filter, page as one_page};
use crate::state::AppState;
use crate::store::{AuditFilter, AuditRecord, Cursor, audit_time};

/// Events per read of an export.
const EXPORT_PAGE: u32 = 1000;
const COLUMNS: [&str; 9] = ["id", "at", "action", "outcome", "user_id", "actor_id", "ip", "user_agent", "detail"];

/// The filters as sent, without the empty fields of the form.
fn sent(raw: &HashMap<String, String>) -> HashMap<String, String> {
    raw.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub async fn page(
    State(svc): State<AppState>,
    viewer: Viewer,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let get = |k: &str| raw.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let sent = sent(&raw);
    let (events, next, errors, status) = match audit_filter(sent.clone()) {
        Ok(filter) => {
            let rows = dashboard::audit(&svc, &filter).await?;
            let (rows, next) = one_page(rows, filter.limit, |r: &AuditRecord| (r.at, r.id.clone()));
            let next = next.map(|c| format!("/dashboard/audit/?{}", with_param(&sent, "cursor", &c)));
            (rows.iter().map(EventRow::of).collect(), next, vec![], StatusCode::OK)
        }
        Err(e) => (vec![], None, vec![super::message(&e)], StatusCode::BAD_REQUEST),
    };
    let mut filters = sent.clone();
    filters.remove("cursor");
    filters.remove("limit");
    let query = query_of(&filters);
    let suffix = if query.is_empty() { String::new() } else { format!("?{query}") };
    let page = AuditPage {
        nav: Some(Nav::of(&viewer, "audit")),
        user_id: get("user_id"),
        action: get("action"),
        outcomes: Opt::list(&[("", "Any"), ("success", "success"), ("failure", "failure")], Some(&get("outcome"))),
        since: get("since"),
        until: get("until"),
        errors,
        events,
        next,
        csv: format!("/dashboard/audit/export.csv{suffix}"),
        jsonl: format!("/dashboard/audit/export.jsonl{suffix}"),
    };
    Ok(render(status, &page))
}

#[derive(Clone, Copy)]
enum Format {
    Csv,
    JsonLines,
}

pub async fn export_csv(
    State(svc): State<AppState>,
    _: Viewer,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    export(svc, &raw, Format::Csv)
}

pub async fn export_jsonl(
    State(svc): State<AppState>,
    _: Viewer,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    export(svc, &raw, Format::JsonLines)
}

/// Where an export has got to.
struct Export {
    svc: AppState,
    filter: AuditFilter,
    format: Format,
    header: bool,
    done: bool,
}

fn export(svc: AppState, raw: &HashMap<String, String>, format: Format) -> Result<Response, Failure> {
    let mut filter = audit_filter(sent(raw))?;
    filter.limit = EXPORT_PAGE;
    let state = Export { svc, filter, format, header: matches!(format, Format::Csv), done: false };
    let chunks = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let mut out = String::new();
        if st.header {
            st.header = false;
            out.push_str(&COLUMNS.join(","));
            out.push_str("\r\n");
        }
        match dashboard::audit(&st.svc, &st.filter).await {
            Ok(mut rows) => {
                let more = rows.len() > st.filter.limit as usize;
                rows.truncate(st.filter.limit as usize);
                for r in &rows {
                    match st.format {
                        Format::Csv => csv_line(&mut out, r),
                        Format::JsonLines => json_line(&mut out, r),
                    }
                }
                match rows.last() {
                    Some(last) if more => st.filter.after = Some(Cursor { at: last.at, id: last.id.clone() }),
                    _ => st.done = true,
                }
            }
            Err(e) => {
                // The status is sent already: end the body short, and log why.
                tracing::error!(error = %e, "audit export: a page could not be read; the export is cut short");
                st.done = true;
            }
        }
        Some((Ok::<_, Infallible>(Bytes::from(out)), st))
    });
    let (content_type, name) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "audit.csv"),
        Format::JsonLines => ("application/jsonl; charset=utf-8", "audit.jsonl"),
    };
    let mut res = Body::from_stream(chunks).into_response();
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

fn json_line(out: &mut String, r: &AuditRecord) {
    let line = json!({
        "id": r.id, "at": audit_time(r), "action": r.action, "outcome": r.outcome, "user_id": r.user_id,
        "actor_id": r.actor_id, "ip": r.ip, "user_agent": r.user_agent, "detail": r.detail,
    });
    out.push_str(&line.to_string());
    out.push('\n');
}

fn csv_line(out: &mut String, r: &AuditRecord) {
    let detail = if r.detail.is_null() { String::new() } else { r.detail.to_string() };
    let cells = [
        r.id.as_str(),
        &audit_time(r),
        &r.action,
        &r.outcome,
        r.user_id.as_deref().unwrap_or(""),
        r.actor_id.as_deref().unwrap_or(""),
        r.ip.as_deref().unwrap_or(""),
        r.user_agent.as_deref().unwrap_or(""),
        &detail,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// RFC 4180 quoting; a cell a spreadsheet would read as a formula (a user
/// agent is the client's text) is prefixed with `'`.
fn csv_cell(out: &mut String, cell: &str) {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = formula || cell.contains([',', '"', '\n', '\r']);
    if !quoted {
        out.push_str(cell);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&cell.replace('"', "\"\""));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_when_needed_and_formulas_defused() {
        let cell = |c: &str| {
            let mut s = String::new();
            csv_cell(&mut s, c);
            s
        };
        assert_eq!(cell("login"), "login");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=cmd()"), "\"'=cmd()\"");
        assert_eq!(cell("{\"k\":1}"), "\"{\"\"k\"\":1}\"");
    }
}
