//! Organizations on several shards: each shard is a whole `Parley` (its PostgreSQL database, its subjects on
//! the bus, its gateway) and holds whole organizations, so no request and no socket needs more than one.
//! A request goes to the shard of the organization it concerns, told by what it carries: a token names its
//! organization, a sign-up or login its organization's handle or an email address, which the directory
//! places. What names no organization (health, metrics, the web client) goes to the first shard.
//!
//! While a move switches an organization to another shard (`parley admin move-org`), the directory holds
//! it: its requests and sockets wait here until the directory names its new shard. When the directory
//! announces the switch, the organization's sockets on its old shard close, and reconnect to the new one.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use parley_core::service::token_org;
use parley_core::store::{Change, Directory, ShardNumber};
use parley_core::{Error, OrgId, Parley, validate};
use serde::Deserialize;
use tokio::sync::broadcast;
use tower::ServiceExt as _;

use crate::error::ApiError;
use crate::gateway::Hub;
use crate::http::body;
use crate::serve::HttpSettings;

/// How often a request held for a move looks at the directory again, should it miss the announcement of
/// the release.
const HELD_LOOKS_EVERY: Duration = Duration::from_millis(200);

/// One shard's use cases and gateway.
pub struct Shard {
    pub parley: Arc<Parley>,
    pub hub: Arc<Hub>,
}

/// Every shard this node serves, and the directory of which organization lives on which.
pub struct Shards {
    list: Vec<Shard>,
    directory: Option<Arc<dyn Directory>>,
    default_org: String,
    /// Whether a sign-up may make an organization (the server's `open_signup`): only then does one that
    /// names an unknown handle place it.
    open_signup: bool,
}

impl Shards {
    /// The one store of a cluster that is not sharded.
    pub fn single(shard: Shard) -> Self {
        Shards {
            list: vec![shard],
            directory: None,
            default_org: String::new(),
            open_signup: false,
        }
    }

    /// Shards `0..list.len()`, in the directory's numbering.
    pub fn several(
        list: Vec<Shard>,
        directory: Arc<dyn Directory>,
        default_org: String,
        open_signup: bool,
    ) -> Self {
        Shards {
            list,
            directory: Some(directory),
            default_org,
            open_signup,
        }
    }

    pub fn all(&self) -> &[Shard] {
        &self.list
    }

    fn first(&self) -> &Shard {
        &self.list[0]
    }

    fn numbered(&self, number: Option<ShardNumber>) -> usize {
        number
            .map(usize::from)
            .filter(|number| *number < self.list.len())
            .unwrap_or(0)
    }

    /// The shard a token's session is kept on: its organization's; the first for a token that names none
    /// (made before tokens named theirs, or no token), which refuses it if it is not its own.
    pub async fn of_token(&self, token: &str) -> Result<&Shard, Error> {
        let number = self.of_org(token_org(token)).await?;
        Ok(&self.list[number])
    }

    /// The shard of organization `org`; the first for none. While a move holds the organization, this
    /// waits until it is released (the caller bounds how long).
    async fn of_org(&self, org: Option<OrgId>) -> Result<usize, Error> {
        let (Some(directory), Some(org)) = (&self.directory, org) else {
            return Ok(0);
        };
        let mut changes = None;
        loop {
            match directory.placement(org).await? {
                (number, false) => return Ok(self.numbered(number)),
                (_, true) => {
                    let changes = changes.get_or_insert_with(|| directory.changes());
                    let _ = tokio::time::timeout(HELD_LOOKS_EVERY, changes.recv()).await;
                }
            }
        }
    }

    /// The shard of the organization `handle` (the server's default when absent); for a sign-up, which may
    /// make it where the server's sign-up is open, the emptiest shard when it is new. A handle that is none
    /// (or unknown) goes to the first shard, which refuses it.
    async fn of_handle(&self, handle: Option<&str>, new: bool) -> Result<usize, Error> {
        let Some(directory) = &self.directory else {
            return Ok(0);
        };
        let handle = handle.unwrap_or(&self.default_org);
        if validate::handle("org", handle).is_err() {
            return Ok(0);
        }
        let number = match directory.shard_of_handle(handle).await? {
            // The shard's sign-up places it there, after its checks (`place_org`).
            None if new && self.open_signup => Some(directory.emptiest().await?),
            number => number,
        };
        Ok(self.numbered(number))
    }

    /// The shard of the account with this email address; the first when none has it (or none could), which
    /// answers as it does for any unknown account.
    async fn of_email(&self, email: &str) -> Result<usize, Error> {
        match &self.directory {
            Some(directory) if validate::plausible_login(email) => {
                Ok(self.numbered(directory.shard_of_email(&email.to_lowercase()).await?))
            }
            _ => Ok(0),
        }
    }

    /// Closes the sockets of each organization the directory announces as changed (a move switched it) on
    /// every shard but its own; when announcements may have been missed, those of every organization
    /// connected to a shard that is not its own. For as long as `shards` lives.
    pub fn follow_moves(shards: &Arc<Shards>) {
        let Some(directory) = &shards.directory else {
            return;
        };
        let mut changes = directory.changes();
        let shards: Weak<Shards> = Arc::downgrade(shards);
        tokio::spawn(async move {
            loop {
                let change = match changes.recv().await {
                    Ok(change) => change,
                    Err(broadcast::error::RecvError::Lagged(_)) => Change::Any,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(shards) = shards.upgrade() else {
                    return;
                };
                let moved = match change {
                    Change::Org(org) => shards.close_elsewhere(org, None).await,
                    Change::Any => shards.close_all_elsewhere().await,
                };
                if let Err(error) = moved {
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "cannot tell where a moved organization went"
                    );
                }
            }
        });
    }

    /// Closes organization `org`'s sockets on every shard but its own (only on shard `only`, if given).
    async fn close_elsewhere(&self, org: OrgId, only: Option<usize>) -> Result<(), Error> {
        let Some(directory) = &self.directory else {
            return Ok(());
        };
        let home = self.numbered(directory.shard_of_org(org).await?);
        for (number, shard) in self.list.iter().enumerate() {
            if number != home && only.is_none_or(|only| only == number) {
                shard.hub.close_org(org);
            }
        }
        Ok(())
    }

    /// Closes the sockets of every organization connected to a shard that is not its own; answers the last
    /// failure to tell, after trying every organization.
    async fn close_all_elsewhere(&self) -> Result<(), Error> {
        let mut failed = Ok(());
        for (number, shard) in self.list.iter().enumerate() {
            for org in shard.hub.orgs().await {
                if let Err(error) = self.close_elsewhere(org, Some(number)).await {
                    failed = Err(error);
                }
            }
        }
        failed
    }

    /// Whether the first shard's store (which holds the directory) and the bus answer: a node that can
    /// route. Another shard down leaves the node ready for every other shard's organizations.
    pub async fn ready(&self) -> Result<(), Error> {
        self.first().parley.ready().await
    }
}

/// Each shard's router, and how to choose one.
#[derive(Clone)]
pub(crate) struct Routes {
    pub(crate) shards: Arc<Shards>,
    pub(crate) routers: Arc<Vec<Router>>,
    pub(crate) http: HttpSettings,
    pub(crate) max_body_bytes: usize,
}

/// The fields of the bodies of the routes that carry no token, which name an organization or an account.
#[derive(Default, Deserialize)]
struct Names {
    org: Option<String>,
    login: Option<String>,
    invite: Option<String>,
    token: Option<String>,
}

/// Hands `request` to the router of the shard it concerns. The directory answers within the store's limit.
pub(crate) async fn route(State(routes): State<Routes>, request: Request) -> Response {
    // Choosing may read a body, or wait while a move holds the organization: no longer than a request may
    // take.
    let chosen = tokio::time::timeout(routes.http.request_timeout, choose(&routes, request))
        .await
        .unwrap_or_else(|_| Err(crate::http::deadline::too_late()));
    match chosen {
        Ok((number, request)) => {
            let router = routes.routers[number].clone();
            match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        Err(error) => error.into_response(),
    }
}

/// The routes that carry no token and name an organization, an invitation or an address in their body:
/// routed by that, whatever `Authorization` they also carry.
fn named_by_body(method: &Method, path: &str) -> bool {
    method == Method::POST
        && (matches!(
            path,
            "/v1/auth/signup" | "/v1/auth/login" | "/v1/auth/sso/start" | "/v1/invites/lookup"
        ) || path == parley_core::sso::CALLBACK_PATH)
}

async fn choose(routes: &Routes, request: Request) -> Result<(usize, Request), ApiError> {
    let shards = &routes.shards;
    let path = request.uri().path().to_owned();
    if named_by_body(request.method(), &path) {
        return by_body(routes, request, &path).await;
    }
    if let Some(token) = bearer(&request) {
        let org = token_org(token);
        return Ok((shards.of_org(org).await?, request));
    }
    if request.method() == Method::GET || request.method() == Method::HEAD {
        let org = request.uri().query().and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "org")
                .map(|(_, value)| value.into_owned())
        });
        let number = if path == "/v1/auth/sso" {
            shards.of_handle(org.as_deref(), false).await?
        } else if path.starts_with("/v1/files/") {
            shards
                .of_org(org.and_then(|org| org.parse().ok().map(OrgId)))
                .await?
        } else {
            0
        };
        return Ok((number, request));
    }
    Ok((0, request))
}

async fn by_body(
    routes: &Routes,
    request: Request,
    path: &str,
) -> Result<(usize, Request), ApiError> {
    let shards = &routes.shards;
    let (parts, content) = request.into_parts();
    let bytes = body::read(content, routes.max_body_bytes, routes.http.body_timeout).await?;
    // A body that is not what the route takes goes to the first shard, which says so.
    let names: Names = serde_json::from_slice(&bytes).unwrap_or_default();
    let number = match path {
        "/v1/auth/signup" => match &names.invite {
            Some(invite) => shards.of_org(token_org(invite)).await?,
            None => shards.of_handle(names.org.as_deref(), true).await?,
        },
        "/v1/auth/login" => match &names.login {
            Some(login) if login.contains('@') => shards.of_email(login).await?,
            _ => shards.of_handle(names.org.as_deref(), false).await?,
        },
        "/v1/invites/lookup" => {
            shards
                .of_org(names.token.as_deref().and_then(token_org))
                .await?
        }
        _ => shards.of_handle(names.org.as_deref(), false).await?,
    };
    Ok((number, Request::from_parts(parts, Body::from(bytes))))
}

fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(crate::http::bearer_token)
}
