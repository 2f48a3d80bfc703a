//! Build-script support for cairn user programs (see the README).

/// Link the calling package's binaries with cap-runtime's user layout
/// (`cap-runtime/link/user.ld`) as a fixed, non-PIE executable; nothing
/// for host builds. Call it from `build.rs`.
pub fn link_user_program() {
    if std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default() != "none" {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../link/user.ld");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rustc-link-arg-bins=-T{script}");
    println!("cargo:rustc-link-arg-bins=--no-pie");
}
