//! Stylesheet and scripts, built into the binary so it runs from any working directory.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::http::error::AppError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
    ),
    (
        "autopost.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/autopost.js"),
    ),
];

/// `/static/{file}`
pub async fn get_static(file: web::Path<String>) -> Result<HttpResponse, AppError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
        .ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(*body))
}
