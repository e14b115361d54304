//! The Rust SDK for Parley: a typed client of the v1 REST API and of the WebSocket (`Socket`, `Session`). Tests, the CLI and the benchmark tool talk to a
//! server only through this crate, as any client would.
//!
//! It holds no state beyond the base URL and an optional token; cloning is cheap (connections are pooled).

use parley_proto::v1::{
    AuthResponse, AvatarFromUpload, ContactList, Conversation, ConversationList,
    CreateConversationRequest, CreateInviteRequest, CreateSubscriptionRequest, CreateUploadRequest,
    EditMessageRequest, ErrorBody, FileLinkList, FileLinksRequest, GatewayInfo, Invite, InviteList,
    InviteLookup, InvitePreview, InviteRequest, LoginRequest, Membership, MembershipPatch, Message,
    MessageEdit, MessageEditList, MessageList, NotificationSettings, Pin, PinList, ReadRequest,
    Receipt, ReceiptList, SendMessageRequest, SentMessage, SignupRequest, Subscription,
    SubscriptionList, ThreadInfo, ThreadList, UpdateMeRequest, Upload, UploadPart, User, UserList,
    VapidKey,
};
use parley_proto::{ConversationId, FileId, InviteId, MessageId, SubscriptionId, UserId};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;

pub use parley_proto as proto;
pub use realtime::{Backoff, Incoming, RawIncoming, Session, Socket};
pub use tokio_tungstenite::tungstenite::Utf8Bytes;

mod admin;
mod moderation;
mod realtime;
mod retention;
mod sso;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error in the API's shape.
    #[error("{status}: {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<u64>,
    },
    #[error("request failed")]
    Transport(#[from] reqwest::Error),
    #[error("bad base URL")]
    Url(#[from] url::ParseError),
    #[error("WebSocket failed")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the socket (a refused hello, a logout, ...).
    #[error("socket closed: {code} {reason}")]
    Closed { code: u16, reason: String },
    #[error("protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The answer to a create that may find an existing thing instead (a DM for the same pair, a send with a
/// nonce already used).
#[derive(Clone, Debug)]
pub struct Created<T> {
    pub value: T,
    /// True for 201 (made now), false for 200 (already there).
    pub new: bool,
}

/// Who a delete is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteFor {
    Me,
    Everyone,
}

/// Which page of history to read; all empty means the newest page.
#[derive(Clone, Copy, Debug, Default)]
pub struct Page {
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    /// A message and those around it (not with `before` or `after`).
    pub around: Option<MessageId>,
    pub limit: Option<u32>,
}

impl Page {
    fn query(self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(before) = self.before {
            query.push(("before", before.to_string()));
        }
        if let Some(after) = self.after {
            query.push(("after", after.to_string()));
        }
        if let Some(around) = self.around {
            query.push(("around", around.to_string()));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        query
    }
}

/// A raw answer, for callers that look at statuses and headers themselves.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as the API's error shape, if it is one.
    pub fn error(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    /// The local address requests and WebSockets come from, when set (load tests past one address's ports).
    source_ip: Option<std::net::IpAddr>,
}

impl Client {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`), not logged in.
    pub fn new(base_url: &str) -> Result<Self> {
        install_tls_provider();
        Ok(Client {
            http: reqwest::Client::new(),
            base: Url::parse(base_url)?,
            token: None,
            source_ip: None,
        })
    }

    /// The same client, acting with `token`.
    pub fn with_token(&self, token: impl Into<String>) -> Self {
        Client {
            token: Some(token.into()),
            ..self.clone()
        }
    }

    /// The same client, sending its requests and opening its WebSockets from `ip` (say 127.0.0.2), so one
    /// machine can hold more sockets to one server than one source address has ports, or act as another
    /// client address. Fails only if no HTTP client can be built.
    pub fn with_source_ip(&self, ip: std::net::IpAddr) -> Result<Self> {
        install_tls_provider();
        let http = reqwest::Client::builder().local_address(ip).build()?;
        Ok(Client {
            http,
            source_ip: Some(ip),
            ..self.clone()
        })
    }

    pub(crate) fn source_ip(&self) -> Option<std::net::IpAddr> {
        self.source_ip
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of a path given as segments; each segment is percent-encoded, so `/` or `?` in one stays in it.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let builder = self.http.request(method, self.url(segments));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn send(builder: RequestBuilder) -> Result<reqwest::Response> {
        let response = builder.send().await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response.bytes().await?;
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => (
                "unparsed".to_owned(),
                String::from_utf8_lossy(&body).into_owned(),
            ),
        };
        Err(Error::Api {
            status,
            code,
            message,
            retry_after,
        })
    }

    async fn json<T: DeserializeOwned>(builder: RequestBuilder) -> Result<T> {
        Ok(Self::send(builder).await?.json().await?)
    }

    async fn created<T: DeserializeOwned>(builder: RequestBuilder) -> Result<Created<T>> {
        let response = Self::send(builder).await?;
        let new = response.status() == StatusCode::CREATED;
        Ok(Created {
            value: response.json().await?,
            new,
        })
    }

    async fn empty(builder: RequestBuilder) -> Result<()> {
        Self::send(builder).await.map(drop)
    }

    /// Any request, answered as it came: for tests of bad input and for routes this SDK does not wrap.
    pub async fn raw(
        &self,
        method: Method,
        segments: &[&str],
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<RawResponse> {
        let mut builder = self.request(method, segments).body(body);
        if let Some(content_type) = content_type {
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let response = builder.send().await?;
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        })
    }

    // ---- accounts ----

    pub async fn signup(&self, request: &SignupRequest) -> Result<AuthResponse> {
        Self::json(
            self.request(Method::POST, &["v1", "auth", "signup"])
                .json(request),
        )
        .await
    }

    pub async fn login(&self, request: &LoginRequest) -> Result<AuthResponse> {
        Self::json(
            self.request(Method::POST, &["v1", "auth", "login"])
                .json(request),
        )
        .await
    }

    pub async fn logout(&self) -> Result<()> {
        Self::empty(self.request(Method::POST, &["v1", "auth", "logout"])).await
    }

    /// Revokes every session of this user, this client's included.
    pub async fn logout_everywhere(&self) -> Result<()> {
        Self::empty(self.request(Method::DELETE, &["v1", "users", "me", "sessions"])).await
    }

    // ---- invitations ----

    /// An invitation into this user's organization; its `token` and `url` come only in this answer.
    pub async fn create_invite(&self, request: &CreateInviteRequest) -> Result<Invite> {
        Self::json(self.request(Method::POST, &["v1", "invites"]).json(request)).await
    }

    /// The invitations this user made, newest first.
    pub async fn invites(&self) -> Result<Vec<Invite>> {
        let list: InviteList = Self::json(self.request(Method::GET, &["v1", "invites"])).await?;
        Ok(list.invites)
    }

    /// Every invitation of the organization, whoever made it (owners and administrators).
    pub async fn org_invites(&self) -> Result<Vec<Invite>> {
        let builder = self.request(Method::GET, &["v1", "invites"]);
        let list: InviteList = Self::json(builder.query(&[("all", "true")])).await?;
        Ok(list.invites)
    }

    pub async fn revoke_invite(&self, id: InviteId) -> Result<()> {
        Self::empty(self.request(Method::DELETE, &["v1", "invites", &id.to_string()])).await
    }

    /// Where an invitation token leads, without signing up.
    pub async fn lookup_invite(&self, token: &str) -> Result<InvitePreview> {
        let body = InviteLookup {
            token: token.to_owned(),
        };
        Self::json(
            self.request(Method::POST, &["v1", "invites", "lookup"])
                .json(&body),
        )
        .await
    }

    // ---- users ----

    pub async fn me(&self) -> Result<User> {
        Self::json(self.request(Method::GET, &["v1", "users", "me"])).await
    }

    pub async fn rename(&self, name: &str) -> Result<User> {
        let body = UpdateMeRequest {
            name: name.to_owned(),
        };
        Self::json(
            self.request(Method::PATCH, &["v1", "users", "me"])
                .json(&body),
        )
        .await
    }

    pub async fn set_avatar(&self, content_type: &str, bytes: Vec<u8>) -> Result<User> {
        let builder = self
            .request(Method::PUT, &["v1", "users", "me", "avatar"])
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
        Self::json(builder).await
    }

    /// Makes a complete upload of yours your avatar (the upload is used up).
    pub async fn set_avatar_from_upload(&self, upload_id: FileId) -> Result<User> {
        let body = AvatarFromUpload { upload_id };
        Self::json(
            self.request(Method::PUT, &["v1", "users", "me", "avatar"])
                .json(&body),
        )
        .await
    }

    /// A user's avatar: its content type and bytes.
    pub async fn avatar(&self, user_id: UserId) -> Result<(String, Vec<u8>)> {
        let response = Self::send(self.request(
            Method::GET,
            &["v1", "users", &user_id.to_string(), "avatar"],
        ))
        .await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((content_type, response.bytes().await?.to_vec()))
    }

    pub async fn search_users(&self, query: &str) -> Result<Vec<User>> {
        let builder = self
            .request(Method::GET, &["v1", "users"])
            .query(&[("q", query)]);
        Ok(Self::json::<UserList>(builder).await?.users)
    }

    pub async fn user(&self, user_id: UserId) -> Result<User> {
        Self::json(self.request(Method::GET, &["v1", "users", &user_id.to_string()])).await
    }

    pub async fn contacts(&self) -> Result<Vec<User>> {
        Ok(
            Self::json::<ContactList>(self.request(Method::GET, &["v1", "contacts"]))
                .await?
                .contacts,
        )
    }

    pub async fn add_contact(&self, user_id: UserId) -> Result<()> {
        Self::empty(self.request(Method::PUT, &["v1", "contacts", &user_id.to_string()])).await
    }

    pub async fn remove_contact(&self, user_id: UserId) -> Result<()> {
        Self::empty(self.request(Method::DELETE, &["v1", "contacts", &user_id.to_string()])).await
    }

    // ---- conversations ----

    pub async fn create_conversation(
        &self,
        request: &CreateConversationRequest,
    ) -> Result<Created<Conversation>> {
        Self::created(
            self.request(Method::POST, &["v1", "conversations"])
                .json(request),
        )
        .await
    }

    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        let list: ConversationList =
            Self::json(self.request(Method::GET, &["v1", "conversations"])).await?;
        Ok(list.conversations)
    }

    pub async fn conversation(&self, id: ConversationId) -> Result<Conversation> {
        Self::json(self.request(Method::GET, &["v1", "conversations", &id.to_string()])).await
    }

    pub async fn channels(&self, query: &str) -> Result<Vec<Conversation>> {
        let builder = self
            .request(Method::GET, &["v1", "channels"])
            .query(&[("q", query)]);
        Ok(Self::json::<ConversationList>(builder).await?.conversations)
    }

    pub async fn join(&self, id: ConversationId) -> Result<Conversation> {
        Self::json(self.request(
            Method::POST,
            &["v1", "conversations", &id.to_string(), "join"],
        ))
        .await
    }

    pub async fn join_by_handle(&self, handle: &str) -> Result<Conversation> {
        Self::json(self.request(Method::POST, &["v1", "join", handle])).await
    }

    pub async fn invite(&self, id: ConversationId, user_ids: &[UserId]) -> Result<()> {
        let body = InviteRequest {
            user_ids: user_ids.to_vec(),
        };
        Self::empty(
            self.request(
                Method::POST,
                &["v1", "conversations", &id.to_string(), "members"],
            )
            .json(&body),
        )
        .await
    }

    pub async fn leave(&self, id: ConversationId) -> Result<()> {
        Self::empty(self.request(
            Method::POST,
            &["v1", "conversations", &id.to_string(), "leave"],
        ))
        .await
    }

    pub async fn update_membership(
        &self,
        id: ConversationId,
        patch: &MembershipPatch,
    ) -> Result<Membership> {
        let builder = self.request(
            Method::PATCH,
            &["v1", "conversations", &id.to_string(), "membership"],
        );
        Self::json(builder.json(patch)).await
    }

    // ---- messages ----

    /// Sends a message with nothing but text.
    pub async fn send_message(
        &self,
        id: ConversationId,
        text: &str,
        nonce: Option<&str>,
    ) -> Result<Created<Message>> {
        let body = SendMessageRequest {
            text: text.to_owned(),
            nonce: nonce.map(str::to_owned),
            mentions: None,
            thread_root_id: None,
            also_to_conversation: None,
            quote: None,
            attachments: Vec::new(),
        };
        let sent = self.send_draft(id, &body).await?;
        Ok(Created {
            value: sent.value.message,
            new: sent.new,
        })
    }

    /// Sends a message with whatever it carries: mentions, a thread, a quote.
    pub async fn send_draft(
        &self,
        id: ConversationId,
        body: &SendMessageRequest,
    ) -> Result<Created<SentMessage>> {
        Self::created(
            self.request(
                Method::POST,
                &["v1", "conversations", &id.to_string(), "messages"],
            )
            .json(body),
        )
        .await
    }

    pub async fn history(&self, id: ConversationId, page: Page) -> Result<Vec<Message>> {
        let builder = self
            .request(
                Method::GET,
                &["v1", "conversations", &id.to_string(), "messages"],
            )
            .query(&page.query());
        Ok(Self::json::<MessageList>(builder).await?.messages)
    }

    /// One message, a reply too (404 for anyone who may not see it).
    pub async fn message(&self, id: ConversationId, message_id: MessageId) -> Result<Message> {
        let (id, message_id) = (id.to_string(), message_id.to_string());
        let segments = ["v1", "conversations", &id, "messages", &message_id];
        Self::json(self.request(Method::GET, &segments)).await
    }

    pub async fn edit_message(
        &self,
        id: ConversationId,
        message_id: MessageId,
        body: &EditMessageRequest,
    ) -> Result<SentMessage> {
        let (id, message_id) = (id.to_string(), message_id.to_string());
        let segments = ["v1", "conversations", &id, "messages", &message_id];
        Self::json(self.request(Method::PATCH, &segments).json(body)).await
    }

    /// A message's earlier versions, oldest first.
    pub async fn message_edits(
        &self,
        id: ConversationId,
        message_id: MessageId,
    ) -> Result<Vec<MessageEdit>> {
        let (id, message_id) = (id.to_string(), message_id.to_string());
        let segments = ["v1", "conversations", &id, "messages", &message_id, "edits"];
        Ok(
            Self::json::<MessageEditList>(self.request(Method::GET, &segments))
                .await?
                .edits,
        )
    }

    pub async fn pin(&self, id: ConversationId, message_id: MessageId) -> Result<()> {
        self.on_message(Method::PUT, id, message_id, "pin").await
    }

    pub async fn unpin(&self, id: ConversationId, message_id: MessageId) -> Result<()> {
        self.on_message(Method::DELETE, id, message_id, "pin").await
    }

    pub async fn pins(&self, id: ConversationId) -> Result<Vec<Pin>> {
        let builder = self.request(
            Method::GET,
            &["v1", "conversations", &id.to_string(), "pins"],
        );
        Ok(Self::json::<PinList>(builder).await?.pins)
    }

    /// A page of a thread's replies.
    pub async fn thread(
        &self,
        id: ConversationId,
        root_id: MessageId,
        page: Page,
    ) -> Result<Vec<Message>> {
        let (id, root_id) = (id.to_string(), root_id.to_string());
        let segments = ["v1", "conversations", &id, "messages", &root_id, "thread"];
        let builder = self.request(Method::GET, &segments).query(&page.query());
        Ok(Self::json::<MessageList>(builder).await?.messages)
    }

    pub async fn follow_thread(&self, id: ConversationId, root_id: MessageId) -> Result<()> {
        self.on_message(Method::PUT, id, root_id, "follow").await
    }

    pub async fn unfollow_thread(&self, id: ConversationId, root_id: MessageId) -> Result<()> {
        self.on_message(Method::DELETE, id, root_id, "follow").await
    }

    pub async fn mark_thread_read(
        &self,
        id: ConversationId,
        root_id: MessageId,
        message_id: MessageId,
    ) -> Result<()> {
        let (id, root_id) = (id.to_string(), root_id.to_string());
        let segments = [
            "v1",
            "conversations",
            &id,
            "messages",
            &root_id,
            "thread",
            "read",
        ];
        let body = ReadRequest { message_id };
        Self::empty(self.request(Method::POST, &segments).json(&body)).await
    }

    /// The threads I follow, newest activity first.
    pub async fn threads(&self) -> Result<Vec<ThreadInfo>> {
        let builder = self.request(Method::GET, &["v1", "threads"]);
        Ok(Self::json::<ThreadList>(builder).await?.threads)
    }

    /// Messages that mention me, newest first.
    pub async fn mentions(
        &self,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<Vec<Message>> {
        let page = Page {
            before,
            limit,
            ..Page::default()
        };
        let builder = self
            .request(Method::GET, &["v1", "mentions"])
            .query(&page.query());
        Ok(Self::json::<MessageList>(builder).await?.messages)
    }

    /// A bodiless call on `/v1/conversations/{id}/messages/{message_id}/{what}`.
    async fn on_message(
        &self,
        method: Method,
        id: ConversationId,
        message_id: MessageId,
        what: &str,
    ) -> Result<()> {
        let (id, message_id) = (id.to_string(), message_id.to_string());
        let segments = ["v1", "conversations", &id, "messages", &message_id, what];
        Self::empty(self.request(method, &segments)).await
    }

    pub async fn delete_message(
        &self,
        id: ConversationId,
        message_id: MessageId,
        scope: DeleteFor,
    ) -> Result<()> {
        let for_whom = match scope {
            DeleteFor::Me => "me",
            DeleteFor::Everyone => "everyone",
        };
        let segments = [
            "v1",
            "conversations",
            &id.to_string(),
            "messages",
            &message_id.to_string(),
        ];
        Self::empty(
            self.request(Method::DELETE, &segments)
                .query(&[("for", for_whom)]),
        )
        .await
    }

    pub async fn react(
        &self,
        id: ConversationId,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<()> {
        self.reaction(Method::PUT, id, message_id, emoji).await
    }

    pub async fn unreact(
        &self,
        id: ConversationId,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<()> {
        self.reaction(Method::DELETE, id, message_id, emoji).await
    }

    async fn reaction(
        &self,
        method: Method,
        id: ConversationId,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<()> {
        let (id, message_id) = (id.to_string(), message_id.to_string());
        let segments = [
            "v1",
            "conversations",
            &id,
            "messages",
            &message_id,
            "reactions",
            emoji,
        ];
        Self::empty(self.request(method, &segments)).await
    }

    pub async fn mark_read(&self, id: ConversationId, message_id: MessageId) -> Result<()> {
        let body = ReadRequest { message_id };
        Self::empty(
            self.request(
                Method::POST,
                &["v1", "conversations", &id.to_string(), "read"],
            )
            .json(&body),
        )
        .await
    }

    pub async fn receipts(&self, id: ConversationId) -> Result<Vec<Receipt>> {
        let builder = self.request(
            Method::GET,
            &["v1", "conversations", &id.to_string(), "receipts"],
        );
        Ok(Self::json::<ReceiptList>(builder).await?.receipts)
    }

    pub async fn search(
        &self,
        query: &str,
        conversation_id: Option<ConversationId>,
    ) -> Result<Vec<Message>> {
        let mut params = vec![("q", query.to_owned())];
        if let Some(id) = conversation_id {
            params.push(("conversation_id", id.to_string()));
        }
        let builder = self.request(Method::GET, &["v1", "search"]).query(&params);
        Ok(Self::json::<MessageList>(builder).await?.messages)
    }

    // ---- notifications ----

    /// The server's VAPID public key, to subscribe to Web Push with.
    pub async fn vapid_key(&self) -> Result<String> {
        let key: VapidKey = Self::json(self.request(Method::GET, &["v1", "push", "vapid"])).await?;
        Ok(key.public_key)
    }

    pub async fn subscribe(&self, request: &CreateSubscriptionRequest) -> Result<Subscription> {
        Self::json(
            self.request(Method::POST, &["v1", "push", "subscriptions"])
                .json(request),
        )
        .await
    }

    pub async fn subscriptions(&self) -> Result<Vec<Subscription>> {
        let list: SubscriptionList =
            Self::json(self.request(Method::GET, &["v1", "push", "subscriptions"])).await?;
        Ok(list.subscriptions)
    }

    pub async fn unsubscribe(&self, id: SubscriptionId) -> Result<()> {
        Self::empty(self.request(
            Method::DELETE,
            &["v1", "push", "subscriptions", &id.to_string()],
        ))
        .await
    }

    pub async fn notification_settings(&self) -> Result<NotificationSettings> {
        Self::json(self.request(Method::GET, &["v1", "me", "notifications"])).await
    }

    pub async fn set_notification_settings(
        &self,
        settings: &NotificationSettings,
    ) -> Result<NotificationSettings> {
        Self::json(
            self.request(Method::PUT, &["v1", "me", "notifications"])
                .json(settings),
        )
        .await
    }

    // ---- operations ----

    // ---- files ----

    pub async fn create_upload(&self, request: &CreateUploadRequest) -> Result<Upload> {
        Self::json(self.request(Method::POST, &["v1", "uploads"]).json(request)).await
    }

    pub async fn upload(&self, id: FileId) -> Result<Upload> {
        Self::json(self.request(Method::GET, &["v1", "uploads", &id.to_string()])).await
    }

    /// Sends one part where the upload said: a `PUT` to this server, or a form `POST` to the object store
    /// (without this client's token).
    pub async fn upload_part(&self, part: &UploadPart, bytes: Vec<u8>) -> Result<()> {
        let builder = match part.method.as_str() {
            "PUT" => {
                let url = self.base.join(&part.url)?;
                let builder = self.http.put(url).body(bytes);
                match &self.token {
                    Some(token) => builder.bearer_auth(token),
                    None => builder,
                }
            }
            _ => {
                let (content_type, body) = form(&part.fields, &bytes);
                self.http
                    .post(&part.url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
            }
        };
        Self::empty(builder).await
    }

    pub async fn complete_upload(&self, id: FileId) -> Result<Upload> {
        Self::json(self.request(
            Method::POST,
            &["v1", "uploads", &id.to_string(), "complete"],
        ))
        .await
    }

    pub async fn cancel_upload(&self, id: FileId) -> Result<()> {
        Self::empty(self.request(Method::DELETE, &["v1", "uploads", &id.to_string()])).await
    }

    /// Uploads a file whole: asks for the upload, sends every part, completes it.
    pub async fn upload_file(&self, name: &str, bytes: &[u8]) -> Result<Upload> {
        let upload = self
            .create_upload(&CreateUploadRequest {
                name: name.to_owned(),
                size: bytes.len() as u64,
                content_type: None,
            })
            .await?;
        let mut offset = 0usize;
        for part in &upload.parts {
            let size = usize::try_from(part.size).unwrap_or(usize::MAX);
            let end = offset.saturating_add(size).min(bytes.len());
            self.upload_part(part, bytes[offset..end].to_vec()).await?;
            offset = end;
        }
        self.complete_upload(upload.id).await
    }

    /// A file's bytes and the answer's headers (a redirect to the object store is followed).
    pub async fn file(&self, id: FileId) -> Result<RawResponse> {
        let response =
            Self::send(self.request(Method::GET, &["v1", "files", &id.to_string()])).await?;
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        })
    }

    pub async fn file_links(&self, ids: &[FileId]) -> Result<FileLinkList> {
        let body = FileLinksRequest { ids: ids.to_vec() };
        Self::json(
            self.request(Method::POST, &["v1", "files", "links"])
                .json(&body),
        )
        .await
    }

    /// Any URL, without this client's token: what a browser does with a signed link.
    pub async fn get_url(&self, url: &str) -> Result<RawResponse> {
        let response = self.http.get(url).send().await?;
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await?.to_vec(),
        })
    }

    pub async fn gateway(&self) -> Result<GatewayInfo> {
        Self::json(self.request(Method::GET, &["v1", "gateway"])).await
    }

    /// The body of a plain-text route such as `/healthz` or `/metrics`.
    pub async fn text(&self, segments: &[&str]) -> Result<String> {
        Ok(Self::send(self.request(Method::GET, segments))
            .await?
            .text()
            .await?)
    }
}

/// A `multipart/form-data` body: the fields, then the bytes as `file`, as a browser posts a form.
fn form(fields: &std::collections::BTreeMap<String, String>, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("parley-{:016x}", rand_u64());
    let mut body = Vec::with_capacity(bytes.len() + 1024);
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// Makes ring the process's TLS provider unless one is set: a build of this workspace has reqwest's
/// `rustls-no-provider` (for the server's S3 client), with which building any HTTP client without a
/// provider panics. Call it before building a `reqwest::Client` of your own in such a build.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
