//! Tools run as children that die with hardwire: a flow stopped by SIGTERM (a job runner, a
//! `kill`) or SIGKILL leaves no yosys or nextpnr computing for nobody in a removed `.partial`
//! directory. (Ctrl-C already reaches them: it signals the terminal's whole process group.)

use std::process::Command;

/// Makes the child that `cmd` spawns get SIGKILL when the thread that spawned it ends,
/// whatever ends it (on Linux; elsewhere nothing changes). The spawning thread must be the one
/// that waits for the child, as [`Progress::run_logged`](crate::progress::Progress::run_logged)
/// is.
pub fn dies_with_parent(cmd: &mut Command) -> &mut Command {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        use rustix::process::{getpid, getppid, set_parent_process_death_signal, Signal};
        use std::os::unix::process::CommandExt;
        let parent = getpid();
        // SAFETY: between fork and exec the closure makes three system calls and allocates
        // nothing.
        unsafe {
            cmd.pre_exec(move || {
                set_parent_process_death_signal(Some(Signal::KILL))?;
                // The parent may have gone before the death signal was set.
                if getppid() != Some(parent) {
                    return Err(Errno::SRCH.into());
                }
                Ok(())
            });
        }
    }
    cmd
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    #[test]
    fn a_child_is_killed_when_the_thread_that_spawned_it_ends() {
        let mut child = std::thread::spawn(|| {
            dies_with_parent(Command::new("sleep").arg("30"))
                .spawn()
                .unwrap()
        })
        .join()
        .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("the child outlived its parent thread by 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(9), "{status}");
    }

    #[test]
    fn a_child_whose_parent_lives_runs_to_its_end() {
        let status = dies_with_parent(&mut Command::new("true"))
            .status()
            .unwrap();
        assert!(status.success(), "{status}");
    }
}
