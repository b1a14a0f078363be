//! Creating and rotating API keys: server functions the Settings page's islands call from the
//! browser, since a new key's secret is shown only in the answer (the rest of Settings is in
//! [`crate::settings`], which only the server has).

use crate::model::NewKey;
use leptos::prelude::*;

#[server(prefix = "/_osprey")]
pub async fn create_key(name: String, scope: String) -> Result<NewKey, ServerFnError> {
    let (source, actor) = crate::settings::admin_source()?;
    source
        .0
        .create_key(name, scope, actor)
        .await
        .map_err(ServerFnError::new)
}

#[server(prefix = "/_osprey")]
pub async fn rotate_key(id: String) -> Result<NewKey, ServerFnError> {
    let (source, actor) = crate::settings::admin_source()?;
    source
        .0
        .rotate_key(id, actor)
        .await
        .map_err(ServerFnError::new)
}
