//! Replay mode: candles from OHLCV files drive the price instead of the random model.
//!
//! Three layouts are read: CSV with a header naming the columns (`timestamp`/`timestamp_ms`/
//! `date`/first column, `open`, `high`, `low`, `close`, `volume`; times as epoch milliseconds or
//! dates), Binance's kline CSV dump (12 columns, no header, open time in ms or µs) and a JSON
//! array of `[ms, open, high, low, close, volume]` arrays.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use trading_core::{Candle, Symbol, Timestamp};

use crate::SimError;

/// One replayed market: the symbol it is listed as and the OHLCV file that drives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySource {
    /// The unified symbol (`ETH/BTC`); the venue id is base + quote (`ETHBTC`).
    pub symbol: Symbol,
    /// The OHLCV file.
    pub path: PathBuf,
}

/// Reads an OHLCV file in any of the supported layouts, oldest candle first.
///
/// Every row must be a consistent candle ([`Candle::is_consistent`]) and times must increase;
/// the error names the file, the line and what is wrong.
pub fn load_ohlcv(path: &Path) -> Result<Vec<Candle>, SimError> {
    let bytes = std::fs::read(path).map_err(|source| SimError::ReplayIo { path: path.to_owned(), source })?;
    let err = |line: usize, reason: String| SimError::ReplayParse { path: path.to_owned(), line, reason };
    // Text that is not UTF-8 is a parse error naming its line (found by fuzzing: it used to be
    // an I/O error naming only the file).
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        err(line, format!("not UTF-8 text (byte {})", valid.len()))
    })?;
    let rows = if text.trim_start().starts_with('[') {
        parse_json(&text).map_err(|(line, reason)| err(line, reason))?
    } else {
        parse_csv(&text).map_err(|(line, reason)| err(line, reason))?
    };
    if rows.is_empty() {
        return Err(err(1, "no candles in file".into()));
    }
    // The line of the later candle of a pair: the one out of order (found by fuzzing: a
    // candle index used to be reported, one line off after a header and meaningless in JSON).
    for pair in rows.windows(2) {
        if pair[1].1.open_time <= pair[0].1.open_time {
            return Err(err(pair[1].0, "open times are not increasing".into()));
        }
    }
    Ok(rows.into_iter().map(|(_, c)| c).collect())
}

type RowResult<T> = Result<T, (usize, String)>;

fn decimal(s: &str, what: &str, line: usize) -> RowResult<Decimal> {
    let s = s.trim().trim_matches('"');
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map(|d| d.round_dp(12).normalize())
        .map_err(|_| (line, format!("{what} {s:?} is not a number")))
}

fn time(s: &str, line: usize) -> RowResult<Timestamp> {
    let s = s.trim().trim_matches('"');
    if let Ok(n) = s.parse::<i64>() {
        // Binance dumps switched to microseconds in 2025; seconds appear in some exports.
        let ms = match n {
            n if n > 100_000_000_000_000 => Some(n / 1000),
            n if n < 100_000_000_000 => n.checked_mul(1000),
            n => Some(n),
        };
        return ms
            .map(Timestamp::from_millis)
            .ok_or_else(|| (line, format!("time {s:?} in seconds is out of range once in milliseconds")));
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Timestamp::from_millis(dt.timestamp_millis()));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Timestamp::from_millis(dt.and_utc().timestamp_millis()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(Timestamp::from_millis(dt.and_utc().timestamp_millis()));
        }
    }
    Err((line, format!("time {s:?} is neither epoch milliseconds nor a date")))
}

fn candle(t: Timestamp, f: [&str; 5], line: usize) -> RowResult<Candle> {
    let c = Candle {
        open_time: t,
        open: decimal(f[0], "open", line)?,
        high: decimal(f[1], "high", line)?,
        low: decimal(f[2], "low", line)?,
        close: decimal(f[3], "close", line)?,
        volume: decimal(f[4], "volume", line)?,
        quote_volume: None,
    };
    if !c.is_consistent() {
        return Err((
            line,
            format!("inconsistent candle o={} h={} l={} c={} v={}", c.open, c.high, c.low, c.close, c.volume),
        ));
    }
    Ok(c)
}

/// Candles with the 1-based file line each was read from.
type Rows = Vec<(usize, Candle)>;

fn parse_csv(text: &str) -> RowResult<Rows> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).peekable();
    let Some(&(_, first)) = lines.peek() else { return Ok(Vec::new()) };
    let first_cell = first.split(',').next().unwrap_or("").trim();
    let headerless = first_cell.parse::<i64>().is_ok();
    // Column indices of time, open, high, low, close, volume.
    let cols: [usize; 6] = if headerless {
        [0, 1, 2, 3, 4, 5]
    } else {
        let names: Vec<String> =
            first.split(',').map(|c| c.trim().trim_matches('"').to_ascii_lowercase()).collect();
        let find = |wanted: &[&str]| names.iter().position(|n| wanted.contains(&n.as_str()));
        let t = find(&["timestamp_ms", "timestamp", "open_time", "time", "date", "datetime", "date_utc", ""])
            .unwrap_or(0);
        let mut idx = [t, 0, 0, 0, 0, 0];
        for (slot, name) in ["open", "high", "low", "close", "volume"].iter().enumerate() {
            idx[slot + 1] = find(&[name]).ok_or((1, format!("header has no {name:?} column: {first}")))?;
        }
        lines.next();
        idx
    };
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let f: Vec<&str> = line.split(',').collect();
        let get = |c: usize| {
            f.get(c).copied().ok_or((n, format!("row has {} columns, expected more than {c}", f.len())))
        };
        let t = time(get(cols[0])?, n)?;
        let c = candle(t, [get(cols[1])?, get(cols[2])?, get(cols[3])?, get(cols[4])?, get(cols[5])?], n)?;
        out.push((n, c));
    }
    Ok(out)
}

/// The 1-based line on which each element of the outer JSON array starts (strings skipped).
fn json_row_lines(text: &str) -> Vec<usize> {
    let (mut line, mut depth, mut in_string, mut escaped) = (1, 0usize, false, false);
    let mut starts = Vec::new();
    let mut expecting_row = false;
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expecting_row && !c.is_whitespace() && c != ']' {
            starts.push(line);
            expecting_row = false;
        }
        match c {
            '\n' => line += 1,
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                expecting_row = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting_row = true,
            _ => {}
        }
    }
    starts
}

fn parse_json(text: &str) -> RowResult<Rows> {
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(text)
        .map_err(|e| (e.line().max(1), format!("not a JSON array of arrays: {e}")))?;
    let lines = json_row_lines(text);
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        // Errors name the file line where the row starts, and the row.
        let n = lines.get(i).copied().unwrap_or(1);
        let row_err = |(line, reason): (usize, String)| (line, format!("row {}: {reason}", i + 1));
        if row.len() < 6 {
            return Err(row_err((n, format!("{} elements, expected 6", row.len()))));
        }
        let cell: Vec<String> = row
            .iter()
            .take(6)
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        let t = time(&cell[0], n).map_err(row_err)?;
        out.push((n, candle(t, [&cell[1], &cell[2], &cell[3], &cell[4], &cell[5]], n).map_err(row_err)?));
    }
    Ok(out)
}

/// A replay series in the form the market stepper uses: candle times and prices as `f64`
/// (the interpolation driver; prices are rounded to the market's tick when quoted).
#[derive(Debug, Clone)]
pub(crate) struct ReplayPath {
    times: Vec<i64>,
    ohlc: Vec<[f64; 4]>,
    volume: Vec<f64>,
    /// Width of one candle (the smallest gap between consecutive candles).
    width: i64,
    /// File time minus simulated time.
    offset: i64,
}

impl ReplayPath {
    /// Builds the path so that simulated time `start` maps to the file time `history_ms` after
    /// the first candle (or the middle of the file if it is shorter than twice that).
    ///
    /// Errors name the 1-based candle and what is wrong: a value that has no `f64` form (the
    /// driver's representation; never silently 0), or times whose arithmetic would overflow.
    pub(crate) fn new(
        candles: &[Candle],
        start: Timestamp,
        history_ms: i64,
    ) -> Result<Self, (usize, String)> {
        let times: Vec<i64> = candles.iter().map(|c| c.open_time.as_millis()).collect();
        let mut ohlc = Vec::with_capacity(candles.len());
        let mut volume = Vec::with_capacity(candles.len());
        for (i, c) in candles.iter().enumerate() {
            let f = |what: &str, d: Decimal| {
                d.to_f64().filter(|v| v.is_finite()).ok_or_else(|| {
                    (i + 1, format!("{what} {d} has no floating-point form for the replay driver"))
                })
            };
            ohlc.push([f("open", c.open)?, f("high", c.high)?, f("low", c.low)?, f("close", c.close)?]);
            volume.push(f("volume", c.volume)?);
        }
        let overflow = |what: &str| (1, format!("candle times overflow: {what}"));
        let width = times
            .windows(2)
            .filter_map(|w| w[1].checked_sub(w[0]))
            .filter(|d| *d > 0)
            .min()
            .unwrap_or(60_000);
        let first = times.first().copied().unwrap_or(0);
        let last =
            times.last().copied().unwrap_or(0).checked_add(width).ok_or_else(|| overflow("last + width"))?;
        let span = last.checked_sub(first).ok_or_else(|| overflow("last - first"))?;
        let into_file = history_ms.min(span / 2);
        let offset = first
            .checked_add(into_file)
            .and_then(|t| t.checked_sub(start.as_millis()))
            .ok_or_else(|| overflow("file time - simulated start"))?;
        Ok(ReplayPath { times, ohlc, volume, width, offset })
    }

    /// File time of simulated time `t` (saturating: far outside the file either way).
    fn file_time(&self, t: i64) -> i64 {
        t.saturating_add(self.offset)
    }

    /// The first price of the file (the base price of the market).
    pub(crate) fn first_price(&self) -> f64 {
        self.ohlc.first().map(|c| c[0]).unwrap_or(1.0)
    }

    /// Price at simulated time `t`: inside a candle the path runs open -> low -> high -> close
    /// for a rising candle and open -> high -> low -> close for a falling one, linearly over
    /// thirds of the candle. Before the file: the first open; after it: the last close.
    pub(crate) fn price_at(&self, t: i64) -> f64 {
        let ft = self.file_time(t);
        let i = match self.times.binary_search(&ft) {
            Ok(i) => i,
            Err(0) => return self.first_price(),
            Err(i) => i - 1,
        };
        let [o, h, l, c] = self.ohlc[i];
        // ft >= times[i] here (binary search), so the difference cannot overflow
        let into = ft.saturating_sub(self.times[i]);
        if into >= self.width {
            return c;
        }
        let frac = (into as f64 / self.width as f64).clamp(0.0, 1.0);
        let (a, b) = if c >= o { (l, h) } else { (h, l) };
        let lerp = |x: f64, y: f64, s: f64| x + (y - x) * s;
        match frac {
            s if s < 1.0 / 3.0 => lerp(o, a, s * 3.0),
            s if s < 2.0 / 3.0 => lerp(a, b, s * 3.0 - 1.0),
            s => lerp(b, c, s * 3.0 - 2.0),
        }
    }

    /// Base volume per millisecond at simulated time `t` (the candle's volume spread evenly).
    pub(crate) fn volume_rate_at(&self, t: i64) -> f64 {
        let ft = self.file_time(t);
        match self.times.binary_search(&ft) {
            Ok(i) => self.volume[i] / self.width as f64,
            Err(0) => 0.0,
            Err(i) if ft.saturating_sub(self.times[i - 1]) < self.width => {
                self.volume[i - 1] / self.width as f64
            }
            Err(_) => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_the_three_layouts() {
        let header = write("timestamp_ms,date_utc,open,high,low,close,volume\n60000,x,1,2,0.5,1.5,10\n120000,x,1.5,1.6,1.4,1.4,3\n");
        let kline = write("1637971200000,1,2,0.5,1.5,10,1637971259999,0,1,0,0,0\n");
        let json = write("[[60000, 1, 2, 0.5, 1.5, 10], [120000, \"1.5\", 1.6, 1.4, 1.4, 3e-1]]");
        let dates = write(",Open,High,Low,Close,Volume\n2012-01-31,4.58,7.38,3.8,5.55,2012.25\n");
        let a = load_ohlcv(header.path()).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].close, Decimal::new(14, 1));
        assert_eq!(load_ohlcv(kline.path()).unwrap()[0].open_time, Timestamp::from_millis(1_637_971_200_000));
        let j = load_ohlcv(json.path()).unwrap();
        assert_eq!(j[1].volume, Decimal::new(3, 1));
        assert_eq!(load_ohlcv(dates.path()).unwrap()[0].open_time, Timestamp::from_millis(1_327_968_000_000));
    }

    #[test]
    fn bad_rows_name_file_line_and_reason() {
        let f =
            write("timestamp,open,high,low,close,volume\n60000,1,2,0.5,1.5,10\n120000,1,0.9,0.5,1.5,10\n");
        let err = load_ohlcv(f.path()).unwrap_err();
        assert!(
            matches!(&err, SimError::ReplayParse { line: 3, reason, .. } if reason.contains("inconsistent")),
            "{err}"
        );
        let f = write("timestamp,open,high,low,close,volume\n60000,1,x,0.5,1.5,10\n");
        assert!(load_ohlcv(f.path()).unwrap_err().to_string().contains("high \"x\" is not a number"));
        let f = write("timestamp,open,high,low\n");
        assert!(load_ohlcv(f.path()).unwrap_err().to_string().contains("no \"close\" column"));
    }

    /// Times whose arithmetic would overflow are an error naming the line, not a wrap or a
    /// panic: seconds that overflow once in milliseconds, and candle times far apart.
    #[test]
    fn replay_times_use_checked_arithmetic() {
        let f = write("timestamp,open,high,low,close,volume\n-9223372036854776,1,2,0.5,1.5,10\n");
        let err = load_ohlcv(f.path()).unwrap_err();
        assert!(
            matches!(&err, SimError::ReplayParse { line: 2, reason, .. } if reason.contains("out of range")),
            "{err}"
        );
        let c = |ms: i64| Candle {
            open_time: Timestamp::from_millis(ms),
            open: Decimal::ONE,
            high: Decimal::ONE,
            low: Decimal::ONE,
            close: Decimal::ONE,
            volume: Decimal::ONE,
            quote_volume: None,
        };
        let far = [c(i64::MIN + 10), c(i64::MAX - 10)];
        let err = ReplayPath::new(&far, Timestamp::from_millis(0), 0).unwrap_err();
        assert!(err.1.contains("overflow"), "{err:?}");
        let near_end = [c(i64::MAX - 100)];
        assert!(ReplayPath::new(&near_end, Timestamp::from_millis(0), 0).unwrap_err().1.contains("overflow"));
        // a valid path never overflows when asked about far-away simulated times
        let p = ReplayPath::new(&[c(0), c(60_000)], Timestamp::from_millis(0), 0).unwrap();
        assert_eq!((p.price_at(i64::MAX), p.price_at(i64::MIN)), (1.0, 1.0));
        assert_eq!((p.volume_rate_at(i64::MAX), p.volume_rate_at(i64::MIN)), (0.0, 0.0));
    }

    /// Issue 12 (fuzzing): errors name the file line of the bad row: after a header, in a
    /// JSON file spread over lines, and for times out of order (which used to name the
    /// candle's index instead).
    #[test]
    fn errors_name_the_file_line_of_the_row() {
        let line_of = |content: &str| match load_ohlcv(write(content).path()).unwrap_err() {
            SimError::ReplayParse { line, reason, .. } => (line, reason),
            other => panic!("{other}"),
        };
        let headed = "timestamp,open,high,low,close,volume\n\n60000,1,2,0.5,1.5,10\n60000,1,2,0.5,1.5,10\n";
        assert_eq!(line_of(headed), (4, "open times are not increasing".to_owned()));
        let json = "[\n [60000, 1, 2, 0.5, 1.5, 10],\n\n [\"12,]\", 1, 2, 0.5, 1.5, 10],\n [1, 2]\n]";
        let (line, reason) = line_of(json);
        assert_eq!(line, 4);
        assert!(reason.starts_with("row 2: time \"12,]\""), "{reason}");
        let json = "[[60000, 1, 2, 0.5, 1.5, 10],\n[60000, 1, 2, 0.5, 1.5, 10]]";
        assert_eq!(line_of(json), (2, "open times are not increasing".to_owned()));
        assert_eq!(
            line_of("[[60000, 1, 2, 0.5, 1.5, 10],\n[1,2]]"),
            (2, "row 2: 2 elements, expected 6".to_owned())
        );
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"timestamp,open,high,low,close,volume\n60000,1,2,0.5,1.\xff5,10\n")
            .unwrap();
        let e = load_ohlcv(f.path()).unwrap_err();
        assert!(
            matches!(&e, SimError::ReplayParse { line: 2, reason, .. } if reason.contains("not UTF-8")),
            "{e}"
        );
    }

    #[test]
    fn interpolation_visits_low_then_high_in_a_rising_candle() {
        let c = Candle {
            open_time: Timestamp::from_millis(0),
            open: Decimal::from(10),
            high: Decimal::from(13),
            low: Decimal::from(9),
            close: Decimal::from(12),
            volume: Decimal::from(60),
            quote_volume: None,
        };
        let next = Candle { open_time: Timestamp::from_millis(60_000), ..c.clone() };
        let p = ReplayPath::new(&[c, next], Timestamp::from_millis(0), 0).unwrap();
        assert_eq!(p.price_at(0), 10.0);
        assert_eq!(p.price_at(20_000), 9.0);
        assert_eq!(p.price_at(40_000), 13.0);
        assert!((p.price_at(59_999) - 12.0).abs() < 0.01);
        assert_eq!(p.price_at(10_000_000), 12.0);
        assert_eq!(p.volume_rate_at(30_000), 0.001);
    }
}

#[cfg(test)]
#[path = "replay_fuzz.rs"]
mod fuzz;
