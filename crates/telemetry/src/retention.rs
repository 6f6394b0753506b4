//! Retention of old session directories: keep the newest N and/or a total size.

use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use crate::session::{is_locked, is_session_name};
use crate::{Event, EventSink};

/// What to keep. With neither limit set nothing is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Keep at most this many sessions (the newest; the current one counts).
    pub keep_sessions: Option<NonZeroUsize>,
    /// Keep the newest sessions whose sizes add up to at most this many bytes.
    pub max_total_bytes: Option<u64>,
}

/// A session directory retention removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedSession {
    /// The directory's name.
    pub name: String,
    /// Its size before removal.
    pub bytes: u64,
}

/// Something retention could not do; reported as [`Event::RetentionFailed`], never a panic.
#[derive(Debug)]
pub struct RetentionProblem {
    /// The path concerned.
    pub path: PathBuf,
    /// What failed.
    pub error: io::Error,
}

/// The outcome of [`apply_retention`].
#[derive(Debug, Default)]
pub struct RetentionReport {
    /// Names of the sessions kept, newest first.
    pub kept: Vec<String>,
    /// Sessions removed, newest first.
    pub removed: Vec<RemovedSession>,
    /// Sessions the policy would have removed but that a running bot holds (its
    /// `session.lock` is locked); they are kept and also listed in `kept`.
    pub in_use: Vec<String>,
    /// Bytes freed by the removals.
    pub freed_bytes: u64,
    /// Problems met; each was also emitted as an event.
    pub problems: Vec<RetentionProblem>,
}

/// Applies `policy` to the session directories (`session_YYYYMMDD_HHMMSS[_suffix]`) directly
/// under `sessions_root`; other entries are never touched, and neither is the session named
/// `current`, nor any session a running bot holds (its `session.lock` is locked: see
/// [`Session`](crate::Session)). Newest means the latest timestamp in the name.
///
/// Emits [`Event::RetentionApplied`] when something was removed and one
/// [`Event::RetentionFailed`] per problem; never fails and never panics.
pub fn apply_retention(
    sessions_root: &Path,
    policy: &RetentionPolicy,
    current: Option<&str>,
    sink: &dyn EventSink,
) -> RetentionReport {
    let mut report = RetentionReport::default();
    let mut sessions = list_sessions(sessions_root, &mut report.problems);
    // Newest first; the current session first of all so that it always counts as kept.
    sessions.sort_by(|a, b| {
        let is_current = |name: &str| Some(name) == current;
        is_current(&b.0).cmp(&is_current(&a.0)).then_with(|| b.0.cmp(&a.0))
    });

    let mut total: u64 = 0;
    let mut size_exceeded = false;
    for (index, (name, path)) in sessions.into_iter().enumerate() {
        let bytes = dir_size(&path, &mut report.problems);
        total = total.saturating_add(bytes);
        let over_count = policy.keep_sessions.is_some_and(|n| index >= n.get());
        // Once the size limit is reached, everything older goes too (even if it would fit).
        size_exceeded |= policy.max_total_bytes.is_some_and(|max| total > max);
        let over_size = size_exceeded;
        if Some(name.as_str()) == current || !(over_count || over_size) {
            report.kept.push(name);
            continue;
        }
        if is_locked(&path) {
            report.in_use.push(name.clone());
            report.kept.push(name);
            continue;
        }
        total = total.saturating_sub(bytes);
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                report.freed_bytes = report.freed_bytes.saturating_add(bytes);
                report.removed.push(RemovedSession { name, bytes });
            }
            Err(error) => {
                report.problems.push(RetentionProblem { path, error });
                report.kept.push(name);
            }
        }
    }

    if !report.removed.is_empty() {
        sink.emit(Event::RetentionApplied {
            removed: u32::try_from(report.removed.len()).unwrap_or(u32::MAX),
            kept: u32::try_from(report.kept.len()).unwrap_or(u32::MAX),
            freed_bytes: report.freed_bytes,
        });
    }
    for problem in &report.problems {
        sink.emit(Event::RetentionFailed {
            path: problem.path.display().to_string(),
            error: problem.error.to_string(),
        });
    }
    report
}

fn list_sessions(root: &Path, problems: &mut Vec<RetentionProblem>) -> Vec<(String, PathBuf)> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) => {
            problems.push(RetentionProblem { path: root.to_path_buf(), error });
            return Vec::new();
        }
    };
    let mut sessions = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                problems.push(RetentionProblem { path: root.to_path_buf(), error });
                continue;
            }
        };
        let Ok(name) = entry.file_name().into_string() else { continue };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && is_session_name(&name) {
            sessions.push((name, entry.path()));
        }
    }
    sessions
}

/// Total size of the regular files under `path` (symlinks are not followed).
fn dir_size(path: &Path, problems: &mut Vec<RetentionProblem>) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) => {
                problems.push(RetentionProblem { path: dir, error });
                continue;
            }
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total = total.saturating_add(meta.len()),
                Err(error) => problems.push(RetentionProblem { path: entry.path(), error }),
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySink;

    /// Makes session directories with one file of `bytes` each, named by second `i`.
    fn sessions(root: &Path, sizes: &[usize]) -> Vec<String> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| {
                let name = format!("session_20240101_0000{i:02}");
                fs::create_dir(root.join(&name)).unwrap();
                fs::create_dir(root.join(&name).join("charts")).unwrap();
                fs::write(root.join(&name).join("charts").join("a.svg"), vec![b'x'; bytes]).unwrap();
                name
            })
            .collect()
    }

    #[track_caller]
    fn check(sizes: &[usize], policy: RetentionPolicy, current: Option<usize>, expected_kept: &[usize]) {
        let root = tempfile::tempdir().unwrap();
        let names = sessions(root.path(), sizes);
        fs::write(root.path().join("notes.txt"), b"not a session").unwrap();
        let sink = MemorySink::new();
        let report = apply_retention(root.path(), &policy, current.map(|i| names[i].as_str()), &sink);
        let mut kept = report.kept.clone();
        kept.sort();
        let expected: Vec<String> = expected_kept.iter().map(|&i| names[i].clone()).collect();
        assert_eq!(kept, expected);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(root.path().join(name).exists(), expected_kept.contains(&i), "{name}");
        }
        assert!(root.path().join("notes.txt").exists(), "foreign files are never touched");
        let freed: usize = (0..sizes.len()).filter(|i| !expected_kept.contains(i)).map(|i| sizes[i]).sum();
        assert_eq!(report.freed_bytes, freed as u64);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let removed = sizes.len() - expected_kept.len();
        let expected_events = if removed == 0 {
            vec![]
        } else {
            vec![Event::RetentionApplied {
                removed: removed as u32,
                kept: expected_kept.len() as u32,
                freed_bytes: freed as u64,
            }]
        };
        assert_eq!(sink.events(), expected_events);
    }

    fn keep(n: usize) -> Option<NonZeroUsize> {
        NonZeroUsize::new(n)
    }

    #[test]
    fn keeps_newest_by_count_and_size() {
        let none = RetentionPolicy::default();
        check(&[10, 10, 10], none, None, &[0, 1, 2]);
        check(&[10, 10, 10, 10], RetentionPolicy { keep_sessions: keep(2), ..none }, None, &[2, 3]);
        check(&[10, 20, 30, 40], RetentionPolicy { max_total_bytes: Some(75), ..none }, None, &[2, 3]);
        check(&[10, 20, 30, 40], RetentionPolicy { max_total_bytes: Some(70), ..none }, None, &[2, 3]);
        // 20 would still fit under 65 after 30 is removed, but it is older: it goes too.
        check(&[10, 20, 30, 40], RetentionPolicy { max_total_bytes: Some(65), ..none }, None, &[3]);
        // Both limits: the stricter one wins.
        check(
            &[10, 10, 10, 10],
            RetentionPolicy { keep_sessions: keep(3), max_total_bytes: Some(20) },
            None,
            &[2, 3],
        );
        // The current session is kept even when it is the oldest or too big, and it counts.
        check(&[10, 10, 10], RetentionPolicy { keep_sessions: keep(2), ..none }, Some(0), &[0, 2]);
        check(&[100, 10], RetentionPolicy { max_total_bytes: Some(50), ..none }, Some(0), &[0]);
    }

    #[test]
    fn a_missing_root_becomes_an_event_not_a_panic() {
        let root = tempfile::tempdir().unwrap();
        let sink = MemorySink::new();
        let missing = root.path().join("nope");
        let report = apply_retention(&missing, &RetentionPolicy::default(), None, &sink);
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].path, missing);
        match sink.events().as_slice() {
            [Event::RetentionFailed { path, error }] => {
                assert!(path.ends_with("nope"), "{path}");
                assert!(!error.is_empty());
            }
            other => panic!("expected one RETENTION_FAILED, got {other:?}"),
        }
    }
}
