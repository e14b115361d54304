//! The resolver of the clients that reach URLs someone else gave (push services, webhooks, identity
//! providers): a name resolves only to addresses the operator allows, so a subscription or an issuer URL
//! cannot make the server reach its own network (server-side request forgery), not even through a name
//! that resolves to a private address.

use std::net::SocketAddr;

use parley_core::service::notify::AddressPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

/// Every address a name resolved to was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to addresses this server may not reach")]
pub struct NotAllowed(pub String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| policy.allows_ip(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(NotAllowed(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}
