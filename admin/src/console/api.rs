//! The console's JSON API: a path and a method become one admin [`Request`], and the daemon's
//! answer the JSON `streampackctl --json` prints for it (the same views, the same messages).

use crate::error::CtlError;
use crate::output::{self, Format};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use streampack_core::admin::proto::{
    ChannelCreate, ChannelPatch, EndpointCreate, EndpointPatch, InputAuthAction, Request, Response,
    SpliceSpec,
};
use streampack_core::control::ControlError;

/// An HTTP answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// JSON.
    pub body: String,
    /// `Allow`, for 405.
    pub allow: Option<&'static str>,
}

impl Reply {
    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        let mut body = serde_json::json!({ "error": message }).to_string();
        body.push('\n');
        Reply {
            status,
            body,
            allow: None,
        }
    }
}

/// What an API request asks the daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The admin request.
    pub request: Request,
    /// Answered `201 Created` when it succeeds.
    pub creates: bool,
}

/// The admin request for `method` on `path` (below `/api/`, no query) with `body`, or the
/// answer that refuses it.
pub fn route(method: &str, path: &str, body: &[u8]) -> Result<Call, Reply> {
    // HEAD is GET without the body (the server leaves it out).
    let method = if method == "HEAD" { "GET" } else { method };
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Option<_>>()
        .ok_or_else(|| Reply::error(400, "the path is not valid percent-encoded UTF-8"))?;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let ch = |i: usize| s.get(i).map(|c| (*c).to_owned()).unwrap_or_default();
    let call = |request| {
        Ok(Call {
            request,
            creates: false,
        })
    };
    let create = |request| {
        Ok(Call {
            request,
            creates: true,
        })
    };
    let wrong = |allow: &'static str| {
        Err(Reply {
            allow: Some(allow),
            ..Reply::error(
                405,
                &format!("{method} is not allowed here (allowed: {allow})"),
            )
        })
    };
    match (s.as_slice(), method) {
        (["status"], "GET") => call(Request::Status),
        (["status"], _) => wrong("GET"),
        (["channels"], "GET") => call(Request::ChannelList),
        (["channels"], "POST") => create(Request::ChannelCreate(json::<ChannelCreate>(body)?)),
        (["channels"], _) => wrong("GET, POST"),
        (["channels", _], "GET") => call(Request::ChannelShow { channel: ch(1) }),
        (["channels", _], "PATCH") => call(Request::ChannelEdit {
            channel: ch(1),
            patch: json::<ChannelPatch>(body)?,
        }),
        (["channels", _], "DELETE") => call(Request::ChannelDelete { channel: ch(1) }),
        (["channels", _], _) => wrong("GET, PATCH, DELETE"),
        (["channels", _, "inputs", _, "auth", action], "POST") => {
            let action = match *action {
                "enable" => InputAuthAction::Enable,
                "disable" => InputAuthAction::Disable,
                "rotate" => InputAuthAction::Rotate {
                    grace_secs: optional_json::<Rotate>(body)?.grace_secs,
                },
                _ => return Err(not_found(path)),
            };
            call(Request::InputAuth {
                channel: ch(1),
                input: ch(3),
                action,
            })
        }
        (["channels", _, "inputs", _, "auth", _], _) => wrong("POST"),
        (["channels", _, "endpoints"], "GET") => call(Request::EndpointList { channel: ch(1) }),
        (["channels", _, "endpoints"], "POST") => create(Request::EndpointCreate {
            channel: ch(1),
            spec: json::<EndpointCreate>(body)?,
        }),
        (["channels", _, "endpoints"], _) => wrong("GET, POST"),
        (["channels", _, "endpoints", _], "GET") => call(Request::EndpointShow {
            channel: ch(1),
            endpoint: ch(3),
        }),
        (["channels", _, "endpoints", _], "PATCH") => call(Request::EndpointEdit {
            channel: ch(1),
            endpoint: ch(3),
            patch: json::<EndpointPatch>(body)?,
        }),
        (["channels", _, "endpoints", _], "DELETE") => call(Request::EndpointDelete {
            channel: ch(1),
            endpoint: ch(3),
        }),
        (["channels", _, "endpoints", _], _) => wrong("GET, PATCH, DELETE"),
        (["channels", _, "splice"], "POST") => call(Request::ChannelSplice {
            channel: ch(1),
            splice: json::<SpliceSpec>(body)?,
        }),
        (["channels", _, "splice"], _) => wrong("POST"),
        (["channels", _, "cdn"], "GET") => call(Request::CdnList { channel: ch(1) }),
        (["channels", _, "cdn"], "POST") => call(Request::CdnBind {
            channel: ch(1),
            domain: json::<Domain>(body)?.domain,
        }),
        (["channels", _, "cdn"], _) => wrong("GET, POST"),
        (["channels", _, "cdn", _], "DELETE") => call(Request::CdnUnbind {
            channel: ch(1),
            domain: ch(3),
        }),
        (["channels", _, "cdn", _], _) => wrong("DELETE"),
        _ => Err(not_found(path)),
    }
}

/// The answer to `call` for what the daemon said (or why it could not be asked).
pub fn reply(call: &Call, answer: Result<Response, CtlError>) -> Reply {
    let formatted = answer.and_then(|resp| output::format(&call.request, resp, Format::Json));
    match formatted {
        Ok(body) => Reply {
            status: if call.creates { 201 } else { 200 },
            body,
            allow: None,
        },
        Err(CtlError::Refused(e)) => Reply::error(refusal_status(&e), &e.to_string()),
        Err(e @ CtlError::Timeout { .. }) => Reply::error(504, &e.to_string()),
        // Not reachable, no answer, or an answer this build does not understand.
        Err(e) => Reply::error(502, &e.to_string()),
    }
}

/// The status of a refusal: the one place the console decides it.
fn refusal_status(e: &ControlError) -> u16 {
    match e {
        ControlError::NotFound(_) => 404,
        ControlError::Invalid(_) => 400,
        ControlError::Conflict(_) | ControlError::Limit(_) => 409,
        ControlError::Unavailable(_) => 503,
    }
}

fn not_found(path: &str) -> Reply {
    Reply::error(
        404,
        &format!("no such API path: /api/{}", path.trim_matches('/')),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    #[serde(default)]
    grace_secs: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Domain {
    domain: String,
}

/// The body as `T`, or a 400 saying what is wrong with it.
fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Reply::error(400, "this request needs a JSON body"));
    }
    serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, &format!("the body is not the JSON expected here: {e}")))
}

/// Like [`json`], but an empty body is `T`'s default.
fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    json(body)
}

/// `%XX`-decodes a path segment (`None`: a bad escape or not UTF-8).
pub fn percent_decode(seg: &str) -> Option<String> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::sample_channel;
    use streampack_core::channel::{EndpointType, Protocol};

    fn ok(method: &str, path: &str, body: &str) -> Call {
        route(method, path, body.as_bytes()).unwrap_or_else(|r| panic!("{path}: {r:?}"))
    }

    fn refused(method: &str, path: &str, body: &str) -> Reply {
        route(method, path, body.as_bytes()).expect_err(path)
    }

    #[test]
    fn paths_and_methods_become_admin_requests() {
        let ch = || "news".to_string();
        let table = [
            ("GET", "status", "", Request::Status),
            ("GET", "channels", "", Request::ChannelList),
            (
                "GET",
                "channels/news",
                "",
                Request::ChannelShow { channel: ch() },
            ),
            (
                "DELETE",
                "channels/news",
                "",
                Request::ChannelDelete { channel: ch() },
            ),
            (
                "PATCH",
                "channels/news",
                r#"{"max_segment_duration": 8, "description": ""}"#,
                Request::ChannelEdit {
                    channel: ch(),
                    patch: ChannelPatch {
                        max_segment_duration: Some(8),
                        description: Some(String::new()),
                        ..ChannelPatch::default()
                    },
                },
            ),
            (
                "POST",
                "channels/news/inputs/1/auth/rotate",
                "",
                Request::InputAuth {
                    channel: ch(),
                    input: "1".into(),
                    action: InputAuthAction::Rotate { grace_secs: 0 },
                },
            ),
            (
                "POST",
                "channels/news/inputs/2/auth/rotate",
                r#"{"grace_secs": 30}"#,
                Request::InputAuth {
                    channel: ch(),
                    input: "2".into(),
                    action: InputAuthAction::Rotate { grace_secs: 30 },
                },
            ),
            (
                "POST",
                "channels/news/inputs/1/auth/enable",
                "",
                Request::InputAuth {
                    channel: ch(),
                    input: "1".into(),
                    action: InputAuthAction::Enable,
                },
            ),
            (
                "POST",
                "channels/news/endpoints",
                r#"{"name": "web", "type": "cmaf", "allow": ["127.0.0.1/32"]}"#,
                Request::EndpointCreate {
                    channel: ch(),
                    spec: EndpointCreate {
                        name: "web".into(),
                        kind: Some(EndpointType::Cmaf),
                        allow: vec!["127.0.0.1/32".into()],
                        ..EndpointCreate::default()
                    },
                },
            ),
            (
                "PATCH",
                "channels/news/endpoints/web",
                r#"{"auth_keys": []}"#,
                Request::EndpointEdit {
                    channel: ch(),
                    endpoint: "web".into(),
                    patch: EndpointPatch {
                        auth_keys: Some(vec![]),
                        ..EndpointPatch::default()
                    },
                },
            ),
            (
                "POST",
                "channels/news/cdn",
                r#"{"domain": "live.example.com"}"#,
                Request::CdnBind {
                    channel: ch(),
                    domain: "live.example.com".into(),
                },
            ),
            (
                "POST",
                "channels/news/splice",
                r#"{"duration_ms": 30000}"#,
                Request::ChannelSplice {
                    channel: ch(),
                    splice: SpliceSpec {
                        duration_ms: Some(30_000),
                        ..SpliceSpec::default()
                    },
                },
            ),
            (
                "POST",
                "channels/news/splice",
                r#"{"return": true}"#,
                Request::ChannelSplice {
                    channel: ch(),
                    splice: SpliceSpec {
                        return_to_network: true,
                        ..SpliceSpec::default()
                    },
                },
            ),
            (
                "DELETE",
                "channels/news/cdn/live.example.com",
                "",
                Request::CdnUnbind {
                    channel: ch(),
                    domain: "live.example.com".into(),
                },
            ),
            (
                "GET",
                "channels/news%2Dhd/endpoints/",
                "",
                Request::EndpointList {
                    channel: "news-hd".into(),
                },
            ),
        ];
        for (method, path, body, want) in table {
            assert_eq!(ok(method, path, body).request, want, "{method} {path}");
        }
        let c = ok(
            "POST",
            "channels",
            r#"{"name": "news", "protocol": "dash", "max_segment_duration": 6}"#,
        );
        assert!(c.creates);
        let Request::ChannelCreate(spec) = c.request else {
            panic!("{:?}", c.request)
        };
        assert_eq!(
            (
                spec.protocol,
                spec.max_segment_duration,
                spec.timeshift_window_secs
            ),
            (Protocol::Dash, Some(6), None)
        );
    }

    #[test]
    fn bad_paths_methods_and_bodies_say_what_is_wrong() {
        let r = refused("GET", "nothing/here", "");
        assert_eq!(r.status, 404);
        assert!(
            r.body.contains("no such API path: /api/nothing/here"),
            "{}",
            r.body
        );
        let r = refused("PUT", "channels/news", "{}");
        assert_eq!((r.status, r.allow), (405, Some("GET, PATCH, DELETE")));
        let r = refused("POST", "channels", "");
        assert_eq!(r.status, 400);
        assert!(r.body.contains("needs a JSON body"), "{}", r.body);
        let r = refused("POST", "channels", "{\"name\": ");
        assert_eq!(r.status, 400);
        assert!(r.body.contains("not the JSON expected"), "{}", r.body);
        // A typo is an error, not a silent no-op.
        let r = refused("PATCH", "channels/news", r#"{"max_segment_duratoin": 8}"#);
        assert_eq!(r.status, 400);
        assert!(
            r.body.contains("unknown field `max_segment_duratoin`"),
            "{}",
            r.body
        );
        let r = refused("PATCH", "channels/news", r#"{"protocol": "dash"}"#);
        assert_eq!(r.status, 400);
        let r = refused("POST", "channels/news/inputs/1/auth/reset", "");
        assert_eq!(r.status, 404);
        let r = refused("GET", "channels/%zz", "");
        assert_eq!(r.status, 400);
        assert_eq!(refused("GET", "channels/%+1", "").status, 400);
        assert_eq!(ok("HEAD", "channels", "").request, Request::ChannelList);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(v["error"].is_string());
    }

    #[test]
    fn answers_are_the_clis_json_and_refusals_map_to_statuses() {
        let create = Call {
            request: Request::ChannelCreate(ChannelCreate::default()),
            creates: true,
        };
        let r = reply(&create, Ok(Response::Channel(sample_channel())));
        assert_eq!(r.status, 201);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["name"], "news");
        for (e, status) in [
            (ControlError::NotFound("no channel x".into()), 404),
            (ControlError::Invalid("bad".into()), 400),
            (ControlError::Conflict("has endpoints".into()), 409),
            (ControlError::Limit("too many".into()), 409),
            (ControlError::Unavailable("disk".into()), 503),
        ] {
            let msg = e.to_string();
            let r = reply(&create, Ok(Response::Error(e)));
            assert_eq!(r.status, status);
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["error"], msg.as_str());
        }
        let down = CtlError::Unreachable {
            path: "/tmp/x.sock".into(),
            tried: vec![],
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let r = reply(&create, Err(down));
        assert_eq!(r.status, 502);
        assert!(
            r.body.contains("not reachable at /tmp/x.sock"),
            "{}",
            r.body
        );
        // A well-formed answer that does not fit: the console is not the daemon's release.
        let r = reply(&create, Ok(Response::Deleted { id: "x".into() }));
        assert_eq!(r.status, 502);
    }
}
