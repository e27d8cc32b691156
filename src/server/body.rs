//! Reading a review's body, bounded in size and in time. A body over the limit is read to
//! its end (up to a bound) before the 413 goes out: closing a connection with unread data
//! in the kernel's buffer sends a reset, and a client that is still writing would see the
//! reset instead of the answer.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures::StreamExt as _;
use tokio::time::Instant;

/// An UPDATE review carries two copies of the object; 8 MiB covers the largest objects
/// etcd accepts (1.5 MiB) twice over with room for the envelope.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The API server gives a webhook 10 s by default (30 s at most) for the whole call, and
/// sends a review in one write: a body still arriving after this is a stalled client.
pub(super) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an oversized body is read and discarded so its client can read the 413.
/// Past this the connection is closed at once (the client may see a reset).
const DISCARD_LIMIT_FACTOR: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// From the end of the headers to the end of the body.
    pub read_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_bytes: MAX_BODY_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("request body not received within {}s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("reading the request body")]
    Read(#[source] axum::Error),
}

/// The whole body, or why not. Never waits past `limits.read_timeout`.
pub(super) async fn read(
    headers: &HeaderMap,
    body: Body,
    limits: BodyLimits,
) -> Result<Bytes, BodyError> {
    let deadline = Instant::now() + limits.read_timeout;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let too_large = BodyError::TooLarge {
        limit: limits.max_bytes,
    };
    let discard_limit = limits.max_bytes.saturating_mul(DISCARD_LIMIT_FACTOR);
    if let Some(declared) = declared
        && declared > limits.max_bytes as u64
    {
        // A client waiting for `100 Continue` has sent nothing: answering at once spares it
        // the upload. One past the discard limit would be cut off anyway.
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue && declared <= discard_limit as u64 {
            discard(body.into_data_stream(), declared as usize, deadline).await;
        }
        return Err(too_large);
    }
    let mut stream = body.into_data_stream();
    let collect = async {
        let mut buffer = Vec::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BodyError::Read)?;
            if buffer.len() + chunk.len() > limits.max_bytes {
                return Ok(Err(buffer.len() + chunk.len()));
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(Ok(Bytes::from(buffer)))
    };
    match tokio::time::timeout_at(deadline, collect).await {
        Err(_elapsed) => Err(BodyError::Timeout(limits.read_timeout)),
        Ok(Err(error)) => Err(error),
        Ok(Ok(Ok(body))) => Ok(body),
        Ok(Ok(Err(read_so_far))) => {
            discard(stream, discard_limit.saturating_sub(read_so_far), deadline).await;
            Err(too_large)
        }
    }
}

/// Reads and drops up to `budget` more bytes, until the body ends or the deadline passes.
async fn discard(mut stream: axum::body::BodyDataStream, budget: usize, deadline: Instant) {
    let drain = async {
        let mut left = budget;
        while let Some(Ok(chunk)) = stream.next().await {
            match left.checked_sub(chunk.len()) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: usize) -> BodyLimits {
        BodyLimits {
            max_bytes,
            read_timeout: Duration::from_secs(5),
        }
    }

    fn chunked(chunks: &[&'static [u8]]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = chunks
            .iter()
            .map(|chunk| Ok(Bytes::from_static(chunk)))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_read_whole() {
        let body = read(&HeaderMap::new(), chunked(&[b"abc", b"def"]), limits(6)).await;
        assert_eq!(body.unwrap(), Bytes::from_static(b"abcdef"));
    }

    #[tokio::test]
    async fn one_byte_over_is_too_large_even_without_a_declared_length() {
        let error = read(&HeaderMap::new(), chunked(&[b"abc", b"defg"]), limits(6))
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::TooLarge { limit: 6 }), "{error}");
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "7".parse().unwrap());
        let error = read(&headers, chunked(&[b"abcdefg"]), limits(6))
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::TooLarge { .. }), "{error}");
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let stalled =
            futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{")) })
                .chain(futures::stream::pending());
        let limits = BodyLimits {
            max_bytes: 6,
            read_timeout: Duration::from_millis(50),
        };
        let error = read(&HeaderMap::new(), Body::from_stream(stalled), limits)
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::Timeout(_)), "{error}");
        assert_eq!(error.to_string(), "request body not received within 0.05s");
    }
}
