//! Compiles every `.proto` under this crate with protox (pure Rust, no
//! `protoc` needed), generates prost messages and tonic clients/servers, and
//! writes the file descriptor set (with source info, so comments reach
//! reflection and the gateway's OpenAPI) for `include_bytes!`.

use std::path::{Path, PathBuf};

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    for dir in ["freedumb", "google"] {
        collect_protos(&root, &root.join(dir), &mut files)?;
        println!("cargo:rerun-if-changed={dir}");
    }
    files.sort();

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(&files)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("compiling protos")?;
    let fds = compiler.file_descriptor_set();

    // Encoded by protox itself: unlike `prost_types`, it keeps custom
    // options (`google.api.http`, field behaviour) that the gateway reads.
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("freedumb_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .codec_path("crate::codec::Codec")
        .compile_fds(fds)
        .context("generating code")?;
    Ok(())
}

/// Collects proto paths relative to `root`, depth first.
fn collect_protos(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}
