//! Logging: human-readable or JSON lines, each carrying the request id of the request it belongs to.
//!
//! The root span records the route pattern and the path only. Query strings are dropped on
//! purpose: OIDC `code`/`state` and SAML payloads travel there. Headers (cookies) and bodies
//! (passwords, assertions) are never recorded.

use std::io::IsTerminal;

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

/// Installs the global subscriber; `RUST_LOG` overrides `log.level`. Safe to call twice.
pub fn init(settings: &LogSettings) {
    let mut filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    for target in BODY_LOGGING_CRATES {
        if let Ok(directive) = format!("{target}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
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
