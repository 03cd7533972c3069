//! A plugin built with wit-bindgen directly against `lamer:env@0.2.0` (see
//! `wit/`), a contract version this host does not support. Loading it must
//! fail with a message that names both versions.

#![cfg(target_family = "wasm")]

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

struct FutureEnv;

impl exports::lamer::env::environment::Guest for FutureEnv {
    fn info() -> String {
        r#"{"name": "future"}"#.to_string()
    }
}

export!(FutureEnv);
