//! Moving a conversation's messages back in time, straight in the server's database: a retention of days
//! cannot be waited for in a test. Only the messages' timestamps change, as if they had been sent then.

use parley_core::ConversationId;

use crate::TestServer;

const DAY_MILLIS: i64 = 86_400_000;

impl TestServer {
    /// Makes the conversation's messages with ids up to `through` look `days` days older.
    pub async fn backdate_messages(
        &self,
        conversation_id: ConversationId,
        through: i64,
        days: i64,
    ) {
        let shift = days * DAY_MILLIS;
        match &self.config.store {
            Some(url) if url.starts_with("postgres") => {
                let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to the test's PostgreSQL");
                let driver = tokio::spawn(connection);
                client
                    .execute(
                        "UPDATE messages SET created_at = created_at - $1
                         WHERE conversation_id = $2 AND id <= $3",
                        &[&shift, &conversation_id.0, &through],
                    )
                    .await
                    .expect("backdate the messages");
                drop(client);
                let _ = driver.await;
            }
            _ => {
                let path = self.config.data_dir.join("parley.db");
                tokio::task::spawn_blocking(move || {
                    let db = rusqlite::Connection::open(path).expect("open the server's database");
                    db.busy_timeout(std::time::Duration::from_secs(10))
                        .expect("busy timeout");
                    db.execute(
                        "UPDATE messages SET created_at = created_at - ?1
                         WHERE conversation_id = ?2 AND id <= ?3",
                        (shift, conversation_id.0, through),
                    )
                    .expect("backdate the messages");
                })
                .await
                .expect("backdating ran");
            }
        }
    }
}
