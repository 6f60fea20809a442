//! The HTTP listener: accepts TCP connections and serves the router on them
//! with hyper, like `axum::serve`, plus the two timeouts `axum::serve` has no
//! setting for (issue 11, slowloris):
//!
//! - a header-read timeout (hyper's `header_read_timeout`, which needs a
//!   timer): a connection that has not sent a complete request head in time
//!   is closed, and so is a keep-alive connection that sends no next request;
//! - an idle timeout ([`IdleStream`]): a connection on which nothing was read
//!   for that long is closed, whatever HTTP state it is in (a request body
//!   that trickles, a request head that never ends). Once a request on the
//!   connection is answered `101 Switching Protocols` the connection is a
//!   websocket, which Engine.IO's heartbeat closes when its client goes
//!   silent (a ping every 25 s, 20 s for the pong), and the idle timer is
//!   dropped: on an idle websocket it would be one more timer and heap block
//!   per socket, guarding nothing (issue 15).

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long connections get to finish after the shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub(crate) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open
/// connections finish (bounded by [`SHUTDOWN_GRACE`]). Every request carries
/// `ConnectInfo<SocketAddr>` of its TCP peer, as with
/// `into_make_service_with_connect_info`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little
                    // rather than spin, as axum::serve does.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Chat packets are small and latency-bound: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let upgraded = Upgraded::default();
        let io = TokioIo::new(IdleStream::new(tcp, timeouts.idle).until(upgraded.clone()));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let answered = router.clone().oneshot(req.map(axum::body::Body::new));
            let upgraded = upgraded.clone();
            async move {
                let response = answered.await;
                if let Ok(r) = &response {
                    if r.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                        upgraded.mark();
                    }
                }
                response
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let served = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

/// Set by the connection's service when it answers a request with
/// `101 Switching Protocols`: from then on the connection is a websocket.
#[derive(Clone, Default)]
pub(crate) struct Upgraded(Arc<AtomicBool>);

impl Upgraded {
    fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A stream that fails its reads with `TimedOut` once nothing was read from
/// it for `limit`. The deadline moves with every read that brings data, so
/// an active connection never times out, and it is only checked while a read
/// is pending. With [`IdleStream::until`], the timer is dropped at the first
/// read after the connection was upgraded (see the module's comment).
pub(crate) struct IdleStream<S> {
    inner: S,
    limit: Duration,
    /// `None` once the connection was upgraded: no timeout any more.
    deadline: Option<Pin<Box<Sleep>>>,
    upgraded: Option<Upgraded>,
}

impl<S> IdleStream<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
            upgraded: None,
        }
    }

    /// Times out only until `upgraded` is marked.
    pub(crate) fn until(mut self, upgraded: Upgraded) -> Self {
        self.upgraded = Some(upgraded);
        self
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.upgraded.as_ref().is_some_and(Upgraded::is_set) {
            self.deadline = None;
            self.upgraded = None;
        }
        let before = buf.filled().len();
        let limit = self.limit;
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if let Some(deadline) = self.deadline.as_mut() {
                    if buf.filled().len() > before {
                        deadline.as_mut().reset(Instant::now() + limit);
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle connection",
                ))),
                Some(Poll::Pending) | None => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn reads_time_out_only_after_a_silence_of_the_limit() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut idle = IdleStream::new(a, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        tokio::time::advance(Duration::from_secs(9)).await;
        b.write_all(b"hi").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 2);
        // The deadline moved with that read: 9 s more is still fine.
        tokio::time::advance(Duration::from_secs(9)).await;
        b.write_all(b"yo").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 2);
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upgraded_connection_keeps_no_timer() {
        let (a, mut b) = tokio::io::duplex(64);
        let upgraded = Upgraded::default();
        let mut idle = IdleStream::new(a, Duration::from_secs(10)).until(upgraded.clone());
        let mut buf = [0u8; 8];
        b.write_all(b"GET").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 3);
        assert!(idle.deadline.is_some(), "an HTTP connection has its timer");
        upgraded.mark();
        b.write_all(b"ws").await.unwrap();
        assert_eq!(idle.read(&mut buf).await.unwrap(), 2);
        assert!(
            idle.deadline.is_none(),
            "the timer is gone at the first read after the upgrade"
        );
        // Silent far beyond the limit, and the read is still just pending.
        tokio::time::advance(Duration::from_secs(600)).await;
        let pending = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf)).await;
        assert!(pending.is_err(), "no TimedOut on a websocket: {pending:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_was_not_upgraded_still_times_out() {
        let (a, _b) = tokio::io::duplex(64);
        let mut idle = IdleStream::new(a, Duration::from_secs(10)).until(Upgraded::default());
        let mut buf = [0u8; 8];
        let err = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
