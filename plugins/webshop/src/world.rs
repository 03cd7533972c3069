//! # The shared, read-only world: catalogue, search index and goals
//!
//! Building the world (generating or loading the catalogue, indexing it,
//! building the goals) is the expensive part of opening a session, and it is
//! the same for every session with the same catalogue config. It is built
//! once per config per thread (a wasm instance is one thread) and shared
//! behind an `Rc`, so opening more sessions, cloning an environment and the
//! SDK's clone-based `restart` cost no more than copying a few fields.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use lamer_sdk::EnvError;

use crate::catalogue::Catalogue;
use crate::generate::generate;
use crate::goals::{Goal, build_goals};
use crate::search::{Bm25Index, TOP_N};

/// Where the products come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The built-in generator, from the seed.
    Generated,
    /// WebShop's files in a (granted, read-only) directory.
    DataDir(PathBuf),
}

/// Everything that does not change during a session.
#[derive(Debug)]
pub struct World {
    pub catalogue: Catalogue,
    pub index: Bm25Index,
    pub goals: Vec<Goal>,
}

impl World {
    /// Builds the world for a source and seed (uncached).
    pub fn build(source: &Source, seed: u64) -> Result<World, EnvError> {
        let catalogue = match source {
            Source::Generated => {
                let files = generate(seed);
                Catalogue::from_raw(files.products, &files.attributes, seed)?
            }
            Source::DataDir(dir) => Catalogue::load_dir(dir, seed)?,
        };
        let documents: Vec<String> = catalogue.products.iter().map(|p| p.document()).collect();
        let index = Bm25Index::build(&documents);
        let goals = build_goals(&catalogue, seed);
        Ok(World {
            catalogue,
            index,
            goals,
        })
    }

    /// The shared world for a source and seed, built on first use.
    pub fn shared(source: &Source, seed: u64) -> Result<Rc<World>, EnvError> {
        thread_local! {
            static WORLDS: RefCell<HashMap<(Source, u64), Rc<World>>> =
                RefCell::new(HashMap::new());
        }
        let key = (source.clone(), seed);
        if let Some(world) = WORLDS.with(|w| w.borrow().get(&key).cloned()) {
            return Ok(world);
        }
        let world = Rc::new(World::build(source, seed)?);
        WORLDS.with(|w| w.borrow_mut().insert(key, Rc::clone(&world)));
        Ok(world)
    }

    /// The top hits (product indices) for a query.
    pub fn search(&self, query: &str) -> Vec<usize> {
        self.index
            .search(query, TOP_N)
            .into_iter()
            .map(|(doc, _)| doc)
            .collect()
    }
}
