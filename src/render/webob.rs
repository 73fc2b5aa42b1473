//! The closed set of request failures and how WebOb 1.7 rendered them: status, the body
//! chosen by `Accept` (HTML, JSON or plain text), header order, and the empty HEAD form.

use std::borrow::Cow;

use http::StatusCode;

/// A failed request, as Glance raised it (`webob.exc.HTTP*`).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Replaces WebOb's generic explanation for the status (Glance's `explanation=msg`).
    pub explanation: Option<Cow<'static, str>>,
    /// WebOb's `detail` (Glance's `detail=msg`, shown after the generic explanation).
    pub detail: Option<String>,
    /// Glance passed `content_type="text/plain"`: only visible on HEAD, where there is no body.
    pub plain: bool,
    /// `Allow` header for 405s.
    pub allow: Option<&'static str>,
    /// A literal body (exceptions raised with `body=`), sent as `text/plain; charset=UTF-8`.
    pub literal: Option<String>,
    /// The message carries text WebOb had decoded (a query parameter): Python held it as
    /// text on 2.7 as on 3, and `html_escape` wrote each non-ASCII character of it as a
    /// decimal character reference (`&#233;`) in the HTML page.
    pub charrefs: bool,
}

impl ApiError {
    /// An error with WebOb's generic text for `status`.
    pub fn new(status: StatusCode) -> Self {
        ApiError {
            status,
            explanation: None,
            detail: None,
            plain: false,
            allow: None,
            literal: None,
            charrefs: false,
        }
    }

    /// The message holds decoded query text ([`ApiError::charrefs`]).
    pub fn with_charrefs(mut self) -> Self {
        self.charrefs = true;
        self
    }

    /// `HTTP*(explanation=msg)`.
    pub fn explained(status: StatusCode, msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            explanation: Some(msg.into()),
            ..ApiError::new(status)
        }
    }

    /// `HTTP*(detail=msg)`.
    pub fn detailed(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiError {
            detail: Some(msg.into()),
            ..ApiError::new(status)
        }
    }

    /// 400 with Glance's message.
    pub fn bad_request(msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError::explained(StatusCode::BAD_REQUEST, msg).plain()
    }

    /// 403 with Glance's message.
    pub fn forbidden(msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError::explained(StatusCode::FORBIDDEN, msg).plain()
    }

    /// 404 from `get_image_meta_or_404`: generic explanation, message as detail, text/plain.
    pub fn image_not_found(id: &str) -> Self {
        ApiError::detailed(
            StatusCode::NOT_FOUND,
            format!("Image with identifier {id} not found"),
        )
        .plain()
    }

    /// 409 with Glance's message.
    pub fn conflict(msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError::explained(StatusCode::CONFLICT, msg).plain()
    }

    /// 413 with Glance's message.
    pub fn too_large(msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError::explained(StatusCode::PAYLOAD_TOO_LARGE, msg).plain()
    }

    /// A router 405 with its `Allow` list.
    pub fn method_not_allowed(allow: Option<&'static str>) -> Self {
        ApiError {
            allow,
            ..ApiError::new(StatusCode::METHOD_NOT_ALLOWED)
        }
    }

    /// An error glance-registry raised and glance-api re-raised as 400 with the registry's
    /// whole plain-text error page as its explanation (list parameter checks and the like).
    pub fn from_registry(inner: ApiError, prefix: &str) -> Self {
        let page = inner.body(BodyKind::Plain, "GET");
        ApiError::explained(inner.status, format!("{prefix}{page}")).plain()
    }

    /// Marks the error as raised with `content_type="text/plain"`.
    pub fn plain(mut self) -> Self {
        self.plain = true;
        self
    }
}

/// The body format WebOb picked from `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `text/html; charset=UTF-8`
    Html,
    /// `application/json`
    Json,
    /// `text/plain; charset=UTF-8`
    Plain,
}

impl BodyKind {
    /// WebOb 1.7's `MIMEAccept(value).best_match(['text/html', 'application/json'])`, as
    /// `HTTPException.generate_response` chose an error page's format: plain text when
    /// neither matches (a missing `Accept` included). `accept` is one header value's bytes.
    pub fn from_accept(accept: Option<&[u8]>) -> Self {
        Self::negotiate(&latin1(accept.unwrap_or_default()))
    }

    /// [`BodyKind::from_accept`] of a request's `Accept` as the WSGI environ held it:
    /// repeated lines one `,`-joined value, each byte one character.
    pub fn from_headers(h: &http::HeaderMap) -> Self {
        let mut all = h.get_all(http::header::ACCEPT).iter();
        let Some(first) = all.next() else {
            return BodyKind::Plain;
        };
        let mut text = latin1(first.as_bytes());
        for v in all {
            text.push(',');
            text.push_str(&latin1(v.as_bytes()));
        }
        Self::negotiate(&text)
    }

    fn negotiate(accept: &str) -> Self {
        // `best_match` looked at the masks with a non-zero quality only.
        let masks: Vec<(String, f64)> = mime_accept(accept)
            .into_iter()
            .filter(|(_, q)| *q != 0.0)
            .collect();
        let mut best: (f64, Option<BodyKind>, &str) = (-1.0, None, "*/*");
        for (offer, kind) in [
            ("text/html", BodyKind::Html),
            ("application/json", BodyKind::Json),
        ] {
            for (mask, q) in &masks {
                let stars = |m: &str| m.bytes().filter(|&c| c == b'*').count();
                // Equal quality: only a more specific mask than the one that matched wins.
                if *q < best.0 || (*q == best.0 && stars(best.2) <= stars(mask)) {
                    continue;
                }
                if mime_match(mask, offer) {
                    best = (*q, Some(kind), mask);
                }
            }
        }
        best.1.unwrap_or(BodyKind::Plain)
    }

    /// The Content-Type header value.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyKind::Html => "text/html; charset=UTF-8",
            BodyKind::Json => "application/json",
            BodyKind::Plain => "text/plain; charset=UTF-8",
        }
    }
}

/// Bytes as Python's latin-1 text.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// Python's `str.isspace()`/`\s` over latin-1 text.
fn py_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..='\x20' | '\u{85}' | '\u{a0}')
}

/// `MIMEAccept.parse`: the masks and their qualities, lower-cased, in order. Each comes
/// from WebOb's `part_re` (`,\s*([^\s;,\n]+)(?:[^,]*?;\s*q=([0-9.]*))?`, searched in
/// `',' + value`); masks that are not `type/subtype` or put `*` anywhere but a whole part
/// (or `*/x`) are dropped.
fn mime_accept(value: &str) -> Vec<(String, f64)> {
    let s: Vec<char> = std::iter::once(',').chain(value.chars()).collect();
    let at = |i: usize| s.get(i).copied();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != ',' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while at(j).is_some_and(py_space) {
            j += 1;
        }
        let start = j;
        while at(j).is_some_and(|c| !py_space(c) && c != ';' && c != ',') {
            j += 1;
        }
        if j == start {
            i += 1;
            continue;
        }
        let name: String = s[start..j].iter().collect();
        // The first `;\s*q=` before the next comma, and the digits and dots after it.
        let (mut end, mut q_text) = (j, None);
        let mut k = j;
        while let Some(c) = at(k).filter(|&c| c != ',') {
            if c == ';' {
                let mut m = k + 1;
                while at(m).is_some_and(py_space) {
                    m += 1;
                }
                if at(m) == Some('q') && at(m + 1) == Some('=') {
                    let mut d = m + 2;
                    while at(d).is_some_and(|c| c.is_ascii_digit() || c == '.') {
                        d += 1;
                    }
                    q_text = Some(s[m + 2..d].iter().collect::<String>());
                    end = d;
                    break;
                }
            }
            k += 1;
        }
        i = end;
        if name == "q" {
            continue;
        }
        // float() of the digits, clamped to [0, 1]; 1 when empty or not a number.
        let q = q_text
            .filter(|t| !t.is_empty())
            .and_then(|t| t.parse::<f64>().ok())
            .map_or(1.0, |q| q.clamp(0.0, 1.0));
        let Some((major, minor)) = name.split_once('/') else {
            continue;
        };
        if minor.contains('/') {
            continue;
        }
        let (major, minor) = (major.to_lowercase(), minor.to_lowercase());
        let wild_in = |p: &str| p != "*" && p.contains('*');
        if (major == "*" && minor != "*") || wild_in(&major) || wild_in(&minor) {
            continue;
        }
        out.push((format!("{major}/{minor}"), q));
    }
    out
}

/// `str(req.accept)` (WebOb 1.7 `Accept.__str__` over `MIMEAccept.parse`): every mask kept,
/// lower-cased, joined by `, `, a quality other than 1 written back as `;q=` with as many
/// decimals as Python's `str()` of it had, three at most. Glance's version negotiation
/// looked for its media type at the start of this text, not of the header.
pub fn accept_str(value: &[u8]) -> String {
    let masks = mime_accept(&latin1(value));
    let mut out = String::new();
    for (mask, q) in masks {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&mask);
        if q != 1.0 {
            let shown = format!("{q}");
            let decimals = shown.split_once('.').map_or(1, |(_, d)| d.len()).min(3);
            out.push_str(&format!(";q={q:.decimals$}"));
        }
    }
    out
}

/// `MIMEAccept._match` of a parsed mask against an offer without wildcards.
fn mime_match(mask: &str, offer: &str) -> bool {
    if mask == offer || mask == "*/*" {
        return true;
    }
    match mask.split_once('/') {
        Some((t, "*")) => offer.split_once('/').is_some_and(|(o, _)| o == t),
        _ => false,
    }
}

/// WebOb's reason phrase and generic explanation for a status.
pub fn title_and_explanation(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        300 => ("Multiple Choices", "The resource has been moved to"),
        400 => (
            "Bad Request",
            "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        ),
        401 => (
            "Unauthorized",
            "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.",
        ),
        403 => ("Forbidden", "Access was denied to this resource."),
        404 => ("Not Found", "The resource could not be found."),
        405 => ("Method Not Allowed", ""),
        // webob.exc.HTTPRequestTimeout (used for an upload cut off as too slow).
        408 => (
            "Request Timeout",
            "The server has waited too long for the request to be sent by the client.",
        ),
        409 => ("Conflict", "There was a conflict when trying to complete your request."),
        410 => (
            "Gone",
            "This resource is no longer available.  No forwarding address is given.",
        ),
        412 => ("Precondition Failed", "Request precondition failed."),
        413 => (
            "Request Entity Too Large",
            "The body of your request was too large for this server.",
        ),
        415 => ("Unsupported Media Type", ""),
        500 => (
            "Internal Server Error",
            "The server has either erred or is incapable of performing the requested operation.",
        ),
        501 => ("Not Implemented", ""),
        503 => (
            "Service Unavailable",
            "The server is currently unavailable. Please try again at a later time.",
        ),
        _ => (status.canonical_reason().unwrap_or("Error"), ""),
    }
}

/// HTML-escapes as Python 3's `html.escape(s, quote=True)` (WebOb's `html_escape`).
pub fn html_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// WebOb's `strip_tags` used for the plain-text body.
fn strip_tags(v: &str) -> String {
    let v = v.replace('\n', " ").replace('\r', "");
    let mut out = String::with_capacity(v.len());
    let mut rest = v.as_str();
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match after.find('>') {
            Some(end) => {
                let tag = &after[..=end];
                if tag.get(1..3).is_some_and(|t| t.eq_ignore_ascii_case("br")) {
                    out.push('\n');
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl ApiError {
    /// The status line text, e.g. `404 Not Found`.
    pub fn status_text(&self) -> String {
        format!(
            "{} {}",
            self.status.as_u16(),
            title_and_explanation(self.status).0
        )
    }

    /// Renders the body WebOb would have generated for `kind`. `method` fills the 405/501
    /// templates.
    pub fn body(&self, kind: BodyKind, method: &str) -> String {
        if let Some(lit) = &self.literal {
            return lit.clone();
        }
        let status = self.status_text();
        let (title, generic) = title_and_explanation(self.status);
        let escape = kind == BodyKind::Html;
        let esc = |s: &str| -> String {
            if !escape {
                return s.to_string();
            }
            let e = html_escape(s);
            if !self.charrefs || e.is_ascii() {
                return e.into_owned();
            }
            // `.encode('ascii', 'xmlcharrefreplace')`.
            let mut out = String::with_capacity(e.len() + 16);
            for c in e.chars() {
                if c.is_ascii() {
                    out.push(c);
                } else {
                    out.push_str(&format!("&#{};", u32::from(c)));
                }
            }
            out
        };
        let detail = esc(self.detail.as_deref().unwrap_or(""));
        let inner = match self.status.as_u16() {
            405 => format!(
                "The method {method} is not allowed for this resource. <br /><br />\n{detail}"
            ),
            // Glance's router for a path no route matched, with a method it did not know.
            501 => format!(
                "\nThe request method {method} is not implemented for this server. <br /><br />\n{detail}"
            ),
            _ => {
                let expl = esc(self.explanation.as_deref().unwrap_or(generic));
                format!("{expl}<br /><br />\n{detail}\n\n")
            }
        };
        match kind {
            BodyKind::Html => format!(
                "<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  <h1>{status}</h1>\n  {inner}\n </body>\n</html>"
            ),
            BodyKind::Json => crate::render::python::json::to_string(&serde_json::json!({
                "message": inner,
                "code": status,
                "title": title,
            })),
            BodyKind::Plain => format!("{status}\n\n{}", strip_tags(&inner)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: decoded query text is written in the HTML page with character references for
    // every non-ASCII character (WebOb's xmlcharrefreplace); JSON and plain text keep it.
    #[test]
    fn query_text_gets_character_references_in_html() {
        let e = ApiError::detailed(StatusCode::BAD_REQUEST, "got caf\u{e9} <\u{20ac}>");
        assert!(e
            .body(BodyKind::Html, "GET")
            .contains("got caf\u{e9} &lt;\u{20ac}&gt;"));
        let e = e.with_charrefs();
        assert!(e
            .body(BodyKind::Html, "GET")
            .contains("got caf&#233; &lt;&#8364;&gt;\n"));
        // (The plain page drops what looks like a tag, as WebOb's strip_tags did.)
        let plain = e.body(BodyKind::Plain, "GET");
        assert!(plain.contains("got caf\u{e9} "), "{plain:?}");
        assert!(!plain.contains("&#"), "{plain:?}");
    }

    // Rule: The HTML error page matches real Glance's capture 22 byte for byte.
    #[test]
    fn html_body_matches_capture_22() {
        let e = ApiError::image_not_found("00000000-0000-0000-0000-000000000000");
        assert_eq!(
            e.body(BodyKind::Html, "GET"),
            "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\nImage with identifier 00000000-0000-0000-0000-000000000000 not found\n\n\n </body>\n</html>"
        );
    }

    // Rule: The HTML error page escapes quotes as WebOb did (capture 50).
    #[test]
    fn html_escapes_quotes_like_capture_50() {
        let e = ApiError::bad_request("Setting image status to 'killed'.");
        assert!(e
            .body(BodyKind::Html, "POST")
            .contains("  Setting image status to &#x27;killed&#x27;.<br /><br />\n\n\n\n </body>"));
    }

    // Rule: Plain and JSON error bodies are WebOb's.
    #[test]
    fn plain_and_json_bodies() {
        let e = ApiError::image_not_found("x");
        assert_eq!(
            e.body(BodyKind::Plain, "GET"),
            "404 Not Found\n\nThe resource could not be found.\n\n Image with identifier x not found  "
        );
        assert_eq!(
            e.body(BodyKind::Json, "GET"),
            r#"{"message": "The resource could not be found.<br /><br />\nImage with identifier x not found\n\n", "code": "404 Not Found", "title": "Not Found"}"#
        );
    }

    #[test]
    fn plain_body_survives_any_text() {
        // Client-supplied values end up in messages; odd markup must never panic.
        let e = ApiError::bad_request("Invalid disk format '<a\u{e9}>' for image. <br><\u{e9}");
        let body = e.body(BodyKind::Plain, "POST");
        assert!(
            body.starts_with("400 Bad Request\n\nInvalid disk format '' for image. \n"),
            "{body}"
        );
    }

    // Rule: The error body kind follows WebOb's Accept negotiation (none: plain, */*: HTML, JSON when asked).
    #[test]
    fn accept_negotiation() {
        assert_eq!(BodyKind::from_accept(None), BodyKind::Plain);
        assert_eq!(BodyKind::from_accept(Some(b"*/*")), BodyKind::Html);
        assert_eq!(
            BodyKind::from_accept(Some(b"application/json")),
            BodyKind::Json
        );
        assert_eq!(
            BodyKind::from_accept(Some(b"text/html;q=0.5, application/json")),
            BodyKind::Json
        );
        assert_eq!(BodyKind::from_accept(Some(b"text/plain")), BodyKind::Plain);
        assert_eq!(
            BodyKind::from_accept(Some(b"application/*")),
            BodyKind::Json
        );
        // WebOb's parser, measured against Glance 15: a bare `*` is no mask; an equal
        // quality goes to the more specific mask; an unreadable q is 1; q=0 is dropped.
        for (accept, want) in [
            ("*", BodyKind::Plain),
            ("*/json", BodyKind::Plain),
            ("text/*;q=0.5, application/json;q=0.5", BodyKind::Json),
            ("*/*;q=0.5, application/json;q=0.5", BodyKind::Json),
            ("text/html;q=., application/json;q=0.9", BodyKind::Html),
            ("text/html;q=0, application/json;q=0.1", BodyKind::Json),
            ("text/html;q=0, */*;q=0.1", BodyKind::Html),
            ("TEXT/HTML", BodyKind::Html),
            (
                "application/json;level=1;q=0.4,text/html;q=0.3",
                BodyKind::Json,
            ),
            ("\u{a0}application/json", BodyKind::Json),
            ("text/html/x", BodyKind::Plain),
        ] {
            assert_eq!(BodyKind::negotiate(accept), want, "{accept:?}");
        }
    }
}
