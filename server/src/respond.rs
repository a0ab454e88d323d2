//! Answers and errors as HTTP: the encoding a client accepts (JSON unless it asks for CSV,
//! Parquet or an Arrow IPC stream), errors as JSON with the CLI's classes.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use truyvet::ErrorKind;
use truyvet::encode::{self, Encoding};

/// Rows to send, and the notes a reader must see (sent as `X-Truyvet-Notes`).
pub struct Rows {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub notes: Vec<String>,
}

impl Rows {
    /// One batch, no notes.
    pub fn one(batch: RecordBatch) -> Rows {
        Rows { schema: batch.schema(), batches: vec![batch], notes: Vec::new() }
    }
}

/// Rows an answer carried, for the audit log (a response extension).
#[derive(Debug, Clone, Copy)]
pub struct Returned(pub u64);

/// The SQL statement a request ran, for the audit log (a response extension): a POST's body
/// is not in its target.
#[derive(Debug, Clone)]
pub struct Statement(pub String);

/// The request asked for something not allowed (a write over SQL), for the audit log (a
/// response extension).
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// Why a request failed, for the audit log (a response extension).
#[derive(Debug, Clone)]
pub struct Failure(pub String);

/// An error answer: `{"error": {"class", "message", "exit_code"}}`.
#[derive(Debug)]
pub enum ApiError {
    /// From the engine, classed as the CLI classes it.
    Engine(truyvet::Error),
    /// A parameter the engine never saw was wrong.
    Usage(String),
    /// No encoding the client accepts.
    NotAcceptable(String),
    /// The request ran past the time limit.
    Timeout(std::time::Duration),
    /// The server failed.
    Internal(String),
}

impl From<truyvet::Error> for ApiError {
    fn from(e: truyvet::Error) -> Self {
        ApiError::Engine(e)
    }
}

impl ApiError {
    /// HTTP status, class name and the CLI's exit code for the same failure.
    fn parts(&self) -> (StatusCode, &'static str, u8) {
        match self {
            ApiError::Engine(e) => match e.kind() {
                ErrorKind::Usage => (StatusCode::BAD_REQUEST, "usage", 2),
                ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found", 2),
                ErrorKind::Data => (StatusCode::UNPROCESSABLE_ENTITY, "data", 3),
                ErrorKind::Environment => (StatusCode::SERVICE_UNAVAILABLE, "environment", 4),
                ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", 70),
            },
            ApiError::Usage(_) => (StatusCode::BAD_REQUEST, "usage", 2),
            ApiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "usage", 2),
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "time_limit", 4),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", 70),
        }
    }

    /// The message a client is shown.
    pub(crate) fn message(&self) -> String {
        match self {
            ApiError::Engine(e) => e.to_string(),
            ApiError::Usage(m) | ApiError::NotAcceptable(m) | ApiError::Internal(m) => m.clone(),
            ApiError::Timeout(d) => {
                format!(
                    "the request ran longer than the server's time limit of {:.1} s and was abandoned",
                    d.as_secs_f64()
                )
            }
        }
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, class, exit_code) = self.parts();
        let message = self.message();
        let body = serde_json::json!({ "error": { "class": class, "message": message, "exit_code": exit_code } });
        let mut r = (status, axum::Json(body)).into_response();
        r.extensions_mut().insert(Failure(message));
        r
    }
}

/// The encoding to answer in: `format=` in the query wins, then the first `Accept` entry we
/// can produce (`*/*` and a missing header mean JSON).
pub fn negotiate(format: Option<&str>, headers: &HeaderMap) -> Result<Encoding, ApiError> {
    if let Some(f) = format {
        return Encoding::parse(f)
            .ok_or_else(|| ApiError::Usage(format!("unknown format {f:?}: use json, csv, parquet or arrow")));
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return Ok(Encoding::Json) };
    for entry in accept.split(',') {
        let t = entry.split(';').next().unwrap_or_default().trim();
        if t == "*/*" || t == "application/*" || t.is_empty() {
            return Ok(Encoding::Json);
        }
        if let Some(e) = Encoding::parse(t) {
            return Ok(e);
        }
    }
    Err(ApiError::NotAcceptable(format!(
        "cannot answer in {accept}: this endpoint answers in {}",
        Encoding::ALL.map(|e| e.media_type().split(';').next().unwrap_or_default()).join(", ")
    )))
}

/// Encode rows as a response.
pub fn rows(rows: Rows, encoding: Encoding) -> Result<Response, ApiError> {
    let body = encode::to_vec(&rows.schema, &rows.batches, encoding)
        .map_err(|e| ApiError::Internal(format!("encoding the answer: {e}")))?;
    let mut response = (StatusCode::OK, body).into_response();
    let returned = rows.batches.iter().map(|b| b.num_rows() as u64).sum();
    response.extensions_mut().insert(Returned(returned));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(encoding.media_type()));
    if !rows.notes.is_empty() {
        // Header values are visible ASCII; notes are ours and plain.
        let notes: String = rows.notes.join("; ").chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect();
        if let Ok(v) = HeaderValue::from_str(&notes) {
            h.insert("x-truyvet-notes", v);
        }
    }
    Ok(response)
}
