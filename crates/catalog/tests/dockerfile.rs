//! deploy/Dockerfile builds the dependencies from the workspace's manifests
//! before the sources: a member it does not copy fails the image build
//! ("failed to load manifest"), and a missing `.cargo` builds without the
//! project's compiler flags. No Docker engine runs here, so this reads the
//! file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn members() -> Vec<String> {
    let manifest = std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap();
    let start = manifest.find("members = [").expect("a members list");
    let list = &manifest[start..];
    let list = &list[..list.find(']').expect("the list ends")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dockerfile_copies_every_workspace_manifest() {
    let docker = std::fs::read_to_string(format!("{ROOT}/deploy/Dockerfile")).unwrap();
    let members = members();
    assert!(members.len() >= 10, "{members:?}");
    for m in &members {
        let line = format!("COPY {m}/Cargo.toml");
        assert!(
            docker.contains(&line),
            "deploy/Dockerfile lacks `{line} {m}/`"
        );
    }
    assert!(
        docker.contains("COPY .cargo .cargo"),
        "deploy/Dockerfile lacks `COPY .cargo .cargo`"
    );
}
