//! Signing in: HTTP Basic for programs, a session cookie from the sign-in page for people.
//! Without accounts every request is the store's owner's (`local-owner`).

use std::sync::Arc;

use axum::Form;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Deserialize;

use crate::accounts::Role;
use crate::live::Live;

/// The signed-in user and role, for handlers that want them.
#[derive(Debug, Clone)]
pub struct User(pub String, pub Role);

/// Failed sign-ins from one client address within a minute before it must wait.
pub const MAX_FAILURES: u32 = 5;

const COOKIE: &str = "truyvet_session";

/// Why a request was not signed in.
#[derive(Debug)]
pub enum Refusal {
    /// It carried no credentials.
    Missing,
    /// Its credentials are wrong (the user name tried, when there was one).
    Wrong(Option<String>),
    /// Its address failed to sign in too often in the last minute.
    TooMany,
    /// Its user's role does not allow it.
    Forbidden(Role),
}

impl Refusal {
    /// API clients get a JSON error (401 with a Basic challenge when they must sign in);
    /// people get the sign-in page, or the trace page instead of an overview they may not see.
    pub fn respond(&self, path: &str, target: &str) -> Response {
        let (status, class, message) = match self {
            Refusal::Missing => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in: this server has accounts (HTTP Basic, or the session of the sign-in page)".to_string(),
            ),
            Refusal::Wrong(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "wrong user name or password".to_string()),
            Refusal::TooMany => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("more than {MAX_FAILURES} failed sign-ins from this address in a minute: wait"),
            ),
            Refusal::Forbidden(need) => {
                (StatusCode::FORBIDDEN, "forbidden", format!("this needs the role {} or above", need.name()))
            }
        };
        let mut r = if path == "/" && matches!(self, Refusal::Forbidden(_)) {
            Redirect::to("/trace").into_response()
        } else if status == StatusCode::UNAUTHORIZED && !path.starts_with("/api/") {
            Redirect::to(&format!("/login?next={}", crate::page::enc(target))).into_response()
        } else {
            let body = serde_json::json!({ "error": { "class": class, "message": &message, "exit_code": 2 } });
            (status, axum::Json(body)).into_response()
        };
        r.extensions_mut().insert(crate::respond::Failure(message));
        if let Refusal::Wrong(Some(name)) = self {
            r.extensions_mut().insert(Attempted(name.clone()));
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"truyvet\", charset=\"UTF-8\""),
            );
        }
        r
    }
}

/// The user name a sign-in was for, for the audit log (a response extension).
#[derive(Debug, Clone)]
pub struct Attempted(pub String);

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

/// The role a path needs.
pub fn needs(path: &str) -> Role {
    match path {
        "/api/v1/sql" | "/report" | "/api/v1/report/daily" => Role::Epidemiologist,
        "/" | "/api/v1/stats" => Role::Admin,
        _ => Role::Tracer,
    }
}

/// Who sent `request` from `client`, and whether their role allows it.
pub fn user_of(live: &Live, request: &Request, client: Option<IpAddr>) -> Result<User, Refusal> {
    let Some(users) = &live.users else { return Ok(User("local-owner".into(), Role::Admin)) };
    let headers = request.headers();
    let user = match cookie(headers, COOKIE).and_then(|t| live.session_user(t)) {
        Some(name) => User(name.clone(), users.role(&name).ok_or(Refusal::Missing)?),
        None => {
            let Some(auth) = headers.get(header::AUTHORIZATION) else { return Err(Refusal::Missing) };
            if client.is_some_and(|c| live.failures(c) >= MAX_FAILURES) {
                return Err(Refusal::TooMany);
            }
            let (name, password) = basic(auth).ok_or(Refusal::Wrong(None))?;
            match users.verify(&name, &password) {
                Some(role) => User(name, role),
                None => {
                    if let Some(c) = client {
                        live.failed(c);
                    }
                    return Err(Refusal::Wrong(Some(name)));
                }
            }
        }
    };
    let need = needs(request.uri().path());
    if user.1 < need {
        return Err(Refusal::Forbidden(need));
    }
    Ok(user)
}

/// `Basic base64(name:password)`.
fn basic(auth: &HeaderValue) -> Option<(String, String)> {
    let b64 = auth.to_str().ok()?.strip_prefix("Basic ")?;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_string(), password.to_string()))
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
pub async fn login(
    State(live): State<Arc<Live>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Form(f): Form<Login>,
) -> Response {
    let next = local(f.next.as_deref()).to_string();
    if live.users.is_none() {
        return Redirect::to(&next).into_response();
    }
    if live.failures(client.ip()) >= MAX_FAILURES {
        return Refusal::TooMany.respond("/login", "/login");
    }
    let (name, password) = (f.name.clone(), f.password.clone());
    let l = live.clone();
    // PBKDF2 is CPU work: off the async threads.
    let ok = tokio::task::spawn_blocking(move || l.users.as_ref().and_then(|u| u.verify(&name, &password)).is_some())
        .await
        .unwrap_or(false);
    if !ok {
        live.failed(client.ip());
        let mut r = form_page(&next, Some("Sai tên đăng nhập hoặc mật khẩu / wrong user name or password"), true)
            .into_response();
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        r.extensions_mut().insert(crate::respond::Failure("wrong user name or password".into()));
        r.extensions_mut().insert(Attempted(f.name));
        return r;
    }
    match live.open_session(&f.name) {
        Ok(token) => {
            let mut r = Redirect::to(&next).into_response();
            r.extensions_mut().insert(Attempted(f.name.clone()));
            let cookie = format!(
                "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                live.session_lifetime.as_secs().max(1)
            );
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
