//! The demo page and the widget script, compiled into the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const DEMO_PAGE: &str = include_str!("../../../web-widget/demo.html");
const WIDGET_JS: &str = include_str!("../../../web-widget/widget.js");

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
