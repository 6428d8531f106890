//! CRLs fetched over HTTP for the engine's revocation checks.
//!
//! Contract:
//! - The engine asks for CRL URIs when an IKE_AUTH needs them ([`Event::FetchCrls`]);
//!   [`Revocation::request`] starts one tokio task per URI not already being fetched, so the
//!   event loop never waits on the network: other peers' exchanges go on meanwhile. Each
//!   fetch is bounded: `http://` only, [`FETCH_TIMEOUT`] for the whole exchange (connect,
//!   request, body), at most [`MAX_CRL_SIZE`] bytes of body, and at most [`MAX_FETCHED`]
//!   distinct URIs cached.
//! - Every request is answered through the channel given to [`Revocation::set_sender`]
//!   ([`Fetched`], success or failure); [`Revocation::complete`] keeps a CRL that parsed
//!   (one per URI, replaced by each refetch) and records when to ask again: at the CRL's
//!   nextUpdate (never sooner than [`MIN_REFETCH`]), or [`RETRY_AFTER_FAILURE`] after a
//!   failure. The caller then hands the engine the merged credentials
//!   ([`Revocation::merge`]) and resumes the waiting exchanges (`Engine::crls_fetched`).
//! - A fetched CRL is trusted only for certificates of the CA that signed it: the engine
//!   checks the signature each time it uses one (`iked_crypto::crl::link_status`).
//!
//! [`Event::FetchCrls`]: iked_ike::engine::Event::FetchCrls
// Peer-derived data passes here (CRL bodies come from servers that peers' certificates name):
// outside tests the module denies the panicking lints, as the datagram path does
// (DEVELOPING.md, "Lints").
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use iked_crypto::crl::Crl;
use iked_ike::creds::CredentialSet;
use tokio::sync::mpsc;

/// The whole fetch of one CRL (charon's default fetcher timeout is 10 s as well).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger bodies are refused (a CRL of 100,000 entries is about 3 MB).
pub const MAX_CRL_SIZE: usize = 8 << 20;
/// Distinct URIs whose CRLs are cached.
pub const MAX_FETCHED: usize = 256;
/// A failed URI is asked for again after this many seconds.
pub const RETRY_AFTER_FAILURE: i64 = 60;
/// A fetched CRL is not refetched sooner, even if its nextUpdate is past (a stale CRL at the
/// source would otherwise be fetched on every IKE_AUTH).
pub const MIN_REFETCH: i64 = 60;

/// The outcome of one fetch.
#[derive(Debug)]
pub struct Fetched {
    /// The URI asked for.
    pub uri: String,
    /// The DER (or PEM) body, or why there is none.
    pub result: Result<Vec<u8>, String>,
}

/// Fetched CRLs, retry times and fetches in flight.
#[derive(Default)]
pub struct Revocation {
    fetched: HashMap<String, Crl>,
    retry: HashMap<String, i64>,
    in_flight: HashSet<String>,
    sender: Option<mpsc::UnboundedSender<Fetched>>,
}

impl Revocation {
    /// Where fetch results go (the event loop's channel).
    pub fn set_sender(&mut self, sender: mpsc::UnboundedSender<Fetched>) {
        self.sender = Some(sender);
    }

    /// Starts fetching each URI not already in flight. Over the cache bound a URI fails at
    /// once (through the channel, like any failure). Without a sender (no event loop: the
    /// daemon always sets one before its first input) nothing is fetched.
    pub fn request(&mut self, uris: Vec<String>) {
        for uri in uris {
            if self.in_flight.contains(&uri) {
                continue;
            }
            let Some(sender) = self.sender.clone() else {
                continue;
            };
            self.in_flight.insert(uri.clone());
            if self.fetched.len() >= MAX_FETCHED && !self.fetched.contains_key(&uri) {
                let _ = sender.send(Fetched {
                    uri,
                    result: Err(format!("more than {MAX_FETCHED} CRL URIs cached")),
                });
                continue;
            }
            tracing::info!(target: "CFG", "  fetching crl from '{uri}' ...");
            tokio::spawn(async move {
                let result = match tokio::time::timeout(FETCH_TIMEOUT, http_get(&uri)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {}s", FETCH_TIMEOUT.as_secs())),
                };
                let _ = sender.send(Fetched { uri, result });
            });
        }
    }

    /// Records a fetch result at wall-clock time `now` (Unix seconds).
    pub fn complete(&mut self, fetched: Fetched, now: i64) {
        self.in_flight.remove(&fetched.uri);
        let crl = fetched
            .result
            .and_then(|body| Crl::load(&body).map_err(|e| e.to_string()));
        match crl {
            Ok(crl) => {
                let next = crl
                    .next_update()
                    .map_or(now.saturating_add(MIN_REFETCH), |n| {
                        n.max(now.saturating_add(MIN_REFETCH))
                    });
                tracing::info!(
                    target: "CFG",
                    "  fetched crl of \"{}\" from '{}', {} revoked, next update {}",
                    crl.issuer(),
                    fetched.uri,
                    crl.revoked().len(),
                    crl.next_update().map_or("none".to_string(), |n| n.to_string())
                );
                self.retry.insert(fetched.uri.clone(), next);
                self.fetched.insert(fetched.uri, crl);
            }
            Err(e) => {
                tracing::warn!(target: "CFG", "crl fetching from '{}' failed: {e}", fetched.uri);
                // Whatever was fetched from there before stays usable (stale or not).
                self.retry
                    .insert(fetched.uri, now.saturating_add(RETRY_AFTER_FAILURE));
            }
        }
    }

    /// The engine's credentials: the loaded ones plus the fetched CRLs and retry times.
    pub fn merge(&self, loaded: Arc<CredentialSet>) -> Arc<CredentialSet> {
        if self.fetched.is_empty() && self.retry.is_empty() {
            return loaded;
        }
        let mut set = Arc::unwrap_or_clone(loaded);
        for crl in self.fetched.values() {
            if !set.crls.contains(crl) {
                set.crls.push(crl.clone());
            }
        }
        set.crl_retry
            .extend(self.retry.iter().map(|(k, v)| (k.clone(), *v)));
        Arc::new(set)
    }

    /// How many URIs are being fetched (for tests and `stats`).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

/// GET `uri` (http:// only) with hyper's HTTP/1 client; the body is read up to
/// [`MAX_CRL_SIZE`].
async fn http_get(uri: &str) -> Result<Vec<u8>, String> {
    let parsed: hyper::Uri = uri.parse().map_err(|e| format!("invalid URI: {e}"))?;
    if parsed.scheme_str() != Some("http") {
        return Err("only http:// CRL URIs are fetched".into());
    }
    let host = parsed.host().ok_or("URI without host")?;
    let port = parsed.port_u16().unwrap_or(80);
    // An IPv6 literal keeps its brackets in the URI, not in the socket address.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::net::TcpStream::connect((bare, port))
        .await
        .map_err(|e| format!("connect to {host}:{port}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
    // The connection task ends with the request, or is aborted when this future is dropped
    // (on timeout).
    let driver = AbortOnDrop(tokio::spawn(conn));
    let authority = parsed
        .authority()
        .map_or_else(|| host.to_string(), |a| a.to_string());
    let path = parsed
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "iked")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("HTTP request: {e}"))?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_CRL_SIZE)
            .collect()
            .await
            .map_err(|e| format!("HTTP body: {e}"))?;
        Ok(body.to_bytes().to_vec())
    }
    .await;
    drop(driver);
    result
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
