//! The document around every page, and the application's routes.

use crate::pages;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{path, SsrMode};

/// The policy every page is served with: scripts only from this site or with this response's
/// nonce (the hydration script), wasm allowed to compile, framing only by `frame_ancestors`
/// (`'none'` but for embeds), forms only to this site. Style attributes stay allowed: charts
/// position their tooltips with them.
pub fn content_security_policy(nonce: &str, frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// Replaces this response's policy with one that lets `frame_ancestors` frame the page.
pub fn allow_framing_by(frame_ancestors: &str) {
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(value) =
            http::HeaderValue::from_str(&content_security_policy(&nonce, frame_ancestors))
        {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    leptos::nonce::provide_nonce();
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce, "'none'")) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme_from_request()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark light"/>
                <link rel="stylesheet" href="/pkg/osprey.css"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options islands=true/>
                // Osprey's pages report their own errors and vitals with the reader's session, so
                // no page carries a key: only for someone who may read, and never in embeds.
                {(!is_embed() && !crate::auth::who().role.is_empty()).then(|| view! {
                    <script src="/sdk/osprey.js" defer data-session="" data-service="osprey-dashboard"></script>
                })}
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Whether this request is for an embed (`/embed/…`): no navigation, no self-monitoring.
fn is_embed() -> bool {
    use_context::<http::request::Parts>().is_some_and(|p| p.uri.path().starts_with("/embed/"))
}

/// The theme the reader chose last (a cookie set by the theme toggle), dark by default; an
/// embed's URL may ask for one (`theme=light`) to match the page around it.
fn theme_from_request() -> &'static str {
    if let Some(parts) = use_context::<http::request::Parts>() {
        if parts.uri.path().starts_with("/embed/") {
            let query = parts.uri.query().unwrap_or_default();
            for pair in query.split('&') {
                match pair {
                    "theme=light" => return "light",
                    "theme=dark" => return "dark",
                    _ => {}
                }
            }
        }
    }
    {
        let cookies = use_context::<http::request::Parts>()
            .and_then(|p| {
                p.headers
                    .get(http::header::COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        if cookies.split(';').any(|c| c.trim() == "osprey_theme=light") {
            return "light";
        }
    }
    "dark"
}

/// The application: navigation and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let embed = is_embed();
    view! {
        <Title text="Osprey"/>
        <Router>
            <div class=if embed { "app embedded" } else { "app" }>
                {(!embed).then(|| view! { <Sidebar/> })}
                <main class="content">
                    <Routes fallback=|| view! { <pages::NotFound/> }>
                        <Route path=path!("/") view=pages::overview::Overview ssr=SsrMode::Async/>
                        <Route path=path!("/dashboards") view=pages::dashboards::Dashboards ssr=SsrMode::Async/>
                        <Route path=path!("/dashboards/:id") view=pages::dashboards::DashboardPage ssr=SsrMode::Async/>
                        <Route path=path!("/anomalies") view=pages::anomalies::Anomalies ssr=SsrMode::Async/>
                        <Route path=path!("/forecast") view=pages::forecast::Forecast ssr=SsrMode::Async/>
                        <Route path=path!("/alerts") view=pages::alerts::Alerts ssr=SsrMode::Async/>
                        <Route path=path!("/alerts/:id") view=pages::alerts::RuleDetail ssr=SsrMode::Async/>
                        <Route path=path!("/login") view=pages::login::Login/>
                        <Route path=path!("/settings") view=pages::settings::Settings ssr=SsrMode::Async/>
                        <Route path=path!("/incidents") view=pages::incidents::Incidents ssr=SsrMode::Async/>
                        <Route path=path!("/incidents/:id") view=pages::incidents::IncidentDetail ssr=SsrMode::Async/>
                        <Route path=path!("/errors") view=pages::errors::Errors ssr=SsrMode::Async/>
                        <Route path=path!("/errors/:id") view=pages::errors::ErrorDetail ssr=SsrMode::Async/>
                        <Route path=path!("/traces") view=pages::traces::Traces ssr=SsrMode::Async/>
                        <Route path=path!("/traces/:id") view=pages::traces::TraceDetailPage ssr=SsrMode::Async/>
                        <Route path=path!("/explore") view=pages::explore::Explore ssr=SsrMode::Async/>
                        <Route path=path!("/logs") view=pages::logs::Logs ssr=SsrMode::Async/>
                        <Route path=path!("/security") view=pages::security::Security ssr=SsrMode::Async/>
                        <Route path=path!("/embed/panel/:id") view=pages::embed::EmbedPanel ssr=SsrMode::Async/>
                        <Route path=path!("/embed/dashboard/:id") view=pages::embed::EmbedDashboard ssr=SsrMode::Async/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// The navigation down the left of every page but embeds.
#[component]
fn Sidebar() -> impl IntoView {
    view! {
        <nav class="sidebar" aria-label="Main">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true"></span>
                <span>"Osprey"</span>
            </a>
            <A href="/">"Overview"</A>
            <A href="/dashboards">"Dashboards"</A>
            <A href="/anomalies">"Anomalies"</A>
            <A href="/forecast">"Forecast"</A>
            <A href="/alerts">"Alerts"</A>
            <A href="/incidents">"Incidents"</A>
            <A href="/errors">"Errors"</A>
            <A href="/traces">"Traces"</A>
            <A href="/explore">"Explore 3-D"</A>
            <A href="/logs">"Logs"</A>
            <A href="/security">"Security"</A>
            {(crate::auth::who().role == "admin").then(|| view! { <A href="/settings">"Settings"</A> })}
            <WhoAmI/>
        </nav>
    }
}

/// Who is signed in, with a sign-out button; or a sign-in link.
#[component]
fn WhoAmI() -> impl IntoView {
    let who = crate::auth::who();
    view! {
        <div class="whoami">
            {if who.signed_in {
                view! {
                    <span class="who" data-role=who.role.clone()>{who.name.clone()} <small>{who.role.clone()}</small></span>
                    <form method="post" action="/logout"><button type="submit" class="link-button">"Sign out"</button></form>
                }.into_any()
            } else {
                view! { <a href="/login" class="sign-in">"Sign in"</a> }.into_any()
            }}
        </div>
    }
}
