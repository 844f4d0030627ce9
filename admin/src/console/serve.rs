//! The console's HTTP side on tiny_http: a few threads each take a request, ask the gate,
//! serve a page or an asset, or turn an API call into one admin request.

use super::api::{self, Reply};
use super::assets::{self, Asset};
use super::auth::{self, Asked, Gate};
use crate::client;
use crate::socket::SocketChoice;
use std::io::Read;
use std::time::Duration;
use tiny_http::{Header, Request, Response};

/// Largest API body read.
const MAX_BODY: usize = 64 * 1024;
/// How long an API call waits for the daemon.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves requests until the server stops.
pub fn serve(server: &tiny_http::Server, console: &Console) {
    for req in server.incoming_requests() {
        handle(console, req);
    }
}

fn header<'a>(req: &'a Request, name: &'static str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn handle(console: &Console, mut req: Request) {
    let method = req.method().as_str().to_ascii_uppercase();
    let url = req.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let answer = {
        let asked = Asked {
            method: &method,
            authorization: header(&req, "Authorization"),
            cookie: header(&req, "Cookie"),
            origin: header(&req, "Origin"),
            sec_fetch_site: header(&req, "Sec-Fetch-Site"),
            host: header(&req, "Host"),
        };
        route(console, &asked, path, query)
    };
    let answer = match answer {
        Route::Api(call_path) => {
            let mut body = Vec::new();
            let read = req
                .as_reader()
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body);
            let reply = match read {
                Err(e) => Reply::error(400, &format!("could not read the body: {e}")),
                Ok(n) if n > MAX_BODY => Reply::error(413, "the body is larger than 64 KiB"),
                Ok(_) => match api::route(&method, &call_path, &body) {
                    Ok(call) => {
                        let answer = client::call(&console.socket, &call.request, DAEMON_TIMEOUT);
                        api::reply(&call, answer)
                    }
                    Err(refusal) => refusal,
                },
            };
            Answer::json(reply)
        }
        Route::Done(a) => a,
    };
    let _ = req.respond(answer.into_response());
}

/// What a request gets.
enum Route {
    /// An API call, with its path below `/api/`; the body is still to be read.
    Api(String),
    /// Answered without the daemon.
    Done(Answer),
}

fn route(console: &Console, a: &Asked<'_>, path: &str, query: &str) -> Route {
    let gate = &console.gate;
    if let Some(name) = path.strip_prefix("/assets/") {
        return Route::Done(match (a.method, assets::asset(name)) {
            ("GET" | "HEAD", Some(asset)) => Answer::asset(asset, "no-cache"),
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
        if let Some(why) = auth::cross_site(a) {
            return Route::Done(Answer::json(Reply::error(403, why)));
        }
        if rest == "logout" && a.method == "POST" {
            gate.sign_out(a);
            let mut out = Answer::json(Reply {
                status: 200,
                body: "{\"signed_out\": true}\n".into(),
                allow: None,
            });
            out.headers.push(("Set-Cookie", auth::expired_cookie()));
            return Route::Done(out);
        }
        return Route::Api(rest.to_owned());
    }
    if path != "/" && path != "/index.html" {
        return Route::Done(Answer::text(404, "not found"));
    }
    if a.method != "GET" && a.method != "HEAD" {
        return Route::Done(Answer::text(405, "the console's pages are read with GET"));
    }
    let token = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(|t| t.replace('+', " "));
    if let Some(token) = token {
        let token = api::percent_decode(&token).unwrap_or(token);
        return Route::Done(match gate.sign_in(&token) {
            // Signed in: on to the page without the token in the address bar or history.
            Some(id) => Answer {
                status: 303,
                content_type: "text/plain; charset=utf-8",
                body: b"signed in\n".to_vec(),
                headers: vec![
                    ("Location", "/".to_owned()),
                    ("Set-Cookie", auth::session_cookie(&id)),
                ],
                cache: "no-store",
            },
            None => Answer::login(
                "That token is not the console's. Use the one `streampackctl console` printed.",
            ),
        });
    }
    Route::Done(if gate.signed_in(a) {
        Answer::page(assets::INDEX, 200)
    } else {
        Answer::login("")
    })
}

/// An answer before it becomes a tiny_http response.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    cache: &'static str,
}

impl Answer {
    fn json(r: Reply) -> Answer {
        let mut headers = Vec::new();
        if let Some(allow) = r.allow {
            headers.push(("Allow", allow.to_owned()));
        }
        Answer {
            status: r.status,
            content_type: "application/json",
            body: r.body.into_bytes(),
            headers,
            cache: "no-store",
        }
    }

    fn text(status: u16, text: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{text}\n").into_bytes(),
            headers: Vec::new(),
            cache: "no-store",
        }
    }

    fn asset(a: Asset, cache: &'static str) -> Answer {
        Answer {
            status: 200,
            content_type: a.content_type,
            body: a.body.to_vec(),
            headers: Vec::new(),
            cache,
        }
    }

    fn page(a: Asset, status: u16) -> Answer {
        Answer {
            status,
            headers: vec![
                ("Content-Security-Policy", PAGE_CSP.to_owned()),
                ("X-Frame-Options", "DENY".to_owned()),
            ],
            cache: "no-store",
            ..Answer::asset(a, "no-store")
        }
    }

    /// The sign-in page (401), with `message` in its alert when there is one.
    fn login(message: &str) -> Answer {
        let mut a = Answer::page(assets::LOGIN, 401);
        if !message.is_empty() {
            let page = String::from_utf8_lossy(&a.body).replace(
                "<!--MESSAGE-->",
                &format!("<p class=\"error\" role=\"alert\">{message}</p>"),
            );
            a.body = page.into_bytes();
        }
        a
    }

    fn into_response(self) -> Response<std::io::Cursor<Vec<u8>>> {
        let mut r = Response::from_data(self.body).with_status_code(self.status);
        let fixed = [
            ("Content-Type", self.content_type),
            ("Cache-Control", self.cache),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ];
        for (k, v) in fixed {
            if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                r.add_header(h);
            }
        }
        for (k, v) in self.headers {
            if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                r.add_header(h);
            }
        }
        r
    }
}
