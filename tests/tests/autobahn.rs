//! The WebSocket close handshake against the Autobahn|Testsuite fuzzing client (`wstest -m
//! fuzzingclient`, installed by `scripts/test.sh`): framing, ping/pong, reserved bits and
//! opcodes, fragmentation and close handling (cases 1.1.1, 2-5, 7). `/ws` is not an echo
//! server, so echo expectations fail by design; what must hold is that every case whose close
//! must be clean is clean: the server completes the closing handshake instead of dropping TCP.

use parley_e2e::TestServer;
use serde_json::Value;
use std::path::PathBuf;

/// `PARLEY_WSTEST`, else the pyenv Python 2.7 install `scripts/test.sh` makes.
fn wstest() -> PathBuf {
    if let Some(path) = std::env::var_os("PARLEY_WSTEST") {
        return path.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".pyenv/versions/2.7.18/bin/wstest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_close_autobahn_requires_to_be_clean_is_clean() {
    let wstest = wstest();
    assert!(
        wstest.exists(),
        "{} not found: run scripts/test.sh, which installs the Autobahn|Testsuite (or set PARLEY_WSTEST)",
        wstest.display()
    );
    let server = TestServer::start().await;
    let dir = server.data_dir().join("autobahn");
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "outdir": dir.join("reports"),
        "servers": [{"agent": "parley", "url": server.ws_url}],
        "cases": ["1.1.1", "2.*", "3.*", "4.*", "5.*", "7.*"],
        "exclude-cases": [],
        "exclude-agent-cases": {},
    });
    let config_path = dir.join("fuzzingclient.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let run = tokio::process::Command::new(&wstest)
        .args(["-m", "fuzzingclient", "-s"])
        .arg(&config_path)
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "wstest failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let reports = dir.join("reports");
    let index: Value =
        serde_json::from_slice(&std::fs::read(reports.join("index.json")).unwrap()).unwrap();
    let cases = index["parley"].as_object().unwrap();
    assert!(cases.len() >= 80, "only {} cases ran", cases.len());
    let mut unclean = Vec::new();
    for (case, summary) in cases {
        let file = reports.join(summary["reportfile"].as_str().unwrap());
        let report: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let must_be_clean = report["expectedClose"]["requireClean"] == true;
        if summary["behaviorClose"] == "UNCLEAN" || must_be_clean && report["wasClean"] != true {
            unclean.push(format!("{case}: {}", report["wasNotCleanReason"]));
        }
    }
    assert!(unclean.is_empty(), "unclean closes: {unclean:#?}");
    server.stop().await;
}
