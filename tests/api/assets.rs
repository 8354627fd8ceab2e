//! The bundle as a browser downloads it: the release build writes each file's `.br` and `.gz`
//! (`scripts/build.sh`), and a browser that accepts one of those encodings gets that file as it
//! is, not the plain file compressed again per request.

use crate::helpers::Instance;

#[tokio::test]
async fn a_precompressed_file_is_sent_as_it_is() {
    let site = tempfile::tempdir().expect("a site root");
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    // Stand-ins whose bytes tell which file was sent.
    let plain = b"\0asm plain bundle ".repeat(200);
    std::fs::write(pkg.join("switchboard.wasm"), &plain).expect("plain");
    std::fs::write(pkg.join("switchboard.wasm.br"), b"the brotli file").expect("br");
    std::fs::write(pkg.join("switchboard.wasm.gz"), b"the gzip file").expect("gz");
    let root = site.path().to_str().expect("a UTF-8 path");
    let instance = Instance::start_with("assets", None, &[("LEPTOS_SITE_ROOT", root)]);
    let http = reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .expect("http client");
    let url = format!("{}/pkg/switchboard.wasm", instance.base);

    for (accepts, encoding, body) in [
        ("br, gzip", Some("br"), b"the brotli file".to_vec()),
        ("gzip", Some("gzip"), b"the gzip file".to_vec()),
        ("identity", None, plain.clone()),
    ] {
        let response = http
            .get(&url)
            .header("accept-encoding", accepts)
            .send()
            .await
            .expect("the instance answers");
        assert_eq!(response.status(), 200, "{accepts}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("content-encoding").as_deref(), encoding, "{accepts}");
        assert_eq!(
            header("content-type").as_deref(),
            Some("application/wasm"),
            "{accepts}"
        );
        let got = response.bytes().await.expect("a body");
        assert_eq!(
            got.as_ref(),
            body.as_slice(),
            "{accepts}: the file as it is"
        );
    }
}
