//! A watchdog that ends our servers' process groups when this process dies, however it dies.
//!
//! `close()`, garbage collection and interpreter exit end a server's group themselves. None of
//! that runs when the owner is killed with SIGKILL (the OOM killer, a restarted notebook kernel),
//! and a parent-death signal would reach only the direct child, not what it started through
//! `sh -c`, `npx` or `uvx`. So one small `/bin/sh` process, in a process group of its own, is
//! told the id of every live group over a pipe whose only writer is this process. When this
//! process dies the pipe reaches end of file and the watchdog ends every group still listed:
//! TERM, then KILL. A shell script rather than a forked copy of this process: a fork would pin
//! a copy of the owner's memory for as long as it lives.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

const SCRIPT: &str = r#"trap '' INT HUP TERM PIPE
groups=
while read -r op pg; do
  case $op in
    +) groups="$groups $pg" ;;
    -) keep=; for g in $groups; do [ "$g" = "$pg" ] || keep="$keep $g"; done; groups=$keep ;;
  esac
done
[ -n "$groups" ] || exit 0
for g in $groups; do kill -15 -$g 2>/dev/null; done
sleep 2
for g in $groups; do kill -9 -$g 2>/dev/null; done
"#;

struct Watchdog {
    child: Child,
    pipe: std::io::PipeWriter,
}

/// The groups the watchdog knows, so that a new watchdog can be told them all.
struct State {
    watchdog: Option<Watchdog>,
    groups: Vec<i32>,
    /// Set once starting a watchdog failed (no /bin/sh): not tried again for every spawn.
    unavailable: bool,
}

static STATE: Mutex<State> = Mutex::new(State { watchdog: None, groups: Vec::new(), unavailable: false });

fn start() -> std::io::Result<Watchdog> {
    use std::os::unix::process::CommandExt;
    let (reader, pipe) = std::io::pipe()?;
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::from(reader))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a Ctrl-C or a kill of the owner's group must not end it first.
        .process_group(0)
        .spawn()?;
    Ok(Watchdog { child, pipe })
}

fn send(state: &mut State, line: &str) {
    if state.unavailable {
        return;
    }
    if let Some(w) = &mut state.watchdog {
        if w.pipe.write_all(line.as_bytes()).is_ok() {
            return;
        }
        // The watchdog died (someone killed it): reap it and start another below.
        let _ = w.child.kill();
        let _ = w.child.wait();
        state.watchdog = None;
    }
    match start() {
        Ok(mut w) => {
            let all: String = state.groups.iter().map(|g| format!("+ {g}\n")).collect();
            if w.pipe.write_all(all.as_bytes()).is_ok() {
                state.watchdog = Some(w);
            }
        }
        Err(e) => {
            state.unavailable = true;
            tracing::warn!("cannot start the process watchdog (/bin/sh): {e}; servers may outlive this process if it is killed");
        }
    }
}

/// Watch a process group from now on.
pub fn watch(pgid: i32) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    if !state.groups.contains(&pgid) {
        state.groups.push(pgid);
    }
    send(&mut state, &format!("+ {pgid}\n"));
}

/// The group is gone (or ended by us): stop watching it.
pub fn forget(pgid: i32) {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let before = state.groups.len();
    state.groups.retain(|g| *g != pgid);
    if state.groups.len() != before {
        send(&mut state, &format!("- {pgid}\n"));
    }
}

/// The watchdog's pid, for tests and diagnostics.
pub fn pid() -> Option<u32> {
    STATE.lock().unwrap_or_else(|e| e.into_inner()).watchdog.as_ref().map(|w| w.child.id())
}
