//! Panics kept where they happen: a bug in one handler or one account's task is reported
//! and contained, never taking its chat, its account or the host down with it.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

/// Runs `fut`; a panic inside it becomes `Err(the panic message)`.
pub async fn catch_panic<F: Future>(fut: F) -> Result<F::Output, String> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(
        move |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(message(payload.as_ref()))),
        },
    )
    .await
}

/// The text a panic was raised with.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::catch_panic;

    #[tokio::test]
    async fn a_panic_becomes_an_error_and_the_rest_runs() {
        let ok = catch_panic(async {
            tokio::task::yield_now().await;
            7
        })
        .await;
        assert_eq!(ok, Ok(7));
        let failed = catch_panic(async {
            tokio::task::yield_now().await;
            let v: Vec<i32> = Vec::new();
            v[3]
        })
        .await;
        assert!(failed.unwrap_err().contains("index out of bounds"));
        let formatted = catch_panic(async { panic!("bad {}", 42) }).await;
        assert_eq!(formatted, Err::<(), _>("bad 42".to_string()));
    }
}
