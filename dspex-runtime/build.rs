//! Compiles the wire protocol with protox: no system `protoc` needed. Only the `python`
//! feature (the bridge and the workers) speaks it, so a build without it compiles nothing.
//!
//! The `.proto` files live inside this crate (`proto/`, also reachable from the repository
//! root through the `proto` symlink) so that the packaged crate builds on its own.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "python")]
    compile_protos()?;
    Ok(())
}

#[cfg(feature = "python")]
fn compile_protos() -> Result<(), Box<dyn std::error::Error>> {
    use std::path::PathBuf;

    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let files: Vec<PathBuf> = std::fs::read_dir(root.join("dspex/bridge/v1"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
