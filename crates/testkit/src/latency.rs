//! A TCP forwarder that holds every chunk back for a fixed time, both ways, in order: the distance between
//! two servers that loopback does not have (for example between the servers of a NATS cluster).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Listens on a port of its own and forwards each connection to `target`, `delay` late each way. Dropping
/// it closes every connection through it.
pub struct Latency {
    pub port: u16,
    task: JoinHandle<()>,
}

impl Latency {
    pub async fn open(target: SocketAddr, delay: Duration) -> Latency {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the latency forwarder");
        let port = listener.local_addr().expect("its address").port();
        let task = tokio::spawn(forward(listener, target, delay));
        Latency { port, task }
    }
}

impl Drop for Latency {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Its connections are tasks of its own, so aborting it closes them all.
async fn forward(listener: TcpListener, target: SocketAddr, delay: Duration) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((inbound, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            let (from_client, to_client) = inbound.into_split();
            let (from_server, to_server) = outbound.into_split();
            tokio::select! {
                () = late(from_client, to_server, delay) => {}
                () = late(from_server, to_client, delay) => {}
            }
        });
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read, until either side closes.
async fn late(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reading = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if chunks
                        .send((Instant::now() + delay, buffer[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let writing = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    // The writer finishes what was read before the reader saw the end.
    let (_, ()) = tokio::join!(reading, writing);
}
