//! Small pieces every layer uses: bounded file reads, secret redaction, checked durations.

pub mod duration;
pub mod file;
pub mod redact;

/// Records of the MCP library that repeat a failure mcpfleet already reports (as an exception,
/// a state, a status update): logged at DEBUG, not at ERROR next to it.
pub fn is_expected_library_noise(message: &str) -> bool {
    // "response error": the gateway answering a client's mistake (an unknown tool) with an error.
    const EXPECTED: &[&str] =
        &["AuthRequired", "InsufficientScope", "worker quit with fatal", "fail to delete session", "Transport channel closed", "response error id="];
    EXPECTED.iter().any(|e| message.contains(e))
}
