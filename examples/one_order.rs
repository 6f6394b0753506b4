//! One order through our REST client against the simulator's HTTP server, the way a live bot
//! places it: load the market rules, size a buy for a quote budget with Decimal rounding, place
//! it under a client order id, track it to its end, and read back the fills with their fees.
//!
//! `cargo run -p drop-bot-examples --example one_order -- --budget 50`
//! (starts the simulator on 127.0.0.1 itself; `--url http://127.0.0.1:PORT` uses a running
//! `sim-server` instead, with its default test keys).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use exchange::{Exchange, FillQuery};
use exchange_binance::{BinanceClient, ClientConfig, Credentials, VenueProfile};
use exchange_sim::{SimConfig, SimServer, DEFAULT_API_KEY, DEFAULT_API_SECRET};
use rust_decimal::Decimal;
use trading_core::{ClientOrderId, Clock, OrderRef, OrderRequest, Side, Symbol, SystemClock, TimeInForce};

#[derive(Parser, Debug)]
#[command(name = "one_order", about = "One buy through the REST client against the simulator")]
struct Args {
    /// A running simulator's base URL; without it one is started on 127.0.0.1.
    #[arg(long)]
    url: Option<String>,
    /// The market.
    #[arg(long, default_value = "BTC/USDT")]
    symbol: String,
    /// Quote amount to spend.
    #[arg(long, default_value = "50")]
    budget: Decimal,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("one_order: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let symbol: Symbol = args.symbol.parse().context("--symbol")?;
    let server = match &args.url {
        Some(_) => None,
        None => Some(SimServer::start(SimConfig::default()).await.context("starting the simulator")?),
    };
    let url = args.url.clone().or_else(|| server.as_ref().map(SimServer::base_url)).context("no URL")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let profile = VenueProfile::custom(url.clone(), VenueProfile::binance_spot()).with_name("sim-http");
    let credentials = Credentials::new(DEFAULT_API_KEY, DEFAULT_API_SECRET)?;
    let client = BinanceClient::new(ClientConfig::new(profile, clock.clone()).with_credentials(credentials))?;
    tracing_free_print(&format!("venue     {url}"));

    let markets = client.load_markets().await?.markets;
    let Some(rules) = markets.iter().find(|m| m.symbol == symbol && m.is_trading()) else {
        bail!("{symbol} is not a trading market on {url}");
    };
    let quote = client.fetch_ticker(&symbol).await?;
    let Some(ask) = quote.ask else { bail!("{symbol} has no ask") };
    // A marketable limit 0.2 % through the ask, sized so that it never costs more than the budget.
    let limit = rules.round_price(Side::Buy, ask * Decimal::new(1002, 3));
    let (price, quantity) = rules.buy_order_for_budget(args.budget, limit)?;
    let cid = ClientOrderId::new(format!("example-{}", clock.now().as_millis()))?;
    let request =
        OrderRequest::limit(symbol.clone(), Side::Buy, quantity, price, TimeInForce::Gtc, cid.clone());
    tracing_free_print(&format!("order     BUY {quantity} {symbol} at {price} (ask {ask}), client id {cid}"));

    let sent_at = clock.now();
    let mut order = match client.create_order(&request).await {
        Ok(order) => order,
        // A timeout or 5xx: the order may exist. Look it up; never send it again.
        Err(e) if e.is_outcome_unknown() => match client.resolve_order(&symbol, &cid, sent_at).await? {
            exchange::OrderResolution::Found(order) => order,
            exchange::OrderResolution::Absent => bail!("the order was never placed: {e}"),
        },
        Err(e) => return Err(e.into()),
    };
    for _ in 0..20 {
        if order.status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        order = client.fetch_order(&symbol, &OrderRef::Client(cid.clone())).await?;
    }
    if !order.status.is_terminal() {
        order = client.cancel_order(&symbol, &OrderRef::Client(cid.clone())).await?;
    }
    tracing_free_print(&format!(
        "result    {:?}: filled {} of {}, average price {}",
        order.status,
        order.filled_quantity,
        order.quantity,
        order.average_price().map_or_else(|| "-".to_owned(), |p| p.round_dp(8).to_string())
    ));
    let fills = client
        .fetch_fills(&FillQuery {
            symbol: symbol.clone(),
            since: None,
            order_id: Some(order.id.clone()),
            limit: 100,
        })
        .await?;
    for fill in &fills {
        tracing_free_print(&format!(
            "fill      {} {} at {}, fee {} {}",
            fill.trade_id, fill.quantity, fill.price, fill.fee, fill.fee_asset
        ));
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(())
}

/// An example's output is for the terminal.
#[allow(clippy::print_stdout)]
fn tracing_free_print(line: &str) {
    println!("{line}");
}
