//! `--out` never destroys what hardwire did not write, and replacing hardwire's own earlier
//! output leaves the old output or the new one, whole, however the run ends (issue 14,
//! findings 1 and 2).

mod cli;

use cli::{command, contents, hardwire, Scratch};
use std::time::{Duration, Instant};

/// A quick tiny core (the kill test replaces one with the other: different files).
const OLD: &[&str] = &["rtl", "--model", "tiny", "--weight-bits", "8"];
const NEW: &[&str] = &["rtl", "--model", "tiny", "--weight-bits", "4"];

fn with_out<'a>(args: &[&'a str], out: &'a str) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--out", out]);
    v
}

fn user_files(dir: &Scratch) {
    std::fs::write(dir.join("thesis.tex"), "years of work").unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}").unwrap();
}

#[test]
fn out_dot_dotdot_home_and_root_are_refused_and_nothing_is_touched() {
    let home = Scratch::new("out-home");
    std::fs::write(home.join(".bashrc"), "alias ll='ls -l'").unwrap();
    let work = Scratch::new("out-work");
    user_files(&work);
    std::fs::create_dir_all(work.join("deeper")).unwrap();
    let cwd = work.join("deeper");
    let before = (contents(&home.0), contents(&work.0));
    let home_str = home.0.to_str().unwrap().to_string();
    for (out, why) in [
        (".", "the current directory"),
        ("..", "a parent of the current directory"),
        ("../deeper/../..", "a parent of the current directory"),
        ("/", "the root directory"),
        (home_str.as_str(), "your home directory"),
    ] {
        for force in [false, true] {
            // --force does not unlock a protected directory.
            let mut args = with_out(NEW, out);
            if force {
                args.push("--force");
            }
            let run = command(&cwd, &args).env("HOME", &home.0).output().unwrap();
            cli::Run::from(run).refused(&["refusing to write the output", why]);
        }
    }
    assert_eq!(
        (contents(&home.0), contents(&work.0)),
        before,
        "a refused run changed files"
    );
}

#[test]
fn a_directory_hardwire_did_not_write_is_kept_unless_forced() {
    let dir = Scratch::new("out-foreign");
    let mine = Scratch(dir.join("mine"));
    std::fs::create_dir_all(&mine.0).unwrap();
    user_files(&mine);
    let before = contents(&mine.0);
    hardwire(&dir.0, &with_out(NEW, "mine")).refused(&["did not write", "--force"]);
    assert_eq!(contents(&mine.0), before);
    assert!(
        !dir.join("mine.partial").exists(),
        "a refused run left a .partial"
    );
    // A file is never a directory to replace, forced or not.
    std::fs::write(dir.join("notes.txt"), "keep").unwrap();
    let mut forced = with_out(NEW, "notes.txt");
    forced.push("--force");
    hardwire(&dir.0, &forced).refused(&["not a directory"]);
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"keep");
    // --force replaces it as a whole, and the output is then hardwire's own.
    let mut forced = with_out(NEW, "mine");
    forced.push("--force");
    hardwire(&dir.0, &forced).ok();
    assert!(!mine.join("thesis.tex").exists());
    assert!(mine.join(".hardwire-output").is_file() && mine.join("report.txt").is_file());
    hardwire(&dir.0, &with_out(OLD, "mine")).ok();
    std::mem::forget(mine);
}

#[test]
fn a_killed_replacing_run_leaves_the_old_output_or_the_new_one_whole() {
    let dir = Scratch::new("out-kill");
    hardwire(&dir.0, &with_out(OLD, "old")).ok();
    let t = Instant::now();
    hardwire(&dir.0, &with_out(NEW, "new")).ok();
    let run_time = t.elapsed();
    let (old, new) = (contents(&dir.join("old")), contents(&dir.join("new")));
    assert_ne!(old, new);
    // Moments from the start to past the end of a whole run, a few near the end, where the
    // output is written and committed.
    let steps = 24u32;
    let mut moments: Vec<Duration> = (0..steps).map(|i| run_time * i / (steps - 4)).collect();
    moments.extend((0..8).map(|i| run_time * (90 + i) / 100));
    let (mut saw_old, mut saw_new) = (0, 0);
    for at in moments {
        hardwire(&dir.0, &with_out(OLD, "out")).ok();
        let mut child = command(&dir.0, &with_out(NEW, "out"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL: no cleanup runs
        child.wait().unwrap();
        let now = contents(&dir.join("out"));
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!(
                "killed after {at:?}, `out` is neither output whole: {:?}",
                now.keys().collect::<Vec<_>>()
            );
        }
    }
    // A later run cleans up whatever the killed one left beside `out`.
    hardwire(&dir.0, &with_out(NEW, "out")).ok();
    assert_eq!(contents(&dir.join("out")), new);
    assert!(!dir.join("out.partial").exists());
    eprintln!("killed runs: {saw_old} left the old output, {saw_new} the new one");
    assert!(saw_old > 0 && saw_new > 0, "the kills missed the run");
}

/// Runs `hardwire ARGS` from a fresh 200 KiB tmpfs in a private mount namespace (`unshare`),
/// then lists what the disk holds: the run's exit code, its stderr, and the listing.
fn on_a_full_disk(args: &[&str]) -> Option<(Option<i32>, String, String)> {
    let probe = std::process::Command::new("unshare")
        .args(["-rm", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let why = "`unshare -rm` (util-linux, user namespaces) is not available";
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{why}; CI needs it"
        );
        eprintln!("skipping: {why}");
        return None;
    }
    let script = r#"mount -t tmpfs -o size=200k tmpfs "$1" && cd "$1" && shift && "$@"; rc=$?; find . | sort >&3; exit $rc"#;
    let dir = Scratch::new("out-full");
    let listing = dir.join("listing");
    std::fs::create_dir_all(dir.join("disk")).unwrap();
    let o = std::process::Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            &format!("{script} 3>'{}'", listing.display()),
        ])
        .arg("sh")
        .arg(dir.join("disk"))
        .arg(env!("CARGO_BIN_EXE_hardwire"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    Some((
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        std::fs::read_to_string(listing).unwrap_or_default(),
    ))
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_complete_looking_output() {
    let Some((code, stderr, listing)) = on_a_full_disk(&with_out(NEW, "out")) else {
        return;
    };
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("writing"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("{stderr}");
    assert!(
        !listing
            .lines()
            .any(|l| l == "./out" || l.starts_with("./out/")),
        "a failed run left `out`:\n{listing}"
    );
}
