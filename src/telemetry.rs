//! Logging: human-readable or JSON lines, each carrying the request id of the request it belongs to.
//!
//! The root span records the route pattern and the path only. Query strings are dropped on
//! purpose: OIDC `code`/`state` and SAML payloads travel there. Headers (cookies) and bodies
//! (passwords, assertions) are never recorded.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Crates whose debug and trace output includes HTTP bodies (STS answers carry credentials,
/// federation answers carry sign-in tokens): held at `warn` whatever `RUST_LOG` says.
const BODY_LOGGING_CRATES: [&str; 6] = [
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sdk_sts",
    "hyper",
    "hyper_util",
    "reqwest",
];

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTo {
    /// The server: its log is its output (containers and journald read stdout).
    Stdout,
    /// Other commands: their results are stdout (`rules export > rules.yaml`), logs stay apart.
    Stderr,
}

/// Installs the global subscriber; `RUST_LOG` overrides `log.level`. Safe to call twice.
pub fn init(settings: &LogSettings, to: LogTo) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    for target in BODY_LOGGING_CRATES {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let ansi = match to {
        LogTo::Stdout => std::io::stdout().is_terminal(),
        LogTo::Stderr => std::io::stderr().is_terminal(),
    };
    let format = settings.format;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(move || EscapedLog {
            style: match format {
                LogFormat::Text => Style::Text { keep_colours: ansi },
                LogFormat::Json => Style::Json,
            },
            to,
        });
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Root span per request: method, route, path (no query), request id, and the status at the end.
pub struct QuietRootSpan;

impl RootSpanBuilder for QuietRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "http",
            method = %request.method(),
            route = request.match_pattern().as_deref().unwrap_or("unmatched"),
            path = %request.path(),
            request_id = %request_id,
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(res) => res.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        span.record("status", status);
        tracing::info!(parent: &span, status, "request finished");
    }
}

/// Writes log lines (to stdout or stderr) with every control character inside a line escaped.
///
/// Logged values come from people (a username typed at the login page, a header): a newline in
/// one would start a forged log line, an escape sequence would rewrite the terminal. Escaping at
/// the writer covers every field of every event, in text and JSON alike, without each log call
/// having to remember it. The formatter hands over one whole event per write, ending in `\n`.
pub struct EscapedLog {
    style: Style,
    to: LogTo,
}

/// How escaped characters are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `\n`, `\u{1b}`; with `keep_colours`, the formatter's own colour sequences stay.
    Text { keep_colours: bool },
    /// `\u001b`, valid inside the JSON strings where such characters can only stand.
    Json,
}

impl Write for EscapedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, newline) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (&*text, ""),
        };
        let escaped = escape_controls(line, self.style);
        let whole = format!("{escaped}{newline}");
        match self.to {
            LogTo::Stdout => std::io::stdout().lock().write_all(whole.as_bytes())?,
            LogTo::Stderr => std::io::stderr().lock().write_all(whole.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.to {
            LogTo::Stdout => std::io::stdout().flush(),
            LogTo::Stderr => std::io::stderr().flush(),
        }
    }
}

/// Escapes control characters (C0, DEL, C1), line and paragraph separators and bidi controls.
pub fn escape_controls(line: &str, style: Style) -> Cow<'_, str> {
    let needs = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !line.chars().any(needs) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' && style == (Style::Text { keep_colours: true }) {
            if let Some(len) = colour_sequence_len(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        match (c, style) {
            ('\n', _) => out.push_str("\\n"),
            ('\r', _) => out.push_str("\\r"),
            ('\t', _) => out.push_str("\\t"),
            (c, Style::Json) if needs(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            (c, _) if needs(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            (c, _) => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Length of an SGR sequence (`ESC [ 0-9 ; ... m`) at the start of `s`, if there is one.
fn colour_sequence_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\u{1b}[")?;
    let digits = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (body.as_bytes().get(digits) == Some(&b'm')).then_some(2 + digits + 1)
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, Style};

    const PLAIN: Style = Style::Text {
        keep_colours: false,
    };
    const COLOURS: Style = Style::Text { keep_colours: true };

    #[test]
    fn a_newline_in_a_value_cannot_start_a_new_log_line() {
        let forged = "x\n2026-01-01T00:00:00Z  INFO signed in user=admin";
        let escaped = escape_controls(forged, PLAIN);
        assert!(!escaped.contains('\n'));
        assert_eq!(
            escaped,
            "x\\n2026-01-01T00:00:00Z  INFO signed in user=admin"
        );
    }

    #[test]
    fn terminal_and_bidi_controls_are_escaped_colours_kept_when_asked() {
        assert_eq!(
            escape_controls("a\u{1b}]0;pwned\u{7}b", COLOURS),
            "a\\u{1b}]0;pwned\\u{7}b"
        );
        assert_eq!(
            escape_controls("\u{1b}[1mINFO\u{1b}[0m", COLOURS),
            "\u{1b}[1mINFO\u{1b}[0m"
        );
        assert_eq!(escape_controls("\u{1b}[1m", PLAIN), "\\u{1b}[1m");
        assert_eq!(
            escape_controls("admin\u{202e}nimda", PLAIN),
            "admin\\u{202e}nimda"
        );
        assert_eq!(escape_controls("tab\there\r", PLAIN), "tab\\there\\r");
        assert_eq!(escape_controls("plain café", PLAIN), "plain café");
        assert_eq!(
            escape_controls("{\"user\":\"a\u{2028}b\u{85}\"}", Style::Json),
            r#"{"user":"a\u2028b\u0085"}"#
        );
    }
}
