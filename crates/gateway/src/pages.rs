//! The demo page, the widget script, the agent and admin consoles and their shared script,
//! compiled into the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const DEMO_PAGE: &str = include_str!("../../../web-widget/demo.html");
const WIDGET_JS: &str = include_str!("../../../web-widget/widget.js");
const CONSOLE_PAGE: &str = include_str!("../../../web-widget/console.html");
const ADMIN_PAGE: &str = include_str!("../../../web-widget/admin.html");
const STAFF_JS: &str = include_str!("../../../web-widget/staff.js");
/// The description of every HTTP route (`docs/openapi.yaml`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

/// `GET /`: a demo shop page that loads the widget with one script tag.
pub async fn demo_page() -> Html<&'static str> {
    Html(DEMO_PAGE)
}

/// `GET /widget.js`: the embeddable widget.
pub async fn widget_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        WIDGET_JS,
    )
}

/// `GET /staff.js`: the sign-in and API code the agent and admin consoles share.
pub async fn staff_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STAFF_JS,
    )
}

/// `GET /openapi.yaml`: the description of every HTTP route.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/yaml"), (header::CACHE_CONTROL, "public, max-age=300")], OPENAPI)
}

/// A staff page: never framed by another site, never cached.
fn staff_page(page: &'static str) -> impl IntoResponse {
    ([(header::X_FRAME_OPTIONS, "DENY"), (header::CACHE_CONTROL, "no-store")], Html(page))
}

/// `GET /console`: the agent console (signs in with an agent key, then uses `/api/v1`).
pub async fn console_page() -> impl IntoResponse {
    staff_page(CONSOLE_PAGE)
}

/// The admin page with the file types the knowledge library reads in its upload inputs.
static ADMIN_PAGE_FILLED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    ADMIN_PAGE.replace("{{DOCUMENT_TYPES}}", &frontdesk_core::documents::DocumentFormat::accept_list())
});

/// `GET /admin`: the admin console (signs in with an admin key).
pub async fn admin_page() -> impl IntoResponse {
    staff_page(ADMIN_PAGE_FILLED.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_admin_page_offers_every_document_format() {
        let page = super::ADMIN_PAGE_FILLED.as_str();
        assert!(!page.contains("{{"), "a placeholder is left");
        assert!(page.contains(".text,.pdf"), "the upload inputs accept every extension");
    }
}
