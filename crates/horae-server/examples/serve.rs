//! Serves the API and dashboard of an in-memory node with a demo task and schedule.
//!
//! `cargo run -p horae-server --example serve -- [ADDR] [--token TOKEN]` (default
//! `127.0.0.1:8731`); `--openapi` prints the OpenAPI document and exits. Useful for
//! trying the dashboard and for running API fuzzers against a live server.

use std::time::Duration;

use horae::model::{ExecutorKind, Task, TaskId};
use horae::scheduler::handler::Handler;
use horae::scheduler::{ScheduleOptions, Scheduler};
use horae::trigger::Trigger;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8731".to_owned();
    let mut token = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--openapi" => {
                println!("{}", horae_server::openapi().to_pretty_json()?);
                return Ok(());
            }
            "--token" => token = args.next(),
            other => other.clone_into(&mut addr),
        }
    }
    let addr: std::net::SocketAddr = addr.parse()?;
    horae_server::check_bind(addr, token.as_deref())?;
    let metrics = horae_server::install_metrics()?;
    let scheduler = Scheduler::builder()
        .node_id("example")
        .lease_duration(Duration::from_secs(10))
        .build()?;
    let task = Task::new(TaskId::new("demo")?, ExecutorKind::Async);
    scheduler
        .configure_task(
            task,
            Handler::from_async(|ctx| async move {
                let millis = ctx.job.args.first().and_then(serde_json::Value::as_u64);
                tokio::time::sleep(Duration::from_millis(millis.unwrap_or(200))).await;
                Ok(serde_json::json!("done"))
            }),
        )
        .await?;
    let trigger = Trigger::parse(r#"{"type": "interval", "seconds": 10}"#, scheduler.now())?;
    let mut options = ScheduleOptions::with_id("every-10s".parse()?);
    options.job_result_expiration_time = Duration::from_secs(3600);
    scheduler
        .add_schedule(&TaskId::new("demo")?, trigger, options)
        .await?;
    scheduler.start().await;
    let state = horae_server::AppState::new(scheduler.clone())
        .with_token(token)
        .with_metrics(metrics);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("serving on http://{}", listener.local_addr()?);
    horae_server::serve(listener, state, std::future::pending()).await?;
    scheduler.stop().await;
    Ok(())
}
