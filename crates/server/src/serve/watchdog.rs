//! How long an HTTP connection may keep the server waiting: for a request's head, and idle between requests.
//!
//! hyper's own header timer starts when the connection goes idle, so it cannot tell "idle between requests"
//! (fine for a while: browsers keep connections for reuse) from "a request's head is arriving" (must be
//! quick: a head trickled a byte at a time is the slowloris attack). So each connection keeps its own
//! `Activity`: the socket wrapper (`Watched`) notes when the first byte of the next request arrives, the
//! service notes when a request's head is complete and when its answer has been written (`Answering`), and
//! `expire` ends the connection when a deadline passes. A body that never comes and a request that never
//! ends are bounded elsewhere (`body.rs` and the request timeout), once the head is in.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::admission::Permit;

/// The deadlines of `expire`.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// From the connection's start, or the first byte of a later request, until its head is complete.
    pub header: Duration,
    /// From the end of one answer until the first byte of the next request.
    pub keepalive_idle: Duration,
}

/// What one connection is doing, shared by its socket, its service and its watchdog. Times are
/// milliseconds since `opened`, so they fit in atomics.
pub(crate) struct Activity {
    opened: Instant,
    /// Requests whose head is in and whose answer is not yet written.
    in_flight: AtomicU32,
    /// When the connection last became idle: opened, or finished an answer.
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived; `NONE` until it does.
    head_started: AtomicU64,
    /// Whether any request was answered: a connection's first request gets the header deadline from its
    /// start, later ones the keep-alive allowance first.
    answered: AtomicBool,
}

const NONE: u64 = u64::MAX;

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            answered: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Bytes came in: if no request is being served, they begin the next one's head.
    fn received(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == NONE
        {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A request's head is complete and the service has it; the guard marks its answer written.
    pub(crate) fn request_started(self: &Arc<Self>) -> Answering {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(NONE, Ordering::Relaxed);
        Answering(Arc::clone(self))
    }

    /// When the connection must end if nothing changes, as milliseconds since `opened`; `None` while a
    /// request is being served.
    fn deadline(&self, limits: Deadlines) -> Option<u64> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE - 1);
        let head_started = self.head_started.load(Ordering::Relaxed);
        if head_started != NONE {
            return Some(head_started.saturating_add(millis(limits.header)));
        }
        let allowance = if self.answered.load(Ordering::Relaxed) {
            limits.keepalive_idle
        } else {
            limits.header
        };
        Some(
            self.idle_since
                .load(Ordering::Relaxed)
                .saturating_add(millis(allowance)),
        )
    }

    /// Completes when the connection has kept the server waiting past a deadline. It looks again at least
    /// four times per shortest deadline, since a request may begin or end while it sleeps.
    pub(crate) async fn expire(&self, limits: Deadlines) {
        let recheck = limits.header.min(limits.keepalive_idle) / 4;
        loop {
            let now = self.now();
            let wake = match self.deadline(limits) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => Duration::from_millis(deadline - now).min(recheck),
                None => recheck,
            };
            tokio::time::sleep(wake.max(Duration::from_millis(1))).await;
        }
    }
}

/// Held while a request is answered: dropped with the answer's body, once hyper has written it all (or the
/// connection is gone).
pub(crate) struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Relaxed);
        activity.answered.store(true, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer's body that keeps its request counted as in flight until it is dropped.
pub(crate) struct Answer<B> {
    pub(crate) body: B,
    pub(crate) _answering: Answering,
}

impl<B: Body<Data = Bytes> + Unpin> Body for Answer<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket: it tells the connection's `Activity` when bytes arrive, and holds the
/// connection's place in the admission counts for as long as the socket lives, WebSocket included.
pub(crate) struct Watched<S> {
    socket: S,
    activity: Arc<Activity>,
    _permit: Permit,
}

impl<S> Watched<S> {
    pub(crate) fn new(socket: S, activity: Arc<Activity>, permit: Permit) -> Self {
        Watched {
            socket,
            activity,
            _permit: permit,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Deadlines = Deadlines {
        header: Duration::from_secs(10),
        keepalive_idle: Duration::from_secs(60),
    };

    /// Runs `expire` until it completes and says how long that took.
    async fn lifetime(activity: &Activity) -> Duration {
        let started = Instant::now();
        activity.expire(LIMITS).await;
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_ends_after_the_header_deadline() {
        let activity = Activity::new();
        let lived = lifetime(&activity).await;
        assert!(lived >= LIMITS.header && lived < LIMITS.header + LIMITS.header / 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickled_in_ends_at_the_header_deadline_from_its_first_byte() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_secs(3)).await;
        activity.received();
        let trickle = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    activity.received();
                }
            })
        };
        let lived = lifetime(&activity).await;
        trickle.abort();
        // Counted from the first byte, however many more came.
        assert!(lived >= LIMITS.header && lived < LIMITS.header + LIMITS.header / 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_the_connection_then_idle_keepalive_applies() {
        let activity = Activity::new();
        activity.received();
        let answering = activity.request_started();
        let watchdog = {
            let activity = Arc::clone(&activity);
            tokio::spawn(async move { lifetime(&activity).await })
        };
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!watchdog.is_finished(), "a request in flight is not idle");
        drop(answering);
        let lived = watchdog.await.expect("watchdog");
        let idle = lived - Duration::from_secs(100);
        assert!(idle >= LIMITS.keepalive_idle && idle < LIMITS.keepalive_idle + LIMITS.header);
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_request_head_gets_the_header_deadline_not_the_idle_one() {
        let activity = Activity::new();
        activity.received();
        drop(activity.request_started());
        tokio::time::sleep(Duration::from_secs(30)).await;
        activity.received();
        let lived = lifetime(&activity).await;
        assert!(lived <= LIMITS.header, "{lived:?}");
    }
}
