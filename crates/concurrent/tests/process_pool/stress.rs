//! The long-running stress test of the pool's pipeline; not in CI.

use super::*;

/// The process pool's pipeline for minutes (issue #12): random pools
/// (1-4 workers, some retiring workers after a few tasks), random mixes of
/// quick tasks, short sleeps and panics, submitted one by one or mapped
/// in random chunks, from one or two threads at once; every answer is
/// checked against its own call. Not in CI; run by
/// `tests/process_pool_stress.sh`.
#[test]
#[ignore = "long-running; tests/process_pool_stress.sh runs it"]
fn stress_process_pool() {
    let (until, seconds) = common::stress_until("PROCESS_POOL_STRESS_SECONDS");
    let mut random = common::SplitMix::new(0x2545_F491_4F6C_DD1D);
    let mut next = move |below: u64| random.below(below);
    let (mut rounds, mut calls) = (0u64, 0u64);
    while std::time::Instant::now() < until {
        let mut builder = ProcessPoolExecutor::builder().max_workers(1 + next(4) as usize);
        if next(4) == 0 {
            builder = builder.max_tasks_per_child(1 + next(300) as usize);
        }
        let ex = builder.build();
        let plans: Vec<Vec<u64>> = (0..1 + next(2))
            .map(|_| (0..1 + next(3000)).map(|_| next(1000)).collect())
            .collect();
        let chunk = [0, 1, 7, 100][next(4) as usize];
        std::thread::scope(|scope| {
            for plan in &plans {
                let ex = &ex;
                scope.spawn(move || check_stress_plan(ex, plan, chunk, rounds));
            }
        });
        calls += plans.iter().map(|plan| plan.len() as u64).sum::<u64>();
        rounds += 1;
    }
    eprintln!("stress_process_pool: {rounds} pools, {calls} calls checked in {seconds} s");
}

/// Runs one thread's share of a stress round: each number `n` is a call
/// of `stress_call`, submitted one by one (`chunk == 0`) or mapped in
/// chunks.
fn check_stress_plan(ex: &ProcessPoolExecutor, plan: &[u64], chunk: usize, round: u64) {
    let expected = |n: u64| match n {
        n if n % 97 == 0 => Err(TaskError::Panicked(format!("call {n}"))),
        n if n % 89 == 0 => Ok(n % 3),
        n => Ok(n * n),
    };
    let answers: Vec<Result<u64, TaskError>> = if chunk == 0 {
        let handles: Vec<TaskHandle<u64>> = plan
            .iter()
            .map(|&n| ex.submit(stress_call, (n,)).unwrap())
            .collect();
        handles.into_iter().map(|handle| handle.result()).collect()
    } else {
        ex.map_chunked(stress_call, plan.iter().map(|&n| (n,)), chunk)
            .collect()
    };
    assert_eq!(answers.len(), plan.len(), "round {round}");
    for (&n, answer) in plan.iter().zip(answers) {
        assert_eq!(answer, expected(n), "round {round}, call {n}");
    }
}
