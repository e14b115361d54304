//! States in the OpenAPI document the limits core enforces on what clients send (`parley_core::limits`):
//! lengths, patterns, item counts and ranges, on body fields and on query and path parameters. utoipa's
//! attributes take only literals, so the numbers would be written twice; here they come from core's
//! constants, and the document cannot drift from the rules.

use parley_core::limits::*;
use utoipa::Modify;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

/// One limit, as JSON Schema says it.
#[derive(Clone, Copy)]
enum Limit {
    /// A string's length in characters, and a pattern it must match.
    Text {
        min: usize,
        max: usize,
        pattern: Option<&'static str>,
    },
    /// A string that must match a pattern (which bounds its length itself).
    Pattern(&'static str),
    /// How many items an array holds.
    Items { min: usize, max: usize },
    /// An integer's range.
    Range { min: usize, max: usize },
}

const NAME: Limit = Limit::Text {
    min: 1,
    max: MAX_NAME_CHARS,
    pattern: Some(NAME_PATTERN),
};
const HANDLE: Limit = Limit::Pattern(HANDLE_PATTERN);
const RETENTION: Limit = Limit::Range {
    min: 0,
    max: MAX_RETENTION_DAYS as usize,
};
const PEOPLE_QUERY: Limit = Limit::Text {
    min: 0,
    max: MAX_QUERY_CHARS,
    pattern: Some(NO_CONTROLS_PATTERN),
};

/// Body fields: (schema, field, limit).
const FIELDS: &[(&str, &str, Limit)] = &[
    ("SignupRequest", "name", NAME),
    ("SignupRequest", "username", HANDLE),
    ("SignupRequest", "org", HANDLE),
    (
        "SignupRequest",
        "email",
        Limit::Text {
            min: 3,
            max: MAX_EMAIL_CHARS,
            pattern: Some(EMAIL_PATTERN),
        },
    ),
    (
        "SignupRequest",
        "password",
        Limit::Text {
            min: MIN_PASSWORD_CHARS,
            max: MAX_PASSWORD_CHARS,
            pattern: None,
        },
    ),
    ("UpdateMeRequest", "name", NAME),
    ("ConversationPatch", "name", NAME),
    (
        "OrgSettingsPatch",
        "email_domains",
        Limit::Items {
            min: 0,
            max: MAX_EMAIL_DOMAINS,
        },
    ),
    ("OrgSettingsPatch", "retention_days", RETENTION),
    ("ChannelRetention", "retention_days", RETENTION),
    (
        "OrgSettingsPatch",
        "default_channels",
        Limit::Items {
            min: 0,
            max: MAX_DEFAULT_CHANNELS,
        },
    ),
    (
        "ConversationPatch",
        "topic",
        Limit::Text {
            min: 0,
            max: MAX_TOPIC_CHARS,
            pattern: Some(TOPIC_PATTERN),
        },
    ),
    (
        "PasswordChange",
        "new_password",
        Limit::Text {
            min: MIN_PASSWORD_CHARS,
            max: MAX_PASSWORD_CHARS,
            pattern: None,
        },
    ),
    ("CreateConversationRequest", "name", NAME),
    ("CreateConversationRequest", "handle", HANDLE),
    (
        "CreateConversationRequest",
        "topic",
        Limit::Text {
            min: 0,
            max: MAX_TOPIC_CHARS,
            pattern: Some(TOPIC_PATTERN),
        },
    ),
    (
        "CreateConversationRequest",
        "members",
        Limit::Items {
            min: 0,
            max: MAX_ADDED_AT_ONCE,
        },
    ),
    (
        "InviteRequest",
        "user_ids",
        Limit::Items {
            min: 1,
            max: MAX_ADDED_AT_ONCE,
        },
    ),
    (
        "SendMessageRequest",
        "text",
        Limit::Text {
            // Empty only with attachments.
            min: 0,
            max: MAX_TEXT_CHARS,
            pattern: Some(TEXT_PATTERN),
        },
    ),
    (
        "SendMessageRequest",
        "attachments",
        Limit::Items {
            min: 0,
            max: MAX_ATTACHMENTS,
        },
    ),
    (
        "CreateUploadRequest",
        "name",
        Limit::Text {
            min: 1,
            max: MAX_FILE_NAME_CHARS,
            pattern: None,
        },
    ),
    (
        "FileLinksRequest",
        "ids",
        Limit::Items {
            min: 1,
            max: MAX_LINKS,
        },
    ),
    (
        "SendMessageRequest",
        "nonce",
        Limit::Text {
            min: 1,
            max: MAX_NONCE_CHARS,
            pattern: Some(NO_CONTROLS_PATTERN),
        },
    ),
    (
        "EditMessageRequest",
        "text",
        Limit::Text {
            min: 1,
            max: MAX_TEXT_CHARS,
            pattern: Some(TEXT_PATTERN),
        },
    ),
    (
        "Mentions",
        "user_ids",
        Limit::Items {
            min: 0,
            max: MAX_MENTIONS,
        },
    ),
    (
        "CreateInviteRequest",
        "max_uses",
        Limit::Range {
            min: 1,
            max: MAX_INVITE_USES as usize,
        },
    ),
    (
        "CreateInviteRequest",
        "expires_in_hours",
        Limit::Range {
            min: 1,
            max: MAX_INVITE_HOURS as usize,
        },
    ),
];

/// Query and path parameters: (path, parameter, limit), on every operation of the path that has it.
const PARAMETERS: &[(&str, &str, Limit)] = &[
    ("/v1/users", "q", PEOPLE_QUERY),
    ("/v1/channels", "q", PEOPLE_QUERY),
    (
        "/v1/search",
        "q",
        Limit::Text {
            min: 1,
            max: MAX_SEARCH_CHARS,
            pattern: Some(NO_CONTROLS_PATTERN),
        },
    ),
    (
        "/v1/conversations/{conversation_id}/messages",
        "limit",
        Limit::Range {
            min: 1,
            max: MAX_PAGE as usize,
        },
    ),
    (
        "/v1/conversations/{conversation_id}/messages/{message_id}/thread",
        "limit",
        Limit::Range {
            min: 1,
            max: MAX_PAGE as usize,
        },
    ),
    (
        "/v1/mentions",
        "limit",
        Limit::Range {
            min: 1,
            max: MAX_PAGE as usize,
        },
    ),
    (
        "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
        "emoji",
        Limit::Text {
            min: 1,
            max: MAX_EMOJI_CHARS,
            pattern: Some(EMOJI_PATTERN),
        },
    ),
    ("/v1/join/{handle}", "handle", HANDLE),
    ("/v1/admin/people", "q", PEOPLE_QUERY),
    (
        "/v1/admin/people",
        "limit",
        Limit::Range {
            min: 1,
            max: MAX_PEOPLE_PAGE as usize,
        },
    ),
    (
        "/v1/admin/audit",
        "limit",
        Limit::Range {
            min: 1,
            max: MAX_AUDIT_PAGE as usize,
        },
    ),
];

pub(super) struct Limits;

impl Modify for Limits {
    fn modify(&self, openapi: &mut OpenApi) {
        for missed in state_limits(openapi) {
            tracing::error!(missed, "a limit names no such field or parameter");
        }
    }
}

/// Writes every limit into the document; returns the fields and parameters it found nowhere (a test keeps
/// that list empty).
fn state_limits(openapi: &mut OpenApi) -> Vec<String> {
    let mut missed = Vec::new();
    let schemas = openapi.components.as_mut().map(|c| &mut c.schemas);
    if let Some(schemas) = schemas {
        for &(schema, field, limit) in FIELDS {
            let property = schemas.get_mut(schema).and_then(|s| match s {
                RefOr::T(Schema::Object(object)) => object.properties.get_mut(field),
                _ => None,
            });
            let applied = match property {
                Some(RefOr::T(property)) => apply(property, limit),
                _ => false,
            };
            if !applied {
                missed.push(format!("{schema}.{field}"));
            }
        }
    }
    for &(path, name, limit) in PARAMETERS {
        let mut applied = false;
        if let Some(item) = openapi.paths.paths.get_mut(path) {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let RefOr::T(parameter) = parameter else {
                        continue;
                    };
                    if parameter.name == name
                        && let Some(RefOr::T(schema)) = parameter.schema.as_mut()
                    {
                        applied |= apply(schema, limit);
                    }
                }
            }
        }
        if !applied {
            missed.push(format!("{path} {name}"));
        }
    }
    missed
}

/// Writes `limit` into `schema`; false when it does not fit (a length on an array, say).
fn apply(schema: &mut Schema, limit: Limit) -> bool {
    match (schema, limit) {
        (Schema::Object(object), Limit::Text { min, max, pattern }) => {
            object.min_length = (min > 0).then_some(min);
            object.max_length = Some(max);
            object.pattern = pattern.map(str::to_owned);
        }
        (Schema::Object(object), Limit::Pattern(pattern)) => {
            object.pattern = Some(pattern.to_owned());
        }
        (Schema::Object(object), Limit::Range { min, max }) => {
            object.minimum = Some(utoipa::Number::UInt(min));
            object.maximum = Some(utoipa::Number::UInt(max));
        }
        (Schema::Array(array), Limit::Items { min, max }) => {
            array.min_items = (min > 0).then_some(min);
            array.max_items = Some(max);
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    #[test]
    fn every_limit_lands_on_its_field_or_parameter() {
        let mut document = super::super::ApiDoc::openapi();
        assert_eq!(super::state_limits(&mut document), Vec::<String>::new());
    }
}
