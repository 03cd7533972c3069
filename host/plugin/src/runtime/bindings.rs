//! Host-side bindings of the `lamer:env` WIT contract, generated from `wit/`.
//!
//! Only the runtime touches these types: [`super::convert`] turns them into the
//! plain `lamer_sdk` mirrors that the rest of the host uses.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit",
});

pub use exports::lamer::env::environment as wit;
