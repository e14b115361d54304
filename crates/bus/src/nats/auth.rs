//! How a node proves itself to NATS: nothing, a user and password, a token (the server's `authorization`
//! block), or an NKey (the server's nonce signed with the user's seed). Both of the node's connections
//! present the same, async-nats's and the feed's.

use async_nats::ConnectOptions;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::NatsError;

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
    /// A user's NKey seed (`SU...`).
    NKey(String),
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
            NatsAuth::NKey(_) => f.write_str("NKey(..)"),
        }
    }
}

impl NatsAuth {
    /// Refuses what no server could take: an NKey seed that is not a user's seed.
    pub(crate) fn check(&self) -> Result<(), NatsError> {
        match self {
            NatsAuth::NKey(seed) => key_pair(seed).map(drop),
            _ => Ok(()),
        }
    }

    /// async-nats's options with these credentials.
    pub(crate) fn apply(&self, options: ConnectOptions) -> ConnectOptions {
        match self {
            NatsAuth::None => options,
            NatsAuth::UserPassword { user, password } => {
                options.user_and_password(user.clone(), password.clone())
            }
            NatsAuth::Token(token) => options.token(token.clone()),
            NatsAuth::NKey(seed) => options.nkey(seed.trim().to_owned()),
        }
    }

    /// Adds the credentials to the fields of a `CONNECT` line (the feed's); an NKey signs `nonce`, from the
    /// server's `INFO`.
    pub(crate) fn put(
        &self,
        connect: &mut Map<String, Value>,
        nonce: &str,
    ) -> Result<(), NatsError> {
        match self {
            NatsAuth::None => {}
            NatsAuth::UserPassword { user, password } => {
                connect.insert("user".into(), user.clone().into());
                connect.insert("pass".into(), password.clone().into());
            }
            NatsAuth::Token(token) => {
                connect.insert("auth_token".into(), token.clone().into());
            }
            NatsAuth::NKey(seed) => {
                let pair = key_pair(seed)?;
                let signature = pair
                    .sign(nonce.as_bytes())
                    .map_err(|_| NatsError::Settings("cannot sign with the NKey seed"))?;
                connect.insert("nkey".into(), pair.public_key().into());
                connect.insert("sig".into(), URL_SAFE_NO_PAD.encode(signature).into());
            }
        }
        Ok(())
    }
}

fn key_pair(seed: &str) -> Result<nkeys::KeyPair, NatsError> {
    nkeys::KeyPair::from_seed(seed.trim())
        .ok()
        .filter(|pair| pair.public_key().starts_with('U'))
        .ok_or(NatsError::Settings(
            "the NATS NKey is not a user's seed (SU...)",
        ))
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
        let seed = nkeys::KeyPair::new_user().seed().expect("seed");
        assert_eq!(
            format!("{password:?}"),
            "UserPassword { user: \"parley\", .. }"
        );
        assert_eq!(format!("{token:?}"), "Token(..)");
        assert_eq!(format!("{:?}", NatsAuth::NKey(seed)), "NKey(..)");
    }

    #[test]
    fn the_connect_line_carries_the_credentials_nats_expects() {
        let mut fields = Map::new();
        NatsAuth::UserPassword {
            user: "u".into(),
            password: "p".into(),
        }
        .put(&mut fields, "")
        .expect("put");
        assert_eq!(fields.get("user"), Some(&Value::from("u")));
        assert_eq!(fields.get("pass"), Some(&Value::from("p")));
        let mut fields = Map::new();
        NatsAuth::Token("t".into())
            .put(&mut fields, "")
            .expect("put");
        assert_eq!(fields.get("auth_token"), Some(&Value::from("t")));
        assert_eq!(fields.len(), 1);
    }

    #[test]
    fn an_nkey_signs_the_servers_nonce() {
        let pair = nkeys::KeyPair::new_user();
        let auth = NatsAuth::NKey(pair.seed().expect("seed"));
        auth.check().expect("a user's seed");
        let mut fields = Map::new();
        auth.put(&mut fields, "the-nonce").expect("put");
        assert_eq!(fields.get("nkey"), Some(&Value::from(pair.public_key())));
        let signature = fields.get("sig").and_then(Value::as_str).expect("sig");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        pair.verify(b"the-nonce", &signature)
            .expect("a valid signature");
        let account = nkeys::KeyPair::new_account().seed().expect("seed");
        for bad in ["SUNOTASEED".to_owned(), account] {
            assert!(NatsAuth::NKey(bad).check().is_err());
        }
    }
}
