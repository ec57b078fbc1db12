//! Child processes tied to the test process's lifetime.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A child process that dies with the test process (parent-death signal) or when dropped.
pub struct ChildGuard {
    pid: Pid,
    exited: Arc<Mutex<bool>>,
}

impl ChildGuard {
    /// Spawns `cmd` from a thread that lives as long as the child: the parent-death signal is
    /// tied to the spawning thread, which therefore must not be a short-lived pool thread.
    pub fn spawn(mut cmd: Command) -> std::io::Result<Self> {
        // SAFETY: prctl is async-signal-safe and nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        cmd.process_group(0);
        let exited = Arc::new(Mutex::new(false));
        let flag = exited.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("test-child-supervisor".into())
            .spawn(move || match cmd.spawn() {
                Ok(mut child) => {
                    tx.send(Ok(child.id())).ok();
                    child.wait().ok();
                    *flag.lock().unwrap() = true;
                }
                Err(e) => {
                    tx.send(Err(e)).ok();
                }
            })?;
        let pid = rx
            .recv()
            .map_err(|_| std::io::Error::other("supervisor thread ended"))??;
        Ok(Self {
            pid: Pid::from_raw(pid as i32),
            exited,
        })
    }

    /// Whether the child has exited.
    pub fn has_exited(&self) -> bool {
        *self.exited.lock().unwrap()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.has_exited() {
            kill(self.pid, Signal::SIGTERM).ok();
        }
    }
}
