//! The admin socket: a Unix socket (mode 0600) speaking length-prefixed postcard frames, one
//! request per connection. Served by its own thread with blocking I/O: the control plane is
//! rare and must never stall a data-plane core (state writes fsync).
//!
//! Every change is applied to a copy of the state, persisted atomically, and only then made
//! visible: a refused or failed change leaves both the file and the running daemon as they were.
//! On a cluster node "persisted" means written to etcd first ([`Cluster::commit`], one
//! transaction), then to the local copy; changes other nodes make arrive as
//! [`ConfigUpdate`]s ([`Admin::apply_cluster`]).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use streampack_core::admin::frame;
use streampack_core::admin::proto::{Request, Response};
use streampack_core::control::{ControlError, ControlState};
use streampack_core::id::Id;

mod socket;
mod views;

pub use socket::bind;

use crate::clock;
use crate::cluster::{Cluster, CommitError, ConfigUpdate};

/// Admin connections served at once; each lives at most its 10 s read/write timeouts.
pub const MAX_ADMIN_CONNS: usize = 32;
use crate::context::Shared;
use crate::persist;
use crate::registry::Registry;

/// The control plane: the authoritative state and where it is persisted.
pub struct Admin {
    shared: Arc<Shared>,
    state: Mutex<ControlState>,
    dir: PathBuf,
    /// Cluster mode: where changes are written first.
    cluster: Option<Arc<Cluster>>,
    /// The etcd revision of the configuration `state` holds (cluster mode; changed only with
    /// `state` locked).
    revision: AtomicI64,
}

impl Admin {
    /// The control plane over `state`, persisted in `dir`.
    pub fn new(
        shared: Arc<Shared>,
        state: ControlState,
        dir: PathBuf,
        cluster: Option<Arc<Cluster>>,
    ) -> Admin {
        Admin {
            shared,
            state: Mutex::new(state),
            dir,
            cluster,
            revision: AtomicI64::new(0),
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
            Request::ClusterStatus => {
                let cluster = self.cluster.as_ref().ok_or_else(|| {
                    ControlError::Invalid(
                        "this streampackd is a single node: start it with --cluster-etcd URL and --node-name NAME to make it a cluster node".into(),
                    )
                })?;
                let st = self.lock()?;
                Response::Cluster(cluster.view(|id| {
                    st.channels
                        .iter()
                        .find(|c| c.id == *id)
                        .map(|c| c.name.clone())
                }))
            }
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
                self.forget_keys(&gone.id, None);
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
            Request::EndpointKeys { channel, endpoint } => {
                let (cid, eid) = {
                    let st = self.lock()?;
                    let (c, e) = st.endpoint(&channel, &endpoint)?;
                    if !e.encryption.is_on() {
                        return Err(ControlError::Invalid(format!(
                            "endpoint {:?} is not encrypted: it has no keys (set --encryption with endpoint edit)",
                            e.name
                        )));
                    }
                    (c.id, e.id)
                };
                let listed = {
                    let mut store = self.shared.keys.lock().unwrap_or_else(|p| p.into_inner());
                    store.list(&cid, &eid)
                }
                .map_err(|e| {
                    ControlError::Unavailable(format!("the key store cannot be read: {e}"))
                })?;
                Response::Keys(listed.iter().map(views::key_view).collect())
            }
            Request::ChannelSplice { channel, splice } => {
                let id = self.lock()?.channel(&channel)?.id;
                Response::Splice(self.splice(id, &splice)?)
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
                let cid = self.lock()?.channel(&channel)?.id;
                let gone = self.mutate(|st, _| st.delete_endpoint(&channel, &endpoint))?;
                self.forget_keys(&cid, Some(&gone.id));
                tracing::info!(channel = %channel, endpoint = %gone.id, name = %gone.name, "endpoint deleted");
                Response::Deleted {
                    id: gone.id.to_string(),
                }
            }
        })
    }

    /// Deletes the content keys of a deleted endpoint (or of every endpoint of a deleted
    /// channel): nothing they encrypted can be served any more.
    fn forget_keys(
        &self,
        channel: &streampack_core::id::Id,
        endpoint: Option<&streampack_core::id::Id>,
    ) {
        let mut store = self.shared.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = store.forget(channel, endpoint) {
            tracing::warn!(channel = %channel, "the deleted endpoint's keys could not be removed: {e}");
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ControlState>, ControlError> {
        self.state
            .lock()
            .map_err(|_| ControlError::Unavailable("control state is unavailable".into()))
    }

    /// Applies `f` to a copy of the state, persists it (in etcd first on a cluster node),
    /// then publishes it. On a cluster node whose configuration another node changed at the
    /// same moment, `f` runs again on the newer configuration (a few times at most).
    fn mutate<T>(
        &self,
        mut f: impl FnMut(&mut ControlState, &mut dyn FnMut() -> Id) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        for _ in 0..4 {
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
            if let Some(cluster) = &self.cluster {
                let from = self.revision.load(Ordering::Acquire);
                match cluster.commit(&guard, &next, from) {
                    Ok(rev) => self.revision.store(rev, Ordering::Release),
                    Err(CommitError::Stale) => {
                        drop(guard);
                        self.wait_past(from);
                        continue;
                    }
                    Err(CommitError::Failed(e)) => return Err(e),
                }
                // etcd has it: the local copy is only what this node restarts from.
                if let Err(e) = persist::save(&self.dir, &next) {
                    tracing::error!("the cluster took the change; the local copy failed: {e}");
                }
            } else {
                persist::save(&self.dir, &next).map_err(|e| {
                    tracing::error!("{e}");
                    ControlError::Unavailable(format!(
                        "cannot persist the change, nothing changed: {e}"
                    ))
                })?;
            }
            self.install(&mut guard, next);
            return Ok(out);
        }
        Err(ControlError::Conflict(
            "other nodes kept changing the cluster's configuration meanwhile; nothing changed: run the command again".into(),
        ))
    }

    /// Makes `next` the state every shard serves.
    fn install(&self, guard: &mut ControlState, next: ControlState) {
        *guard = next;
        let reg = Registry::rebuild(guard, &self.shared.registry.load());
        self.shared.registry.store(Arc::new(reg));
    }

    /// Waits (2 s at most) until a configuration newer than revision `rev` is applied.
    fn wait_past(&self, rev: i64) {
        for _ in 0..100 {
            if self.revision.load(Ordering::Acquire) > rev {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Applies a configuration read from etcd (a newer one than this node has): persisted
    /// locally, then published; content keys of channels and endpoints it no longer has are
    /// deleted, as when they are deleted here.
    pub fn apply_cluster(&self, update: ConfigUpdate) {
        let Ok(mut guard) = self.lock() else { return };
        if update.revision <= self.revision.load(Ordering::Acquire) {
            return;
        }
        let mut next = update.state;
        next.limits = guard.limits;
        if next != *guard {
            if let Err(e) = persist::save(&self.dir, &next) {
                tracing::error!("the cluster's configuration could not be copied locally: {e}");
            }
            for gone in gone_endpoints(&guard, &next) {
                self.forget_keys(&gone.0, gone.1.as_ref());
            }
            tracing::info!(
                revision = update.revision,
                channels = next.channels.len(),
                "applied the cluster's configuration"
            );
            self.install(&mut guard, next);
        }
        self.revision.store(update.revision, Ordering::Release);
    }
}

/// Channels (`None`) and endpoints of `prev` that `next` no longer has.
fn gone_endpoints(prev: &ControlState, next: &ControlState) -> Vec<(Id, Option<Id>)> {
    let mut out = Vec::new();
    for c in &prev.channels {
        match next.channels.iter().find(|n| n.id == c.id) {
            None => out.push((c.id, None)),
            Some(n) => out.extend(
                c.endpoints
                    .iter()
                    .filter(|e| !n.endpoints.iter().any(|ne| ne.id == e.id))
                    .map(|e| (c.id, Some(e.id))),
            ),
        }
    }
    out
}

impl Admin {
    /// Hands the operator's splice to the channel's owner shard and waits for the marker.
    fn splice(
        &self,
        channel: Id,
        spec: &streampack_core::admin::proto::SpliceSpec,
    ) -> Result<streampack_core::admin::proto::SpliceView, ControlError> {
        use crate::shard::{ShardMsg, SpliceOp};
        let request = spec.request().map_err(ControlError::Invalid)?;
        // Cluster mode: the marker goes into the media of the node it is asked on; every node
        // serves the home's, so only the home may take it.
        if let Some(plane) = &self.shared.cluster {
            let routes = plane.routes.load();
            if let Some((home, _)) = routes
                .channels
                .get(&channel)
                .and_then(|r| r.fetch_from.first())
            {
                return Err(ControlError::Conflict(format!(
                    "node {home} makes this channel's media (it receives the input on air): run `streampackctl channel splice` on node {home}"
                )));
            }
        }
        let owner = streampack_core::id::shard_for(&channel, self.shared.shards());
        let inbox = self
            .shared
            .inboxes
            .get(owner)
            .ok_or_else(|| ControlError::Unavailable("the channel's shard is gone".into()))?;
        let (tx, rx) = flume::bounded(1);
        let op = SpliceOp {
            channel,
            request,
            reply: tx,
        };
        inbox
            .send(ShardMsg::Splice(op))
            .map_err(|_| ControlError::Unavailable("the daemon is shutting down".into()))?;
        let marker = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| {
                ControlError::Unavailable("the channel's shard did not answer within 5 s".into())
            })?
            .map_err(ControlError::Conflict)?;
        Ok(views::splice_view(&channel, &marker))
    }
}
