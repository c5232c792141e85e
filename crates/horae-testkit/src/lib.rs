//! Conformance suites that every horae data store and event broker must pass.
//!
//! A backend's tests are one macro call per suite: [`store_conformance_tests!`] expands to
//! one `#[tokio::test]` per case of [`store`], each with a fresh store from the factory you
//! give, so cases run in parallel and report separately. A new invariant gets a case here,
//! and every backend must then prove it.
//!
//! ```ignore
//! horae_testkit::broker_conformance_tests!(|| async {
//!     std::sync::Arc::new(horae::broker::LocalBroker::new()) as std::sync::Arc<dyn horae::broker::EventBroker>
//! });
//! horae_testkit::store_conformance_tests!(|| async {
//!     std::sync::Arc::new(horae::store::MemoryStore::new()) as std::sync::Arc<dyn horae::store::DataStore>
//! });
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "conformance checks fail by panicking"
)]

pub mod broker;
pub mod cluster;
pub mod faulty;
pub mod service;
pub mod store;

/// Expands to one `#[tokio::test]` per broker conformance case.
///
/// `$factory` is an expression evaluating to a closure that returns a future of a fresh,
/// isolated broker: an `Arc<dyn EventBroker>`, or an `Option` of one where `None` skips the
/// case (e.g. the backend's server is down outside CI). See [`broker::BrokerFixture`].
///
/// The cases about several nodes need two broker instances that share one channel. With
/// `pair = $pair` they come from `$pair`, a closure returning a future of a
/// `(Arc<dyn EventBroker>, Arc<dyn EventBroker>)` pair (or an `Option` of one); without it
/// both are the same instance from `$factory`, which is right for an in-process broker.
#[macro_export]
macro_rules! broker_conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::broker_conformance_tests!($factory, pair = || async {
            let factory = $factory;
            $crate::broker::BrokerFixture::into_broker(factory().await)
                .map(|broker| (::std::sync::Arc::clone(&broker), broker))
        });
    };
    ($factory:expr, pair = $pair:expr $(,)?) => {
        $crate::broker_conformance_tests!(@cases $factory;
            every_subscriber_receives_every_event_in_order,
            subscribers_see_only_later_events,
            closed_subscribers_get_nothing_and_block_nobody,
            publishing_without_subscribers_succeeds,
        );
        $crate::broker_conformance_tests!(@pair_cases $pair;
            events_reach_subscribers_of_another_broker_instance,
            subscribers_get_only_the_kinds_they_asked_for,
        );
    };
    (@cases $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory = $factory;
                let Some(broker) = $crate::broker::BrokerFixture::into_broker(factory().await)
                else {
                    return;
                };
                $crate::broker::$case(broker).await;
            }
        )+
    };
    (@pair_cases $pair:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let pair = $pair;
                let Some((first, second)) =
                    $crate::broker::BrokerPairFixture::into_pair(pair().await)
                else {
                    return;
                };
                $crate::broker::$case(first, second).await;
            }
        )+
    };
}

/// Expands to one `#[tokio::test]` per store conformance case. `$factory` is an expression
/// evaluating to a closure that returns a future of `Arc<dyn DataStore>` (a fresh, empty
/// store per call).
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@cases $factory;
            tasks_are_upserted_listed_and_removed,
            schedule_conflict_policies,
            only_due_unpaused_schedules_are_acquired,
            expired_schedule_leases_can_be_taken_over,
            concurrent_schedule_acquisition_never_hands_out_twice,
            released_schedules_insert_their_jobs_once,
            a_node_cannot_release_a_schedule_it_lost,
            max_running_jobs_holds_across_nodes,
            concurrent_job_acquisition_never_hands_out_twice,
            acquiring_and_starting_is_one_step,
            batched_releases_are_fenced_per_job,
            unstarted_jobs_with_expired_leases_are_handed_out_again,
            stale_nodes_are_fenced_off,
            a_node_reacquiring_its_own_job_is_fenced_by_token,
            lease_extension_keeps_jobs_and_reports_lost_ones,
            started_jobs_with_expired_leases_are_reaped_exactly_once,
            reaped_jobs_are_retried_when_the_task_allows,
            released_retries_wait_for_their_backoff,
            jobs_past_their_start_deadline_are_not_started,
            results_are_kept_until_they_expire,
            cleanup_removes_finished_schedules,
            pausing_hides_a_schedule_from_acquisition,
            task_actions_round_trip,
            results_are_listed_newest_first_up_to_the_limit,
            node_records_are_upserted_listed_and_removed,
            cleanup_removes_only_long_dead_nodes,
        );
    };
    (@cases $factory:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let factory = $factory;
                $crate::store::$case(factory().await).await;
            }
        )+
    };
}
