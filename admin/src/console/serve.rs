//! The console's HTTP side on hyper (HTTP/1.1, one tokio thread): each request is asked of
//! the gate, then served a page or an asset, or turned into one admin request (run on tokio's
//! blocking pool: the admin client blocks, as the CLI's does).
//!
//! Whoever connects gets at most [`HEAD_TIMEOUT`] to send a request head and
//! [`BODY_TIMEOUT`] for a body of at most [`MAX_BODY`] bytes; a longer one is refused unread.

use super::api::{self, Reply};
use super::assets::{self, Asset};
use super::auth::{self, Asked, Gate};
use crate::client;
use crate::socket::SocketChoice;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Largest body read (API calls and the sign-in form).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// How long a reading API call waits for the daemon (pages poll: a stuck daemon must not pile
/// them up), and a changing one.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(15);

/// Pages may run only their own scripts and styles; players fetch from the endpoints' hosts
/// (any http/https origin) and feed the video element from blob URLs.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; media-src 'self' blob: http: https:; connect-src 'self' http: https:; \
    worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What every request is served with.
pub struct Console {
    /// Who may come in.
    pub gate: Gate,
    /// The daemon's admin socket.
    pub socket: SocketChoice,
}

/// Serves `listener` until the process stops.
pub fn serve(listener: std::net::TcpListener, console: Arc<Console>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return Ok(());
            };
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                // Out of descriptors or the like: breathe, then take connections again.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let console = Arc::clone(&console);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let console = Arc::clone(&console);
                    async move { Ok::<_, Infallible>(handle(&console, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT)
                    .max_buf_size(MAX_BODY)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
                drop(slot);
            });
        }
    })
}

async fn handle(console: &Console, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let method = parts.method.as_str();
    let asked = Asked {
        method,
        authorization: header("authorization"),
        cookie: header("cookie"),
        origin: header("origin"),
        sec_fetch_site: header("sec-fetch-site"),
        host: header("host"),
    };
    let path = parts.uri.path();
    let answer = match route(&console.gate, &asked, path, parts.uri.query().unwrap_or("")) {
        Route::Done(a) => a,
        Route::Api(rest) => {
            let body = match read_body(&parts.headers, body).await {
                Ok(b) => b,
                Err(refusal) => return Answer::json(refusal).into_response(),
            };
            let json = header("content-type").is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|t| t.trim() == "application/json")
            });
            if !body.is_empty() && !json {
                Answer::json(Reply::error(415, "send the body as application/json"))
            } else {
                Answer::json(call_daemon(console, method, &rest, &body).await)
            }
        }
        Route::Login => match read_body(&parts.headers, body).await {
            Ok(b) => login(&console.gate, &form_token(&b).unwrap_or_default()),
            Err(refusal) => Answer::text(refusal.status, "the sign-in form is too large or slow"),
        },
    };
    answer.into_response()
}

/// The body, when it is at most [`MAX_BODY`] bytes and arrives within [`BODY_TIMEOUT`].
async fn read_body(headers: &hyper::HeaderMap, body: Incoming) -> Result<Bytes, Reply> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Reply::error(413, "the body is larger than 64 KiB"));
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Reply::error(413, "the body is larger than 64 KiB"))
        }
        Ok(Err(e)) => Err(Reply::error(400, &format!("could not read the body: {e}"))),
        Err(_) => Err(Reply::error(408, "the body did not arrive in time")),
    }
}

/// One API call: its admin request, sent on the blocking pool.
async fn call_daemon(console: &Console, method: &str, rest: &str, body: &[u8]) -> Reply {
    let call = match api::route(method, rest, body) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let socket = console.socket.clone();
    let timeout = if auth::is_change(method) {
        CHANGE_TIMEOUT
    } else {
        READ_TIMEOUT
    };
    let request = call.request.clone();
    let answer =
        tokio::task::spawn_blocking(move || client::call(&socket, &request, timeout)).await;
    match answer {
        Ok(answer) => api::reply(&call, answer),
        Err(e) => Reply::error(500, &format!("the admin call failed: {e}")),
    }
}

/// What a request gets.
enum Route {
    /// An API call, with its path below `/api/`; the body is still to be read.
    Api(String),
    /// The sign-in form was sent: its body holds the token.
    Login,
    /// Answered without the daemon.
    Done(Answer),
}

fn route(gate: &Gate, a: &Asked<'_>, path: &str, query: &str) -> Route {
    if let Some(name) = path.strip_prefix("/assets/") {
        return Route::Done(match (a.method, assets::asset(name)) {
            ("GET" | "HEAD", Some(asset)) => Answer::asset(asset),
            (_, Some(_)) => Answer::text(405, "assets are read with GET").allow("GET, HEAD"),
            _ => Answer::text(404, "not found"),
        });
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        if !gate.signed_in(a) {
            return Route::Done(Answer::json(Reply::error(
                401,
                "sign in first: open the URL `streampackctl console` printed, or send \
                 Authorization: Bearer TOKEN",
            )));
        }
        if let Some(why) = gate.cross_site(a) {
            return Route::Done(Answer::json(Reply::error(403, why)));
        }
        if rest == "logout" {
            if a.method != "POST" {
                return Route::Done(Answer::json(Reply {
                    allow: Some("POST"),
                    ..Reply::error(405, "sign out with POST")
                }));
            }
            gate.sign_out(a);
            let mut out = Answer::json(Reply {
                status: 200,
                body: "{\"signed_out\": true}\n".into(),
                allow: None,
            });
            out.headers.push(("set-cookie", gate.expired_cookie()));
            return Route::Done(out);
        }
        return Route::Api(rest.to_owned());
    }
    if path == "/login" {
        return match a.method {
            "POST" => match gate.cross_site(a) {
                Some(why) => Route::Done(Answer::text(403, why)),
                None => Route::Login,
            },
            _ => Route::Done(Answer::text(405, "sign in with the form at /").allow("POST")),
        };
    }
    if path != "/" && path != "/index.html" {
        return Route::Done(Answer::text(404, "not found"));
    }
    if a.method != "GET" && a.method != "HEAD" {
        return Route::Done(
            Answer::text(405, "the console's pages are read with GET").allow("GET, HEAD"),
        );
    }
    // The URL `streampackctl console` prints.
    if let Some(token) = query.split('&').find_map(|kv| kv.strip_prefix("token=")) {
        let token = api::percent_decode(token).unwrap_or_default();
        return Route::Done(login(gate, &token));
    }
    Route::Done(if gate.signed_in(a) {
        Answer::page(assets::INDEX, 200)
    } else {
        Answer::login(None)
    })
}

/// Signs in with `token`: on to the page (without the token in the address bar or history)
/// with a session cookie, or the sign-in page again saying the token is wrong.
fn login(gate: &Gate, token: &str) -> Answer {
    match gate.sign_in(token) {
        Some(id) => Answer {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from_static(b"signed in\n"),
            headers: vec![
                ("location", "/".to_owned()),
                ("set-cookie", gate.session_cookie(&id)),
            ],
            cache: "no-store",
        },
        None => Answer::login(Some(
            "That token is not the console's. Use the one `streampackctl console` printed.",
        )),
    }
}

/// The token of a sign-in form body (`token=…`, form-encoded).
fn form_token(body: &[u8]) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    let raw = body.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    api::percent_decode(&raw.replace('+', " "))
}

/// An answer before it becomes a hyper response.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Bytes,
    headers: Vec<(&'static str, String)>,
    cache: &'static str,
}

impl Answer {
    fn json(r: Reply) -> Answer {
        let mut headers = Vec::new();
        if let Some(allow) = r.allow {
            headers.push(("allow", allow.to_owned()));
        }
        Answer {
            status: r.status,
            content_type: "application/json",
            body: Bytes::from(r.body),
            headers,
            cache: "no-store",
        }
    }

    fn text(status: u16, text: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(format!("{text}\n")),
            headers: Vec::new(),
            cache: "no-store",
        }
    }

    fn allow(mut self, methods: &'static str) -> Answer {
        self.headers.push(("allow", methods.to_owned()));
        self
    }

    fn asset(a: Asset) -> Answer {
        Answer {
            status: 200,
            content_type: a.content_type,
            body: Bytes::from_static(a.body),
            headers: Vec::new(),
            cache: "no-cache",
        }
    }

    fn page(a: Asset, status: u16) -> Answer {
        Answer {
            status,
            headers: vec![
                ("content-security-policy", PAGE_CSP.to_owned()),
                ("x-frame-options", "DENY".to_owned()),
            ],
            cache: "no-store",
            ..Answer::asset(a)
        }
    }

    /// The sign-in page (401), with `message` in its alert when there is one (fixed text
    /// only: it goes into the page as it is).
    fn login(message: Option<&'static str>) -> Answer {
        let mut a = Answer::page(assets::LOGIN, 401);
        if let Some(m) = message {
            let page = String::from_utf8_lossy(&a.body).replace(
                "<!--MESSAGE-->",
                &format!("<p class=\"error\" role=\"alert\">{m}</p>"),
            );
            a.body = Bytes::from(page);
        }
        a
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(self.body));
        *r.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let fixed = [
            ("content-type", self.content_type),
            ("cache-control", self.cache),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ];
        let h = r.headers_mut();
        for (k, v) in fixed {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.append(HeaderName::from_static(k), v);
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_form_body_gives_its_token() {
        assert_eq!(form_token(b"token=abc%2Bdef").as_deref(), Some("abc+def"));
        assert_eq!(form_token(b"x=1&token=a+b").as_deref(), Some("a b"));
        assert_eq!(form_token(b"nothing"), None);
    }
}
