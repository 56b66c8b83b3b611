//! Compiles the Slint UI when the kiosk is built, with the Spanish
//! translation bundled into the binary.

fn main() {
    println!("cargo:rerun-if-changed=ui");
    pack_relative_relocations();
    #[cfg(feature = "kiosk")]
    {
        // Element debug info lets the keypad's focus ring (and the UI
        // tests) find the controls on screen, so every build keeps it.
        let debug = true;
        // Read at run time, not baked into the build script: a shared
        // target directory may run one build script binary for several
        // checkouts, and each must bundle its own catalogue.
        let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        let config = slint_build::CompilerConfiguration::new()
            .with_bundled_translations(format!("{manifest_dir}/ui/translations"))
            .with_debug_info(debug);
        if let Err(err) = slint_build::compile_with_config("ui/app.slint", config) {
            panic!("the Slint UI does not compile: {err}");
        }
    }
}

/// Links the programs with their relative relocations packed (DT_RELR,
/// glibc 2.36 and later, as on Debian 12). The kiosk has about 100,000 of
/// them: unpacked, their 2.4 MB table is read whole at every start and
/// stays resident; packed, it is a few kilobytes.
fn pack_relative_relocations() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
