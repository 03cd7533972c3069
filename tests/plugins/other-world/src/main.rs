//! A plain WASI command: built for `wasm32-wasip2` it is a component that
//! exports `wasi:cli/run` and not `lamer:env/environment`, so the host must
//! refuse it as "not a lamer environment plugin".

fn main() {
    println!("I am not an environment.");
}
