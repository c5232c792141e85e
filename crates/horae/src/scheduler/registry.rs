//! The handlers configured on this node, by task id.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::handler::Handler;
use crate::model::TaskId;

/// Task handlers known to this node; shared by the scheduler and its job processor.
#[derive(Debug, Clone, Default)]
pub struct HandlerRegistry {
    handlers: Arc<RwLock<HashMap<TaskId, Handler>>>,
    action_handler: Arc<RwLock<Option<Handler>>>,
}

impl HandlerRegistry {
    /// An empty registry.
    pub fn new() -> HandlerRegistry {
        HandlerRegistry::default()
    }

    /// Sets the handler of `task` (replacing any earlier one).
    pub fn insert(&self, task: TaskId, handler: Handler) {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task, handler);
    }

    /// Sets the handler that runs the jobs of tasks carrying an
    /// [action](crate::model::TaskAction) and no handler of their own.
    pub fn set_action_handler(&self, handler: Handler) {
        *self
            .action_handler
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(handler);
    }

    /// The handler for tasks with an action, if set.
    pub fn action_handler(&self) -> Option<Handler> {
        self.action_handler
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The handler of `task`, if configured here.
    pub fn get(&self, task: &TaskId) -> Option<Handler> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(task)
            .cloned()
    }
}
