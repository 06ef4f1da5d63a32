//! A single-threaded executor for the simulated processes. Tasks are polled
//! in the order they became ready (FIFO), so a run is deterministic.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

pub(crate) type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Shared FIFO of task ids that were woken.
#[derive(Default)]
pub(crate) struct ReadyQueue {
    queue: Mutex<VecDeque<usize>>,
}

struct TaskWaker {
    id: usize,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut q = self.ready.queue.lock().unwrap_or_else(|e| e.into_inner());
        if !q.contains(&self.id) {
            q.push_back(self.id);
        }
    }
}

pub(crate) struct Executor {
    tasks: Vec<Option<(Task, Waker)>>,
    ready: Arc<ReadyQueue>,
}

impl Executor {
    pub fn new() -> Self {
        Executor { tasks: Vec::new(), ready: Arc::new(ReadyQueue::default()) }
    }

    pub fn spawn(&mut self, task: Task) -> usize {
        let id = self.tasks.len();
        let waker = Waker::from(Arc::new(TaskWaker { id, ready: self.ready.clone() }));
        self.tasks.push(Some((task, waker)));
        self.ready.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(id);
        id
    }

    fn pop_ready(&self) -> Option<usize> {
        self.ready.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Polls every ready task once; returns the ids of tasks that finished.
    pub fn run_ready(&mut self) -> Vec<usize> {
        let mut finished = Vec::new();
        // Only tasks ready now; tasks they wake run in the next round, so
        // the stacks get to move packets in between.
        let n = self.ready.queue.lock().unwrap_or_else(|e| e.into_inner()).len();
        for _ in 0..n {
            let Some(id) = self.pop_ready() else { break };
            let Some(Some((task, waker))) = self.tasks.get_mut(id) else {
                continue;
            };
            let waker = waker.clone();
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(()) = task.as_mut().poll(&mut cx) {
                self.tasks[id] = None;
                finished.push(id);
            }
        }
        finished
    }

    pub fn is_done(&self, id: usize) -> bool {
        self.tasks.get(id).is_none_or(|t| t.is_none())
    }

    pub fn live(&self) -> usize {
        self.tasks.iter().filter(|t| t.is_some()).count()
    }
}
