//! The fleet: server definitions, where they come from, and the servers they run.

pub mod definition;
pub mod expand;
pub mod load;
pub mod management;
pub mod manager;
pub mod metrics;
pub mod naming;
pub mod node;
pub mod relay;
