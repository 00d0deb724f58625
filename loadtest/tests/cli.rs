//! The load tester refuses targets off loopback before sending anything. (This
//! test also makes `cargo test --workspace` build the binary that CI's smoke run uses.)

use std::process::Command;

#[test]
fn targets_off_loopback_are_refused_with_exit_code_2() {
    // `.invalid` never resolves: even a bug could not send traffic anywhere.
    let out = Command::new(env!("CARGO_BIN_EXE_roomcast-loadtest"))
        .args([
            "--url",
            "ws://roomcast.invalid/ws",
            "connections",
            "--conns",
            "1",
            "--rooms",
            "1",
            "--hold",
            "1",
        ])
        .output()
        .expect("run roomcast-loadtest");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("127.x.y.z, localhost or [::1]"), "{stderr}");
}
