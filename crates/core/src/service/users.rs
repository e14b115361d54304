//! Profiles, avatars, the people directory and contacts.

use std::sync::Arc;

use parley_proto::v1::{UpdateMeRequest, User};

use super::uploads::file_key;
use super::{Caller, Parley};
use crate::bus::{ProfileCopy, Signal, Topic};
use crate::images;
use crate::model;
use crate::model::FileState;
use crate::validate::{self, ImageFormat, MAX_AVATAR_BYTES};
use crate::{Error, FileId, UserId};

/// Most users a search answers with.
const USER_SEARCH_LIMIT: u32 = 50;
/// The longest search text worth looking at.
pub const MAX_QUERY_CHARS: usize = 100;

fn avatar_key(user_id: UserId) -> String {
    format!("avatars/{user_id}")
}

impl Parley {
    pub fn me(&self, caller: &Caller) -> User {
        self.user_wire(&caller.user)
    }

    pub async fn rename(&self, caller: &Caller, request: UpdateMeRequest) -> Result<User, Error> {
        validate::name(&request.name)?;
        // Each change is told to everyone who follows the user: counted like a message.
        self.write_throttle.check(caller.user.id)?;
        let user = self
            .store
            .rename_user(caller.user.id, request.name.trim())
            .await?;
        self.announce_profile(&user).await;
        Ok(self.user_wire(&user))
    }

    /// Stores a new avatar: the picture decoded (its format read from the bytes, never from what the client
    /// claims) and encoded again (`images::avatar`), a few at a time off the runtime; past those, 503 `busy`.
    pub async fn set_avatar(&self, caller: &Caller, bytes: Vec<u8>) -> Result<User, Error> {
        if bytes.len() > MAX_AVATAR_BYTES {
            return Err(Error::TooLarge {
                what: "avatar",
                limit: MAX_AVATAR_BYTES as u64,
            });
        }
        self.write_throttle.check(caller.user.id)?;
        // The permit goes with the decode: a request given up on does not free it while the decode runs.
        let permit = Arc::clone(&self.image_permits)
            .try_acquire_owned()
            .map_err(|_| Error::Busy)?;
        let encoded = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            images::avatar(&bytes)
        })
        .await
        .map_err(|error| {
            // A decoder that panicked on these bytes: they are not an image this server takes.
            tracing::error!(%error, "an image decoder failed");
            Error::invalid(
                "unsupported_image",
                "avatar must be a PNG, JPEG, WebP or GIF image",
            )
        })??;
        self.storage
            .put(&avatar_key(caller.user.id), encoded.bytes.into())
            .await?;
        let user = self.store.bump_avatar(caller.user.id).await?;
        self.announce_profile(&user).await;
        Ok(self.user_wire(&user))
    }

    /// Makes a complete upload of the caller's their avatar, as `set_avatar` does with bytes sent whole,
    /// then deletes the upload: what a client that uploads every file the same way sends.
    pub async fn set_avatar_from_upload(
        &self,
        caller: &Caller,
        upload_id: FileId,
    ) -> Result<User, Error> {
        let record = self.own_upload(caller, upload_id).await?;
        match record.state {
            FileState::Complete => {}
            FileState::Pending => {
                return Err(Error::Conflict {
                    code: "upload_incomplete",
                    message: "complete the upload first".to_owned(),
                });
            }
            _ => {
                return Err(Error::Conflict {
                    code: "upload_attached",
                    message: "the upload is on a message".to_owned(),
                });
            }
        }
        if record.size > MAX_AVATAR_BYTES as u64 {
            return Err(Error::TooLarge {
                what: "avatar",
                limit: MAX_AVATAR_BYTES as u64,
            });
        }
        let bytes = self
            .storage
            .get(&file_key(upload_id))
            .await?
            .ok_or(Error::NotFound("upload"))?;
        let user = self.set_avatar(caller, bytes.to_vec()).await?;
        if self.store.erase_upload(upload_id).await? {
            self.delete_files(&[upload_id]).await;
        }
        Ok(user)
    }

    /// Tells whoever follows the user, and the user's own devices, that their profile changed. It is stored
    /// already and REST serves it, so a copy the bus fails to carry is only logged, as the relay does.
    pub(super) async fn announce_profile(&self, user: &model::User) {
        let profile = user.profile();
        let copies = [
            (Topic::Presence(user.id), ProfileCopy::Watchers),
            (Topic::User(user.id), ProfileCopy::OwnDevices),
        ];
        for (topic, to) in copies {
            let signal = Signal::UserUpdated {
                profile: profile.clone(),
                to,
            };
            if let Err(error) = self.bus.publish(topic, Arc::new(signal)).await {
                let error = &error as &dyn std::error::Error;
                tracing::warn!(user_id = %user.id, ?topic, error, "profile change not announced");
            }
        }
    }

    /// A user's avatar and its content type, if the caller may see that user and they have one.
    pub async fn avatar(
        &self,
        caller: &Caller,
        user_id: UserId,
    ) -> Result<(&'static str, bytes::Bytes), Error> {
        let user = self.visible_user(caller, user_id).await?;
        if user.avatar_version.is_none() {
            return Err(Error::NotFound("avatar"));
        }
        let bytes = self
            .storage
            .get(&avatar_key(user.id))
            .await?
            .ok_or(Error::NotFound("avatar"))?;
        let format = ImageFormat::sniff(&bytes).ok_or(Error::NotFound("avatar"))?;
        Ok((format.content_type(), bytes))
    }

    /// People of the caller's org whose username or name starts with `query`.
    pub async fn search_users(&self, caller: &Caller, query: &str) -> Result<Vec<User>, Error> {
        let query = validate::search_query(query, MAX_QUERY_CHARS)?;
        let users = self
            .store
            .search_users(caller.user.org_id, query, USER_SEARCH_LIMIT)
            .await?;
        Ok(users.iter().map(|u| self.user_wire(u)).collect())
    }

    pub async fn profile(&self, caller: &Caller, user_id: UserId) -> Result<User, Error> {
        let user = self.visible_user(caller, user_id).await?;
        let online = self.bus.online(&[user.id]).await?;
        Ok(self.user_with_presence_wire(&user, online.first().copied().unwrap_or(false)))
    }

    pub async fn contacts(&self, caller: &Caller) -> Result<Vec<User>, Error> {
        let contacts = self.store.contacts(caller.user.id).await?;
        let ids: Vec<UserId> = contacts.iter().map(|u| u.id).collect();
        let online = self.bus.online(&ids).await?;
        Ok(contacts
            .iter()
            .zip(online)
            .map(|(u, online)| self.user_with_presence_wire(u, online))
            .collect())
    }

    pub async fn add_contact(&self, caller: &Caller, user_id: UserId) -> Result<(), Error> {
        if user_id == caller.user.id {
            return Err(Error::invalid(
                "invalid_contact",
                "you cannot add yourself as a contact",
            ));
        }
        let contact = self.visible_user(caller, user_id).await?;
        self.store.add_contact(caller.user.id, contact.id).await?;
        Ok(())
    }

    pub async fn remove_contact(&self, caller: &Caller, user_id: UserId) -> Result<(), Error> {
        let contact = self.visible_user(caller, user_id).await?;
        self.store
            .remove_contact(caller.user.id, contact.id)
            .await?;
        Ok(())
    }

    /// A user of the caller's own org; anyone else is "not found".
    pub(super) async fn visible_user(
        &self,
        caller: &Caller,
        user_id: UserId,
    ) -> Result<model::User, Error> {
        match self.store.user(user_id).await? {
            Some(user) if user.org_id == caller.user.org_id => Ok(user),
            _ => Err(Error::NotFound("user")),
        }
    }
}
