//! Arbitrary text as the config loader's layers: the first line-separated part is the TOML file,
//! each later line an `OSPREY__SECTION__KEY=value` environment variable. Loading must return a
//! validated config or an error, never panic; and a config that loads must answer every derived
//! setting (durations, the listen address) without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osprey::config::{Config, Overrides};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // "\0" separates the file from the environment; the environment is one variable a line.
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (format!("OSPREY__{k}"), v.to_string()));
    let Ok(config) = Config::from_layers(Some(("fuzz.toml", file)), env, &Overrides::default())
    else {
        return;
    };
    let _ = config.listen_addr();
    let _ = (config.retention(), config.rollup_retention(), config.hot_window());
    let _ = (config.session_ttl(), config.shutdown_grace());
    let _ = (config.alerts.eval_interval(), config.security.thresholds());
    let _ = format!("{config:?}");
});
