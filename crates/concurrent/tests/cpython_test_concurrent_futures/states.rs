use super::*;

pub fn pending() -> TaskHandle<i32> {
    TaskHandle::pending()
}

pub fn running() -> TaskHandle<i32> {
    let handle = TaskHandle::pending();
    assert_eq!(handle.set_running_or_notify_cancel(), Ok(true));
    handle
}

pub fn cancelled() -> TaskHandle<i32> {
    let handle = TaskHandle::pending();
    assert!(handle.cancel());
    handle
}

pub fn exception() -> TaskHandle<i32> {
    let handle = running();
    handle
        .set_exception(TaskError::Panicked("OSError".into()))
        .unwrap();
    handle
}

pub fn successful() -> TaskHandle<i32> {
    let handle = running();
    handle.set_result(42).unwrap();
    handle
}
