//! Embeds the path of libtorch as an rpath, so binaries and tests find `libtorch_cpu.so` without
//! `LD_LIBRARY_PATH`, and keeps `libtorch_cuda.so` linked so CUDA is found when present.
/// Also the build script of `modnas-cli` (where it applies only with the `torch` feature) and of
/// the benchmarks.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let pkg = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    if pkg == "modnas-cli" && std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg=-ltorch_cuda");
            println!("cargo:rustc-link-arg=-Wl,--as-needed");
        }
    }
}
