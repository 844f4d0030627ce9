//! What a command prints for the daemon's answer: the view as pretty JSON (`--json`, a
//! contract for scripts) or as text. A refusal becomes [`CtlError::Refused`].

use crate::error::CtlError;
use crate::render;
use serde::Serialize;
use streampack_core::admin::proto::{Request, Response};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned tables and key/value lines.
    Human,
    /// Pretty-printed JSON of the view.
    Json,
}

/// Renders `resp` as the answer to `req`, checking that the answer fits the request.
pub fn format(req: &Request, resp: Response, fmt: Format) -> Result<String, CtlError> {
    use Request as Q;
    use Response as A;
    let json = fmt == Format::Json;
    match (req, resp) {
        (_, A::Error(e)) => Err(CtlError::Refused(e)),
        (Q::Status, A::Status(s)) if json => to_json(&s),
        (Q::Status, A::Status(s)) => Ok(render::status(&s)),
        (Q::ClusterStatus, A::Cluster(c)) if json => to_json(&c),
        (Q::ClusterStatus, A::Cluster(c)) => Ok(render::cluster(&c)),
        (
            Q::ChannelCreate(_)
            | Q::ChannelShow { .. }
            | Q::ChannelEdit { .. }
            | Q::InputAuth { .. }
            | Q::CdnBind { .. }
            | Q::CdnUnbind { .. },
            A::Channel(c),
        ) => {
            if json {
                to_json(&c)
            } else {
                Ok(render::channel_detail(&c))
            }
        }
        (Q::CdnList { .. }, A::Channel(c)) if json => to_json(&serde_json::json!({
            "channel_id": c.id,
            "cdn_domains": c.cdn_domains,
            "endpoints": c.endpoints.iter().map(|e| serde_json::json!({
                "id": e.id, "name": e.name, "cdn_urls": e.cdn_urls,
            })).collect::<Vec<_>>(),
        })),
        (Q::CdnList { .. }, A::Channel(c)) => Ok(render::cdn_list(&c)),
        (Q::ChannelList, A::Channels(cs)) if json => to_json(&cs),
        (Q::ChannelList, A::Channels(cs)) => Ok(render::channel_table(&cs)),
        (
            Q::EndpointCreate { .. } | Q::EndpointShow { .. } | Q::EndpointEdit { .. },
            A::Endpoint(e),
        ) => {
            if json {
                to_json(&e)
            } else {
                Ok(render::endpoint_detail(&e))
            }
        }
        (Q::EndpointList { .. }, A::Endpoints(es)) if json => to_json(&es),
        (Q::EndpointList { .. }, A::Endpoints(es)) => Ok(render::endpoint_table(&es)),
        (Q::ChannelSplice { .. }, A::Splice(s)) if json => to_json(&s),
        (Q::ChannelSplice { .. }, A::Splice(s)) => Ok(render::splice(&s)),
        (Q::EndpointKeys { .. }, A::Keys(keys)) if json => to_json(&keys),
        (Q::EndpointKeys { .. }, A::Keys(keys)) => Ok(render::key_table(&keys)),
        (Q::ChannelDelete { .. } | Q::EndpointDelete { .. }, A::Deleted { id }) => {
            if json {
                to_json(&serde_json::json!({ "deleted": id }))
            } else {
                let what = match req {
                    Q::ChannelDelete { .. } => "channel",
                    _ => "endpoint",
                };
                Ok(format!("deleted {what} {id}\n"))
            }
        }
        (req, resp) => Err(CtlError::Mismatch {
            sent: request_kind(req),
            got: response_kind(&resp),
        }),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String, CtlError> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| CtlError::Output(e.into()))?;
    s.push('\n');
    Ok(s)
}

fn request_kind(req: &Request) -> &'static str {
    match req {
        Request::Status => "status",
        Request::ClusterStatus => "cluster status",
        Request::ChannelCreate(_) => "channel create",
        Request::ChannelList => "channel list",
        Request::ChannelShow { .. } => "channel show",
        Request::ChannelEdit { .. } => "channel edit",
        Request::ChannelDelete { .. } => "channel delete",
        Request::ChannelSplice { .. } => "channel splice",
        Request::EndpointCreate { .. } => "endpoint create",
        Request::EndpointList { .. } => "endpoint list",
        Request::EndpointShow { .. } => "endpoint show",
        Request::EndpointEdit { .. } => "endpoint edit",
        Request::EndpointDelete { .. } => "endpoint delete",
        Request::EndpointKeys { .. } => "endpoint keys",
        Request::InputAuth { .. } => "input auth",
        Request::CdnBind { .. } => "cdn bind",
        Request::CdnUnbind { .. } => "cdn unbind",
        Request::CdnList { .. } => "cdn list",
    }
}

fn response_kind(resp: &Response) -> &'static str {
    match resp {
        Response::Status(_) => "a status",
        Response::Cluster(_) => "a cluster status",
        Response::Channel(_) => "a channel",
        Response::Channels(_) => "a channel list",
        Response::Endpoint(_) => "an endpoint",
        Response::Endpoints(_) => "an endpoint list",
        Response::Keys(_) => "a key list",
        Response::Splice(_) => "a splice",
        Response::Deleted { .. } => "a deletion",
        Response::Error(_) => "an error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::{sample_channel, sample_endpoint, CH_ID};
    use serde_json::Value;
    use streampack_core::control::ControlError;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn channel_json_uses_the_documented_field_names() -> TestResult {
        let show = Request::ChannelShow {
            channel: "news".into(),
        };
        let out = format(&show, Response::Channel(sample_channel()), Format::Json)?;
        let v: Value = serde_json::from_str(&out)?;
        let mut top = keys(&v);
        top.sort_unstable();
        assert_eq!(
            top,
            [
                "cdn_domains",
                "description",
                "end_on_endlist",
                "endpoints",
                "id",
                "inputs",
                "live",
                "manifest_ttl",
                "max_playlist_duration",
                "max_segment_duration",
                "name",
                "protocol",
                "segment_ttl",
                "timeshift_window_secs"
            ]
        );
        assert_eq!(v["id"], CH_ID);
        assert_eq!(v["protocol"], "hls");
        assert_eq!(v["max_segment_duration"], 6);
        assert_eq!(v["timeshift_window_secs"], 0);
        let mut input = keys(&v["inputs"][0]);
        input.sort_unstable();
        assert_eq!(input, ["auth", "id", "role", "url"]);
        let mut auth = keys(&v["inputs"][0]["auth"]);
        auth.sort_unstable();
        assert_eq!(
            auth,
            [
                "enabled",
                "password",
                "previous_valid_until_unix_ms",
                "username"
            ]
        );
        assert_eq!(v["inputs"][0]["auth"]["username"], "enc-01020304");
        assert_eq!(v["inputs"][1]["auth"]["enabled"], false);
        let mut ep = keys(&v["endpoints"][0]);
        ep.sort_unstable();
        assert_eq!(
            ep,
            [
                "ad_markers",
                "allow",
                "auth_keys",
                "block",
                "cdn_urls",
                "channel_id",
                "encryption",
                "id",
                "inband_markers",
                "key_rotation_secs",
                "key_server",
                "low_latency",
                "manifest_name",
                "name",
                "type",
                "url"
            ]
        );
        assert_eq!(v["endpoints"][0]["type"], "hls");
        assert_eq!(v["live"]["active_input"], "primary");
        assert_eq!(v["live"]["inputs"][1]["last_segment_age_ms"], Value::Null);
        assert!(out.contains("\n  \"id\""), "not pretty: {out}");
        Ok(())
    }

    #[test]
    fn lists_are_arrays_and_deletes_name_the_id() -> TestResult {
        let out = format(
            &Request::ChannelList,
            Response::Channels(vec![sample_channel()]),
            Format::Json,
        )?;
        let v: Value = serde_json::from_str(&out)?;
        assert_eq!(v.as_array().map(Vec::len), Some(1));

        let list = Request::EndpointList {
            channel: "news".into(),
        };
        let out = format(
            &list,
            Response::Endpoints(vec![sample_endpoint()]),
            Format::Json,
        )?;
        let v: Value = serde_json::from_str(&out)?;
        assert_eq!(v[0]["name"], "web");

        let del = Request::EndpointDelete {
            channel: "news".into(),
            endpoint: "web".into(),
        };
        let gone = || Response::Deleted { id: "cc".into() };
        let v: Value = serde_json::from_str(&format(&del, gone(), Format::Json)?)?;
        assert_eq!(v, serde_json::json!({ "deleted": "cc" }));
        assert_eq!(
            format(&del, gone(), Format::Human)?,
            "deleted endpoint cc\n"
        );
        let del = Request::ChannelDelete {
            channel: "news".into(),
        };
        assert_eq!(format(&del, gone(), Format::Human)?, "deleted channel cc\n");
        Ok(())
    }

    #[test]
    fn create_prints_what_show_prints() -> TestResult {
        let create = Request::ChannelCreate(Default::default());
        let show = Request::ChannelShow {
            channel: "news".into(),
        };
        let a = format(&create, Response::Channel(sample_channel()), Format::Human)?;
        let b = format(&show, Response::Channel(sample_channel()), Format::Human)?;
        assert_eq!(a, b);
        Ok(())
    }

    #[test]
    fn refusals_and_mismatches_are_errors() {
        let r = format(
            &Request::ChannelList,
            Response::Error(ControlError::NotFound("no channel".into())),
            Format::Json,
        );
        assert!(matches!(
            r,
            Err(CtlError::Refused(ControlError::NotFound(_)))
        ));
        let r = format(
            &Request::ChannelList,
            Response::Endpoint(sample_endpoint()),
            Format::Human,
        );
        assert!(
            matches!(&r, Err(e @ CtlError::Mismatch { .. }) if e.exit_code() == 4),
            "{r:?}"
        );
    }
}
