//! Signing in: HTTP Basic for programs, a session cookie from the sign-in page for people.
//! Without accounts every request is the store's owner's (`local-owner`).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Deserialize;

use crate::live::{Live, SESSION};

/// The signed-in user, for handlers that want it.
#[derive(Debug, Clone)]
pub struct User(pub String);

const COOKIE: &str = "truyvet_session";

/// Why a request was not signed in.
#[derive(Debug)]
pub enum Refusal {
    /// It carried no credentials.
    Missing,
    /// Its credentials are wrong.
    Wrong,
}

impl Refusal {
    /// API clients get 401 with a Basic challenge; people get the sign-in page.
    pub fn respond(&self, path: &str, target: &str) -> Response {
        if path.starts_with("/api/") {
            let message = match self {
                Refusal::Missing => {
                    "sign in: this server has accounts (HTTP Basic, or the session of the sign-in page)"
                }
                Refusal::Wrong => "wrong user name or password",
            };
            let body = serde_json::json!({ "error": { "class": "unauthorized", "message": message, "exit_code": 2 } });
            let mut r = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"truyvet\", charset=\"UTF-8\""),
            );
            return r;
        }
        Redirect::to(&format!("/login?next={}", crate::page::enc(target))).into_response()
    }
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Who sent `request`.
pub fn user_of(live: &Live, request: &Request) -> Result<String, Refusal> {
    let Some(users) = &live.users else { return Ok("local-owner".into()) };
    let headers = request.headers();
    if let Some(user) = cookie(headers, COOKIE).and_then(|t| live.session_user(t)) {
        return Ok(user);
    }
    let Some(auth) = headers.get(header::AUTHORIZATION) else { return Err(Refusal::Missing) };
    let basic = auth.to_str().ok().and_then(|v| v.strip_prefix("Basic ")).ok_or(Refusal::Wrong)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).map_err(|_| Refusal::Wrong)?;
    let text = String::from_utf8(decoded).map_err(|_| Refusal::Wrong)?;
    let (name, password) = text.split_once(':').ok_or(Refusal::Wrong)?;
    if users.verify(name, password) { Ok(name.to_string()) } else { Err(Refusal::Wrong) }
}

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
    lang: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Login {
    name: String,
    password: String,
    next: Option<String>,
}

/// Only a path of this server is a place to return to.
fn local(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).unwrap_or("/")
}

fn form_page(next: &str, error: Option<&str>, vi: bool) -> Html<String> {
    let t = |a: &'static str, b: &'static str| if vi { a } else { b };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>truyvet</title></head><body style=\"font:15px system-ui,sans-serif;margin:2em\">\
         <h1>truyvet</h1>{}<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <p><label>{} <input name=\"name\" autocomplete=\"username\"></label></p>\
         <p><label>{} <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label></p>\
         <button>{}</button></form></body></html>",
        error.map(|e| format!("<p style=\"color:#a00\">{}</p>", crate::page::esc(e))).unwrap_or_default(),
        crate::page::esc(next),
        t("Tên đăng nhập", "User name"),
        t("Mật khẩu", "Password"),
        t("Đăng nhập", "Sign in"),
    ))
}

/// `GET /login`.
pub async fn form(State(live): State<Arc<Live>>, Query(q): Query<Next>) -> Response {
    if live.users.is_none() {
        return Redirect::to(local(q.next.as_deref())).into_response();
    }
    form_page(local(q.next.as_deref()), None, q.lang.as_deref() != Some("en")).into_response()
}

/// `POST /login`: a session cookie and back to where the user was going.
pub async fn login(State(live): State<Arc<Live>>, Form(f): Form<Login>) -> Response {
    let next = local(f.next.as_deref()).to_string();
    if live.users.is_none() {
        return Redirect::to(&next).into_response();
    }
    let (name, password) = (f.name.clone(), f.password.clone());
    let l = live.clone();
    // PBKDF2 is CPU work: off the async threads.
    let ok = tokio::task::spawn_blocking(move || l.users.as_ref().is_some_and(|u| u.verify(&name, &password)))
        .await
        .unwrap_or(false);
    if !ok {
        let mut r = form_page(&next, Some("Sai tên đăng nhập hoặc mật khẩu / wrong user name or password"), true)
            .into_response();
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    match live.open_session(&f.name) {
        Ok(token) => {
            let mut r = Redirect::to(&next).into_response();
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", SESSION.as_secs());
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `POST /logout`.
pub async fn logout(State(live): State<Arc<Live>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, COOKIE) {
        live.close_session(token);
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static("truyvet_session=; Path=/; Max-Age=0"));
    r
}
