//! The workspace's live parts, asked for by `workspace.js`: the queues' counts, and who else is
//! on a complaint's page (the collision warning). JSON in and out; errors are problem bodies.

use crate::AppState;
use crate::problem::{ApiResult, Problem};
use crate::ui::{LangQuery, Texts, VIEWS, csrf_ok, filter_for, negotiate, secure, signed_in};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ombuds_core::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A queue's count stops at this: "1000+" says enough, and a count reads at most this many
/// index entries.
const COUNT_CAP: u32 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/queue/counts", get(counts)).route("/ui/complaints/{reference}/presence", post(presence))
}

fn signed_out() -> Response {
    secure(Problem::new("unauthorized", "sign in first").into_response())
}

/// Each queue view's count for the signed-in agent, as the language writes numbers.
async fn counts(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return signed_out() };
    let texts = Texts::new(negotiate(q.lang.as_deref(), &headers));
    // The open views only (the history's count would say nothing but "many"), side by side.
    let views: Vec<&str> = VIEWS.iter().map(|(v, _)| *v).filter(|v| *v != "all").collect();
    let filters: Vec<_> = views.iter().map(|v| filter_for(v, &signed.me)).collect();
    let counted = futures_util::future::try_join_all(filters.iter().map(|f| s.desk.count(&signed.who, f, COUNT_CAP))).await;
    let result: ApiResult<BTreeMap<&str, String>> = counted
        .map(|ns| {
            views
                .iter()
                .zip(ns)
                .map(|(v, n)| (*v, if n >= i64::from(COUNT_CAP) { format!("{}+", texts.number(n)) } else { texts.number(n) }))
                .collect()
        })
        .map_err(Into::into);
    secure(match result {
        Ok(map) => Json(map).into_response(),
        Err(e) => e.into_response(),
    })
}

#[derive(Debug, Deserialize)]
pub struct PresenceForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Serialize)]
struct Other {
    name: String,
    state: &'static str,
    /// "Айгерим is replying", in the agent's language.
    text: String,
}

/// The page beats: "I am viewing (or replying to) this complaint"; the answer lists the
/// others.
async fn presence(State(s): State<AppState>, headers: HeaderMap, Path(r): Path<String>, Form(form): Form<PresenceForm>) -> Response {
    let Some(signed) = signed_in(&s, &headers).await else { return signed_out() };
    if !csrf_ok(&headers, &form.csrf) {
        return secure(Problem::new("forbidden", "the form's CSRF token does not match; reload the page").into_response());
    }
    let texts = Texts::new(negotiate(None, &headers));
    let result: ApiResult<Vec<Other>> = async {
        let state = Presence::parse(&form.state).map_err(|e| Problem::invalid(vec![FieldError::new("state", e.code, "state is viewing or replying")]))?;
        let reference = ComplaintRef::parse(&r).map_err(|_| Problem::new("not_found", "complaint not found"))?;
        let others = s.desk.presence(&signed.who, &reference, state).await?;
        Ok(others
            .into_iter()
            .map(|(a, st)| Other {
                text: texts.with(&format!("presence-{}", st.as_str()), &[("name", a.name.as_str().to_string())]),
                name: a.name.as_str().to_string(),
                state: st.as_str(),
            })
            .collect())
    }
    .await;
    secure(match result {
        Ok(others) => Json(serde_json::json!({ "others": others })).into_response(),
        Err(e) => e.into_response(),
    })
}
