//! Fuzzing of the settings loader (issue 12) with proptest: real settings files (the snapshot
//! the bot writes into every session directory, and a hand-written one) mutated by the shared
//! `fuzz-input` edits, and arbitrary environment variables and flags, go through
//! [`Settings::load`]. Nothing may panic; accepted settings keep the loader's promises (ranges,
//! the tier order, a positive position size); a refusal is a [`SettingsError`] that names what
//! (the setting or the file) and where (file, environment or command line).
//!
//! Cases per property: proptest's default (256) or `PROPTEST_CASES`; a long campaign is
//! `PROPTEST_CASES=20000 cargo test -p bot --release --test settings_fuzz`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use bot::{LoadedSettings, SettingSource, Settings, SettingsError, SettingsSources, KEYS};
use fuzz_input::{edits, Dictionary, Edit, HOSTILE_STRINGS};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Values a settings file or variable may carry wrongly: out of range, of another type, TOML
/// forms of numbers, and text where a number belongs.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999999",
    "18446744073709551616",
    "0.000000000000000000000000000001",
    "1_500",
    "0x10",
    "true",
    "\"\"",
    "\"1500\"",
    "\"storm\"",
    "\"chaos\"",
    "\"-0\"",
    "\"79228162514264337593543950336\"",
    "[]",
    "{}",
    "[1, 2]",
    "1979-05-27T07:32:00Z",
];

/// The settings' keys as a file spells them (lower case), for duplicate and retyped keys.
static FILE_KEYS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| KEYS.iter().map(|k| &*k.to_ascii_lowercase().leak()).collect());

fn dictionary() -> Dictionary {
    Dictionary { values: VALUES, keys: FILE_KEYS.as_slice(), texts: HOSTILE_STRINGS }
}

/// Real settings files: the snapshot of the defaults (every setting, as the bot writes it into
/// a session directory) and a short hand-written file.
fn seeds() -> Vec<String> {
    let defaults = Settings::load(&SettingsSources::default()).unwrap();
    let snapshot = defaults.settings.to_snapshot(&defaults.sources, "none");
    let written = "md_poll_ms = 1500\nmd_hot_ms = 500\nsim_symbols = 130\nsim_faults = \"storm\"\n\
                   drop_trigger_value = 0.03\nposition_size_usdt = 25\nvenue = \"sim\"\n";
    vec![snapshot, written.to_owned()]
}

/// What every load must give: settings that keep the promises, or an error naming what and
/// where.
fn check(result: Result<LoadedSettings, SettingsError>, file: Option<&Path>) {
    match result {
        Ok(loaded) => {
            let s = &loaded.settings;
            assert!(s.md_hot_ms <= s.md_warm_ms && s.md_warm_ms <= s.md_cold_ms, "{s:?}");
            assert!(s.position_size_usdt > Decimal::ZERO, "{s:?}");
            assert!((1..=5_000).contains(&s.sim_symbols), "{s:?}");
            assert!(s.md_poll_ms >= 100, "{s:?}");
            assert_eq!(loaded.sources.len(), KEYS.len(), "a source for every setting");
        }
        Err(e) => {
            let text = e.to_string();
            match &e {
                SettingsError::UnknownKey { key, origin, .. } => {
                    // Quoted, so that an empty or blank key is visible too.
                    assert!(text.contains(&format!("{key:?}")) && !origin.is_empty(), "{text}");
                }
                SettingsError::Invalid { key, origin, allowed, .. } => {
                    assert!(KEYS.contains(&key.as_str()), "names a real setting: {text}");
                    assert!(!origin.is_empty() && !allowed.is_empty(), "{text}");
                }
                SettingsError::File { path, reason } => {
                    assert_eq!(Some(path.as_path()), file, "{text}");
                    assert!(!reason.trim().is_empty(), "{text}");
                }
                SettingsError::MissingCredentials { venue, needed } => {
                    assert!(!venue.is_empty() && !needed.is_empty(), "{text}");
                }
            }
        }
    }
}

/// Loads `text` as the settings file.
fn load_file(text: &[u8]) -> (Result<LoadedSettings, SettingsError>, tempfile::NamedTempFile) {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text).unwrap();
    let sources = SettingsSources { file: Some(f.path().to_owned()), ..SettingsSources::default() };
    (Settings::load(&sources), f)
}

/// A key for the environment or the flags: a real setting, one with our prefix that is not a
/// setting, or anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        "(MD|SIM|DROP_TRIGGER|GUARD)_[A-Z_]{0,12}",
        any::<String>(),
    ]
}

/// A value: one of [`VALUES`] without TOML quoting, a number, or anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(VALUES.to_vec()).prop_map(|v| v.trim_matches('"').to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9.eE+-]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    /// A real settings file with 1-5 edits (byte flips, deletions, insertions, truncation,
    /// duplicated ranges and lines, swapped lines, weird values, duplicate keys, deep nesting,
    /// hostile strings).
    #[test]
    fn fuzz_settings_mutated_file(pick in any::<usize>(), edits in edits()) {
        let seeds = seeds();
        let mutated = fuzz_input::apply(seeds[pick % seeds.len()].as_bytes(), &edits, &dictionary());
        let (result, file) = load_file(&mutated);
        check(result, Some(file.path()));
    }

    /// Arbitrary text as the settings file.
    #[test]
    fn fuzz_settings_arbitrary_file(text in any::<String>()) {
        let (result, file) = load_file(text.as_bytes());
        check(result, Some(file.path()));
    }

    /// Arbitrary environment variables and flags. An error about a value names the key it was
    /// given under and where it came from.
    #[test]
    fn fuzz_settings_env_and_flags(
        env in proptest::collection::vec((key(), value()), 0..5),
        flags in proptest::collection::vec((key(), value()), 0..5),
    ) {
        let sources = SettingsSources { env: env.clone(), flags: flags.clone(), ..SettingsSources::default() };
        let result = Settings::load(&sources);
        if let Err(SettingsError::Invalid { key, origin, .. }) = &result {
            let from_env = env.iter().any(|(k, _)| k == key);
            let from_flags = flags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key));
            let expected: BTreeMap<&str, bool> = BTreeMap::from([
                ("environment", from_env),
                ("command line", from_flags),
                ("default", !from_env && !from_flags),
            ]);
            prop_assert_eq!(expected.get(origin.as_str()), Some(&true), "{} from {}", key, origin);
        }
        check(result, None);
    }
}

/// The seeds load as they are and the mutator reaches their keys and values (a harness whose
/// inputs never load, or that never changes them, proves nothing).
#[test]
fn fuzz_settings_seeds_load_and_mutator_changes_them() {
    for seed in seeds() {
        let (result, _file) = load_file(seed.as_bytes());
        let loaded = result.unwrap_or_else(|e| panic!("{e}\n{seed}"));
        assert!(loaded.sources.values().any(|s| matches!(s, SettingSource::File(_))), "{seed}");
    }
    let dict = dictionary();
    let line = "md_poll_ms = 1500\n";
    assert_eq!(fuzz_input::apply_str(line, &[Edit::Number(0, 1)], &dict), "md_poll_ms = -1\n");
    let (result, file) = load_file(fuzz_input::apply_str(line, &[Edit::Number(0, 1)], &dict).as_bytes());
    let err = result.unwrap_err();
    assert!(matches!(&err, SettingsError::Invalid { key, .. } if key == "MD_POLL_MS"), "{err}");
    assert!(err.to_string().contains(&file.path().display().to_string()), "names the file: {err}");
}

/// Found by the fuzzing: `--set =5` gave "unknown setting  (from command line)", naming
/// nothing. The key is quoted now, so an empty or blank key shows.
#[test]
fn an_empty_or_blank_key_is_named_quoted() {
    for key in ["", " "] {
        let sources = SettingsSources { flags: vec![(key.into(), "5".into())], ..SettingsSources::default() };
        let err = Settings::load(&sources).unwrap_err().to_string();
        assert!(err.starts_with(&format!("unknown setting {key:?} (from command line)")), "{err}");
    }
}
