//! Contract §14.1, across networks and instances: a network from which the
//! account signed in within 30 days keeps its own counter, so failures
//! elsewhere never delay the owner there; every instance sees the same
//! counters. The harness is in `login_defence.rs`.

use std::time::Duration;

use reqwest::StatusCode;

use super::helpers::*;
use super::login_defence::*;

const HOME: &str = "198.51.100.7";
/// Another address on the owner's home network (the same /24).
const HOME_TOO: &str = "198.51.100.200";
const PHONE_NET: &str = "2001:db8:1:2::1";
/// Another address in the owner's phone's /64.
const PHONE_NET_TOO: &str = "2001:db8:1:2:ffff::9";
/// A network the owner never signed in from.
const CAFE: &str = "192.0.2.1";

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn the_owners_networks_are_not_delayed_by_failures_elsewhere(counters: Counters) {
    // Arrange: the owner signed in at home and on their phone.
    let d = Defended::start(&counters).await;
    let email = d.account().await;
    assert_signed_in(&d.attempt(&email, PASSWORD, HOME).await, "at home");
    assert_signed_in(&d.attempt(&email, PASSWORD, PHONE_NET).await, "on the phone");

    // Act: an attacker elsewhere, then the owner on a new network and on
    // each network they use.
    d.fail(&email, ELSEWHERE, 5).await;
    let cafe = d.attempt(&email, PASSWORD, CAFE).await;
    let phone = d.attempt(&email, PASSWORD, PHONE_NET_TOO).await;
    d.fail(&email, ELSEWHERE, 5).await;
    let home = d.attempt(&email, PASSWORD, HOME_TOO).await;

    // Assert
    assert_eq!(assert_delayed(&cafe), 1, "a network the owner never used shares the login id's counter");
    assert_signed_in(&phone, "the phone's /64");
    assert_signed_in(&home, "the home /24");
}

#[tokio::test]
async fn the_owners_networks_are_not_delayed_by_failures_elsewhere_db() {
    the_owners_networks_are_not_delayed_by_failures_elsewhere(Counters::Database).await;
}

#[tokio::test]
async fn the_owners_networks_are_not_delayed_by_failures_elsewhere_redis() {
    let Some(redis) = on_redis("the_owners_networks_are_not_delayed_by_failures_elsewhere_redis") else { return };
    the_owners_networks_are_not_delayed_by_failures_elsewhere(redis).await;
}

#[tokio::test]
async fn failures_on_a_trusted_network_delay_that_network() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let email = d.account().await;
    assert_signed_in(&d.attempt(&email, PASSWORD, HOME).await, "at home");

    // Act
    d.fail(&email, HOME_TOO, 5).await;
    let home = d.attempt(&email, PASSWORD, HOME).await;

    // Assert
    assert_eq!(assert_delayed(&home), 1);
}

#[tokio::test]
async fn a_network_is_trusted_for_thirty_days_after_its_latest_sign_in() {
    // Arrange
    let d = Defended::start(&Counters::Database).await;
    let email = d.account().await;
    assert_signed_in(&d.attempt(&email, PASSWORD, HOME).await, "at home");

    // Act: 29 days on, and 31 days after that sign-in.
    d.advance(29 * DAY);
    d.fail(&email, ELSEWHERE, 5).await;
    let within = d.attempt(&email, PASSWORD, HOME).await;
    d.advance(31 * DAY);
    d.fail(&email, ELSEWHERE, 5).await;
    let lapsed = d.attempt(&email, PASSWORD, HOME).await;

    // Assert
    assert_signed_in(&within, "29 days after the last sign-in from home");
    assert_eq!(assert_delayed(&lapsed), 1, "31 days after it");
}

async fn two_instances_on_one_database_share_the_count(counters: Counters) {
    // Arrange
    let d = Defended::start(&counters).await;
    let peer = d.peer().await;
    let email = d.account().await;

    // Act: the failures alternate between the instances.
    for i in 0..5 {
        let app = if i % 2 == 0 { &d.app } else { &peer };
        assert_wrong(&attempt_on(app, &email, WRONG, ELSEWHERE).await, &format!("failure {}", i + 1));
    }
    let on_first = attempt_on(&d.app, &email, PASSWORD, ELSEWHERE).await;
    let on_peer = attempt_on(&peer, &email, PASSWORD, ELSEWHERE).await;

    // Assert
    assert_eq!(assert_delayed(&on_first), 1);
    assert_eq!(assert_delayed(&on_peer), 1);
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_count_db() {
    two_instances_on_one_database_share_the_count(Counters::Database).await;
}

#[tokio::test]
async fn two_instances_on_one_database_share_the_count_redis() {
    let Some(redis) = on_redis("two_instances_on_one_database_share_the_count_redis") else { return };
    two_instances_on_one_database_share_the_count(redis).await;
}

async fn concurrent_guesses_on_two_instances_are_counted_exactly(counters: Counters) {
    // Arrange: 14 failures, and D (512 s) has passed: one more attempt is
    // checked, and its failure sets D to 15 minutes.
    let d = Defended::start(&counters).await;
    let peer = d.peer().await;
    let email = d.account().await;
    d.fail(&email, ELSEWHERE, 14).await;
    d.advance(Duration::from_secs(512));

    // Act: 20 guesses at once, half on each instance.
    let guesses = (0..20).map(|i| {
        let app = if i % 2 == 0 { &d.app } else { &peer };
        attempt_on(app, &email, WRONG, ELSEWHERE)
    });
    let replies = futures::future::join_all(guesses).await;

    // Assert
    let checked: Vec<&Reply> = replies.iter().filter(|r| r.status != StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(checked.len(), 1, "{replies:#?}");
    assert_wrong(checked[0], "the one checked guess");
    for r in replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS) {
        assert_eq!(assert_delayed(r), 900);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_on_two_instances_are_counted_exactly_db() {
    concurrent_guesses_on_two_instances_are_counted_exactly(Counters::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_on_two_instances_are_counted_exactly_redis() {
    let Some(redis) = on_redis("concurrent_guesses_on_two_instances_are_counted_exactly_redis") else { return };
    concurrent_guesses_on_two_instances_are_counted_exactly(redis).await;
}
