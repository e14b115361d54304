//! How a node proves itself to NATS: nothing, a user and password, or a token (the server's
//! `authorization` block). Both of the node's connections present the same, async-nats's and the feed's.

use async_nats::ConnectOptions;
use serde_json::{Map, Value};

/// The node's NATS credentials. Its `Debug` never shows a secret.
#[derive(Clone, Default)]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::None => f.write_str("None"),
            NatsAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .finish_non_exhaustive(),
            NatsAuth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl NatsAuth {
    /// async-nats's options with these credentials.
    pub(crate) fn apply(&self, options: ConnectOptions) -> ConnectOptions {
        match self {
            NatsAuth::None => options,
            NatsAuth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.clone())
            }
            NatsAuth::Token(token) => options.token(token.clone()),
        }
    }

    /// Adds the credentials to the fields of a `CONNECT` line (the feed's).
    pub(crate) fn put(&self, connect: &mut Map<String, Value>) {
        match self {
            NatsAuth::None => {}
            NatsAuth::UserPassword { user, password } => {
                connect.insert("user".into(), user.clone().into());
                connect.insert("pass".into(), password.clone().into());
            }
            NatsAuth::Token(token) => {
                connect.insert("auth_token".into(), token.clone().into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let password = NatsAuth::UserPassword {
            user: "parley".into(),
            password: "hunter2".into(),
        };
        let token = NatsAuth::Token("s3cr3t-token".into());
        assert_eq!(
            format!("{password:?}"),
            "UserPassword { user: \"parley\", .. }"
        );
        assert_eq!(format!("{token:?}"), "Token(..)");
    }

    #[test]
    fn the_connect_line_carries_the_credentials_nats_expects() {
        let mut fields = Map::new();
        NatsAuth::UserPassword {
            user: "u".into(),
            password: "p".into(),
        }
        .put(&mut fields);
        assert_eq!(fields.get("user"), Some(&Value::from("u")));
        assert_eq!(fields.get("pass"), Some(&Value::from("p")));
        let mut fields = Map::new();
        NatsAuth::Token("t".into()).put(&mut fields);
        assert_eq!(fields.get("auth_token"), Some(&Value::from("t")));
        assert_eq!(fields.len(), 1);
    }
}
