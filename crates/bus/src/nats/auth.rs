//! How a node proves itself to NATS: nothing, a user and password, a token (the server's `authorization`
//! block), an NKey (the server's nonce signed with the user's seed), or a credentials file (a user JWT an
//! account signed, with the user's seed to sign the nonce: NATS's decentralized authentication, servers
//! in operator mode). Both of the node's connections present the same, async-nats's and the feed's.

use std::sync::Arc;

use async_nats::{AuthError, ConnectOptions};
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
    /// A user's JWT and NKey seed, from a credentials file (`NatsAuth::from_creds`).
    Credentials {
        jwt: String,
        seed: String,
    },
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
            NatsAuth::Credentials { .. } => f.write_str("Credentials(..)"),
        }
    }
}

impl NatsAuth {
    /// The credentials of a credentials file's text (`.creds`, as `nsc` writes them): its first block
    /// between dashed lines is the user's JWT, its second the user's seed.
    pub fn from_creds(text: &str) -> Result<NatsAuth, NatsError> {
        let mut blocks = Vec::new();
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line.starts_with("---") && line.contains("BEGIN") {
                blocks.extend(lines.next().map(str::to_owned));
            }
        }
        let mut blocks = blocks.into_iter();
        match (blocks.next(), blocks.next()) {
            (Some(jwt), Some(seed)) if !jwt.is_empty() => {
                let auth = NatsAuth::Credentials { jwt, seed };
                auth.check()?;
                Ok(auth)
            }
            _ => Err(NatsError::Settings(
                "not a NATS credentials file: it has no user JWT and seed between dashed lines",
            )),
        }
    }

    /// Refuses what no server could take: an NKey seed that is not a user's seed.
    pub(crate) fn check(&self) -> Result<(), NatsError> {
        match self {
            NatsAuth::NKey(seed) | NatsAuth::Credentials { seed, .. } => key_pair(seed).map(drop),
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
            // `check` has refused a seed that is not a user's before this is called.
            NatsAuth::Credentials { jwt, seed } => match key_pair(seed) {
                Ok(pair) => {
                    let pair = Arc::new(pair);
                    options.jwt(jwt.clone(), move |nonce| {
                        let pair = Arc::clone(&pair);
                        async move { pair.sign(&nonce).map_err(AuthError::new) }
                    })
                }
                Err(_) => options,
            },
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
                connect.insert("nkey".into(), pair.public_key().into());
                connect.insert("sig".into(), signature(&pair, nonce)?.into());
            }
            NatsAuth::Credentials { jwt, seed } => {
                connect.insert("jwt".into(), jwt.clone().into());
                connect.insert("sig".into(), signature(&key_pair(seed)?, nonce)?.into());
            }
        }
        Ok(())
    }
}

/// `nonce` signed with `pair`, in base64url as `CONNECT` carries it.
fn signature(pair: &nkeys::KeyPair, nonce: &str) -> Result<String, NatsError> {
    let signature = pair
        .sign(nonce.as_bytes())
        .map_err(|_| NatsError::Settings("cannot sign with the NKey seed"))?;
    Ok(URL_SAFE_NO_PAD.encode(signature))
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

    #[test]
    fn a_credentials_file_gives_its_jwt_and_signs_with_its_seed() {
        let pair = nkeys::KeyPair::new_user();
        let seed = pair.seed().expect("seed");
        let text = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAi.the.jwt\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let auth = NatsAuth::from_creds(&text).expect("credentials");
        assert_eq!(format!("{auth:?}"), "Credentials(..)");
        let mut fields = Map::new();
        auth.put(&mut fields, "the-nonce").expect("put");
        assert_eq!(fields.get("jwt"), Some(&Value::from("eyJ0eXAi.the.jwt")));
        let signature = fields.get("sig").and_then(Value::as_str).expect("sig");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        pair.verify(b"the-nonce", &signature)
            .expect("a valid signature");

        let account = nkeys::KeyPair::new_account().seed().expect("seed");
        let with_account = text.replace(&seed, &account);
        for bad in ["", "just a JWT", with_account.as_str()] {
            assert!(NatsAuth::from_creds(bad).is_err(), "{bad:?}");
        }
    }
}
