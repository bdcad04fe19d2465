//! The listener: accepts connections up to `max_connections` (more wait in the kernel's
//! accept queue instead of costing memory), gives each `header_read_timeout` to send a
//! request's headers (a client that trickles them is closed, not held), serves HTTP/1.1 and
//! HTTP/2 with WebSocket upgrades, and shuts down gracefully.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tower_service::Service as _;

use crate::{router, AppState};

/// Serves on a bound listener until `state.shutdown` is cancelled, then waits for the open
/// WebSocket sessions: each lets its answer in flight finish within the grace period and
/// closes its socket with a close frame.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let sessions = state.sessions.clone();
    let limits = Arc::clone(&state.limits);
    let app = router(state);
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        let place = tokio::select! {
            place = Arc::clone(&places).acquire_owned() => place.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        let header_read_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            let _place = place;
            serve_connection(stream, peer, app, header_read_timeout, shutdown).await;
        });
    }
    drop(listener);
    connections.close();
    sessions.close();
    let grace = limits.shutdown_grace + Duration::from_secs(2);
    if tokio::time::timeout(grace, async { tokio::join!(sessions.wait(), connections.wait()) }).await.is_err()
    {
        tracing::warn!("sessions still open after the shutdown grace period");
    }
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    // Each request carries the peer's address, as `into_make_service_with_connect_info` does.
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { Ok::<_, Infallible>(app.call(request).await.unwrap_or_else(|never| match never {})) }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    builder.http2().enable_connect_protocol();
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        }
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
