//! eventlet's wire from hyper's: where hyper will not write what Glance's eventlet server
//! put on the wire, or reads a request differently, mended in the bytes on their way
//! between the socket and hyper (by `edge::server`'s connection).
//!
//! - **The status line of an answer to an HTTP/1.0 request.** hyper answers such a peer
//!   with `HTTP/1.0 200 OK`; eventlet always wrote `HTTP/1.1` (which is also what RFC 9110
//!   §2.5 asks of a server: its own highest version). The headers were already the same.
//! - **`Content-Length: 0` on a 204.** WebOb set it and eventlet sent it, just before
//!   `Date`; hyper never writes a length on a 204 (RFC 9110 forbids it, and no client
//!   minds either way). The member calls of the v1 API answer 204.
//! - **A `#` in a request target.** eventlet split the target at `?` only, so `#frag` was
//!   part of the path (an image id `abc#frag`, a 404); hyper's URI parser drops the
//!   fragment, and `HEAD /v1/images/<id>#x` would find `<id>`. [`TargetKeeper`] follows the
//!   requests coming in and hands hyper `%23` for each `#` in a request line, which the
//!   router decodes back, as WSGI's `PATH_INFO` had it.
//! - **`CONNECT /path`.** eventlet routed it like any other method (Glance answered it as a
//!   GET); hyper takes every CONNECT for a tunnel request, refuses an origin-form target and
//!   drops the connection unanswered. The keeper hands hyper [`CONNECT_STAND_IN`] instead
//!   of the method, and the service puts `CONNECT` back. A read that ends in part of
//!   `CONNECT /` at the start of a head is held back (at most 8 bytes) until the next read
//!   says whether it is one; hyper is never handed an empty read, which it would take for
//!   the end of the stream.
//! - **Request heads past eventlet's limits** ([`limits`]): a request line of 8,192
//!   bytes, a header line of 16,384, a header block over 65,536, a 100th header line, a
//!   `Content-Length` Python cannot read. hyper refuses at other sizes, in its own bytes
//!   (or not at all). The keeper measures each head as it arrives and does not hand a
//!   refused one to hyper: hyper answers the requests before it and reads the end of the
//!   stream, and the connection writes eventlet's answer before it closes.
//! - **A header line that is no header to Python's email parser** (a space before the
//!   colon, a byte outside ASCII in the name, no colon): it ended the header block for
//!   Glance, silently; hyper refuses the request. The keeper hands hyper the head without
//!   that line and the header lines after it ([`limits::python_header_cut`]).
//! - **Image data after an unanswered `Expect: 100-continue`.** eventlet closed the
//!   connection afterwards without a `Connection` line; hyper only closes after saying
//!   `Connection: close`. The answer says it for hyper ([`crate::app::UnannouncedClose`]),
//!   and the mender leaves that one line off the wire.
//!
//! [`HeadFixer`] follows the framing of the responses going out so that it only ever
//! touches a head: a head is read up to its blank line, mended and queued; the body after
//! it (`Content-Length` bytes, none for a 1xx/204/304 or the answer to a HEAD) goes through
//! untouched, without a copy. Whether a response answers a HEAD is not in its bytes, so
//! the service queues each request's method as hyper hands it over ([`ReplyOrder`]); an
//! HTTP/1 connection answers in request order. Anything the fixer cannot follow (a chunked
//! or close-delimited body, a head over [`MAX_HEAD`](mender::MAX_HEAD), a status line that
//! is not hyper's) ends its work on that connection: every later byte goes out as hyper
//! wrote it.
//!
//! - **A request line Python read otherwise than hyper** (runs of any whitespace, odd
//!   versions, two words for HTTP/0.9): handed to hyper in the form it reads, or refused
//!   with Python's `send_error` page ([`request_line`]).
//!
//! Four files: `mender.rs`, the response side ([`HeadFixer`], [`ReplyOrder`]),
//! `keeper.rs`, the request side ([`TargetKeeper`], which hands hyper each head whole),
//! `request_line.rs`, Python's reading of the request line, and `limits.rs`, eventlet's
//! limits on a request head and its answers ([`Refusal`]).

mod keeper;
pub mod limits;
mod mender;
pub(crate) mod request_line;

pub use keeper::TargetKeeper;
pub use keeper::HTTP10_CHUNKED;
pub use limits::Refusal;
pub use mender::{HeadFixer, ReplyOrder};
pub use request_line::CONNECT_STAND_IN;
