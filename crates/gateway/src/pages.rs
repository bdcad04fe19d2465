//! The demo page, the widget script and the agent console, compiled into the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const DEMO_PAGE: &str = include_str!("../../../web-widget/demo.html");
const WIDGET_JS: &str = include_str!("../../../web-widget/widget.js");
const CONSOLE_PAGE: &str = include_str!("../../../web-widget/console.html");
const ADMIN_PAGE: &str = include_str!("../../../web-widget/admin.html");

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

/// A staff page: never framed by another site, never cached.
fn staff_page(page: &'static str) -> impl IntoResponse {
    ([(header::X_FRAME_OPTIONS, "DENY"), (header::CACHE_CONTROL, "no-store")], Html(page))
}

/// `GET /console`: the agent console (signs in with an agent key, then uses `/api/v1`).
pub async fn console_page() -> impl IntoResponse {
    staff_page(CONSOLE_PAGE)
}

/// `GET /admin`: the admin console (signs in with an admin key).
pub async fn admin_page() -> impl IntoResponse {
    staff_page(ADMIN_PAGE)
}
