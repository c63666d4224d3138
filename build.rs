//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/` folders at compile time, and cargo does not notice a new file there by itself.
//!
//! On Linux with glibc, links the `hangar` binary with packed relative relocations (`DT_RELR`,
//! glibc 2.36 or later): a position-independent binary of this size otherwise carries about
//! 1.8 MB of relocation entries that the loader reads at every start, and each process (an idle
//! `hangar runner` above all) keeps them resident. Set `HANGAR_LINK_PLAIN_RELOCS=1` when
//! building for an older glibc.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=HANGAR_LINK_PLAIN_RELOCS");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu && std::env::var_os("HANGAR_LINK_PLAIN_RELOCS").is_none() {
        println!("cargo:rustc-link-arg-bin=hangar=-Wl,-z,pack-relative-relocs");
    }
}
