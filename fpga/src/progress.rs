//! [`Progress`]: what a flow tells the person waiting for it, and the runner that keeps each
//! tool's log and reports its elapsed time.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::child::dies_with_parent;
use crate::error::{tail, FpgaError};

/// Where progress messages go: standard error, or nowhere (tests, libraries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Print each stage, its elapsed time, and a heartbeat during long stages.
    #[default]
    Stderr,
    /// Print nothing.
    Quiet,
}

impl Progress {
    /// Prints one line of progress.
    pub fn say(&self, message: &str) {
        if *self == Progress::Stderr {
            eprintln!("{message}");
        }
    }

    /// Runs `cmd` in `dir` with its standard output and error kept in `dir/<log>`, printing
    /// the stage, a heartbeat every 15 s and the elapsed time at the end. A failure carries
    /// the log's last lines.
    pub fn run_stage(
        &self,
        stage: &str,
        tool: &str,
        cmd: Command,
        dir: &Path,
        log: &str,
    ) -> Result<Duration, FpgaError> {
        let (status, elapsed) = self.run_logged(stage, tool, cmd, dir, log)?;
        if !status.success() {
            let log_path = dir.join(log);
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(FpgaError::ToolFailed {
                stage: stage.to_string(),
                tool: tool.to_string(),
                status: status.to_string(),
                log: log_path,
                log_tail: tail(&text, 30),
            });
        }
        self.say(&format!(
            "  {stage}: done in {:.1} s",
            elapsed.as_secs_f64()
        ));
        Ok(elapsed)
    }

    /// Like [`Progress::run_stage`], but leaves judging the exit status to the caller (a
    /// tool whose non-zero exit is an answer, such as SymbiYosys reporting a failed proof).
    pub fn run_logged(
        &self,
        stage: &str,
        tool: &str,
        mut cmd: Command,
        dir: &Path,
        log: &str,
    ) -> Result<(ExitStatus, Duration), FpgaError> {
        let log_path = dir.join(log);
        let out = File::create(&log_path)
            .map_err(FpgaError::io(format!("creating {}", log_path.display())))?;
        let err = out
            .try_clone()
            .map_err(FpgaError::io("duplicating a log handle"))?;
        self.say(&format!("  {stage}: {tool} (log: {})", log_path.display()));
        let start = Instant::now();
        let mut child = dies_with_parent(&mut cmd)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| FpgaError::ToolMissing {
                what: format!("`{tool}` ({})", cmd.get_program().to_string_lossy()),
                hint: format!("it could not be started: {e}"),
            })?;
        let mut next_beat = Duration::from_secs(15);
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(FpgaError::io(format!("waiting for {tool}")))?
            {
                break status;
            }
            std::thread::sleep(Duration::from_millis(100));
            if start.elapsed() >= next_beat {
                self.say(&format!(
                    "  {stage}: still running, {:.0} s",
                    start.elapsed().as_secs_f64()
                ));
                next_beat += Duration::from_secs(15);
            }
        };
        Ok((status, start.elapsed()))
    }
}
