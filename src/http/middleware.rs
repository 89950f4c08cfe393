//! Response policy applied to every answer: request id header, security headers, cache control,
//! error pages, and metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use askama::Template;
use tracing_actix_web::RequestId;

use crate::http::error::AppError;
use crate::http::state::AppState;
use crate::store::Store;

/// Permissions-Policy for every response: the broker uses no browser feature beyond forms, so
/// none is granted, and a page injected or framed despite the CSP cannot ask for the camera,
/// the microphone, the location, payments or devices.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), autoplay=(), bluetooth=(), camera=(), \
     display-capture=(), geolocation=(), gyroscope=(), hid=(), idle-detection=(), \
     magnetometer=(), microphone=(), midi=(), payment=(), publickey-credentials-get=(), \
     screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=(), interest-cohort=()";

/// Content-Security-Policy for every page: no inline script or style, no framing, forms post
/// only to ourselves (pages that post to AWS widen `form-action` for themselves).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
    nav: Option<crate::http::routes::Nav>,
}

/// Sets the headers every response carries and renders error pages with the request id.
pub async fn response_policy(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let tls = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.tls_enabled());
    let res = next.call(req).await?;
    let mut res = render_error_page(res, &request_id);

    let headers = res.headers_mut();
    let set = |headers: &mut actix_web::http::header::HeaderMap,
               name: HeaderName,
               value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), v);
    }
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    // Pages carry CSRF tokens and personal data: nothing is cached unless a handler says so
    // (static assets do).
    set(headers, header::CACHE_CONTROL, "no-store");
    if tls {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    Ok(res)
}

/// Replaces the empty body of an `AppError` response with the HTML error page.
fn render_error_page<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    request_id: &str,
) -> ServiceResponse<BoxBody> {
    let page = res
        .response()
        .error()
        .and_then(|e| e.as_error::<AppError>())
        .filter(|e| !e.status_code().is_redirection())
        .map(|e| {
            match e {
                // `{:?}` of anyhow prints the whole cause chain.
                AppError::Internal(inner) => tracing::error!(error = ?inner, "request failed"),
                AppError::Unavailable(why) => {
                    tracing::warn!(error = %why, "dependency unavailable")
                }
                _ => {}
            }
            let (title, message) = e.page();
            let html = ErrorPage {
                title,
                message: &message,
                request_id,
                nav: None,
            }
            .render()
            .unwrap_or_else(|_| format!("{title}. Reference: {request_id}"));
            (e.status_code(), html)
        });
    match page {
        Some((status, html)) => {
            let (req, _) = res.into_parts();
            let response = HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html);
            ServiceResponse::new(req, response)
        }
        None => res.map_into_boxed_body(),
    }
}

/// The hot paths that write none of the cached tables (`store/cache.rs`): the portal and the
/// console sign-in (which writes only its audit event). Their cached reads share one read of
/// the generations per request. A path that writes users, groups, sessions, rules, Region
/// controls, learned limits or keys must not be listed: its later reads would miss its own
/// write. The console POST of a role with a session policy goes on to STS and the federation
/// link (`aws::console`), which may write a learned limit or an STS endpoint's health; it reads
/// neither again after writing (the endpoint marks it learned are also kept in memory), so
/// the shared read stays correct there too.
const ONE_GENERATIONS_READ: &[(Method, &str)] =
    &[(Method::GET, "/"), (Method::POST, "/saml/aws/sso")];

/// Runs the requests of [`ONE_GENERATIONS_READ`] with one read of the cached generations.
pub async fn share_generations_read(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let listed = ONE_GENERATIONS_READ
        .iter()
        .any(|(method, path)| req.method() == method && req.path() == *path);
    if listed {
        Store::with_one_generations_read(next.call(req)).await
    } else {
        next.call(req).await
    }
}

/// Counts requests and latencies by route pattern and status.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        state
            .metrics
            .observe(&method, &route, res.status().as_u16(), started.elapsed());
    }
    Ok(res)
}
