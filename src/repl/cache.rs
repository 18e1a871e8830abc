//! The cache of compiled functions: synthesized source text (which spells out every
//! input's shape and dtype) to the compiled function, so that evaluating an expression
//! again, on the same shapes, does not compile again. Bounded: the least recently used entry
//! goes first.

use super::synth::Synth;
use crate::{CpuExecutable, Error, Program, Tensor};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How many compiled functions the cache keeps.
pub const CAPACITY: usize = 128;

/// How a compiled function runs.
pub enum Backend {
    /// Native code (Cranelift), the default.
    Cpu(Box<Mutex<CpuExecutable>>),
    /// The reference interpreter, for a function the CPU back end cannot compile yet.
    Interp,
}

/// One synthesized function, checked and compiled.
pub struct Compiled {
    pub program: Program,
    /// The final synthesized source, for mapping errors back.
    pub synth: Synth,
    pub func: String,
    pub backend: Backend,
    /// Why it runs in the interpreter, when it does.
    pub note: Option<String>,
}

impl Compiled {
    /// Compiles `func` of `program` for the CPU back end, or for the interpreter when the
    /// back end refuses it (as `tessera run` does without `--backend`).
    pub fn new(program: Program, synth: Synth, func: String) -> Result<Compiled, Error> {
        let (backend, note) = match program.cpu_executable(&func) {
            Ok(exe) => (Backend::Cpu(Box::new(Mutex::new(exe))), None),
            Err(e) if e.is_unsupported() => {
                let reason = e.render(false);
                let first = reason
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                (
                    Backend::Interp,
                    Some(format!("runs in the reference interpreter: {first}")),
                )
            }
            Err(e) => return Err(e),
        };
        Ok(Compiled {
            program,
            synth,
            func,
            backend,
            note,
        })
    }

    /// Runs the function on its inputs.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, Error> {
        match &self.backend {
            Backend::Cpu(exe) => exe.lock().map_err(|_| poisoned())?.run(inputs),
            Backend::Interp => self.program.run_interp(&self.func, inputs),
        }
    }
}

pub(crate) fn poisoned() -> Error {
    Error::msg("internal error: an earlier evaluation of this function panicked")
}

/// Compilations and cache hits so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Functions compiled (cache misses, and `:time`'s cold compilations).
    pub compilations: u64,
    /// Evaluations that found their function compiled.
    pub hits: u64,
}

/// The cache.
#[derive(Default)]
pub struct Cache {
    map: BTreeMap<String, Arc<Compiled>>,
    /// Keys, least recently used first.
    order: VecDeque<String>,
    pub stats: Stats,
}

impl Cache {
    /// The compiled function for a synthesized source, counting a hit.
    pub fn get(&mut self, key: &str) -> Option<Arc<Compiled>> {
        let c = self.map.get(key).cloned()?;
        self.stats.hits += 1;
        self.touch(key);
        Some(c)
    }

    /// Stores a compiled function, evicting the least recently used beyond [`CAPACITY`].
    pub fn insert(&mut self, key: String, c: Arc<Compiled>) {
        if self.map.insert(key.clone(), c).is_some() {
            self.touch(&key);
        } else {
            self.order.push_back(key);
        }
        while self.order.len() > CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn touch(&mut self, key: &str) {
        if let Some(i) = self.order.iter().position(|k| k == key) {
            if let Some(k) = self.order.remove(i) {
                self.order.push_back(k);
            }
        }
    }
}
