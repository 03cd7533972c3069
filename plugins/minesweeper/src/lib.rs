//! # MineSweeper, as LaMer plays it (in progress: the environment lands in the next commit)
