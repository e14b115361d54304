use std::time::Duration;

use crate::bus::BusError;
use crate::storage::StorageError;
use crate::store::StoreError;

/// What a use case can answer instead of a result. The API maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input breaks a rule; `code` is stable, the message says which rule.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// No credentials, or credentials that are wrong, unknown or revoked.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller can see the thing but may not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not allowed, for a reason the client can act on (`code` says which): an invitation is needed, say.
    #[error("{message}")]
    Denied {
        code: &'static str,
        message: &'static str,
    },
    /// Absent, or not visible to the caller: the two are never told apart.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Absent, for a reason the client can act on (`code` says which): no single sign-on, say.
    #[error("{message}")]
    Absent {
        code: &'static str,
        message: &'static str,
    },
    /// Someone else's proof of identity did not hold (an identity provider's answer, say).
    #[error("{message}")]
    NotVerified { code: &'static str, message: String },
    /// Well formed, but what it names cannot be used (a provider that does not answer as one should).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// A server this one depends on, outside the cluster, failed to answer (an identity provider).
    #[error("{message}")]
    Upstream { code: &'static str, message: String },
    /// The request clashes with what exists, e.g. a username already taken.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Too many attempts; try again after the given time.
    #[error("too many attempts, retry later")]
    RateLimited { retry_after: Duration },
    /// An upload beyond its limit, in bytes.
    #[error("the {what} is too large: at most {}", human_bytes(*.limit))]
    TooLarge { what: &'static str, limit: u64 },
    /// The server has more of this work queued than it takes on; try again shortly.
    #[error("the server is busy, retry shortly")]
    Busy,
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("event bus failed")]
    Bus(#[from] BusError),
    #[error("file storage failed")]
    Storage(#[from] StorageError),
    #[error("password hashing failed")]
    Hashing(String),
    #[error("image encoding failed: {0}")]
    Encoding(String),
}

impl Error {
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }
}

/// Bytes as people read them: `5 MiB`, `100 MiB`, `1.5 GiB`, `12 bytes`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let whole = bytes / size;
            let tenths = (bytes % size) * 10 / size;
            return if tenths == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{tenths} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        let error = Error::TooLarge {
            what: "file",
            limit: 100 << 20,
        };
        assert_eq!(error.to_string(), "the file is too large: at most 100 MiB");
    }
}
