//! OpenAPI links: which answer feeds which next call, so a client generator (and schemathesis's stateful
//! phase, in the test command) can chain them. Most follow from the schemas by name (`Conversation.id` to
//! every `{conversation_id}`), and schemathesis infers those; these are the chains it cannot infer: a pair of
//! ids that must match, a value to search for, a call that only makes sense after another.

use serde_json::{Value, json};
use utoipa::Modify;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

/// One link: from an operation's answer (by operation id and status) to another operation, with the
/// runtime expressions that fill its parameters and, optionally, its body.
struct Chain {
    from: &'static str,
    status: &'static str,
    name: &'static str,
    to: &'static str,
    parameters: &'static [(&'static str, &'static str)],
    body: Option<fn() -> Value>,
}

const FOUND_MESSAGE: &[(&str, &str)] = &[
    (
        "conversation_id",
        "$response.body#/messages/0/conversation_id",
    ),
    ("message_id", "$response.body#/messages/0/id"),
];
const SAME_MESSAGE: &[(&str, &str)] = &[
    ("conversation_id", "$request.path.conversation_id"),
    ("message_id", "$request.path.message_id"),
];
const SAME_CONVERSATION: &[(&str, &str)] = &[("conversation_id", "$request.path.conversation_id")];

const CHAINS: &[Chain] = &[
    // A message found by search is acted on as a pair (inference would take the two ids apart).
    Chain {
        from: "search_messages",
        status: "200",
        name: "DeleteFound",
        to: "delete_message",
        parameters: FOUND_MESSAGE,
        body: None,
    },
    Chain {
        from: "search_messages",
        status: "200",
        name: "ReactToFound",
        to: "add_reaction",
        parameters: FOUND_MESSAGE,
        body: None,
    },
    Chain {
        from: "search_messages",
        status: "200",
        name: "ReadFound",
        to: "mark_read",
        parameters: &[(
            "conversation_id",
            "$response.body#/messages/0/conversation_id",
        )],
        body: Some(|| json!({"message_id": "$response.body#/messages/0/id"})),
    },
    // What was just sent is searched for, so the stored text goes through the search index and its parser.
    Chain {
        from: "send_message",
        status: "201",
        name: "SearchSent",
        to: "search_messages",
        parameters: &[
            ("q", "$response.body#/text"),
            ("conversation_id", "$response.body#/conversation_id"),
        ],
        body: None,
    },
    Chain {
        from: "add_reaction",
        status: "204",
        name: "RemoveIt",
        to: "remove_reaction",
        parameters: &[
            ("conversation_id", "$request.path.conversation_id"),
            ("message_id", "$request.path.message_id"),
            ("emoji", "$request.path.emoji"),
        ],
        body: None,
    },
    Chain {
        from: "delete_message",
        status: "204",
        name: "ReactToDeleted",
        to: "add_reaction",
        parameters: SAME_MESSAGE,
        body: None,
    },
    Chain {
        from: "leave_conversation",
        status: "204",
        name: "SendAfterLeaving",
        to: "send_message",
        parameters: SAME_CONVERSATION,
        body: None,
    },
    Chain {
        from: "leave_conversation",
        status: "204",
        name: "JoinAgain",
        to: "join_conversation",
        parameters: SAME_CONVERSATION,
        body: None,
    },
    Chain {
        from: "mark_read",
        status: "204",
        name: "Receipts",
        to: "list_receipts",
        parameters: SAME_CONVERSATION,
        body: None,
    },
    Chain {
        from: "create_conversation",
        status: "201",
        name: "JoinByHandle",
        to: "join_by_handle",
        parameters: &[("handle", "$response.body#/handle")],
        body: None,
    },
    Chain {
        from: "create_invite",
        status: "201",
        name: "LookUp",
        to: "lookup_invite",
        parameters: &[],
        body: Some(|| json!({"token": "$response.body#/token"})),
    },
    Chain {
        from: "create_invite",
        status: "201",
        name: "Withdraw",
        to: "revoke_invite",
        parameters: &[("invite_id", "$response.body#/id")],
        body: None,
    },
    // An upload goes on: its first part, completing it, attaching it to a message, its links.
    Chain {
        from: "create_upload",
        status: "201",
        name: "SendFirstPart",
        to: "upload_part",
        parameters: &[("upload_id", "$response.body#/id"), ("part", "1")],
        body: None,
    },
    Chain {
        from: "create_upload",
        status: "201",
        name: "Complete",
        to: "complete_upload",
        parameters: &[("upload_id", "$response.body#/id")],
        body: None,
    },
    Chain {
        from: "upload_part",
        status: "204",
        name: "Complete",
        to: "complete_upload",
        parameters: &[("upload_id", "$request.path.upload_id")],
        body: None,
    },
    Chain {
        from: "complete_upload",
        status: "200",
        name: "LinkIt",
        to: "file_links",
        parameters: &[],
        body: Some(|| json!({"ids": ["$response.body#/id"]})),
    },
    Chain {
        from: "complete_upload",
        status: "200",
        name: "Download",
        to: "get_file",
        parameters: &[("file_id", "$response.body#/id")],
        body: None,
    },
    Chain {
        from: "file_links",
        status: "200",
        name: "Download",
        to: "get_file",
        parameters: &[("file_id", "$response.body#/links/0/id")],
        body: None,
    },
];

pub(super) struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut OpenApi) {
        for missed in write_links(openapi) {
            tracing::error!(missed, "a link names no such operation or answer");
        }
    }
}

/// Writes every chain into the document; returns those whose operation or answer it found nowhere (a test
/// keeps that list empty).
fn write_links(openapi: &mut OpenApi) -> Vec<&'static str> {
    let mut missed = Vec::new();
    for chain in CHAINS {
        let found = openapi
            .paths
            .paths
            .values_mut()
            .flat_map(|item| {
                [
                    &mut item.get,
                    &mut item.put,
                    &mut item.post,
                    &mut item.delete,
                    &mut item.patch,
                ]
            })
            .flatten()
            .find(|operation| operation.operation_id.as_deref() == Some(chain.from))
            .and_then(|operation| operation.responses.responses.get_mut(chain.status));
        let Some(RefOr::T(response)) = found else {
            missed.push(chain.name);
            continue;
        };
        let mut link = LinkBuilder::new().operation_id(chain.to);
        for &(name, expression) in chain.parameters {
            link = link.parameter(name, expression);
        }
        let link = link.request_body(chain.body.map(|body| body())).build();
        response.links.insert(chain.name.to_owned(), RefOr::T(link));
    }
    missed
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;

    #[test]
    fn every_link_starts_from_an_answer_that_exists() {
        let mut document = super::super::ApiDoc::openapi();
        assert_eq!(super::write_links(&mut document), Vec::<&str>::new());
        let targets: Vec<String> = document
            .paths
            .paths
            .values()
            .flat_map(|item| [&item.get, &item.put, &item.post, &item.delete, &item.patch])
            .flatten()
            .filter_map(|operation| operation.operation_id.clone())
            .collect();
        for chain in super::CHAINS {
            assert!(
                targets.iter().any(|id| id == chain.to),
                "{} leads nowhere",
                chain.name
            );
        }
    }
}
