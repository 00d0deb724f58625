//! `GET /dashboard`: the moderator console (contract §9), static files built
//! into the binary: the console itself (`web/console/`) and the project's own
//! JavaScript client (`clients/js/src/`, served at `/dashboard/client/`), so
//! the page loads nothing from anywhere but this node. Every answer carries a
//! strict Content-Security-Policy: scripts, styles and connections to this
//! origin only, no inline code, no framing.
//!
//! In debug builds the files are read from disk (edit and reload); release
//! builds embed them.

use actix_web::{HttpResponse, web};
use rust_embed::RustEmbed;

use super::ApiError;

#[derive(RustEmbed)]
#[folder = "web/console/"]
struct Console;

#[derive(RustEmbed)]
#[folder = "clients/js/src/"]
struct Client;

/// The console's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(index))
        .route("/dashboard/", web::get().to(index))
        .route("/dashboard/client/{file:.*}", web::get().to(client))
        .route("/dashboard/{file:.*}", web::get().to(console));
}

fn serve(file: Option<rust_embed::EmbeddedFile>, path: &str) -> Result<HttpResponse, ApiError> {
    let file = file.ok_or_else(|| ApiError::NotFound(format!("no such file: {path}")))?;
    Ok(HttpResponse::Ok()
        .content_type(file.metadata.mimetype())
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(file.data.into_owned()))
}

async fn index() -> Result<HttpResponse, ApiError> {
    serve(Console::get("index.html"), "index.html")
}

async fn console(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    serve(Console::get(&path), &path)
}

async fn client(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    serve(Client::get(&path), &path)
}
