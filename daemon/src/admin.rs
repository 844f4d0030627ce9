//! The admin socket: a Unix socket (mode 0600) speaking length-prefixed postcard frames, one
//! request per connection. Served by its own thread with blocking I/O: the control plane is
//! rare and must never stall a data-plane core (state writes fsync).
//!
//! Every change is applied to a copy of the state, persisted atomically, and only then made
//! visible: a refused or failed change leaves both the file and the running daemon as they were.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use streampack_core::admin::frame;
use streampack_core::admin::proto::{
    ChannelView, EndpointLiveView, EndpointView, InputAuthView, InputLiveView, InputView, LiveView,
    Request, Response, StatusView,
};
use streampack_core::channel::{ChannelConfig, EndpointConfig, InputRole};
use streampack_core::control::{ControlError, ControlState};
use streampack_core::id::Id;

use crate::clock;

/// Admin connections served at once; each lives at most its 10 s read/write timeouts.
pub const MAX_ADMIN_CONNS: usize = 32;
use crate::context::Shared;
use crate::metrics::Listener;
use crate::persist;
use crate::registry::Registry;

/// The control plane: the authoritative state and where it is persisted.
pub struct Admin {
    shared: Arc<Shared>,
    state: Mutex<ControlState>,
    dir: PathBuf,
}

/// Binds the admin socket with mode 0600 (0660 owned by `group` when one is given), refusing
/// to steal a live daemon's socket.
pub fn bind(path: &Path, group: Option<&str>) -> std::io::Result<UnixListener> {
    let gid = match group {
        None => None,
        Some(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Some(g.gid),
            Ok(None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("admin_socket_group: no group named {name:?}"),
                ))
            }
            Err(e) => return Err(std::io::Error::from(e)),
        },
    };
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "another streampackd is running with admin socket {}",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_dir(parent)?;
    }
    // No window in which the socket is reachable by others: umask first, chmod to be sure.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if let Some(gid) = gid {
        // Group first, then the group bits: never readable by a group that is not the one asked.
        nix::unistd::chown(path, None, Some(gid)).map_err(std::io::Error::from)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    }
    Ok(listener)
}

/// Creates the socket's directory (mode 0700 when it makes it, so a per-user socket under
/// `/tmp` is no one else's) and refuses a directory that another user owns and can swap the
/// socket in.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let meta = std::fs::metadata(dir)?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to uid {}, not to this daemon's uid {me}: remove it or set admin_socket",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    Ok(())
}

impl Admin {
    /// The control plane over `state`, persisted in `dir`.
    pub fn new(shared: Arc<Shared>, state: ControlState, dir: PathBuf) -> Admin {
        Admin {
            shared,
            state: Mutex::new(state),
            dir,
        }
    }

    /// Waits for any change in progress to finish (used at shutdown).
    pub fn quiesce(&self) {
        drop(self.state.lock());
    }

    /// Accepts connections until the listener fails; each one on its own short-lived thread,
    /// at most [`MAX_ADMIN_CONNS`] at once (more are answered "busy" and closed: a script
    /// looping on the socket cannot exhaust the daemon's threads).
    pub fn serve(self: Arc<Self>, listener: UnixListener) {
        let live = Arc::new(AtomicUsize::new(0));
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if live.fetch_add(1, Ordering::AcqRel) >= MAX_ADMIN_CONNS {
                live.fetch_sub(1, Ordering::AcqRel);
                let busy = Response::Error(ControlError::Unavailable(format!(
                    "the admin socket is busy ({MAX_ADMIN_CONNS} requests in progress): try again"
                )));
                if let Ok(bytes) = frame::encode(&busy) {
                    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
                    let _ = conn.write_all(&bytes);
                }
                continue;
            }
            let admin = Arc::clone(&self);
            let done = Arc::clone(&live);
            let spawned = std::thread::Builder::new()
                .name("admin-conn".into())
                .spawn(move || {
                    admin.handle_conn(conn);
                    done.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(e) = spawned {
                live.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!("admin connection dropped: {e}");
            }
        }
    }

    fn handle_conn(&self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 8192];
        let req = loop {
            match frame::decode::<Request>(&buf) {
                Ok(Some((req, _))) => break req,
                Ok(None) => {}
                Err(e) => {
                    let resp = Response::Error(ControlError::Invalid(e.to_string()));
                    if let Ok(bytes) = frame::encode(&resp) {
                        let _ = conn.write_all(&bytes);
                    }
                    return;
                }
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let resp = self.dispatch(req);
        match frame::encode(&resp) {
            Ok(bytes) => {
                let _ = conn.write_all(&bytes);
            }
            Err(e) => tracing::error!("admin response cannot be encoded: {e}"),
        }
    }

    /// Answers one request.
    pub fn dispatch(&self, req: Request) -> Response {
        match self.try_dispatch(req) {
            Ok(r) => r,
            Err(e) => Response::Error(e),
        }
    }

    fn try_dispatch(&self, req: Request) -> Result<Response, ControlError> {
        Ok(match req {
            Request::Status => Response::Status(self.status()),
            Request::ChannelList => {
                let st = self.lock()?;
                Response::Channels(st.channels.iter().map(|c| self.channel_view(c)).collect())
            }
            Request::ChannelShow { channel } => {
                Response::Channel(self.channel_view(self.lock()?.channel(&channel)?))
            }
            Request::ChannelCreate(spec) => {
                let view = self.mutate(|st, gen| {
                    st.create_channel(&spec, gen).map(|c| self.channel_view(c))
                })?;
                tracing::info!(channel = %view.id, name = %view.name, protocol = %view.protocol, "channel created");
                Response::Channel(view)
            }
            Request::ChannelEdit { channel, patch } => {
                let view = self.mutate(|st, _| {
                    st.edit_channel(&channel, &patch)
                        .map(|c| self.channel_view(c))
                })?;
                tracing::info!(channel = %view.id, "channel edited");
                Response::Channel(view)
            }
            Request::ChannelDelete { channel } => {
                let gone = self.mutate(|st, _| st.delete_channel(&channel))?;
                tracing::info!(channel = %gone.id, name = %gone.name, "channel deleted");
                Response::Deleted {
                    id: gone.id.to_string(),
                }
            }
            Request::EndpointCreate { channel, spec } => {
                let view = self.mutate(|st, gen| {
                    st.create_endpoint(&channel, &spec, gen)
                        .map(|(c, e)| self.endpoint_view(c, e))
                })?;
                tracing::info!(channel = %view.channel_id, endpoint = %view.id, kind = %view.kind, "endpoint created");
                Response::Endpoint(view)
            }
            Request::EndpointList { channel } => {
                let st = self.lock()?;
                let c = st.channel(&channel)?;
                Response::Endpoints(
                    c.endpoints
                        .iter()
                        .map(|e| self.endpoint_view(c, e))
                        .collect(),
                )
            }
            Request::EndpointShow { channel, endpoint } => {
                let st = self.lock()?;
                let (c, e) = st.endpoint(&channel, &endpoint)?;
                Response::Endpoint(self.endpoint_view(c, e))
            }
            Request::EndpointEdit {
                channel,
                endpoint,
                patch,
            } => {
                let view = self.mutate(|st, _| {
                    st.edit_endpoint(&channel, &endpoint, &patch)
                        .map(|(c, e)| self.endpoint_view(c, e))
                })?;
                tracing::info!(channel = %view.channel_id, endpoint = %view.id, "endpoint edited");
                Response::Endpoint(view)
            }
            Request::CdnBind { channel, domain } => {
                let view = self
                    .mutate(|st, _| st.cdn_bind(&channel, &domain).map(|c| self.channel_view(c)))?;
                tracing::info!(channel = %view.id, domain = %domain, "CDN domain bound");
                Response::Channel(view)
            }
            Request::CdnUnbind { channel, domain } => {
                let view = self.mutate(|st, _| {
                    st.cdn_unbind(&channel, &domain)
                        .map(|c| self.channel_view(c))
                })?;
                tracing::info!(channel = %view.id, domain = %domain, "CDN domain unbound");
                Response::Channel(view)
            }
            Request::CdnList { channel } => {
                Response::Channel(self.channel_view(self.lock()?.channel(&channel)?))
            }
            Request::InputAuth {
                channel,
                input,
                action,
            } => {
                let now = clock::now().unix_ms;
                // Drawn before the change: a failing generator leaves everything as it was.
                let mut bytes = [0u8; streampack_core::access::credentials::RANDOM_BYTES];
                getrandom::fill(&mut bytes).map_err(|_| {
                    ControlError::Unavailable(
                        "the system random number generator failed; nothing changed".into(),
                    )
                })?;
                let view = self.mutate(|st, _| {
                    st.input_auth(&channel, &input, action, now, &mut || bytes)
                        .map(|c| self.channel_view(c))
                })?;
                tracing::info!(channel = %view.id, input = %input, ?action, "input authentication changed");
                Response::Channel(view)
            }
            Request::EndpointDelete { channel, endpoint } => {
                let gone = self.mutate(|st, _| st.delete_endpoint(&channel, &endpoint))?;
                tracing::info!(channel = %channel, endpoint = %gone.id, name = %gone.name, "endpoint deleted");
                Response::Deleted {
                    id: gone.id.to_string(),
                }
            }
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ControlState>, ControlError> {
        self.state
            .lock()
            .map_err(|_| ControlError::Unavailable("control state is unavailable".into()))
    }

    /// Applies `f` to a copy of the state, persists it, then publishes it.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&mut ControlState, &mut dyn FnMut() -> Id) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let mut guard = self.lock()?;
        let mut next = guard.clone();
        let mut rng_failed = false;
        let mut gen = || {
            let mut b = [0u8; 14];
            if getrandom::fill(&mut b).is_err() {
                rng_failed = true;
            }
            Id::from_random(b)
        };
        let out = f(&mut next, &mut gen)?;
        if rng_failed {
            return Err(ControlError::Unavailable(
                "the system random number generator failed; nothing changed".into(),
            ));
        }
        persist::save(&self.dir, &next).map_err(|e| {
            tracing::error!("{e}");
            ControlError::Unavailable(format!("cannot persist the change, nothing changed: {e}"))
        })?;
        *guard = next;
        let reg = Registry::rebuild(&guard, &self.shared.registry.load());
        self.shared.registry.store(Arc::new(reg));
        Ok(out)
    }

    fn channel_view(&self, c: &ChannelConfig) -> ChannelView {
        ChannelView {
            id: c.id.to_string(),
            name: c.name.clone(),
            protocol: c.protocol,
            max_segment_duration: c.max_segment_duration,
            max_playlist_duration: c.max_playlist_duration,
            description: c.description.clone(),
            inputs: c
                .inputs
                .iter()
                .map(|i| InputView {
                    id: i.id.to_string(),
                    role: i.role.to_string(),
                    url: format!("{}/v1/{}/{}", self.shared.ingest_base, c.id, i.id),
                    auth: match &i.auth {
                        None => InputAuthView::default(),
                        Some(a) => InputAuthView {
                            enabled: true,
                            username: Some(a.username.clone()),
                            password: Some(a.password.clone()),
                            previous_valid_until_unix_ms: a
                                .previous
                                .as_ref()
                                .map(|p| p.valid_until_unix_ms)
                                .filter(|&t| t > clock::now().unix_ms),
                        },
                    },
                })
                .collect(),
            endpoints: c
                .endpoints
                .iter()
                .map(|e| self.endpoint_view(c, e))
                .collect(),
            cdn_domains: c.cdn_domains.clone(),
            manifest_ttl: c
                .manifest_ttl
                .unwrap_or(self.shared.config.cache.manifest_max_age_secs),
            segment_ttl: c
                .segment_ttl
                .unwrap_or(self.shared.config.cache.segment_max_age_secs),
            live: self.live_view(c),
        }
    }

    fn endpoint_view(&self, c: &ChannelConfig, e: &EndpointConfig) -> EndpointView {
        EndpointView {
            id: e.id.to_string(),
            name: e.name.clone(),
            kind: e.kind,
            manifest_name: e.manifest_name.clone(),
            url: format!(
                "{}/v1/{}/{}/{}",
                self.shared.pull_base,
                c.id,
                e.id,
                e.manifest_file()
            ),
            channel_id: c.id.to_string(),
            allow: e.allow.iter().map(|n| n.to_string()).collect(),
            block: e.block.iter().map(|n| n.to_string()).collect(),
            auth_keys: e.auth_keys.clone(),
            cdn_urls: c
                .cdn_domains
                .iter()
                .map(|d| {
                    format!(
                        "{}://{d}/v1/{}/{}/{}",
                        self.pull_scheme(),
                        c.id,
                        e.id,
                        e.manifest_file()
                    )
                })
                .collect(),
        }
    }

    /// `http` or `https`, as in the pull base URL: the CDN URL keeps the origin's scheme.
    fn pull_scheme(&self) -> &str {
        self.shared
            .pull_base
            .split_once("://")
            .map_or("http", |(s, _)| s)
    }

    fn live_view(&self, c: &ChannelConfig) -> LiveView {
        let id = &c.id;
        let reg = self.shared.registry.load();
        let entry = reg.channels.get(id);
        let status = entry.and_then(|e| e.media.status());
        let live = self.shared.metrics.live.lock().ok();
        let endpoints = c
            .endpoints
            .iter()
            .map(|e| {
                let m = entry.and_then(|en| en.metrics.endpoint(&e.id));
                EndpointLiveView {
                    id: e.id.to_string(),
                    name: e.name.clone(),
                    requests_per_sec: live.as_ref().and_then(|l| l.endpoint_rate(id, &e.id)),
                    requests: m.map_or(0, |m| m.requests_total()),
                    bytes: m.map_or(0, |m| m.bytes_total()),
                }
            })
            .collect();
        let timeout = self.shared.failover_timeout_ms(c.max_segment_ms());
        let inputs = InputRole::ALL
            .iter()
            .map(|r| {
                let i = status.as_ref().map(|s| s.inputs[r.index()]);
                let age = i.and_then(|i| i.last_segment_mono_ms).map(clock::age_ms);
                InputLiveView {
                    role: r.to_string(),
                    last_segment_age_ms: age,
                    segments: i.map_or(0, |i| i.segments),
                    bytes: i.map_or(0, |i| i.bytes),
                    bitrate_bps: live.as_ref().and_then(|l| l.input_bitrate(id, *r)),
                    ingest_errors: entry
                        .map_or(0, |e| e.metrics.ingest_errors(*r).iter().sum::<u64>()),
                    delivering: age.is_some_and(|a| a <= timeout),
                    health: i.map_or_else(|| "never".into(), |i| i.health.as_str().to_owned()),
                }
            })
            .collect();
        let Some(s) = status else {
            return LiveView {
                inputs,
                endpoints,
                ..Default::default()
            };
        };
        LiveView {
            active_input: s.active.map(|r| r.to_string()),
            inputs,
            window_segments: s.window_segments,
            held_bytes: s.held_bytes,
            failovers: s.failovers,
            ended: s.ended,
            inputs_aligned: s.aligned,
            endpoints,
        }
    }

    fn status(&self) -> StatusView {
        let (channels, endpoints) = match self.state.lock() {
            Ok(st) => (
                st.channels.len(),
                st.channels.iter().map(|c| c.endpoints.len()).sum(),
            ),
            Err(_) => (0, 0),
        };
        let reg = self.shared.registry.load();
        let held_bytes = reg
            .channels
            .values()
            .filter_map(|e| e.media.status())
            .map(|s| s.held_bytes)
            .sum();
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: self.shared.started.elapsed().as_secs(),
            io_driver: self.shared.io_driver.to_owned(),
            shards: u32::try_from(self.shared.shards()).unwrap_or(u32::MAX),
            channels: u32::try_from(channels).unwrap_or(u32::MAX),
            endpoints: u32::try_from(endpoints).unwrap_or(u32::MAX),
            connections: self.shared.metrics.open_connections(),
            held_bytes,
            ingest_url: self.shared.ingest_base.clone(),
            pull_url: self.shared.pull_base.clone(),
            state_dir: self.dir.display().to_string(),
            metrics_url: self
                .shared
                .metrics
                .listen
                .get()
                .map(|a| format!("http://{a}/metrics")),
            access_log: self.shared.access_log.as_ref().map(|l| l.target.clone()),
            connections_accepted: Listener::ALL
                .iter()
                .map(|&l| self.shared.metrics.accepted(l))
                .sum(),
            connections_refused: Listener::ALL
                .iter()
                .map(|&l| self.shared.metrics.refused(l))
                .sum(),
            rss_bytes: crate::metrics::rss_bytes(),
        }
    }
}
