//! A real PostgreSQL for the tests: a private server per test on a Unix socket in its own
//! temporary directory (no TCP port), stopped and deleted when its handle drops.
//!
//! `initdb` takes about a second, so it runs once, into a template under `CARGO_TARGET_TMPDIR`
//! that is kept across runs and already holds the `switchboard` database; each server starts
//! on a copy of it. Flushing to disk is switched off (`fsync`, `full_page_writes`): what a test
//! relies on is surviving a *process* crash, and the page cache gives that without any flush.
//! `synchronous_commit` stays on: off, a commit is acknowledged while its WAL is still in
//! shared memory, and a SIGKILL loses it (a test of accounts surviving a crash saw exactly
//! that); with `fsync` off it costs one `write` per commit.
//!
//! A server's directory is on `/dev/shm` when that has room (and `TMPDIR` is not set): copying
//! the template there takes a tenth of the time it takes onto a disk busy with a build. A run
//! killed before its handles dropped leaves directories behind; the next run removes them.
//!
//! PostgreSQL refuses to run as root, and the tests often do: then `initdb` and the servers run
//! as the `postgres` user through `setpriv`, which execs, so the spawned child is the postmaster.

use crate::helpers::PATIENCE;
use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        atomic::{AtomicU16, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

/// The database every server holds, the one `DATABASE_URL` names.
const DATABASE: &str = "switchboard";

/// Part of the template's name: bump it when what the template holds changes, so that a
/// template an older harness left in `target/tmp` is not reused.
const TEMPLATE_VERSION: u32 = 1;

/// Written into a template directory last: a directory without it is not a template.
const READY: &str = "READY";

/// How many lines of its log a server prints when the test that owned it fails.
const LOG_TAIL: usize = 40;

/// How every server's directory is named, so that those of a killed run can be found.
const DIR_PREFIX: &str = "switchboard-pg-";

/// Room a RAM disk must have left to be used for servers' directories (about 40 MB each).
const RAM_DISK_ROOM_KB: u64 = 1 << 20;

/// A private PostgreSQL server with a `switchboard` database, for one test.
pub struct Postgres {
    /// The postmaster; `None` after [`Self::kill`].
    child: Option<Child>,
    /// Holds the socket, `postgres.log` and `data/`.
    dir: tempfile::TempDir,
    /// Held while the directory is in use: see [`remove_abandoned`].
    _lock: fs::File,
    port: u16,
}

impl Postgres {
    /// Starts a server on a fresh copy of the template and waits until it accepts connections.
    pub fn start() -> Self {
        let install = install();
        let (dir, lock) = install.server_dir();
        copy_dir(&install.template, &dir.path().join("data"));
        let mut server = Self {
            child: None,
            dir,
            _lock: lock,
            port: next_port(),
        };
        server.launch();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn launch(&mut self) {
        let install = install();
        let mut child = install.spawn_server(&self.data(), self.dir.path(), self.port, &self.log());
        let ready = install.wait_ready(&mut child, self.dir.path(), self.port);
        // Kept before any panic below, so that Drop stops it.
        self.child = Some(child);
        if let Err(why) = ready {
            panic!("{why}\n{}", tail(&self.log()));
        }
    }

    /// What the app's `DATABASE_URL` is set to: the socket directory as `host`, as sqlx and
    /// libpq both read it.
    pub fn url(&self) -> String {
        database_url(self.dir.path(), self.port, DATABASE)
    }

    /// Runs `sql` with `psql` on a fresh connection; `Ok` holds the unaligned, header-less
    /// output (`a|b` per row), `Err` what psql said, e.g. when the server is down.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        install().psql(&self.url(), sql)
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits until every one of its
    /// processes is gone. Does nothing if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                wait_gone(&self.data()),
                "the processes of a killed postgres did not exit"
            );
        }
    }

    /// Starts it again on the same data and socket (after [`Self::kill`], or killing it first)
    /// and waits until it accepts connections; it keeps everything it had committed.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child, &self.data(), Shutdown::Immediate);
        }
        if std::thread::panicking() {
            eprintln!("--- the end of postgres.log ---\n{}", tail(&self.log()));
        }
    }
}

/// A port number per server. With `listen_addresses` empty nothing binds it: it only names the
/// socket file (`.s.PGSQL.<port>`), which is in the server's own directory anyway.
fn next_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(5433);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn database_url(socket_dir: &Path, port: u16, database: &str) -> String {
    // Only URL-safe characters stay as they are, so a path with a space or `&` still works.
    let host: String = socket_dir
        .to_str()
        .expect("a UTF-8 temporary directory")
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("postgres://postgres@localhost/{database}?host={host}&port={port}")
}

/// Where the binaries are, who runs them, and the template: found or made once per process.
struct Install {
    bin: PathBuf,
    /// Whether the tests run as root, so that the servers run as `postgres`.
    as_postgres: Option<Owner>,
    /// A data directory after `initdb` and `CREATE DATABASE switchboard`, cleanly shut down.
    template: PathBuf,
    /// Where the servers' directories go.
    scratch: PathBuf,
}

#[derive(Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

fn install() -> &'static Install {
    static INSTALL: OnceLock<Install> = OnceLock::new();
    INSTALL.get_or_init(|| {
        let bin = find_bin();
        let root = fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let as_postgres = root.then(postgres_user);
        let scratch = scratch_root();
        remove_abandoned(&scratch);
        let mut install = Install {
            bin,
            as_postgres,
            template: PathBuf::new(),
            scratch,
        };
        install.template = install.template();
        install
    })
}

/// The newest Debian `/usr/lib/postgresql/<version>/bin`, else a directory on PATH that has
/// both `initdb` and `postgres`.
fn find_bin() -> PathBuf {
    let version = |path: &Path| -> Vec<u32> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        name.split('.')
            .map_while(|part| part.parse().ok())
            .collect()
    };
    let debian = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|dir| !version(dir).is_empty() && dir.join("bin/postgres").is_file())
        .max_by_key(|dir| version(dir))
        .map(|dir| dir.join("bin"));
    debian
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres, no initdb \
                 on PATH): scripts/setup.sh test installs postgresql"
            )
        })
}

fn postgres_user() -> Owner {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id(1) runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| {
                panic!(
                    "the tests run as root and postgres will not: they need the `postgres` user, \
                     which the postgresql package creates (scripts/setup.sh test)"
                )
            })
    };
    Owner {
        uid: id("-u"),
        gid: id("-g"),
    }
}

/// `/dev/shm` if it has room and `TMPDIR` does not say otherwise, else the temporary directory.
fn scratch_root() -> PathBuf {
    let ram = Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none() && ram.is_dir() {
        let df = Command::new("df").arg("-Pk").arg(ram).output();
        let available_kb = df.ok().and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        });
        if available_kb.is_some_and(|kb| kb >= RAM_DISK_ROOM_KB) {
            return ram.to_owned();
        }
    }
    std::env::temp_dir()
}

/// Removes the server directories in `root` that nobody uses: their `lock` is not held (a lock
/// outlives no process, and is seen from any pid namespace) and they are not new. A directory
/// being made has no lock for a moment: one younger than `PATIENCE` is left alone. A test
/// process killed outright (SIGKILL) leaves its servers running: they are killed first.
fn remove_abandoned(root: &Path) {
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DIR_PREFIX));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > PATIENCE);
        if !is_ours || !old {
            continue;
        }
        let in_use =
            fs::File::open(entry.path().join("lock")).is_ok_and(|lock| lock.try_lock().is_err());
        if !in_use {
            let data = entry.path().join("data");
            for pid in processes_in(&data) {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            wait_gone(&data);
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Install {
    /// A fresh directory for a server, given to the user it runs as, and its held lock.
    fn server_dir(&self) -> (tempfile::TempDir, fs::File) {
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&self.scratch)
            .expect("a temporary directory for postgres");
        let lock = fs::File::create(dir.path().join("lock")).expect("a lock file");
        lock.lock().expect("the directory's lock");
        self.hand_over(dir.path());
        (dir, lock)
    }

    /// A command for a server binary (`initdb`, `postgres`), as the `postgres` user when root.
    fn server_command(&self, program: &str) -> Command {
        match self.as_postgres {
            Some(_) => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                    .arg(self.bin.join(program));
                command
            }
            None => Command::new(self.bin.join(program)),
        }
    }

    /// Gives `dir` to the user the servers run as (nothing to do unless root).
    fn hand_over(&self, dir: &Path) {
        if let Some(owner) = self.as_postgres {
            std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid))
                .unwrap_or_else(|e| panic!("chown postgres {}: {e}", dir.display()));
        }
    }

    fn spawn_server(&self, data: &Path, socket_dir: &Path, port: u16, log: &Path) -> Child {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the postgres log file opens");
        self.server_command("postgres")
            .arg("-D")
            .arg(data)
            .arg("-k")
            .arg(socket_dir)
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses="])
            .args(["-c", "fsync=off"])
            .args(["-c", "full_page_writes=off"])
            // Dynamic shared memory in files under the data directory, not /dev/shm: a server
            // killed for good leaves its segments behind, and they go with the directory.
            .args(["-c", "dynamic_shared_memory_type=mmap"])
            .current_dir(socket_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the postgres log file"))
            .stderr(log)
            .spawn()
            .expect("postgres starts (scripts/setup.sh test installs postgresql)")
    }

    /// Waits (up to `PATIENCE`) until the server accepts connections.
    fn wait_ready(&self, child: &mut Child, socket_dir: &Path, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Err(format!("postgres exited at start-up ({status})"));
            }
            // 0: accepting connections; 1: still starting; 2: no answer yet.
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-U", "postgres", "-d", "postgres", "-h"])
                .arg(socket_dir)
                .arg("-p")
                .arg(port.to_string())
                .status()
                .expect("pg_isready runs");
            if ready.success() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "postgres did not accept connections within {PATIENCE:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn psql(&self, url: &str, sql: &str) -> Result<String, String> {
        let output = Command::new(self.bin.join("psql"))
            // No psqlrc, quiet, unaligned rows without headers, stop at the first error.
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-d", url, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .expect("psql runs");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout)
                .trim_end()
                .to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned())
        }
    }

    /// The template's data directory, made if no finished one is there. Two test processes may
    /// make one at the same time: each builds its own `.partial-<pid>` and renames it into
    /// place, which is atomic, and the loser throws its copy away. A partial left by a killed
    /// run is removed by the next one.
    fn template(&self) -> PathBuf {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let major = self
            .bin
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .filter(|n| n.chars().all(|c| c.is_ascii_digit() || c == '.'))
            .unwrap_or("path");
        let name = format!("pg-template-{major}-v{TEMPLATE_VERSION}");
        let done = root.join(&name);
        if done.join(READY).is_file() {
            return done.join("data");
        }
        remove_stale_partials(root, &name);
        let partial = root.join(format!("{name}.partial-{}", std::process::id()));
        let _ = fs::remove_dir_all(&partial);
        fs::create_dir_all(&partial).expect("a directory for the postgres template");

        // initdb runs in a server directory: the postgres user may not be able to reach the
        // target directory.
        let (work, _lock) = self.server_dir();
        let data = work.path().join("data");
        let initdb = self
            .server_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-N", "--no-instructions"])
            // Independent of the machine's locale; C.UTF-8 so that lower() and friends know
            // more than ASCII.
            .args(["-E", "UTF8", "--locale=C.UTF-8"])
            // 1 MB WAL segments instead of 16: less to copy for every server.
            .arg("--wal-segsize=1")
            .current_dir(work.path())
            .output()
            .expect("initdb runs");
        check("initdb", &initdb);

        let log = work.path().join("postgres.log");
        let port = next_port();
        let mut child = self.spawn_server(&data, work.path(), port, &log);
        if let Err(why) = self.wait_ready(&mut child, work.path(), port) {
            stop(child, &data, Shutdown::Fast);
            panic!("the template's {why}\n{}", tail(&log));
        }
        let created = self.psql(
            &database_url(work.path(), port, "postgres"),
            &format!("CREATE DATABASE {DATABASE}"),
        );
        // A fast shutdown ends with a checkpoint: every copy starts without crash recovery.
        stop(child, &data, Shutdown::Fast);
        if let Err(why) = created {
            panic!(
                "CREATE DATABASE in the template failed: {why}\n{}",
                tail(&log)
            );
        }

        copy_dir(&data, &partial.join("data"));
        fs::write(partial.join(READY), "").expect("the template's marker");
        if done.exists() && !done.join(READY).is_file() {
            // Not a template (never renamed into place with its marker): left-overs.
            let _ = fs::remove_dir_all(&done);
        }
        if let Err(e) = fs::rename(&partial, &done) {
            let _ = fs::remove_dir_all(&partial);
            assert!(
                done.join(READY).is_file(),
                "the postgres template could not be put in place: {e}"
            );
        }
        done.join("data")
    }
}

/// Removes `<name>.partial-<pid>` directories whose process is gone.
fn remove_stale_partials(root: &Path, name: &str) {
    let prefix = format!("{name}.partial-");
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn check(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies a data directory, keeping modes and owners (postgres wants its directory 0700, owned
/// by the user it runs as).
fn copy_dir(from: &Path, to: &Path) {
    let output = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .expect("cp runs");
    check("copying the postgres template", &output);
}

/// How a server is asked to stop. SIGTERM is not one of them: it waits for the clients to leave.
#[derive(Clone, Copy)]
enum Shutdown {
    /// SIGINT: ends the sessions, writes a checkpoint, exits. For the template.
    Fast,
    /// SIGQUIT: ends every process at once, no checkpoint. For a server whose data is about to
    /// be deleted.
    Immediate,
}

/// Stops a server as `how` says, then SIGKILL if that takes longer than `PATIENCE`, and waits
/// until its processes are gone. Never panics: it runs in Drop.
fn stop(mut child: Child, data: &Path, how: Shutdown) {
    let signal = match how {
        Shutdown::Fast => "-INT",
        Shutdown::Immediate => "-QUIT",
    };
    let _ = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + PATIENCE;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The postmaster waits for its children when asked to stop, not after SIGKILL.
    wait_gone(data);
}

/// Waits (up to `PATIENCE`) until no process runs in `data`: every process of a server has it
/// as its working directory, and a postmaster's children outlive a SIGKILL for a moment. A new
/// postmaster on the same data would refuse to start while they hold its shared memory.
/// Returns whether they are gone.
fn wait_gone(data: &Path) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while !processes_in(data).is_empty() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The pids of the processes whose working directory is `data`.
fn processes_in(data: &Path) -> Vec<u32> {
    let Ok(data) = fs::canonicalize(data) else {
        return Vec::new();
    };
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cwd = fs::read_link(entry.path().join("cwd")).ok()?;
            (cwd == data).then_some(pid)
        })
        .collect()
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}

#[test]
fn a_private_postgres_answers_on_its_socket_and_is_gone_after_drop() {
    let server = Postgres::start();
    assert_eq!(
        server
            .psql("select current_database(), current_user")
            .as_deref(),
        Ok("switchboard|postgres")
    );
    assert!(server
        .url()
        .starts_with("postgres://postgres@localhost/switchboard?host=/"));
    assert_eq!(
        server.psql("show listen_addresses").as_deref(),
        Ok(""),
        "no TCP port"
    );
    assert_eq!(server.psql("show fsync").as_deref(), Ok("off"));

    let dir = server.dir.path().to_owned();
    let processes = processes_in(&server.data());
    assert!(
        processes.len() > 1,
        "a postmaster and its children: {processes:?}"
    );
    drop(server);
    assert!(!dir.exists(), "the directory is removed");
    for pid in processes {
        // Gone, or a zombie (where init does not reap): either way, not running.
        let cwd = fs::read_link(format!("/proc/{pid}/cwd"));
        assert!(cwd.is_err(), "process {pid} is left, in {cwd:?}");
    }
}

#[test]
fn servers_do_not_share_data() {
    let one = Postgres::start();
    let two = Postgres::start();
    assert_ne!(one.url(), two.url());
    one.psql("create table only_here (id int)")
        .expect("create table");
    assert!(two.psql("select * from only_here").is_err());
}

#[test]
fn committed_data_survives_a_kill_and_restart() {
    let mut server = Postgres::start();
    server
        .psql(
            "create table accounts (name text primary key); insert into accounts values ('alice')",
        )
        .expect("create and insert");

    server.kill();
    let down = server
        .psql("select 1")
        .expect_err("nothing answers while it is down");
    assert!(
        down.contains("No such file") || down.contains("connect"),
        "{down}"
    );

    server.restart();
    assert_eq!(
        server.psql("select name from accounts").as_deref(),
        Ok("alice")
    );
    // Restarting a running server kills it first.
    server.restart();
    assert_eq!(
        server.psql("select count(*) from accounts").as_deref(),
        Ok("1")
    );
}
