//! Embeds the built site (wasm, JS, CSS, public files) into the binary, so the release
//! `osprey` serves the whole dashboard from any working directory with no other files.
//!
//! The site directory is `OSPREY_SITE_DIR` (the Makefile sets it), else `$CARGO_TARGET_DIR/site`
//! (where the Makefile puts it by default), else `../target/site`. When it does not exist yet,
//! nothing is embedded and pages render without their islands.

use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=OSPREY_SITE_DIR");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let site = std::env::var("OSPREY_SITE_DIR")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("site")))
        .unwrap_or_else(|_| manifest.join("../target/site"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut files = Vec::new();
    // Also while the site is missing: cargo then reruns this script on every build, so a site
    // built after the first compile (a fresh machine running tests first) is picked up.
    println!("cargo:rerun-if-changed={}", site.display());
    if site.is_dir() {
        collect(&site, &site, &mut files);
    } else {
        println!(
            "cargo:warning=no site at {}: the binary will serve pages without islands",
            site.display()
        );
    }
    files.sort();
    let mut code = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (i, rel) in files.iter().enumerate() {
        let path = site.join(rel);
        let body = std::fs::read(&path).unwrap();
        let gz = out.join(format!("asset-{i}.gz"));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&body).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let hash = fnv(&body);
        code.push_str(&format!(
            "    Asset {{ path: {rel:?}, body: include_bytes!({path:?}), gzip: include_bytes!({gz:?}), etag: \"\\\"{hash:016x}\\\"\" }},\n",
            rel = rel.replace('\\', "/"),
            path = path.display().to_string(),
            gz = gz.display().to_string(),
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("assets.rs"), code).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            files.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

/// FNV-1a, enough for an ETag.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}
