use super::*;

#[test]
fn test_done_callback_with_result() {
    let (tx, rx) = mpsc::channel();
    let f = TaskHandle::pending();
    f.add_done_callback(move |f| tx.send(f.result()).unwrap());
    f.set_result(5).unwrap();
    assert_eq!(rx.recv().unwrap(), Ok(5));
}

#[test]
fn test_done_callback_with_exception() {
    let (tx, rx) = mpsc::channel();
    let f = TaskHandle::<i32>::pending();
    f.add_done_callback(move |f| tx.send(f.exception()).unwrap());
    f.set_exception(TaskError::Panicked("test".into())).unwrap();
    assert_eq!(rx.recv().unwrap(), Some(TaskError::Panicked("test".into())));
}

#[test]
fn test_done_callback_with_cancel() {
    let (tx, rx) = mpsc::channel();
    let f = TaskHandle::<i32>::pending();
    f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
    assert!(f.cancel());
    assert!(rx.recv().unwrap());
}

#[test]
fn test_done_callback_raises() {
    let raising_was_called = Arc::new(AtomicUsize::new(0));
    let fn_was_called = Arc::new(AtomicUsize::new(0));
    let f = TaskHandle::pending();
    let raising = Arc::clone(&raising_was_called);
    f.add_done_callback(move |_| {
        raising.fetch_add(1, Ordering::SeqCst);
        panic!("doh!");
    });
    let called = Arc::clone(&fn_was_called);
    f.add_done_callback(move |_| {
        called.fetch_add(1, Ordering::SeqCst);
    });
    f.set_result(5).unwrap();
    assert_eq!(raising_was_called.load(Ordering::SeqCst), 1);
    assert_eq!(
        fn_was_called.load(Ordering::SeqCst),
        1,
        "a panicking callback does not stop the others"
    );
}

#[test]
fn test_done_callback_already_successful() {
    let (tx, rx) = mpsc::channel();
    let f = TaskHandle::pending();
    f.set_result(5).unwrap();
    f.add_done_callback(move |f| tx.send(f.result()).unwrap());
    assert_eq!(rx.try_recv().unwrap(), Ok(5), "ran at once, on this thread");
}

#[test]
fn test_done_callback_already_failed() {
    let (tx, rx) = mpsc::channel();
    let f = TaskHandle::<i32>::pending();
    f.set_exception(TaskError::Panicked("test".into())).unwrap();
    f.add_done_callback(move |f| tx.send(f.exception()).unwrap());
    assert_eq!(
        rx.try_recv().unwrap(),
        Some(TaskError::Panicked("test".into()))
    );
}

#[test]
fn test_done_callback_already_cancelled() {
    let (tx, rx) = mpsc::channel();
    let f = TaskHandle::<i32>::pending();
    assert!(f.cancel());
    f.add_done_callback(move |f| tx.send(f.cancelled()).unwrap());
    assert!(rx.try_recv().unwrap());
}

#[test]
fn test_done_callback_raises_already_succeeded() {
    let f = TaskHandle::pending();
    f.set_result(5).unwrap();
    // Runs at once and panics: caught, reported on stderr, not ours.
    f.add_done_callback(|_| panic!("doh!"));
    assert_eq!(f.result(), Ok(5));
}

#[test]
fn test_repr() {
    assert_eq!(
        format!("{:?}", states::pending()),
        r#"TaskHandle { state: "pending" }"#
    );
    assert_eq!(
        format!("{:?}", states::running()),
        r#"TaskHandle { state: "running" }"#
    );
    assert_eq!(
        format!("{:?}", states::cancelled()),
        r#"TaskHandle { state: "cancelled" }"#
    );
    assert_eq!(
        format!("{:?}", states::exception()),
        r#"TaskHandle { state: "failed" }"#
    );
    assert_eq!(
        format!("{:?}", states::successful()),
        r#"TaskHandle { state: "finished" }"#
    );
}

#[test]
fn test_cancel() {
    let f1 = states::pending();
    let f2 = states::running();
    let f3 = states::cancelled();
    let f5 = states::exception();
    let f6 = states::successful();
    assert!(f1.cancel());
    assert!(f1.cancelled());
    assert!(!f2.cancel());
    assert!(f2.running());
    assert!(f3.cancel());
    assert!(f3.cancelled());
    assert!(!f5.cancel());
    assert!(f5.done() && !f5.cancelled());
    assert!(!f6.cancel());
    assert!(f6.done() && !f6.cancelled());
}

#[test]
fn test_cancelled() {
    assert!(!states::pending().cancelled());
    assert!(!states::running().cancelled());
    assert!(states::cancelled().cancelled());
    assert!(!states::exception().cancelled());
    assert!(!states::successful().cancelled());
}

#[test]
fn test_done() {
    assert!(!states::pending().done());
    assert!(!states::running().done());
    assert!(states::cancelled().done());
    assert!(states::exception().done());
    assert!(states::successful().done());
}

#[test]
fn test_running() {
    assert!(!states::pending().running());
    assert!(states::running().running());
    assert!(!states::cancelled().running());
    assert!(!states::exception().running());
    assert!(!states::successful().running());
}

#[test]
fn test_result_with_timeout() {
    assert_eq!(
        states::pending().result_timeout(Duration::ZERO),
        Err(TaskError::TimedOut)
    );
    assert_eq!(
        states::running().result_timeout(Duration::ZERO),
        Err(TaskError::TimedOut)
    );
    assert_eq!(
        states::cancelled().result_timeout(Duration::ZERO),
        Err(TaskError::Cancelled)
    );
    assert_eq!(
        states::exception().result_timeout(Duration::ZERO),
        Err(TaskError::Panicked("OSError".into()))
    );
    assert_eq!(states::successful().result_timeout(Duration::ZERO), Ok(42));
}

#[test]
fn test_result_with_success() {
    let f1 = states::pending();
    let setter = f1.clone_for_worker();
    let t = std::thread::spawn(move || {
        // Let the main thread start waiting for the result.
        std::thread::sleep(Duration::from_millis(100));
        setter.set_result(42).unwrap();
    });
    assert_eq!(f1.result_timeout(Duration::from_secs(30)), Ok(42));
    t.join().unwrap();
}

#[test]
fn test_result_with_cancel() {
    let f1 = states::pending();
    let canceller = f1.clone_for_worker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        canceller.cancel();
    });
    assert_eq!(
        f1.result_timeout(Duration::from_secs(30)),
        Err(TaskError::Cancelled)
    );
    t.join().unwrap();
}

#[test]
fn test_exception_with_success() {
    let f1 = states::running();
    let setter = f1.clone_for_worker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        setter
            .set_exception(TaskError::Panicked("OSError".into()))
            .unwrap();
    });
    assert_eq!(f1.exception(), Some(TaskError::Panicked("OSError".into())));
    t.join().unwrap();
}

#[test]
fn test_exception_with_timeout() {
    assert_eq!(
        states::pending().exception_timeout(Duration::ZERO),
        Some(TaskError::TimedOut)
    );
    assert_eq!(
        states::running().exception_timeout(Duration::ZERO),
        Some(TaskError::TimedOut)
    );
    // Python raises CancelledError here; ours gives it as the error.
    assert_eq!(
        states::cancelled().exception_timeout(Duration::ZERO),
        Some(TaskError::Cancelled)
    );
    assert_eq!(
        states::exception().exception_timeout(Duration::ZERO),
        Some(TaskError::Panicked("OSError".into()))
    );
    assert_eq!(states::successful().exception_timeout(Duration::ZERO), None);

    let f = states::running();
    let setter = f.clone_for_worker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        setter
            .set_exception(TaskError::Panicked("OSError".into()))
            .unwrap();
    });
    assert_eq!(
        f.exception_timeout(Duration::from_secs(30)),
        Some(TaskError::Panicked("OSError".into()))
    );
    t.join().unwrap();
}

#[test]
fn test_multiple_set_result() {
    let f = states::pending();
    f.set_result(1).unwrap();
    assert_eq!(f.set_result(2), Err(2), "the second value comes back");
    assert!(f.done());
    assert_eq!(f.result(), Ok(1));
}

#[test]
fn test_multiple_set_exception() {
    let f = states::pending();
    f.set_exception(TaskError::Panicked("ValueError".into()))
        .unwrap();
    assert_eq!(
        f.set_exception(TaskError::Panicked("Exception".into())),
        Err(TaskError::Panicked("Exception".into()))
    );
    assert_eq!(
        f.exception(),
        Some(TaskError::Panicked("ValueError".into()))
    );
}
