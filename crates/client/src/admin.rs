//! Running an organization through the SDK: its people and their roles, the audit log, and a user's own
//! sessions and password.

use parley_proto::v1::{
    AuditEntry, AuditList, OrgSettings, OrgSettingsPatch, PasswordChange, PeopleList, Person, Role,
    RoleChange, SessionInfo, SessionList,
};
use parley_proto::{SessionId, UserId};
use reqwest::Method;

use crate::{Client, Result};

impl Client {
    /// This user's sessions (devices), most recently used first.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>> {
        let list: SessionList =
            Self::json(self.request(Method::GET, &["v1", "users", "me", "sessions"])).await?;
        Ok(list.sessions)
    }

    /// Ends one of this user's sessions.
    pub async fn end_session(&self, id: SessionId) -> Result<()> {
        let id = id.to_string();
        Self::empty(self.request(Method::DELETE, &["v1", "users", "me", "sessions", &id])).await
    }

    /// Changes this user's password; their other sessions end.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let change = PasswordChange {
            current_password: current.to_owned(),
            new_password: new.to_owned(),
        };
        let builder = self.request(Method::PUT, &["v1", "users", "me", "password"]);
        Self::empty(builder.json(&change)).await
    }

    /// A page of the organization's people, for its owners and administrators.
    pub async fn people(
        &self,
        query: Option<&str>,
        after: Option<UserId>,
        limit: Option<u32>,
    ) -> Result<PeopleList> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(q) = query {
            params.push(("q", q.to_owned()));
        }
        if let Some(after) = after {
            params.push(("after", after.to_string()));
        }
        if let Some(limit) = limit {
            params.push(("limit", limit.to_string()));
        }
        Self::json(
            self.request(Method::GET, &["v1", "admin", "people"])
                .query(&params),
        )
        .await
    }

    pub async fn set_role(&self, user_id: UserId, role: Role) -> Result<Person> {
        let id = user_id.to_string();
        let builder = self.request(Method::PUT, &["v1", "admin", "people", &id, "role"]);
        Self::json(builder.json(&RoleChange { role })).await
    }

    pub async fn deactivate(&self, user_id: UserId) -> Result<Person> {
        let id = user_id.to_string();
        Self::json(self.request(Method::POST, &["v1", "admin", "people", &id, "deactivate"])).await
    }

    pub async fn reactivate(&self, user_id: UserId) -> Result<Person> {
        let id = user_id.to_string();
        Self::json(self.request(Method::POST, &["v1", "admin", "people", &id, "reactivate"])).await
    }

    /// A page of the organization's audit log, newest first; `query` holds its filters as the route takes
    /// them (`since`, `until`, `actor`, `kind`, `before`, `limit`).
    pub async fn audit(&self, query: &[(&str, &str)]) -> Result<AuditList> {
        Self::json(
            self.request(Method::GET, &["v1", "admin", "audit"])
                .query(query),
        )
        .await
    }

    /// The whole audit log that passes `query`'s filters, oldest first, read from the export's lines.
    pub async fn export_audit(&self, query: &[(&str, &str)]) -> Result<Vec<AuditEntry>> {
        let builder = self
            .request(Method::GET, &["v1", "admin", "audit", "export"])
            .query(query);
        let text = Self::send(builder).await?.text().await?;
        text.lines()
            .map(|line| {
                serde_json::from_str(line).map_err(|e| crate::Error::Protocol(e.to_string()))
            })
            .collect()
    }
    pub async fn org_settings(&self) -> Result<OrgSettings> {
        Self::json(self.request(Method::GET, &["v1", "org", "settings"])).await
    }

    pub async fn update_org_settings(&self, patch: &OrgSettingsPatch) -> Result<OrgSettings> {
        let builder = self.request(Method::PATCH, &["v1", "org", "settings"]);
        Self::json(builder.json(patch)).await
    }
}
