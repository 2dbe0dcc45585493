//! The `parley` binary's command line, run as a user would.

use signaling::auth::TokenAuthority;
use std::process::Command;

const SECRET: &str = "cli-test-secret-cli-test-secret-0123";

#[test]
fn token_subcommand_prints_a_token_the_server_accepts() {
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "token",
            "--room",
            "standup",
            "--identity",
            "ana",
            "--name",
            "Ana",
            "--grants",
            "join,subscribe",
        ])
        .env("PARLEY_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap();
    let claims = TokenAuthority::new(SECRET.as_bytes())
        .verify(token.trim(), signaling::auth::Audience::Participant)
        .unwrap();
    assert_eq!(
        (
            claims.sub.as_str(),
            claims.name.as_str(),
            claims.room.as_str()
        ),
        ("ana", "Ana", "standup")
    );
    assert!(claims.grants.join && claims.grants.subscribe && !claims.grants.publish);
}

#[test]
fn token_subcommand_explains_missing_secret_and_bad_grants() {
    let no_secret = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["token", "--room", "r", "--identity", "i"])
        .env_remove("PARLEY_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("PARLEY_JWT_SECRET"));

    let typo = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "token",
            "--room",
            "r",
            "--identity",
            "i",
            "--grants",
            "join,pubish",
        ])
        .env("PARLEY_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("unknown grant 'pubish'"));
}

#[test]
fn invalid_config_file_is_a_clear_startup_error() {
    let dir = std::env::temp_dir().join(format!("parley-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "udp_port = \"seven\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("invalid config file"),
        "{output:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_short_secret_is_refused_at_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--udp-port", "0"])
        .env("PARLEY_JWT_SECRET", "hunter2")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the secret itself is not echoed: {stderr}"
    );
}
