//! Error mapping: an HTTP status plus a venue error body into the [`ExchangeError`] that says
//! what the caller must do. The code tables live in the venue profile.

use std::time::Duration;

use exchange::ExchangeError;
use trading_core::{ClientOrderId, Timestamp};

use crate::wire::ApiError;
use crate::VenueProfile;

/// The context of a failed call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    pub(crate) status: u16,
    pub(crate) body: &'a str,
    /// `Retry-After` in seconds, when the venue sent one.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) endpoint: &'a str,
    pub(crate) operation: &'static str,
    /// What the request was about (a symbol, an order), for error messages.
    pub(crate) subject: &'a str,
    /// The one symbol the request named, if it named exactly one: what a "bad symbol" answer
    /// is about. A list request leaves it `None` and a bad symbol is reported unnamed (the
    /// caller splits the list), never as the whole list.
    pub(crate) symbol: Option<&'a str>,
    /// Set for order placements: their outcome may be unknown.
    pub(crate) client_order_id: Option<&'a ClientOrderId>,
}

/// What to do with a failure.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Return this error.
    Fail(ExchangeError),
    /// The timestamp was outside recvWindow: resync the clock offset and retry once (nothing
    /// was executed). Carries the error to return if the retry fails the same way.
    Resync(ExchangeError),
    /// Too many new orders (Binance `-1015`): pause new orders only, for the order window
    /// (or `retry_after` when the venue sent one); everything else goes on.
    OrderLimited { error: ExchangeError, retry_after: Option<Duration> },
}

/// Classifies the reason of a venue's `-2010` rejection for the caller's logs.
fn rejection_class(msg: &str) -> Option<&'static str> {
    let m = msg.to_ascii_lowercase();
    if m.contains("insufficient") {
        Some("insufficient balance")
    } else if m.contains("duplicate") {
        Some("duplicate client order id")
    } else if m.contains("market is closed") || m.contains("not trading") {
        Some("market closed")
    } else if m.contains("filter failure") {
        Some("filter failure")
    } else {
        None
    }
}

pub(crate) fn classify(profile: &VenueProfile, f: Failure<'_>, now: Timestamp) -> Verdict {
    let codes = &profile.errors;
    let default_wait = f.retry_after.unwrap_or(profile.rate.window);
    let cid = f.client_order_id.cloned();
    let api: Option<ApiError> = serde_json::from_str(f.body).ok();
    if let Some(api) = &api {
        if codes.order_rate_limited.contains(&api.code) {
            let wait = f.retry_after.unwrap_or(profile.rate.order_window);
            return Verdict::OrderLimited {
                error: ExchangeError::RateLimited { retry_after: wait },
                retry_after: f.retry_after,
            };
        }
    }
    match f.status {
        429 => return Verdict::Fail(ExchangeError::RateLimited { retry_after: default_wait }),
        418 => return Verdict::Fail(ExchangeError::Banned { until: now + default_wait }),
        // The web application firewall: back off (the whole venue pauses), never retry at
        // full speed.
        403 => {
            let wait = f.retry_after.unwrap_or(profile.waf_backoff);
            return Verdict::Fail(ExchangeError::RateLimited { retry_after: wait });
        }
        _ => {}
    }
    let Some(api) = api else {
        return Verdict::Fail(match f.status {
            500..=599 => ExchangeError::Unavailable {
                operation: f.operation,
                message: format!("HTTP {} from {}", f.status, f.endpoint),
                client_order_id: cid,
            },
            401 => ExchangeError::Auth(format!("HTTP 401 from {}", f.endpoint)),
            _ => ExchangeError::invalid_response(
                f.endpoint,
                format!("HTTP {} without an error code", f.status),
                f.body,
            ),
        });
    };
    let code = api.code;
    let msg = api.msg;
    let err = if codes.bad_symbol.contains(&code) {
        ExchangeError::BadSymbol {
            symbol: f.symbol.unwrap_or("").to_owned(),
            message: format!("{msg} (code {code}; request: {})", f.subject),
        }
    } else if codes.not_found.contains(&code) {
        ExchangeError::OrderNotFound(format!("{}: {msg} (code {code})", f.subject))
    } else if codes.auth.contains(&code) {
        ExchangeError::Auth(format!("{msg} (code {code})"))
    } else if codes.rate_limited.contains(&code) {
        ExchangeError::RateLimited { retry_after: default_wait }
    } else if codes.outcome_unknown.contains(&code) || f.status >= 500 {
        ExchangeError::Unavailable {
            operation: f.operation,
            message: format!("{msg} (code {code}, HTTP {})", f.status),
            client_order_id: cid,
        }
    } else {
        let reason = match rejection_class(&msg) {
            Some(class) => format!("{class}: {msg}"),
            None => msg,
        };
        ExchangeError::Rejected { code: Some(code), reason }
    };
    if codes.timestamp.contains(&code) {
        return Verdict::Resync(err);
    }
    Verdict::Fail(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn failure<'a>(status: u16, body: &'a str, cid: Option<&'a ClientOrderId>) -> Failure<'a> {
        Failure {
            status,
            body,
            retry_after: None,
            endpoint: "/api/v3/order",
            operation: "create_order",
            subject: "BTC/USDT",
            symbol: Some("BTC/USDT"),
            client_order_id: cid,
        }
    }

    fn fail(profile: &VenueProfile, f: Failure<'_>) -> ExchangeError {
        match classify(profile, f, Timestamp::from_millis(1_000)) {
            Verdict::Fail(e) | Verdict::Resync(e) | Verdict::OrderLimited { error: e, .. } => e,
        }
    }

    #[track_caller]
    fn check(profile: &VenueProfile, status: u16, code: i64, msg: &str, expected: &str) {
        let body = serde_json::json!({ "code": code, "msg": msg }).to_string();
        let cid = ClientOrderId::new("c1").unwrap();
        let err = fail(profile, failure(status, &body, Some(&cid)));
        let kind = match &err {
            ExchangeError::BadSymbol { .. } => "BadSymbol",
            ExchangeError::RateLimited { .. } => "RateLimited",
            ExchangeError::Banned { .. } => "Banned",
            ExchangeError::Timeout { .. } => "Timeout",
            ExchangeError::Unavailable { .. } => "Unavailable",
            ExchangeError::Rejected { .. } => "Rejected",
            ExchangeError::OrderNotFound(_) => "OrderNotFound",
            ExchangeError::Auth(_) => "Auth",
            ExchangeError::InvalidResponse { .. } => "InvalidResponse",
            ExchangeError::InvalidRequest(_) => "InvalidRequest",
        };
        assert_eq!(kind, expected, "code {code} {msg:?}: {err}");
        if expected == "Unavailable" {
            assert!(err.is_outcome_unknown(), "order outcome must be unknown: {err}");
        }
    }

    #[test]
    fn binance_codes_from_the_issue() {
        let b = VenueProfile::binance_spot();
        check(&b, 400, -1121, "Invalid symbol.", "BadSymbol");
        check(&b, 400, -2010, "Account has insufficient balance for requested action.", "Rejected");
        check(&b, 400, -2010, "Duplicate order sent.", "Rejected");
        check(&b, 400, -2010, "Market is closed.", "Rejected");
        check(&b, 400, -2011, "Unknown order sent.", "OrderNotFound");
        check(&b, 400, -2013, "Order does not exist.", "OrderNotFound");
        check(&b, 400, -1022, "Signature for this request is not valid.", "Auth");
        check(&b, 401, -2015, "Invalid API-key, IP, or permissions for action.", "Auth");
        check(&b, 400, -1007, "Timeout waiting for response from backend server.", "Unavailable");
        check(&b, 503, -1001, "Internal error", "Unavailable");
        check(&b, 400, -1013, "Filter failure: LOT_SIZE", "Rejected");
        check(&b, 429, -1003, "Too much request weight used", "RateLimited");
    }

    #[test]
    fn mexc_codes_from_the_issue() {
        let m = VenueProfile::mexc_spot();
        for code in [10007, 30014, 30021, -1121] {
            check(&m, 400, code, "symbol not support api", "BadSymbol");
        }
        check(&m, 400, 700002, "Signature for this request is not valid.", "Auth");
        check(&m, 400, 602, "Signature verification failed!", "Auth");
        check(&m, 400, 700007, "No permission to access the endpoint.", "Auth");
        // Issue 9 item 10: a missing parameter is a rejection of this request, not an auth
        // failure that would stop the bot.
        check(&m, 400, 700004, "Mandatory parameter 'symbol' was not sent.", "Rejected");
        for code in [10073, 700003] {
            let body = serde_json::json!({ "code": code, "msg": "Invalid request time" }).to_string();
            let v = classify(&m, failure(400, &body, None), Timestamp::EPOCH);
            assert!(matches!(v, Verdict::Resync(_)), "{code}: a clock resync, got {v:?}");
        }
    }

    /// Issue 9 item 5: -1015 pauses new orders only, for the order window (no Retry-After).
    #[test]
    fn too_many_orders_pauses_orders_for_the_order_window() {
        let b = VenueProfile::binance_spot();
        let body =
            r#"{"code":-1015,"msg":"Too many new orders; current limit is 100 orders per TEN_SECONDS."}"#;
        match classify(&b, failure(429, body, None), Timestamp::EPOCH) {
            Verdict::OrderLimited {
                error: ExchangeError::RateLimited { retry_after },
                retry_after: None,
            } => {
                assert_eq!(retry_after, Duration::from_secs(10))
            }
            other => panic!("expected OrderLimited, got {other:?}"),
        }
    }

    /// Issue 9 item 6: a 403 from the web application firewall backs off.
    #[test]
    fn waf_403_is_a_back_off() {
        let b = VenueProfile::binance_spot().with_waf_backoff(Duration::from_secs(42));
        let e = fail(&b, failure(403, "<html>403 Forbidden</html>", None));
        assert!(
            matches!(e, ExchangeError::RateLimited { retry_after } if retry_after == Duration::from_secs(42)),
            "{e:?}"
        );
    }

    /// Issue 9 item 8: a bad symbol in a list request is reported unnamed, not as the list.
    #[test]
    fn bad_symbol_of_a_list_names_no_symbol() {
        let b = VenueProfile::binance_spot();
        let body = r#"{"code":-1121,"msg":"Invalid symbol."}"#;
        let list = Failure { subject: "BTC/USDT,ETH/USDT", symbol: None, ..failure(400, body, None) };
        match fail(&b, list) {
            ExchangeError::BadSymbol { symbol, .. } => assert_eq!(symbol, ""),
            other => panic!("{other:?}"),
        }
        match fail(&b, failure(400, body, None)) {
            ExchangeError::BadSymbol { symbol, .. } => assert_eq!(symbol, "BTC/USDT"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejection_reason_says_why() {
        let b = VenueProfile::binance_spot();
        let body = r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#;
        match fail(&b, failure(400, body, None)) {
            ExchangeError::Rejected { code, reason } => {
                assert_eq!(code, Some(-2010));
                assert!(reason.starts_with("insufficient balance:"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn http_status_without_code() {
        let b = VenueProfile::binance_spot();
        let cid = ClientOrderId::new("c9").unwrap();
        let e = fail(&b, failure(502, "<html>Bad Gateway</html>", Some(&cid)));
        assert!(e.is_outcome_unknown(), "{e:?}");
        let e = fail(&b, Failure { retry_after: Some(Duration::from_secs(7)), ..failure(429, "", None) });
        assert!(
            matches!(e, ExchangeError::RateLimited { retry_after } if retry_after == Duration::from_secs(7))
        );
        let e = fail(&b, Failure { retry_after: Some(Duration::from_secs(120)), ..failure(418, "", None) });
        assert!(matches!(e, ExchangeError::Banned { until } if until == Timestamp::from_millis(121_000)));
        let e = fail(&b, failure(400, "not json at all", None));
        assert!(
            matches!(e, ExchangeError::InvalidResponse { ref excerpt, .. } if excerpt == "not json at all")
        );
    }

    #[test]
    fn timestamp_errors_ask_for_a_resync() {
        let body = r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#;
        let v = classify(&VenueProfile::binance_spot(), failure(400, body, None), Timestamp::EPOCH);
        assert!(matches!(v, Verdict::Resync(ExchangeError::Rejected { code: Some(-1021), .. })), "{v:?}");
        let body = r#"{"code":700003,"msg":"Timestamp for this request is outside of the recvWindow."}"#;
        let v = classify(&VenueProfile::mexc_spot(), failure(400, body, None), Timestamp::EPOCH);
        assert!(matches!(v, Verdict::Resync(_)), "{v:?}");
    }

    #[derive(Deserialize)]
    struct Catalog {
        errors: Vec<CatalogEntry>,
    }

    #[derive(Deserialize)]
    struct CatalogEntry {
        code: i64,
        messages: Vec<String>,
    }

    /// Every documented Binance error code and message maps to a variant, and the codes the
    /// issue names map to the variant it names (checked above); no code is InvalidResponse.
    #[test]
    fn every_documented_binance_error_is_classified() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/binance_docs/errors_catalog.json");
        let catalog: Catalog = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(catalog.errors.len() > 100);
        let b = VenueProfile::binance_spot();
        for entry in &catalog.errors {
            for msg in &entry.messages {
                let body = serde_json::json!({ "code": entry.code, "msg": msg }).to_string();
                let err = fail(&b, failure(400, &body, None));
                assert!(!matches!(err, ExchangeError::InvalidResponse { .. }), "{} {msg}: {err}", entry.code);
                let shown = err.to_string();
                let expected_text =
                    if matches!(err, ExchangeError::RateLimited { .. }) { "rate limited" } else { msg };
                assert!(shown.contains(expected_text), "{} {msg}: {shown}", entry.code);
            }
        }
    }
}
