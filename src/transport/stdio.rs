//! stdio transport: the server is a child process speaking newline-delimited JSON-RPC.
//!
//! The child leads its own process group, so signals reach grandchildren started through
//! `sh -c`, `npx` or `uvx`. Every live group is registered in a process-wide table so that
//! [`terminate_all_process_groups`] can end them at interpreter exit, and a [`GroupGuard`]
//! ends the group when its owner is dropped without a clean shutdown.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::ChildStdout;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::process::watchdog;
use crate::transport::decode::{MessageDecoder, unreadable_reason};
use crate::transport::outbox::{Outbox, OutboxSender};
use crate::transport::stdio_direct::StdioDirect;

/// Largest accepted stdout line (one JSON-RPC message).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// stderr lines longer than this are cut (the rest of the line is dropped).
const MAX_STDERR_LINE_BYTES: usize = 4096;

/// How to start a stdio server.
#[derive(Clone)]
pub struct StdioParams {
    pub command: String,
    pub args: Vec<String>,
    /// Added to the inherited environment of this process.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// How many recent stderr lines to keep.
    pub stderr_lines: usize,
    /// After stdin is closed, how long the server may take to exit before TERM, and again before KILL.
    pub shutdown_grace: Duration,
    /// Name used in log records.
    pub log_name: String,
}

impl StdioParams {
    pub fn new(command: impl Into<String>) -> Self {
        let command = command.into();
        Self {
            log_name: command.clone(),
            command,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stderr_lines: 200,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

// Env values may be secrets: Debug shows only the keys.
impl fmt::Debug for StdioParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioParams")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env_keys", &self.env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .finish()
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    Code(i32),
    Signal(i32),
}

impl ExitInfo {
    fn from_status(status: std::process::ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitInfo::Code(code),
            (None, Some(sig)) => ExitInfo::Signal(sig),
            (None, None) => ExitInfo::Code(-1),
        }
    }

    /// Shell convention: the exit code, or `-signal` for a signal death.
    pub fn as_code(&self) -> i32 {
        match self {
            ExitInfo::Code(c) => *c,
            ExitInfo::Signal(s) => -*s,
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exited with status {c}"),
            ExitInfo::Signal(s) => write!(f, "was killed by signal {s} ({})", signal_name(*s)),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// The recent stderr lines of a child, bounded by line count.
pub struct StderrBuffer {
    lines: Mutex<VecDeque<String>>,
    capacity: usize,
}

impl StderrBuffer {
    fn new(capacity: usize) -> Self {
        Self { lines: Mutex::new(VecDeque::new()), capacity: capacity.max(1) }
    }

    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap();
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// All kept lines, newline-terminated.
    pub fn text(&self) -> String {
        self.tail(usize::MAX)
    }

    /// The last `n` lines, newline-terminated.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap();
        let skip = lines.len().saturating_sub(n);
        let mut out = String::new();
        for line in lines.iter().skip(skip) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// What the server wrote to stdout that was not JSON-RPC: kept to explain a failed start.
#[derive(Default)]
pub struct StdoutNoise {
    inner: Mutex<(u64, Option<String>)>,
}

impl StdoutNoise {
    fn record(&self, line: &[u8]) -> u64 {
        let mut inner = self.inner.lock().unwrap();
        inner.0 += 1;
        inner.1 = Some(preview(line));
        inner.0
    }

    /// "N non-JSON line(s) on stdout, last: ..." or None when stdout was clean.
    pub fn describe(&self) -> Option<String> {
        let inner = self.inner.lock().unwrap();
        inner.1.as_ref().map(|last| {
            format!("the server wrote {} line(s) of non-JSON-RPC output to stdout, last: {last:?}", inner.0)
        })
    }
}

fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(120).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Process groups

fn live_groups() -> &'static Mutex<HashSet<i32>> {
    static LIVE: OnceLock<Mutex<HashSet<i32>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

fn signal_group(pgid: i32, sig: i32) -> bool {
    // SAFETY: killpg has no memory-safety preconditions.
    unsafe { libc::killpg(pgid, sig) == 0 }
}

/// Whether any live (non-zombie) process is left in the group. Zombies count as gone: their
/// parent (possibly an init that never reaps) owns them and they hold no resources.
fn group_exists(pgid: i32) -> bool {
    if !signal_group(pgid, 0) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(entries) = std::fs::read_dir("/proc") else { return true };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some((state, pgrp)) = proc_state(pid) {
                if pgrp == pgid && state != 'Z' && state != 'X' {
                    return true;
                }
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    true
}

/// (state, process group) from /proc/<pid>/stat.
#[cfg(target_os = "linux")]
fn proc_state(pid: u32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether a process is alive (not a zombie). For tests and diagnostics.
pub fn process_alive(pid: i32) -> bool {
    // SAFETY: kill(pid, 0) only probes.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        proc_state(pid as u32).is_some_and(|(state, _)| state != 'Z' && state != 'X')
    }
    #[cfg(not(target_os = "linux"))]
    true
}

fn wait_group_gone(pgid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while group_exists(pgid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Ends every process group this process started and has not yet cleaned up:
/// TERM to all, up to `grace` for them to go, then KILL. Meant for interpreter exit.
pub fn terminate_all_process_groups(grace: Duration) {
    let groups: Vec<i32> = live_groups().lock().unwrap().drain().collect();
    for &pgid in &groups {
        signal_group(pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    for &pgid in &groups {
        let left = deadline.saturating_duration_since(Instant::now());
        if !wait_group_gone(pgid, left) {
            signal_group(pgid, libc::SIGKILL);
        }
        watchdog::forget(pgid);
    }
}

/// Number of process groups started and not yet cleaned up (for tests and diagnostics).
pub fn live_process_group_count() -> usize {
    live_groups().lock().unwrap().len()
}

/// Owns one process group: registered while alive; on drop without [`GroupGuard::finish`],
/// the group gets TERM at once and KILL after the grace period.
struct GroupGuard {
    pgid: i32,
    grace: Duration,
    finished: AtomicBool,
}

impl GroupGuard {
    fn new(pgid: i32, grace: Duration) -> Self {
        live_groups().lock().unwrap().insert(pgid);
        watchdog::watch(pgid);
        Self { pgid, grace, finished: AtomicBool::new(false) }
    }

    fn finish(&self) {
        if !self.finished.swap(true, Ordering::SeqCst) {
            live_groups().lock().unwrap().remove(&self.pgid);
            watchdog::forget(self.pgid);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        live_groups().lock().unwrap().remove(&self.pgid);
        if signal_group(self.pgid, libc::SIGTERM) {
            let (pgid, grace) = (self.pgid, self.grace);
            std::thread::spawn(move || {
                if !wait_group_gone(pgid, grace) {
                    signal_group(pgid, libc::SIGKILL);
                }
                watchdog::forget(pgid);
            });
        } else {
            watchdog::forget(self.pgid);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The child

/// A running stdio server process: exit watch, recent stderr, group shutdown.
pub struct ChildProcess {
    pid: u32,
    exit: watch::Receiver<Option<ExitInfo>>,
    stderr: Arc<StderrBuffer>,
    noise: Arc<StdoutNoise>,
    group: Arc<GroupGuard>,
    log_name: Arc<str>,
    /// True once stderr reached EOF (all the dying server's last words are in the buffer).
    stderr_done: watch::Receiver<bool>,
    /// Set when stdout can no longer be framed into messages: why the connection is unusable.
    broken: watch::Receiver<Option<String>>,
    direct: Arc<StdioDirect>,
}

impl ChildProcess {
    /// Tool calls around rmcp's service loop.
    pub fn direct(&self) -> &StdioDirect {
        &self.direct
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn stderr(&self) -> &Arc<StderrBuffer> {
        &self.stderr
    }

    pub fn stdout_noise(&self) -> &Arc<StdoutNoise> {
        &self.noise
    }

    /// The exit status, if the process has exited.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Resolves when the process has exited.
    pub async fn exited(&self) -> ExitInfo {
        let mut rx = self.exit.clone();
        match rx.wait_for(|e| e.is_some()).await {
            Ok(v) => v.expect("checked by wait_for"),
            // The monitor task is gone without reporting: the runtime is shutting down.
            Err(_) => ExitInfo::Signal(libc::SIGKILL),
        }
    }

    /// Why the connection broke although the process may still run (stdout unframeable).
    pub fn broken(&self) -> Option<String> {
        self.broken.borrow().clone()
    }

    /// Resolves when stdout can no longer be framed, with the reason.
    pub async fn broke(&self) -> String {
        let mut rx = self.broken.clone();
        let reason = rx.wait_for(|b| b.is_some()).await.ok().and_then(|r| r.clone());
        match reason {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }

    /// Waits up to `limit` for the exit status.
    pub async fn exit_within(&self, limit: Duration) -> Option<ExitInfo> {
        tokio::time::timeout(limit, self.exited()).await.ok()
    }

    /// The error to report for a process that has exited, with its last stderr lines (waiting
    /// briefly for the rest of stderr: the pipe may still hold the last words).
    pub async fn exited_error(&self, exit: ExitInfo) -> Error {
        let mut done = self.stderr_done.clone();
        let _ = tokio::time::timeout(Duration::from_millis(500), done.wait_for(|d| *d)).await;
        Error::Exited { exit, stderr_tail: self.stderr.tail(20) }
    }

    /// Ends the process group: (stdin must already be closed) wait up to the grace period,
    /// TERM, wait again, KILL; then the same for processes left in the group.
    pub async fn shutdown(&self, grace: Duration) {
        let pgid = self.group.pgid;
        if self.exit_within(grace).await.is_none() {
            tracing::debug!(server = %self.log_name, "no exit after stdin closed; sending SIGTERM");
            signal_group(pgid, libc::SIGTERM);
            if self.exit_within(grace).await.is_none() {
                tracing::warn!(server = %self.log_name, "server ignored SIGTERM; sending SIGKILL");
                signal_group(pgid, libc::SIGKILL);
                let _ = self.exit_within(Duration::from_secs(2)).await;
            }
        }
        reap_group_leftovers(pgid, grace).await;
        self.group.finish();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // A clean shutdown has finished the guard; otherwise the guard's own drop ends the group
        // once the monitor task lets go of it too.
        if self.exit_info().is_some() && !group_exists(self.group.pgid) {
            self.group.finish();
        }
    }
}

/// Whether the group still has live members, asked off the runtime thread: the answer scans
/// /proc, and the one runtime thread serves every client.
async fn group_exists_async(pgid: i32) -> bool {
    tokio::task::spawn_blocking(move || group_exists(pgid)).await.unwrap_or(false)
}

/// Processes left in the group after the leader exited (grandchildren): TERM, then KILL.
async fn reap_group_leftovers(pgid: i32, grace: Duration) {
    if !group_exists_async(pgid).await {
        return;
    }
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while group_exists_async(pgid).await {
        if Instant::now() >= deadline {
            signal_group(pgid, libc::SIGKILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the server process. Fails at once when the command cannot be run.
pub fn spawn(params: &StdioParams) -> Result<(ChildProcess, StdioTransport)> {
    let mut command = tokio::process::Command::new(&params.command);
    command
        .args(&params.args)
        .envs(params.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &params.cwd {
        command.current_dir(cwd);
    }
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    if crate::process::is_shutting_down() {
        return Err(Error::NotConnected(format!("not starting stdio server `{}`: this process is shutting down", params.command)));
    }
    let mut child = wrapped.spawn().map_err(|e| {
        let command = params.command.clone();
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => match &params.cwd {
                Some(cwd) if !cwd.is_dir() => crate::error::CannotRun::CwdMissing(cwd.display().to_string()),
                _ => crate::error::CannotRun::CommandNotFound,
            },
            std::io::ErrorKind::PermissionDenied => crate::error::CannotRun::PermissionDenied,
            _ if e.raw_os_error() == Some(libc::ENOEXEC) => crate::error::CannotRun::NotExecutable,
            _ => return Error::Start(format!("cannot start stdio server `{command}`: {e}")),
        };
        Error::CannotRun { command, reason }
    })?;
    let pid = child.id().ok_or_else(|| Error::Start("child exited before its pid was read".into()))?;
    let stdin = child.stdin().take().expect("stdin is piped");
    let stdout = child.stdout().take().expect("stdout is piped");
    let stderr_pipe = child.stderr().take().expect("stderr is piped");

    let log_name: Arc<str> = params.log_name.as_str().into();
    let group = Arc::new(GroupGuard::new(pid as i32, params.shutdown_grace));
    let stderr = Arc::new(StderrBuffer::new(params.stderr_lines));
    let noise = Arc::new(StdoutNoise::default());
    let (exit_tx, exit_rx) = watch::channel(None);
    let (stderr_done_tx, stderr_done) = watch::channel(false);
    let (broken_tx, broken) = watch::channel(None);

    tokio::spawn({
        let (buffer, name) = (stderr.clone(), log_name.clone());
        async move {
            drain_stderr(BufReader::new(stderr_pipe), buffer, name).await;
            let _ = stderr_done_tx.send(true);
        }
    });
    tokio::spawn({
        let group = group.clone();
        let log_name = log_name.clone();
        let grace = params.shutdown_grace;
        async move {
            let exit = match child.wait().await {
                Ok(status) => ExitInfo::from_status(status),
                Err(e) => {
                    tracing::warn!(server = %log_name, "waiting for the server process failed: {e}");
                    ExitInfo::Code(-1)
                }
            };
            tracing::debug!(server = %log_name, "server process {exit}");
            let _ = exit_tx.send(Some(exit));
            // Grandchildren must not outlive the leader, whoever ended it.
            reap_group_leftovers(group.pgid, grace).await;
        }
    });

    tracing::debug!(server = %log_name, pid, "started stdio server");
    let stdin = Outbox::new(stdin);
    let direct = Arc::new(StdioDirect::new(stdin.sender()));
    let transport = StdioTransport {
        sender: stdin.sender(),
        direct: direct.clone(),
        stdin,
        stdout: BufReader::with_capacity(64 * 1024, stdout),
        line: Vec::with_capacity(4096),
        noise: noise.clone(),
        log_name: log_name.clone(),
        decoder: MessageDecoder::default(),
        broken: broken_tx,
    };
    Ok((ChildProcess { pid, exit: exit_rx, stderr, noise, group, log_name, stderr_done, broken, direct }, transport))
}

async fn drain_stderr(mut reader: BufReader<tokio::process::ChildStderr>, buffer: Arc<StderrBuffer>, name: Arc<str>) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_bounded_line(&mut reader, &mut line, MAX_STDERR_LINE_BYTES).await {
            Ok(LineEnd::Eof) => {
                if !line.is_empty() {
                    emit_stderr(&buffer, &name, &line);
                }
                return;
            }
            Ok(LineEnd::Newline | LineEnd::Truncated) => emit_stderr(&buffer, &name, &line),
            Err(_) => return,
        }
    }
}

fn emit_stderr(buffer: &StderrBuffer, name: &str, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    tracing::info!(target: "mcpfleet::stderr", server = %name, "{text}");
    buffer.push(text.to_string());
}

enum LineEnd {
    Newline,
    /// The line was longer than the limit; the rest of it was read and dropped.
    Truncated,
    Eof,
}

/// Reads one line into `out` (without the newline), keeping at most `limit` bytes of it.
async fn read_bounded_line<R: AsyncBufRead + Unpin>(reader: &mut R, out: &mut Vec<u8>, limit: usize) -> std::io::Result<LineEnd> {
    let mut truncated = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(LineEnd::Eof);
        }
        let (chunk, found) = match memchr(buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = limit.saturating_sub(out.len());
        if chunk.len() > room {
            truncated = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.unwrap_or(buf.len());
        reader.consume(used);
        if found.is_some() {
            return Ok(if truncated { LineEnd::Truncated } else { LineEnd::Newline });
        }
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

// ---------------------------------------------------------------------------------------------
// The transport

/// Newline-delimited JSON-RPC over the child's stdin/stdout. Lines that are not JSON-RPC
/// are skipped, logged and remembered (see [`StdoutNoise`]), never fatal.
pub struct StdioTransport {
    stdin: Outbox,
    sender: OutboxSender,
    direct: Arc<StdioDirect>,
    stdout: BufReader<ChildStdout>,
    /// The line being read; survives a cancelled `receive` (it is polled inside `select!`).
    line: Vec<u8>,
    noise: Arc<StdoutNoise>,
    log_name: Arc<str>,
    decoder: MessageDecoder,
    broken: watch::Sender<Option<String>>,
}

impl StdioTransport {
    /// The stream cannot be framed any more: say why, close stdin, and end the transport (every
    /// pending request then fails at once).
    async fn break_off(&mut self, reason: String) -> Option<ServerJsonRpcMessage> {
        tracing::error!(server = %self.log_name, "{reason}; closing the connection");
        let _ = self.broken.send(Some(reason));
        self.stdin.close().await;
        None
    }
}

impl Transport<RoleClient> for StdioTransport {
    type Error = std::io::Error;

    fn send(&mut self, item: ClientJsonRpcMessage) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        self.decoder.note_sent(&item);
        let line = serde_json::to_vec(&item).map(|mut bytes| {
            bytes.push(b'\n');
            bytes
        });
        let sender = self.sender.clone();
        async move { sender.send(line.map_err(std::io::Error::other)?).await }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            // Cancel-safe: bytes move from the reader into `self.line` before `consume`.
            let buf = match self.stdout.fill_buf().await {
                Ok(buf) => buf,
                Err(e) => {
                    tracing::warn!(server = %self.log_name, "reading the server's stdout failed: {e}");
                    return None;
                }
            };
            if buf.is_empty() {
                return None;
            }
            let (chunk, complete) = match memchr(buf) {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            let used = chunk.len() + usize::from(complete);
            if self.line.len() + chunk.len() > MAX_MESSAGE_BYTES {
                // Which request it answers cannot be known without reading it whole, and a line
                // that never ends would starve every later reply: the stream is unusable.
                self.line = Vec::new();
                return self.break_off(format!("the server sent a message longer than {MAX_MESSAGE_BYTES} bytes on stdout")).await;
            }
            self.line.extend_from_slice(chunk);
            self.stdout.consume(used);
            if !complete {
                continue;
            }
            let message = if self.direct.claim(&self.line) { None } else { parse_line(&self.line, &mut self.decoder, &self.noise, &self.log_name) };
            if self.line.capacity() > 1024 * 1024 {
                self.line = Vec::with_capacity(4096);
            } else {
                self.line.clear();
            }
            if let Some(message) = message {
                return Some(message);
            }
        }
    }

    async fn close(&mut self) -> std::io::Result<()> {
        // Closing stdin gives the server EOF: the MCP stdio shutdown signal.
        self.stdin.close().await;
        Ok(())
    }
}

fn parse_line(line: &[u8], decoder: &mut MessageDecoder, noise: &StdoutNoise, name: &str) -> Option<ServerJsonRpcMessage> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let decoded = decoder.decode(line);
    if let Err(e) = &decoded {
        // A reply to a pending request that cannot be read fails that request now, not at its timeout.
        if let Some(id) = decoder.claim_unreadable(line) {
            let reason = unreadable_reason(line, e);
            tracing::warn!(server = %name, "the reply to request {id} could not be read: {reason}");
            return Some(MessageDecoder::unreadable_reply(id, &reason));
        }
    }
    match decoded {
        Ok(message) => message,
        Err(e) if e.is_syntax() || e.is_eof() => {
            let count = noise.record(line);
            // Warn for the first few; a server that keeps printing to stdout would flood the log.
            if count <= 5 {
                tracing::warn!(server = %name, "ignoring non-JSON output on stdout (stdout is reserved for JSON-RPC; servers should log to stderr): {}", preview(line));
            }
            None
        }
        Err(e) => {
            let value: Option<serde_json::Value> = serde_json::from_slice(line).ok();
            let is_notification = value
                .as_ref()
                .is_some_and(|v| v.get("method").is_some() && v.get("id").is_none());
            if is_notification {
                tracing::debug!(server = %name, "ignoring unknown notification: {}", preview(line));
            } else {
                noise.record(line);
                tracing::warn!(server = %name, "ignoring a JSON message that is not valid JSON-RPC ({e}): {}", preview(line));
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_buffer_keeps_the_last_lines() {
        let b = StderrBuffer::new(3);
        for i in 0..5 {
            b.push(format!("line {i}"));
        }
        assert_eq!(b.text(), "line 2\nline 3\nline 4\n");
        assert_eq!(b.tail(1), "line 4\n");
    }

    #[test]
    fn exit_info_reads_like_a_sentence() {
        assert_eq!(ExitInfo::Code(3).to_string(), "exited with status 3");
        assert_eq!(ExitInfo::Signal(9).to_string(), "was killed by signal 9 (SIGKILL)");
        assert_eq!(ExitInfo::Signal(9).as_code(), -9);
    }

    #[test]
    fn garbage_is_recorded_not_fatal() {
        let noise = StdoutNoise::default();
        assert!(parse_line(b"hello there", &mut MessageDecoder::default(), &noise, "t").is_none());
        assert!(parse_line(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}", &mut MessageDecoder::default(), &noise, "t").is_some());
        let d = noise.describe().unwrap();
        assert!(d.contains("1 line(s)") && d.contains("hello there"), "{d}");
    }

    #[tokio::test]
    async fn bounded_line_reader_truncates_long_lines() {
        let data = b"abcdefgh\nxy\n".to_vec();
        let mut r = BufReader::new(&data[..]);
        let mut out = Vec::new();
        assert!(matches!(read_bounded_line(&mut r, &mut out, 4).await.unwrap(), LineEnd::Truncated));
        assert_eq!(out, b"abcd");
        out.clear();
        assert!(matches!(read_bounded_line(&mut r, &mut out, 4).await.unwrap(), LineEnd::Newline));
        assert_eq!(out, b"xy");
        out.clear();
        assert!(matches!(read_bounded_line(&mut r, &mut out, 4).await.unwrap(), LineEnd::Eof));
    }

    #[tokio::test]
    async fn missing_command_fails_at_once() {
        let err = spawn(&StdioParams::new("/definitely/not/a/command")).err().unwrap();
        assert!(matches!(err, Error::CannotRun { reason: crate::error::CannotRun::CommandNotFound, .. }));
        assert!(err.is_permanent());
        assert!(err.to_string().contains("command not found"), "{err}");
    }

    #[tokio::test]
    async fn grandchildren_die_with_the_group() {
        let mut p = StdioParams::new("sh");
        p.args = vec!["-c".into(), "sleep 300 & echo $! >&2; wait".into()];
        p.shutdown_grace = Duration::from_millis(300);
        let (child, transport) = spawn(&p).unwrap();
        let grandchild: i32 = loop {
            let t = child.stderr().text();
            if let Ok(pid) = t.trim().parse() {
                break pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        drop(transport);
        child.shutdown(Duration::from_millis(300)).await;
        assert!(!process_alive(grandchild), "grandchild {grandchild} survived");
        assert!(child.exit_info().is_some());
    }
}

