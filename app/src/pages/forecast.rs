//! Forecast: a metric's recent history and where it is heading, with 80 % and 95 % intervals,
//! and when it will reach a threshold ("disk full in 3 d 4 h").

use super::overview::Panel;
use crate::model::FORECAST_HORIZONS;
use crate::panels::load_forecast;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn Forecast() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| {
        let q = query.read();
        (
            q.get("metric").filter(|m| !m.is_empty()),
            q.get("horizon").unwrap_or_else(|| "6h".into()),
            q.get("threshold")
                .and_then(|t| t.trim().parse::<f64>().ok()),
        )
    });
    let data = Resource::new(
        move || params.get(),
        |(metric, horizon, threshold)| load_forecast(metric, horizon, threshold),
    );
    view! {
        <header class="page-header">
            <div>
                <h1>"Forecast"</h1>
                <p class="subtitle">"Seasonal exponential smoothing with 80 % and 95 % intervals"</p>
            </div>
        </header>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || data.get().map(|result| {
                let (metric, horizon, threshold) = params.get();
                match result {
                    Err(e) => view! { <p class="error" role="alert">"Cannot forecast: " {e.to_string()}</p> }.into_any(),
                    Ok((metrics, forecast)) => view! {
                        <form class="forecast-form" method="get" action="/forecast">
                            <label>"Metric "
                                <select name="metric" required>
                                    <option value="" disabled selected=metric.is_none()>"Choose a metric"</option>
                                    {metrics.into_iter().map(|m| {
                                        let selected = metric.as_deref() == Some(m.as_str());
                                        view! { <option value=m.clone() selected=selected>{m.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            </label>
                            <label>"Horizon "
                                <select name="horizon">
                                    {FORECAST_HORIZONS.iter().map(|(key, label, _)| view! {
                                        <option value=*key selected=horizon == *key>{*label}</option>
                                    }).collect_view()}
                                </select>
                            </label>
                            <label>"Threshold "
                                <input type="number" step="any" name="threshold" placeholder="optional"
                                    value=threshold.map(|t| t.to_string()).unwrap_or_default()/>
                            </label>
                            <button type="submit">"Forecast"</button>
                        </form>
                        {match forecast {
                            None => view! { <p class="empty">"Pick a metric to see where it is heading."</p> }.into_any(),
                            Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                            Some(Ok(view)) => view! {
                                <ul class="forecast-notes">
                                    {view.notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                                </ul>
                                <div class="panel-grid single">
                                    <Panel data=view.panel/>
                                </div>
                            }.into_any(),
                        }}
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
