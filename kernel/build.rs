//! Links the bare-metal kernel with its architecture's linker script.
//! Host builds (the object-core tests) link nothing special.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os != "none" {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{dir}/src/arch/{arch}/link.ld");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rustc-link-arg-bins=-T{script}");
    // The kernel is placed at its link address by the loader; a fixed
    // (non-PIE) executable needs no run-time relocation.
    println!("cargo:rustc-link-arg-bins=--no-pie");
}
