//! The queue against a real `redis-server` of each test's own: the
//! `queue.Queue` surface, and the failures the issue trackers of Redis
//! task queues are full of (lapsed leases, dead consumers, garbage,
//! restarts, streams that only grow).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_queue::testing::RedisServer;
use redis_queue::{JobSettings, QueueError, QueueOptions, RedisQueue};

fn settings(lease_ms: u64, max_deliveries: u32) -> JobSettings {
    JobSettings {
        lease: Duration::from_millis(lease_ms),
        max_deliveries,
    }
}

fn fast() -> QueueOptions {
    QueueOptions {
        poll: Duration::from_millis(50),
        ..QueueOptions::default()
    }
}

fn create(redis: &RedisServer, name: &str, settings: JobSettings) -> RedisQueue<u32> {
    RedisQueue::create(&redis.queue(name), settings, fast()).expect("create the queue")
}

fn open(redis: &RedisServer, name: &str) -> RedisQueue<u32> {
    RedisQueue::open(&redis.queue(name), fast()).expect("open the queue")
}

#[test]
fn put_get_task_done_join_as_in_python() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    for item in 0..5 {
        queue.put(&item).unwrap();
    }
    assert_eq!(queue.qsize().unwrap(), 5);
    assert!(!queue.join_timeout(Duration::from_millis(50)).unwrap());
    // One consumer gets them in the order they were put.
    let got: Vec<_> = (0..5).map(|_| queue.get().unwrap()).collect();
    assert_eq!(
        got.iter().map(|d| d.item).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert!(got.iter().all(|d| d.deliveries == 1));
    assert_eq!(queue.qsize().unwrap(), 0);
    // Taken is not done: join waits for task_done.
    assert!(!queue.join_timeout(Duration::from_millis(50)).unwrap());
    for delivery in &got {
        assert!(queue.task_done(delivery).unwrap());
    }
    assert!(
        !queue.task_done(&got[0]).unwrap(),
        "a second ack acknowledges nothing"
    );
    queue.join().unwrap();
}

#[test]
fn get_timeout_on_an_empty_queue_is_empty() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    let started = Instant::now();
    assert!(matches!(
        queue.get_timeout(Duration::from_millis(200)),
        Err(QueueError::Empty)
    ));
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn a_worker_may_start_before_the_producer() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let worker = open(&redis, "jobs");
    let producer = open(&redis, "jobs");
    std::thread::scope(|scope| {
        let got = scope.spawn(|| worker.get_timeout(Duration::from_secs(10)).unwrap());
        std::thread::sleep(Duration::from_millis(100));
        producer.put(&42).unwrap();
        assert_eq!(got.join().unwrap().item, 42);
    });
}

#[test]
fn shutdown_refuses_puts_and_ends_gets_once_drained() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    let worker = open(&redis, "jobs");
    queue.put(&1).unwrap();
    queue.shutdown(false).unwrap();
    assert!(matches!(queue.put(&2), Err(QueueError::ShutDown)));
    // What was put before still comes out, then ShutDown (not Empty).
    let one = worker.get().unwrap();
    assert_eq!(one.item, 1);
    worker.task_done(&one).unwrap();
    assert!(matches!(worker.get(), Err(QueueError::ShutDown)));
    assert!(matches!(
        worker.get_timeout(Duration::from_secs(5)),
        Err(QueueError::ShutDown)
    ));
}

#[test]
fn a_graceful_shutdown_waits_for_items_another_process_still_holds() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", settings(300, 5));
    let holder = open(&redis, "jobs");
    queue.put(&1).unwrap();
    let held = holder.get().unwrap();
    queue.shutdown(false).unwrap();
    // The holder may yet die: until it is done, another getter waits.
    assert!(matches!(
        queue.get_timeout(Duration::from_millis(300)),
        Err(QueueError::Empty)
    ));
    holder.task_done(&held).unwrap();
    assert!(matches!(queue.get(), Err(QueueError::ShutDown)));
}

#[test]
fn an_immediate_shutdown_ends_gets_and_join_at_once() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    queue.put_many(&[1, 2, 3]).unwrap();
    queue.shutdown(true).unwrap();
    assert!(matches!(queue.get(), Err(QueueError::ShutDown)));
    queue.join().unwrap();
    // A later graceful shutdown does not make it graceful again.
    queue.shutdown(false).unwrap();
    let other = open(&redis, "jobs");
    assert!(matches!(other.get(), Err(QueueError::ShutDown)));
}

#[test]
fn garbage_in_the_stream_goes_to_the_dead_letters_and_the_queue_goes_on() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    let mut raw = redis.connection();
    let _: String = redis::cmd("XADD")
        .arg("jobs")
        .arg("*")
        .arg("item")
        .arg("{not json")
        .query(&mut raw)
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg("jobs")
        .arg("*")
        .arg("something")
        .arg("else")
        .query(&mut raw)
        .unwrap();
    queue.put(&7).unwrap();
    let delivery = queue.get_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(delivery.item, 7);
    queue.task_done(&delivery).unwrap();
    let dead = queue.dead_letters("0-0", 10).unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].item, "{not json");
    assert!(
        dead[0].reason.contains("cannot decode"),
        "{}",
        dead[0].reason
    );
    assert!(
        dead[1].reason.contains("no \"item\" field"),
        "{}",
        dead[1].reason
    );
    // Buried is acknowledged: nothing is left to do.
    assert!(queue.join_timeout(Duration::from_secs(5)).unwrap());
    // Reading on from the last one finds nothing new.
    assert!(queue.dead_letters(&dead[1].id, 10).unwrap().is_empty());
}

#[test]
fn a_dead_consumers_entry_is_taken_over_after_the_lease() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", settings(400, 5));
    queue.put(&9).unwrap();
    // A consumer reads it and dies without a word.
    let mut raw = redis.connection();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg(&[
            "GROUP",
            "workers",
            "dead-consumer",
            "COUNT",
            "1",
            "STREAMS",
            "jobs",
            ">",
        ])
        .query(&mut raw)
        .unwrap();
    let started = Instant::now();
    let delivery = queue.get_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(delivery.item, 9);
    assert_eq!(delivery.deliveries, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "taken over before the lease lapsed: {:?}",
        started.elapsed()
    );
    queue.task_done(&delivery).unwrap();
    assert!(queue.join_timeout(Duration::from_secs(5)).unwrap());
}

#[test]
fn a_task_longer_than_the_lease_is_not_redelivered_while_its_owner_lives() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", settings(300, 5));
    let owner = open(&redis, "jobs");
    queue.put(&1).unwrap();
    let delivery = owner.get().unwrap();
    // Seven leases long, while another process keeps asking.
    assert!(matches!(
        queue.get_timeout(Duration::from_millis(2100)),
        Err(QueueError::Empty)
    ));
    assert!(owner.task_done(&delivery).unwrap());
    assert!(queue.dead_letters("0-0", 10).unwrap().is_empty());
}

#[test]
fn a_released_or_dropped_entry_is_taken_at_once() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", settings(60_000, 5));
    queue.put_many(&[1, 2]).unwrap();
    let first = {
        let other = open(&redis, "jobs");
        let first = other.get().unwrap();
        let second = other.get().unwrap();
        other.release(&second).unwrap();
        first
        // `other` is dropped here, holding `first`: it gives it back.
    };
    let started = Instant::now();
    let mut items: Vec<u32> = (0..2)
        .map(|_| {
            let delivery = queue.get_timeout(Duration::from_secs(5)).unwrap();
            queue.task_done(&delivery).unwrap();
            delivery.item
        })
        .collect();
    items.sort_unstable();
    assert_eq!(items, [first.item, 2]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for a 60 s lease"
    );
}

#[test]
fn an_entry_delivered_too_often_is_buried() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", settings(60_000, 2));
    queue.put(&5).unwrap();
    let first = queue.get().unwrap();
    queue.release(&first).unwrap();
    let second = queue.get_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(second.deliveries, 2);
    queue.release(&second).unwrap();
    // The third delivery is one too many.
    assert!(matches!(
        queue.get_timeout(Duration::from_millis(500)),
        Err(QueueError::Empty)
    ));
    let dead = queue.dead_letters("0-0", 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].decode::<u32>().unwrap(), 5);
    assert_eq!(dead[0].deliveries, 3);
    assert!(
        dead[0].reason.contains("delivered 3 times"),
        "{}",
        dead[0].reason
    );
    assert!(queue.join_timeout(Duration::from_secs(5)).unwrap());
}

#[test]
fn the_stream_is_trimmed_below_what_is_still_needed() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    let items: Vec<u32> = (0..1000).collect();
    queue.put_many(&items).unwrap();
    let held = queue.get().unwrap();
    for _ in 1..600 {
        let delivery = queue.get().unwrap();
        queue.task_done(&delivery).unwrap();
    }
    // Item 0 is still held: nothing from it on may go.
    queue.trim().unwrap();
    assert_eq!(queue.stream_len().unwrap(), 1000);
    queue.task_done(&held).unwrap();
    queue.trim().unwrap();
    // The 400 unread stay.
    assert_eq!(queue.stream_len().unwrap(), 400);
    for _ in 600..1000 {
        let delivery = queue.get().unwrap();
        queue.task_done(&delivery).unwrap();
    }
    queue.trim().unwrap();
    assert_eq!(queue.stream_len().unwrap(), 0);
    assert_eq!(queue.qsize().unwrap(), 0);
    // And the keeper trims on its own.
    queue.put_many(&items).unwrap();
    for _ in 0..1000 {
        let delivery = queue.get().unwrap();
        queue.task_done(&delivery).unwrap();
    }
    let started = Instant::now();
    while queue.stream_len().unwrap() > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never trimmed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_redis_restart_with_aof_loses_nothing() {
    let Some(mut redis) = RedisServer::try_start_persistent() else {
        return;
    };
    let queue = Arc::new(create(&redis, "jobs", settings(2_000, 100)));
    let items: Vec<u32> = (0..300).collect();
    queue.put_many(&items).unwrap();
    let done = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let queue = Arc::clone(&queue);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        match queue.get_timeout(Duration::from_secs(1)) {
                            Ok(delivery) => {
                                std::thread::sleep(Duration::from_millis(10));
                                queue.task_done(&delivery).unwrap();
                                done.push(delivery.item);
                            }
                            Err(QueueError::Empty) => break,
                            Err(error) => panic!("{error}"),
                        }
                    }
                    done
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        assert!(queue.qsize().unwrap() > 0, "the restart must come mid-run");
        redis.restart(Duration::from_millis(500));
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect::<Vec<u32>>()
    });
    let distinct: BTreeSet<u32> = done.iter().copied().collect();
    assert_eq!(
        distinct,
        items.iter().copied().collect(),
        "every item was done"
    );
    // At least once: an item whose ack was lost with the connection may
    // have run twice, but only such an item, so very few.
    assert!(done.len() < items.len() + 10, "{} runs", done.len());
    assert!(queue.join_timeout(Duration::from_secs(10)).unwrap());
}

#[test]
fn a_lost_redis_is_an_error_after_reconnect_for() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("jobs");
    let options = QueueOptions {
        reconnect_for: Duration::from_millis(300),
        ..fast()
    };
    let queue: RedisQueue<u32> =
        RedisQueue::create(&address, JobSettings::default(), options).unwrap();
    drop(redis);
    let error = queue.put(&1).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, QueueError::Redis { .. }), "{error:?}");
    assert!(message.contains(address.server()), "{message}");
    assert!(message.contains("put"), "{message}");
}

#[test]
fn a_redis_never_reached_is_an_error_at_once() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let address = redis.queue("jobs");
    drop(redis);
    let started = Instant::now();
    let error = RedisQueue::<u32>::open(&address, QueueOptions::default())
        .err()
        .expect("no Redis there");
    assert!(started.elapsed() < Duration::from_secs(10));
    let message = error.to_string();
    assert!(message.contains(address.server()), "{message}");
}

#[test]
fn get_many_takes_what_is_there_up_to_max_and_task_done_all_acks_them() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let queue = create(&redis, "jobs", JobSettings::default());
    queue.put_many(&(0..10).collect::<Vec<u32>>()).unwrap();
    let first = queue.get_many(4, Duration::from_secs(5)).unwrap();
    assert_eq!(
        first.iter().map(|d| d.item).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let rest = queue.get_many(100, Duration::from_secs(5)).unwrap();
    assert_eq!(rest.len(), 6);
    assert!(matches!(
        queue.get_many(100, Duration::from_millis(100)),
        Err(QueueError::Empty)
    ));
    assert_eq!(queue.task_done_all(&first).unwrap(), 4);
    assert_eq!(queue.task_done_all(&rest).unwrap(), 6);
    assert_eq!(queue.task_done_all(&rest).unwrap(), 0);
    assert!(queue.join_timeout(Duration::from_secs(5)).unwrap());
}

fn key_exists(redis: &RedisServer, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query::<u64>(&mut redis.connection())
        .unwrap()
        == 1
}

fn ttl_ms(redis: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut redis.connection())
        .unwrap()
}

#[test]
fn a_second_producer_is_refused_naming_the_first_and_changes_nothing() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let first = create(&redis, "jobs", settings(60_000, 5));
    first.put(&7).unwrap();
    let refused = RedisQueue::<u32>::create(&redis.queue("jobs"), settings(60_000, 5), fast());
    let Err(QueueError::Held(holder)) = refused else {
        panic!("a second producer was let in");
    };
    assert_eq!(holder.pid, std::process::id());
    assert!(holder.lapses_in > Duration::from_secs(50), "{holder:?}");
    let message = QueueError::Held(holder).to_string();
    assert!(
        message.starts_with(&format!(
            "another producer runs this job: process {} on ",
            std::process::id()
        )) && message.ends_with("if it is gone, its lock lapses in 60 s)"),
        "{message}"
    );
    // The first job is untouched.
    assert_eq!(first.qsize().unwrap(), 1);
    // Gone with the first producer: the next one starts at once.
    drop(first);
    let next = create(&redis, "jobs", settings(60_000, 5));
    assert_eq!(next.qsize().unwrap(), 0);
}

#[test]
fn a_dead_producers_lock_lapses_after_its_lease_or_at_once_on_its_own_machine() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let mut connection = redis.connection();
    // A producer elsewhere that stopped renewing: its lock lapses.
    redis::cmd("SET")
        .arg("jobs:producer")
        .arg("another-host:77:1:0")
        .arg("PX")
        .arg(300)
        .query::<()>(&mut connection)
        .unwrap();
    let refused = RedisQueue::<u32>::create(&redis.queue("jobs"), settings(300, 5), fast());
    assert!(
        matches!(&refused, Err(QueueError::Held(holder)) if holder.host == "another-host" && holder.pid == 77),
        "{:?}",
        refused.err()
    );
    std::thread::sleep(Duration::from_millis(400));
    drop(create(&redis, "jobs", settings(300, 5)));
    // A producer of this machine whose process is gone: taken over at once.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    redis::cmd("SET")
        .arg("jobs:producer")
        .arg(format!("{host}:{pid}:1:0"))
        .arg("PX")
        .arg(60_000)
        .query::<()>(&mut connection)
        .unwrap();
    let taken = create(&redis, "jobs", settings(60_000, 5));
    let value: String = redis::cmd("GET")
        .arg("jobs:producer")
        .query(&mut connection)
        .unwrap();
    assert_eq!(value, taken.consumer());
}

#[test]
fn a_redis_that_lost_everything_is_restored_by_the_producer_and_workers_wait_for_it() {
    let Some(mut redis) = RedisServer::try_start() else {
        return;
    };
    let producer = create(&redis, "jobs", settings(60_000, 5));
    let worker = open(&redis, "jobs");
    producer.put_many(&[1, 2, 3]).unwrap();
    let taken = worker.get_timeout(Duration::from_secs(5)).unwrap();
    assert!(!producer.restore_if_lost().unwrap(), "nothing lost yet");
    redis.restart_empty(Duration::from_millis(200));
    // The worker meets a job that is not there: it waits (Empty), it
    // neither fails nor makes an empty stream of its own.
    assert!(matches!(
        worker.get_timeout(Duration::from_millis(300)),
        Err(QueueError::Empty)
    ));
    assert!(!key_exists(&redis, "jobs"));
    // Its done on an entry that is gone is no error.
    assert!(!worker.task_done(&taken).unwrap());
    // A put is refused rather than make a stream without its group.
    assert!(matches!(producer.put(&4), Err(QueueError::Gone)));
    // The producer finds out, puts the job back, and its items again.
    assert!(producer.restore_if_lost().unwrap());
    assert!(!producer.restore_if_lost().unwrap());
    producer.put_many(&[1, 2, 3]).unwrap();
    let mut got: Vec<u32> = (0..3)
        .map(|_| {
            let delivery = worker.get_timeout(Duration::from_secs(5)).unwrap();
            worker.task_done(&delivery).unwrap();
            delivery.item
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(
        producer.settings(),
        open(&redis, "jobs").settings(),
        "the settings came back"
    );
}

#[test]
fn a_finished_job_leaves_no_stream_and_its_other_keys_expire() {
    let Some(redis) = RedisServer::try_start() else {
        return;
    };
    let producer = create(&redis, "jobs", settings(60_000, 5));
    let worker = open(&redis, "jobs");
    producer.put(&1).unwrap();
    let delivery = worker.get_timeout(Duration::from_secs(5)).unwrap();
    worker.task_done(&delivery).unwrap();
    producer.finish(Duration::from_secs(30)).unwrap();
    assert!(!key_exists(&redis, "jobs"), "the stream is gone");
    assert!(!key_exists(&redis, "jobs:producer"), "the lock is let go");
    for key in ["jobs:shutdown", "jobs:job"] {
        let ttl = ttl_ms(&redis, key);
        assert!(ttl > 20_000 && ttl <= 30_000, "{key}: {ttl}");
    }
    // A worker still there, or one that comes late, learns the job is over
    // and leaves nothing behind.
    assert!(matches!(
        worker.get_timeout(Duration::from_secs(5)),
        Err(QueueError::ShutDown)
    ));
    let late = open(&redis, "jobs");
    assert!(matches!(
        late.get_timeout(Duration::from_secs(5)),
        Err(QueueError::ShutDown)
    ));
    assert!(matches!(producer.put(&2), Err(QueueError::ShutDown)));
    drop((producer, worker, late));
    assert!(!key_exists(&redis, "jobs"), "no stream made again");
    assert!(!key_exists(&redis, "jobs:producer"));
}
