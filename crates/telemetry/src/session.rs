//! The session directory `sessions/session_YYYYMMDD_HHMMSS[_suffix]/` and its typed paths.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trading_core::{Clock, Timestamp};

use crate::{RunId, TelemetryError};

/// Prefix of every session directory's name.
pub(crate) const SESSION_PREFIX: &str = "session_";

/// The lock file in every session directory: held (an exclusive OS file lock) for as long as
/// the [`Session`] lives, so that retention run by another bot in the same sessions folder
/// never removes a running session.
pub(crate) const LOCK_FILE: &str = "session.lock";

/// Longest suffix accepted after the timestamp.
const MAX_SUFFIX_LEN: usize = 40;

/// Every file of a session, resolved once at start-up. Nothing downstream builds paths by hand
/// or has to handle "path not set".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPaths {
    /// The session directory itself.
    pub dir: PathBuf,
    /// `events.jsonl`: one typed event a line.
    pub events: PathBuf,
    /// `bot.log`: the human-readable tracing log.
    pub log: PathBuf,
    /// `config.toml`: the effective configuration, secrets redacted.
    pub config: PathBuf,
    /// `debug_trace.jsonl`: trace-level spans when `ENGINE_DEBUG_TRACE=true`.
    pub debug_trace: PathBuf,
    /// `state.json`: persisted positions and open orders.
    pub state: PathBuf,
    /// `report.md`: the session report.
    pub report: PathBuf,
    /// `charts/`: the report's SVG charts.
    pub charts: PathBuf,
}

impl SessionPaths {
    /// The paths of the session directory `dir` (nothing is created).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        SessionPaths {
            events: dir.join("events.jsonl"),
            log: dir.join("bot.log"),
            config: dir.join("config.toml"),
            debug_trace: dir.join("debug_trace.jsonl"),
            state: dir.join("state.json"),
            report: dir.join("report.md"),
            charts: dir.join("charts"),
            dir,
        }
    }
}

/// A created session directory: its name (also the run id), start time and paths.
///
/// While it (or a clone) lives, the directory's `session.lock` is locked, and
/// [`apply_retention`](crate::apply_retention) leaves the directory alone. The OS releases
/// the lock when the last clone is dropped or the process ends, however it ends.
#[derive(Debug, Clone)]
pub struct Session {
    name: String,
    run_id: RunId,
    started: Timestamp,
    paths: SessionPaths,
    _lock: Arc<File>,
}

/// Two sessions are equal when they describe the same directory (the lock is not compared).
impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, &self.run_id, self.started, &self.paths)
            == (&other.name, &other.run_id, other.started, &other.paths)
    }
}

impl Eq for Session {}

impl Session {
    /// Creates `<sessions_root>/session_YYYYMMDD_HHMMSS[_suffix]/` (and `sessions_root` if
    /// needed) with the time read from `clock`, in UTC. Call it before anything else runs.
    ///
    /// The suffix (1-40 characters of `A-Z a-z 0-9 - _`) tells apart bots started in the same
    /// second. Fails, naming the path and the cause, when a directory cannot be created or
    /// the session directory already exists.
    pub fn create(
        sessions_root: &Path,
        clock: &dyn Clock,
        suffix: Option<&str>,
    ) -> Result<Session, TelemetryError> {
        let started = clock.now();
        let name = session_name(started, suffix)?;
        fs::create_dir_all(sessions_root).map_err(|source| TelemetryError::Io {
            action: "create sessions directory",
            path: sessions_root.to_path_buf(),
            source,
        })?;
        let dir = sessions_root.join(&name);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(TelemetryError::SessionExists { path: dir });
            }
            Err(source) => {
                return Err(TelemetryError::Io { action: "create session directory", path: dir, source });
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(
            |source| TelemetryError::Io { action: "create session lock", path: lock_path.clone(), source },
        )?;
        lock.try_lock().map_err(|e| TelemetryError::Io {
            action: "lock session",
            path: lock_path.clone(),
            source: match e {
                fs::TryLockError::Error(source) => source,
                fs::TryLockError::WouldBlock => std::io::Error::from(std::io::ErrorKind::WouldBlock),
            },
        })?;
        Ok(Session {
            run_id: RunId::new(name.clone()),
            name,
            started,
            paths: SessionPaths::in_dir(dir),
            _lock: Arc::new(lock),
        })
    }

    /// The directory's name, `session_YYYYMMDD_HHMMSS[_suffix]`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run id written on every event line (the directory's name).
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// When the session was created, by the clock given to [`Session::create`].
    pub fn started(&self) -> Timestamp {
        self.started
    }

    /// The session's files.
    pub fn paths(&self) -> &SessionPaths {
        &self.paths
    }

    /// Writes the configuration snapshot to `config.toml` (temp file, `fsync`, rename).
    ///
    /// `redacted_toml` must already have its secrets removed: this function writes what it is
    /// given, it cannot know which values are secret.
    pub fn write_config_snapshot(&self, redacted_toml: &str) -> Result<&Path, TelemetryError> {
        let target = &self.paths.config;
        let tmp = self.paths.dir.join("config.toml.tmp");
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| TelemetryError::Io { action, path, source }
        };
        let mut file = File::create(&tmp).map_err(io("create config snapshot", &tmp))?;
        file.write_all(redacted_toml.as_bytes()).map_err(io("write config snapshot", &tmp))?;
        file.sync_all().map_err(io("sync config snapshot", &tmp))?;
        fs::rename(&tmp, target).map_err(io("rename config snapshot into", target))?;
        Ok(target)
    }
}

/// `session_YYYYMMDD_HHMMSS[_suffix]` for `at` (UTC).
fn session_name(at: Timestamp, suffix: Option<&str>) -> Result<String, TelemetryError> {
    let dt = at.to_datetime().ok_or(TelemetryError::BadClockTime { millis: at.as_millis() })?;
    let mut name = format!("{SESSION_PREFIX}{}", dt.format("%Y%m%d_%H%M%S"));
    if let Some(suffix) = suffix {
        let bad = |reason| TelemetryError::InvalidSuffix { suffix: suffix.to_owned(), reason };
        if suffix.is_empty() || suffix.len() > MAX_SUFFIX_LEN {
            return Err(bad("1-40 characters"));
        }
        if !suffix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad("only A-Z a-z 0-9 - _ are allowed"));
        }
        name.push('_');
        name.push_str(suffix);
    }
    Ok(name)
}

/// Whether a live process holds the session directory's lock. A directory without a lock file
/// (an old layout) or whose lock can be taken is not in use.
pub(crate) fn is_locked(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(LOCK_FILE)) else { return false };
    matches!(file.try_lock(), Err(fs::TryLockError::WouldBlock))
}

/// True for names `session_YYYYMMDD_HHMMSS[_...]` (what retention is allowed to touch).
pub(crate) fn is_session_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(SESSION_PREFIX) else { return false };
    let b = rest.as_bytes();
    b.len() >= 15
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'_'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && (b.len() == 15 || b[15] == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use trading_core::ManualClock;

    fn clock() -> ManualClock {
        // 2024-03-05T06:07:08.999Z
        ManualClock::new(Timestamp::from_millis(1_709_618_828_999))
    }

    #[test]
    fn names_follow_the_clock_in_utc() {
        let t = clock().now();
        assert_eq!(session_name(t, None).unwrap(), "session_20240305_060708");
        assert_eq!(session_name(t, Some("bot-a_2")).unwrap(), "session_20240305_060708_bot-a_2");
    }

    #[test]
    fn bad_suffixes_and_times_are_refused() {
        let t = clock().now();
        for (suffix, fragment) in
            [("", "1-40"), ("a/b", "only"), ("..", "only"), (&"x".repeat(41)[..], "1-40")]
        {
            let err = session_name(t, Some(suffix)).unwrap_err().to_string();
            assert!(err.contains(fragment) && err.contains(&format!("{suffix:?}")), "{err}");
        }
        let err = session_name(Timestamp::from_millis(i64::MAX), None).unwrap_err();
        assert!(matches!(err, TelemetryError::BadClockTime { .. }), "{err}");
    }

    #[test]
    fn recognises_only_session_directories() {
        for (name, expected) in [
            ("session_20240305_060708", true),
            ("session_20240305_060708_a", true),
            ("session_20240305_06070", false),
            ("session_20240305_060708x", false),
            ("sessions", false),
            ("other_20240305_060708", false),
        ] {
            assert_eq!(is_session_name(name), expected, "{name}");
        }
    }

    #[test]
    fn creates_the_directory_and_resolves_every_path() {
        let root = tempfile::tempdir().unwrap();
        let sessions = root.path().join("sessions");
        let s = Session::create(&sessions, &clock(), None).unwrap();
        assert!(s.paths().dir.is_dir());
        assert_eq!(s.paths().dir, sessions.join("session_20240305_060708"));
        assert_eq!(s.paths().events, s.paths().dir.join("events.jsonl"));
        assert_eq!(s.run_id().as_str(), s.name());
        assert_eq!(s.started(), clock().now());

        let again = Session::create(&sessions, &clock(), None).unwrap_err();
        assert!(matches!(again, TelemetryError::SessionExists { .. }), "{again}");
        assert!(Session::create(&sessions, &clock(), Some("b")).is_ok());
    }

    #[test]
    fn an_uncreatable_root_names_the_path_and_cause() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("plain_file");
        std::fs::write(&file, b"x").unwrap();
        let err = Session::create(&file.join("sessions"), &clock(), None).unwrap_err().to_string();
        assert!(err.contains("create sessions directory") && err.contains("plain_file"), "{err}");
    }

    #[test]
    fn config_snapshot_is_written_verbatim() {
        let root = tempfile::tempdir().unwrap();
        let s = Session::create(root.path(), &clock(), None).unwrap();
        let path = s.write_config_snapshot("api_key = \"<redacted>\"\n").unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "api_key = \"<redacted>\"\n");
        assert!(!s.paths().dir.join("config.toml.tmp").exists());
    }
}
